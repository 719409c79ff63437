"""``nnkit train FILE --weights NAME`` and ``nnkit evaluate ... --weights NAME``: sample weights
from a CSV column, an .npz array or a .npy file; bad weights end with one line, exit code 2."""

import re

import numpy as np
import pytest

from nnkit.cli import main


def _csv(path, X, y, w, weight_cell=str):
    lines = ["a,b,c,w,label"]
    lines += [f"{r[0]},{r[1]},{r[2]},{weight_cell(wi)},{yi}" for r, yi, wi in zip(X, y, w)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _metric(out, label, key):
    line = next(x for x in out.splitlines() if x.startswith(label + ":"))
    return float(re.search(rf"\b{key} ([0-9.]+)", line).group(1))


TRAIN = ("--epochs", "30", "--no-progress", "--seed", "1")


def _noise(n=400, seed=0):
    """Labels independent of the features; class 1 weighs 10, class 0 weighs 1: a weighted
    fit predicts class 1 almost everywhere, a plain one about half the time."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 2, n)
    return X, y, np.where(y == 1, 10.0, 1.0)


def _predicted_ones(capsys, model, path):
    code, out, err = _run(capsys, "predict", "--model", model, path)
    assert code == 0, err
    return np.mean(np.array(out.splitlines()[1:]) == "1")


def test_a_weights_column_trains_and_evaluates_with_the_weights(tmp_path, capsys):
    X, y, w = _noise()
    data = _csv(tmp_path / "d.csv", X, y, w)
    weighted = tmp_path / "w.safetensors"
    code, out, err = _run(capsys, "train", data, "--weights", "w", "--save", weighted, *TRAIN)
    assert code == 0, err
    assert "400 rows, 3 features, target label: 2 classes (0, 1), weighted by w" in out
    assert "3-64-64-2" in out  # the weights column is not a feature
    assert _metric(out, "test", "accuracy") > 0.85  # weighted: class 1 counts 10 times
    (tmp_path / "x.csv").write_text("a,b,c\n" + "\n".join(",".join(map(str, r)) for r in X) + "\n")
    assert _predicted_ones(capsys, weighted, tmp_path / "x.csv") > 0.85
    code, out, err = _run(capsys, "train", data, *TRAIN)  # without --weights: a feature
    assert code == 0, err
    assert "4 features" in out and "weighted" not in out
    # evaluate on the whole file: weighted with --weights, plain without
    code, weighted_eval, err = _run(capsys, "evaluate", "--model", weighted, data, "--weights", "w")
    assert code == 0, err
    code, plain_eval, err = _run(capsys, "evaluate", "--model", weighted, data)
    assert code == 0, err
    assert _metric(weighted_eval, str(data), "accuracy") > 0.85
    assert _metric(plain_eval, str(data), "accuracy") < 0.65


def test_npz_and_npy_weights(tmp_path, capsys):
    X, y, w = _noise()
    np.savez(tmp_path / "d.npz", X=X, y=y, w=w)
    code, out, err = _run(capsys, "train", tmp_path / "d.npz", "--weights", "w", *TRAIN)
    assert code == 0, err
    assert "weighted by w" in out and _metric(out, "test", "accuracy") > 0.85
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", w)
    code, out, err = _run(capsys, "train", tmp_path / "x.npy", "--targets", tmp_path / "y.npy",
                          "--weights", tmp_path / "w.npy", *TRAIN)  # fmt: skip
    assert code == 0, err
    assert _metric(out, "test", "accuracy") > 0.85
    code, out, err = _run(capsys, "train", tmp_path / "x.npy", "--targets", tmp_path / "y.npy",
                          *TRAIN)  # fmt: skip
    assert code == 0, err
    assert _metric(out, "test", "accuracy") < 0.65


@pytest.mark.parametrize("cell, message", [
    (lambda i, w: "-1" if i == 4 else str(w), "line 6, column 4 (w): weight '-1' is negative"),
    (lambda i, w: "heavy" if i == 4 else str(w), "line 6, column 4 (w): 'heavy' is not a number"),
    (lambda i, w: "inf" if i == 4 else str(w), "line 6, column 4 (w): 'inf' is not a finite"),
    (lambda i, w: "" if i == 4 else str(w), "line 6, column 4 (w): an empty cell"),
    (lambda i, w: "0", "column 4 (w): every weight is 0; expected at least one positive"),
])  # fmt: skip
def test_bad_csv_weights_are_one_line_exit_2(tmp_path, capsys, cell, message):
    X, y, w = _noise(20)
    cells = iter(range(20))
    data = _csv(tmp_path / "bad.csv", X, y, w, weight_cell=lambda wi: cell(next(cells), wi))
    code, out, err = _run(capsys, "train", data, "--weights", "w", "--steps", "1")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"nnkit: error: {data}") and message in err


def test_bad_weight_arrays_and_names_are_one_line_exit_2(tmp_path, capsys):
    X, y, w = _noise(20)
    np.savez(tmp_path / "short.npz", X=X, y=y, w=w[:5])
    np.savez(tmp_path / "neg.npz", X=X, y=y, w=-w)
    csv = _csv(tmp_path / "d.csv", X, y, w)
    cases = [
        (("train", tmp_path / "short.npz", "--weights", "w"), "weights of shape (5,) for 20 rows"),
        (("train", tmp_path / "neg.npz", "--weights", "w"), "is not a finite number >= 0"),
        (("train", tmp_path / "short.npz", "--weights", "v"), "no array 'v' (it holds: X, y, w)"),
        (("train", csv, "--weights", "weight"), "no weights column 'weight'; the columns are"),
        (("train", csv, "--weights", "label"), "column 'label' cannot be both target and weights"),
        (("train", "digits", "--weights", "w"), "--weights: for a data file, not digits"),
    ]
    for argv, message in cases:
        code, out, err = _run(capsys, *argv, "--steps", "1")
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)
