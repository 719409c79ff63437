"""nnkit.datafiles: CSV, .npz and .npy files read as nnkit train/evaluate/predict read them,
every bad file refused with one line naming the file (and the line and column)."""

import os
import pickle

import numpy as np
import pytest
from helpers import write

from nnkit import datafiles, dataspec
from nnkit.cli import main
from nnkit.datafiles import DataFileError

# -- good files --------------------------------------------------------------------------------


def test_csv_features_and_targets_by_type(tmp_path):
    """The last column is the target by default; integers, floats and names keep their type;
    blank lines, quotes, spaces, CRLF line ends and a UTF-8 BOM are read as a CSV reader does."""
    text = '\ufeffa, b ,label\r\n1, 2.5,cat\r\n\r\n"3",-4e1, dog \r\n'
    t = datafiles.read(write(tmp_path / "t.csv", text))
    np.testing.assert_array_equal(t.X, [[1.0, 2.5], [3.0, -40.0]])
    assert t.X.dtype == np.float64
    assert t.features == ["a", "b"] and t.target == "label"
    assert t.y.tolist() == ["cat", "dog"] and t.lines == [2, 4]
    ints = datafiles.read(write(tmp_path / "i.csv", "x,y\n1,3\n2,-1\n"))
    assert ints.y.dtype == np.int64 and ints.y.tolist() == [3, -1]
    floats = datafiles.read(write(tmp_path / "f.csv", "x,y\n1,3\n2,0.5\n"))
    assert floats.y.dtype == np.float64 and floats.y.tolist() == [3.0, 0.5]


def test_csv_target_column_by_name_and_features_by_name(tmp_path):
    path = write(tmp_path / "t.csv", "y,a,b\n0,1,2\n1,3,4\n")
    t = datafiles.read(path, target="y")
    assert t.features == ["a", "b"] and t.y.tolist() == [0, 1]
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])
    # predict: the model's features picked by name, in its order; other columns ignored
    p = datafiles.read(path, with_target=False, features=["b", "a"])
    np.testing.assert_array_equal(p.X, [[2, 1], [4, 3]])
    assert p.y is None
    # without the names in the header: every column is a feature
    assert datafiles.read(path, with_target=False, features=["u", "v"]).X.shape == (2, 3)


def test_npz_and_npy_files(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "c"] * 2), extra=np.zeros(3))
    t = datafiles.read(tmp_path / "d.npz")
    np.testing.assert_array_equal(t.X, X)
    assert t.y.tolist() == ["a", "b", "c"] * 2 and t.features == ["x0", "x1"]
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.linspace(0, 1, 6)[:, None])  # a column: one target
    t = datafiles.read(tmp_path / "x.npy", targets=tmp_path / "y.npy")
    assert t.y.shape == (6,) and t.y.dtype == np.float64
    assert datafiles.read(tmp_path / "x.npy", with_target=False).y is None
    np.savez(tmp_path / "b.npz", X=X, y=np.array([b"no", b"yes"] * 3))  # bytes: names
    assert datafiles.read(tmp_path / "b.npz").y.tolist() == ["no", "yes"] * 3


# -- bad files -----------------------------------------------------------------------------------

# name, content, the parts the one-line message must hold (besides the file name)
BAD_CSV = [
    ("missing", None, ["cannot read it"]),
    ("empty", "", ["empty"]),
    ("header-only", "a,b\n", ["no data rows"]),
    ("no-header", "1,2\n3,4\n", ["line 1", "header"]),
    ("ragged", "a,b,c\n1,2,3\n4,5\n", ["line 3", "2 fields", "header has 3"]),
    ("non-numeric", "a,b,c\n1,2,3\n4,x5,6\n", ["line 3", "column 2 (b)", "'x5' is not a number"]),
    ("empty-cell", "a,b,c\n1,,3\n", ["line 2", "column 2 (b)", "empty cell"]),
    ("nan", "a,b,c\n1,2,3\n4,nan,6\n", ["line 3", "column 2 (b)", "not a finite number"]),
    ("inf-target", "a,b\n1,0.5\n2,inf\n", ["line 3", "column 2 (b)", "not a finite number"]),
    ("empty-target", "a,b\n1,x\n2,\n", ["line 3", "column 2 (b)", "empty cell"]),
    ("nan-among-names", "a,b\n1,x\n2,NaN\n", ["line 3", "column 2 (b)", "'NaN' is not"]),
    ("duplicate-name", "a,b,a\n1,2,3\n", ["line 1", "'a' appears twice"]),
    ("open-quote", 'a,b\n1,"x\n2,y\n', ["line 2", "quote"]),
    ("not-utf8", "a,b\n1,x\n2,\udcff\n", ["line 3", "not UTF-8"]),
]


def _bad_csv(tmp_path, name, content):
    path = tmp_path / f"{name}.csv"
    if content is not None:
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize(("name", "content", "parts"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv_is_named_with_line_and_column(tmp_path, name, content, parts):
    path = _bad_csv(tmp_path, name, content)
    with pytest.raises(DataFileError) as info:
        dataspec.describe(datafiles.read(path))
    message = str(info.value)
    assert message.startswith(f"{path}") and "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_missing_target_column(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,2\n")
    with pytest.raises(DataFileError, match=r"t\.csv, line 1: no column 'c'; the columns are a, b"):
        datafiles.read(path, target="c")


def _arrays(tmp_path):
    """name -> (path, extra read() arguments, the parts of the message)"""
    X = np.ones((4, 2))
    cases = {}

    def npz(name, parts, **arrays):
        np.savez(tmp_path / f"{name}.npz", **arrays)
        cases[name] = (tmp_path / f"{name}.npz", {}, parts)

    npz("no-y", ["no array 'y'", "holds: X"], X=X)
    npz("no-X", ["no array 'X'"], y=np.ones(4))
    npz("lengths", ["X has 4 rows but y has 3"], X=X, y=np.ones(3))
    npz("nan-X", ["X[1, 0] is nan"], X=np.array([[1.0, 2], [np.nan, 3]]), y=np.ones(2))
    npz("inf-y", ["y[2] is inf"], X=X, y=np.array([0, 1, np.inf, 2]))
    npz("text-X", ["X holds <U1 values"], X=np.array([["a", "b"]]), y=np.ones(1))
    npz("1d-X", ["X has shape (4,)", "(samples, features)"], X=np.ones(4), y=np.ones(4))
    npz("empty-X", ["X has shape (0, 2): no rows"], X=np.ones((0, 2)), y=np.ones(0))
    npz("complex-y", ["complex128"], X=X, y=np.ones(4) * 1j)
    full = (tmp_path / "full.npz").write_bytes
    np.savez(tmp_path / "ok.npz", X=X, y=np.ones(4))
    full((tmp_path / "ok.npz").read_bytes()[:200])  # truncated: no central directory
    cases["truncated"] = (tmp_path / "full.npz", {}, ["not a readable NumPy .npz file"])
    data = bytearray((tmp_path / "ok.npz").read_bytes())
    data[120:150] = bytes(30)  # inside X's bytes: the CRC check fails
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    cases["flipped"] = (tmp_path / "flipped.npz", {}, ["array X is damaged"])
    (tmp_path / "foreign.npz").write_bytes(b"GIF89a not numpy at all")
    cases["foreign"] = (tmp_path / "foreign.npz", {}, ["not a NumPy .npz file"])
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y3.npy", np.ones(3))
    cases["npy-lengths"] = (tmp_path / "x.npy", {"targets": tmp_path / "y3.npy"},
                            ["y3.npy", "X has 4 rows but y has 3"])  # fmt: skip
    cases["npy-no-targets"] = (tmp_path / "x.npy", {}, ["give --targets"])
    cases["npz-as-npy"] = (tmp_path / "x.npy", {"targets": tmp_path / "ok.npz"},
                           ["ok.npz: an .npz archive"])  # fmt: skip
    return cases


ARRAY_CASES = ["no-y", "no-X", "lengths", "nan-X", "inf-y", "text-X", "1d-X", "empty-X",
               "complex-y", "truncated", "flipped", "foreign", "npy-lengths", "npy-no-targets",
               "npz-as-npy"]  # fmt: skip


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_bad_arrays_are_named(tmp_path, case):
    path, kwargs, parts = _arrays(tmp_path)[case]
    with pytest.raises(DataFileError) as info:
        datafiles.read(path, **kwargs)
    message = str(info.value)
    assert message.startswith(str(tmp_path)) and "\n" not in message  # names the file
    for part in parts:
        assert part in message, (part, message)


class Planted:
    """Unpickling this writes a file: a loader that unpickles leaves the mark."""

    def __init__(self, mark):
        self.mark = str(mark)

    def __reduce__(self):
        return (os.mkdir, (self.mark,))


def test_nothing_is_ever_unpickled(tmp_path):
    mark = tmp_path / "mark"
    evil = np.array([Planted(mark), 1], dtype=object)
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    np.savez(tmp_path / "evil.npz", X=np.ones((2, 1)), y=evil)
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps(Planted(mark)))
    for path in ("evil.npy", "pickled.npz"):
        with pytest.raises(DataFileError, match="never unpickles"):
            datafiles.read(tmp_path / path, with_target=False)
    with pytest.raises(DataFileError, match="array y holds Python objects"):
        datafiles.read(tmp_path / "evil.npz")
    assert not mark.exists()
    pickle.loads(pickle.dumps(Planted(mark)))  # the planted object does leave its mark
    assert mark.exists()


# -- the same refusals through the command ------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "parts"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_train_refuses_a_bad_csv_with_one_line_and_exit_2(tmp_path, capsys, name, content, parts):
    path = _bad_csv(tmp_path, name, content)
    model = tmp_path / "m.safetensors"
    assert main(["train", str(path), "--steps", "2", "--save", str(model)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"nnkit: error: {path}") and err.count("\n") == 1, err
    assert all(part in err for part in parts), err
    assert "trained" not in out and not model.exists()  # refused before training


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_train_refuses_bad_arrays_with_one_line_and_exit_2(tmp_path, capsys, case):
    path, kwargs, parts = _arrays(tmp_path)[case]
    extra = ["--targets", str(kwargs["targets"])] if "targets" in kwargs else []
    assert main(["train", str(path), *extra, "--steps", "2"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"nnkit: error: {tmp_path}") and err.count("\n") == 1, err
    assert all(part in err for part in parts), err
    assert "trained" not in out
