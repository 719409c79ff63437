"""nnkit.datafiles: CSV, .npz and .npy files read as nnkit train/evaluate/predict read them,
every bad file refused with one line naming the file (and the line and column). A CSV is read
by a fast parser (pyarrow, or NumPy where pyarrow is not installed) or, where that cannot
vouch for the file or finds a bad value, by the csv module: the CSV tests run with each one
first, and the fast parsers must give the csv module's arrays and messages exactly."""

import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from helpers import write
from hypothesis import given
from hypothesis import strategies as st

from nnkit import csvread, datafiles, dataspec
from nnkit.cli import main
from nnkit.datafiles import DataFileError

PARSERS = ["pyarrow", "numpy", "csv"]
# the fast parsers this machine has (pyarrow comes with the data extra)
FAST = ["numpy", *(["pyarrow"] if importlib.util.find_spec("pyarrow") else [])]


def use_parser(monkeypatch, parser):
    """Offer every CSV to ``parser`` first: pyarrow (whatever the file's size), NumPy (pyarrow
    hidden, as where it is not installed) or none (the csv module reads every file)."""
    if parser == "pyarrow":
        pytest.importorskip("pyarrow")
        monkeypatch.setattr(csvread, "PYARROW_MIN_BYTES", 0)
    elif parser == "numpy":
        monkeypatch.setitem(sys.modules, "pyarrow", None)
    else:
        monkeypatch.setattr(csvread, "PARSERS", ())


@pytest.fixture(params=PARSERS)
def parser(request, monkeypatch):
    """Each test that takes it runs three times: with pyarrow, NumPy or the csv module first."""
    use_parser(monkeypatch, request.param)
    return request.param


def read_by(parser, path, **kwargs):
    """``datafiles.read(path, **kwargs)`` with ``parser`` first: the Table, or the one-line
    message of the DataFileError."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_parser(monkeypatch, parser)
        try:
            return datafiles.read(path, **kwargs)
        except DataFileError as e:
            return str(e)


def same_table(a, b):
    """Whether Tables ``a`` and ``b`` hold the same names, lines and arrays: dtypes, shapes
    and bytes (a float's sign of zero included)."""
    if (a.features, a.target, a.lines) != (b.features, b.target, b.lines):
        return False
    for x, y in ((a.X, b.X), (a.y, b.y), (a.w, b.w)):
        if (x is None) != (y is None):
            return False
        if x is not None and (x.dtype, x.shape, x.tobytes()) != (y.dtype, y.shape, y.tobytes()):
            return False
    return True


# -- good files --------------------------------------------------------------------------------


def test_csv_features_and_targets_by_type(tmp_path, parser):
    """The last column is the target by default; integers, floats and names keep their type;
    blank lines, quotes, spaces, CRLF line ends and a UTF-8 BOM are read as a CSV reader does."""
    text = '\ufeffa, b ,label\r\n1, 2.5,cat\r\n\r\n"3",-4e1, dog \r\n'
    t = datafiles.read(write(tmp_path / "t.csv", text))
    np.testing.assert_array_equal(t.X, [[1.0, 2.5], [3.0, -40.0]])
    assert t.X.dtype == np.float64
    assert t.features == ["a", "b"] and t.target == "label"
    assert t.y.tolist() == ["cat", "dog"] and t.lines == [2, 4]
    assert t.parser == parser
    ints = datafiles.read(write(tmp_path / "i.csv", "x,y\n1,3\n2,-1\n"))
    assert ints.y.dtype == np.int64 and ints.y.tolist() == [3, -1]
    floats = datafiles.read(write(tmp_path / "f.csv", "x,y\n1,3\n2,0.5\n"))
    assert floats.y.dtype == np.float64 and floats.y.tolist() == [3.0, 0.5]


def test_csv_target_column_by_name_and_features_by_name(tmp_path, parser):
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


# name, content, read()'s arguments: files the fast parsers read, exactly as the csv module does
GOOD_CSV = [
    ("plain", "a,b,y\n1,2,0\n3,4,1\n", {}),
    ("bom-crlf-blank-lines", '\ufeffa, b ,label\r\n1, 2.5,cat\r\n\r\n"3",-4e1, dog \r\n', {}),
    ("quoted", '"a","b","name"\n1,"2","x, y"\n3,4,"say ""hi"""\n', {}),
    ("blank-lines-at-the-end", "a,y\n1,0.5\n\n2,1.5\n\n\n", {}),
    ("no-final-line-end", "a,y\n1,2\n3,4", {}),
    ("integer-targets", "a,y\n1,+3\n2,-0\n3,007\n", {}),
    ("past-int64-targets", "a,y\n1,9223372036854775808\n2,1\n", {}),
    ("float-targets", "a,y\n1e5,1.5\n-0.0,2\n.5,3.\n", {}),
    ("names-in-utf8", "α,β,y\n1,2,café\n3,4,naïve\n", {}),
    ("names-that-look-hexadecimal", "a,y\n1,0x10\n2,0x11\n", {}),
    ("spaces-and-tabs", "a,b,y\n 1 ,\t2,3\n4,5 , 6\n", {}),
    ("quotes-inside-fields", 'a,y\n1,ab"c\n2,""""\n', {}),
    ("target-by-name", "a,y,b\n1,x,2\n3,z,4\n", {"target": "y"}),
    ("weights", "a,w,y\n1,0.5,x\n2,0,y\n3,2,x\n", {"weights": "w"}),
    ("features-by-name", "a,b,c\n1,2,x\n3,4,y\n", {"with_target": False, "features": ["b", "a"]}),
    ("every-column-a-feature", "a,b\n1,2\n3,4\n", {"with_target": False}),
    ("a-feature-named-twice", "a,b\n1,2\n3,4\n", {"with_target": False, "features": ["a", "a"]}),
    ("weights-and-features-by-name", "a,w,b,y\n1,1,2,x\n3,2,4,y\n",
     {"weights": "w", "features": ["b", "a"]}),
]  # fmt: skip

# files the fast parsers leave to the csv module, which reads them
LEFT_TO_CSV = [
    ("lone-carriage-returns", "a,b\r1,2\r3,4\r"),
    ("a-carriage-return-before-crlf", "a,b\n1,2\r\r\n3,4\n"),  # 1,2 then a blank line
    ("newline-in-quotes", 'a,b\n1,"x\ny"\n2,z\n'),
    ("row-of-blank-cells", "a,b\n1,2\n , \n3,4\n"),
    ("underscores-in-numbers", "a,b\n1_000,1\n2,3\n"),
]


@pytest.mark.parametrize("fast", ["pyarrow", "numpy"])
@pytest.mark.parametrize(("name", "text", "kwargs"), GOOD_CSV, ids=[c[0] for c in GOOD_CSV])
def test_fast_parsers_read_a_csv_as_the_csv_module_does(tmp_path, fast, name, text, kwargs):
    path = write(tmp_path / f"{name}.csv", text)
    careful = read_by("csv", path, **kwargs)
    table = read_by(fast, path, **kwargs)
    assert careful.parser == "csv" and table.parser == fast  # read by the fast parser
    assert same_table(table, careful)


@pytest.mark.parametrize("fast", ["pyarrow", "numpy"])
@pytest.mark.parametrize(("name", "text"), LEFT_TO_CSV, ids=[c[0] for c in LEFT_TO_CSV])
def test_what_a_fast_parser_cannot_vouch_for_the_csv_module_reads(tmp_path, fast, name, text):
    path = write(tmp_path / f"{name}.csv", text)
    table = read_by(fast, path)
    assert table.parser == "csv" and same_table(table, read_by("csv", path))


def test_pyarrow_reads_files_of_pyarrow_min_bytes_and_more(tmp_path, monkeypatch):
    """Below PYARROW_MIN_BYTES NumPy reads a file (importing pyarrow costs more than it saves)."""
    pytest.importorskip("pyarrow")
    path = write(tmp_path / "t.csv", "a,y\n1,2\n3,4\n")
    body = len(path.read_bytes()) - len(b"a,y\n")
    monkeypatch.setattr(csvread, "PYARROW_MIN_BYTES", body)
    assert datafiles.read(path).parser == "pyarrow"
    monkeypatch.setattr(csvread, "PYARROW_MIN_BYTES", body + 1)
    assert datafiles.read(path).parser == "numpy"


def test_import_nnkit_imports_no_pyarrow_and_reads_a_csv_without_it(tmp_path):
    path = write(tmp_path / "t.csv", "a,y\n1,2\n3,4\n")
    code = (
        "import sys, nnkit\n"
        "from nnkit import datafiles\n"
        "print('pyarrow' in sys.modules)\n"
        "sys.modules['pyarrow'] = None  # not installed\n"
        f"print(datafiles.read({str(path)!r}).parser, datafiles.read({str(path)!r}).y.tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    assert out.splitlines() == ["False", "numpy [2, 4]"]


CELL = st.one_of(
    st.sampled_from(["1", "-2.5", " 3 ", '"4"', "1e3", "+5", "007", "-0", "x", '"a,b"', "é"]),
    st.text(alphabet='01.e+- \t"x,\n\r_né', max_size=4),
)


@given(rows=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1, max_size=4),
       crlf=st.booleans())  # fmt: skip
def test_every_parser_reads_any_file_alike(tmp_path_factory, rows, crlf):
    """Cells that are numbers, names, quotes, separators or line ends in any mix: the same
    Table, or the same one-line error, whichever parser comes first."""
    end = "\r\n" if crlf else "\n"
    path = tmp_path_factory.mktemp("any") / "t.csv"
    write(path, end.join(["a,b", *(",".join(row) for row in rows)]) + end)
    careful = read_by("csv", path)
    for fast in FAST:
        table = read_by(fast, path)
        if isinstance(careful, str):
            assert table == careful
        else:
            assert same_table(table, careful), (fast, table, careful)


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
    # what pyarrow and NumPy would read, and the csv module refuses
    ("text-after-a-quote", 'a,b\n1,"2"3\n', ["line 2", "',' expected after '\"'"]),
    ("space-after-a-quote", 'a,b\n1,x\n2,"y" \n', ["line 3", "',' expected after '\"'"]),
    ("open-quote-at-the-end", 'a,b\n1,x\n2,"y\n', ["line 3", "quote never closed"]),
    ("open-quote-in-the-header", '"a,b\n1,2\n', ["line 2", "quote never closed"]),
    ("hexadecimal", "a,b\n0x10,1\n2,2\n", ["line 2", "column 1 (a)", "'0x10' is not a number"]),
    ("nul", "a,b\n1\x00,1\n2,2\n", ["line 2", "column 1 (a)", "is not a number"]),
    ("overflow", "a,b\n1e400,1\n2,2\n", ["line 2", "column 1 (a)", "'1e400' is not a finite"]),
    ("field-too-long", "a,b\n1," + "x" * 140_000 + "\n", ["line 2", "larger than field limit"]),
    ("blank-first-line", "\na,b\n1,2\n", ["empty"]),
    ("blank-lines-only", "a,b\n\n\n", ["no data rows"]),
]

# name, content, flags of nnkit train (and read()'s arguments), the parts of the message
BAD_CSV_COLUMNS = [
    ("negative-weight", "a,w,y\n1,1,0\n2,-1,1\n", {"weights": "w"},
     ["line 3, column 2 (w): weight '-1' is negative"]),
    ("nan-weight", "a,w,y\n1,nan,0\n2,1,1\n", {"weights": "w"},
     ["line 2, column 2 (w): 'nan' is not a finite number"]),
    ("empty-weight", "a,w,y\n1,1,0\n2,,1\n", {"weights": "w"},
     ["line 3, column 2 (w): an empty cell"]),
    ("zero-weights", "a,w,y\n1,0,0\n2,0,1\n", {"weights": "w"},
     ["column 2 (w): every weight is 0"]),
    ("no-weights-column", "a,w,y\n1,1,0\n", {"weights": "v"},
     ["line 1: no weights column 'v'; the columns are a, w, y"]),
    ("weights-are-the-target", "a,w,y\n1,1,0\n", {"weights": "y"},
     ["column 'y' cannot be both target and weights"]),
    ("no-target-column", "a,b\n1,2\n", {"target": "c"}, ["line 1: no column 'c'"]),
    ("ragged-before-no-target", "a,b\n1,2\n3\n", {"target": "c"}, ["line 3: 1 fields"]),
    ("bad-cell-before-bad-weight", "a,w,y\n1,-1,0\nx,1,1\n", {"weights": "w"},
     ["line 3, column 1 (a): 'x' is not a number"]),
]  # fmt: skip


def _bad_csv(tmp_path, name, content):
    path = tmp_path / f"{name}.csv"
    if content is not None:
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize(("name", "content", "parts"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv_is_named_with_line_and_column(tmp_path, parser, name, content, parts):
    path = _bad_csv(tmp_path, name, content)
    with pytest.raises(DataFileError) as info:
        dataspec.describe(datafiles.read(path))
    message = str(info.value)
    assert message.startswith(f"{path}") and "\n" not in message
    for part in parts:
        assert part in message, (part, message)


@pytest.mark.parametrize(("name", "content", "kwargs", "parts"), BAD_CSV_COLUMNS,
                         ids=[c[0] for c in BAD_CSV_COLUMNS])  # fmt: skip
def test_bad_csv_columns_are_named(tmp_path, parser, name, content, kwargs, parts):
    path = _bad_csv(tmp_path, name, content)
    with pytest.raises(DataFileError) as info:
        datafiles.read(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}") and "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_missing_target_column(tmp_path, parser):
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


@pytest.mark.parametrize(("name", "content", "flags", "parts"),
                         [(n, c, {}, p) for n, c, p in BAD_CSV] + BAD_CSV_COLUMNS,
                         ids=[c[0] for c in BAD_CSV + BAD_CSV_COLUMNS])  # fmt: skip
def test_train_refuses_a_bad_csv_with_one_line_and_exit_2(
    tmp_path, capsys, parser, name, content, flags, parts
):
    path = _bad_csv(tmp_path, name, content)
    model = tmp_path / "m.safetensors"
    argv = [x for flag, value in flags.items() for x in (f"--{flag}", value)]
    assert main(["train", str(path), *argv, "--steps", "2", "--save", str(model)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"nnkit: error: {path}") and err.count("\n") == 1, err
    assert all(part in err for part in parts), err
    assert "trained" not in out and not model.exists()  # refused before training


def test_predict_and_evaluate_read_a_csv_alike_with_every_parser(tmp_path, capsys, parser):
    """What predict prints and evaluate reports, and their one-line errors, are the same
    whichever parser reads the file; the model was trained on a file the csv module read."""
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'yes' if a > b else 'no'}" for a, b in rng.normal(size=(60, 2))]
    data = write(tmp_path / "d.csv", "\n".join(["a,b,label", *rows]) + "\n")
    new = write(tmp_path / "new.csv", "b,id,a\n0.5,x,1\n2,y,-1\n")  # by name, an extra column
    bad = write(tmp_path / "bad.csv", 'b,a\n0.5,1\n2,"3"4\n')
    model = tmp_path / "m.safetensors"
    runs = [
        ["predict", "--model", model, new], ["evaluate", "--model", model, data],
        ["predict", "--model", model, bad], ["evaluate", "--model", model, new],
    ]  # fmt: skip

    def outputs():
        codes = [main([str(a) for a in argv]) for argv in runs]
        return codes, capsys.readouterr()

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_parser(monkeypatch, "csv")
        assert main(["train", str(data), "--steps", "20", "--save", str(model)]) == 0
        capsys.readouterr()
        expected = outputs()
    assert expected[0] == [0, 0, 2, 2], expected
    assert outputs() == expected


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_train_refuses_bad_arrays_with_one_line_and_exit_2(tmp_path, capsys, case):
    path, kwargs, parts = _arrays(tmp_path)[case]
    extra = ["--targets", str(kwargs["targets"])] if "targets" in kwargs else []
    assert main(["train", str(path), *extra, "--steps", "2"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"nnkit: error: {tmp_path}") and err.count("\n") == 1, err
    assert all(part in err for part in parts), err
    assert "trained" not in out
