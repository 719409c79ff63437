"""The nnkit command, run as a user would: through subprocess."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nnkit


def nnkit_cmd(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "nnkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def _metric(out, label, key):
    line = next(x for x in out.splitlines() if x.startswith(label + ":"))
    return float(re.search(rf"\b{key} ([0-9.]+)", line).group(1))


def test_help_documents_every_command_and_flag():
    top = nnkit_cmd("--help")
    assert top.returncode == 0
    for command in ("info", "train", "evaluate", "predict"):
        assert command in top.stdout
    train = nnkit_cmd("train", "--help").stdout
    for flag in (
        "--backend",
        "--strategy",
        "--layers",
        "--activation",
        "--loss",
        "--optimizer",
        "--lr",
        "--schedule",
        "--epochs",
        "--steps",
        "--batch-size",
        "--seed",
        "--dtype",
        "--save",
        "--plot",
        "momentum",
        "nesterov",
        "adamw",
    ):
        assert flag in train, flag


def test_info_lists_backends_and_devices():
    result = nnkit_cmd("info")
    assert result.returncode == 0
    assert f"nnkit {nnkit.__version__}" in result.stdout
    assert re.search(r"numpy\s+available, device cpu", result.stdout)
    for name in nnkit.backends.NAMES:
        assert re.search(
            rf"^  {name}\s+(available|unavailable: .+; install: pip install)", result.stdout, re.M
        ), name


def test_train_save_evaluate_predict_round_trip(tmp_path):
    model, plot = tmp_path / "xor.safetensors", tmp_path / "xor.png"
    train = nnkit_cmd("train", "xor", "--steps", "1500", "--save", model, "--plot", plot)
    assert train.returncode == 0, train.stderr
    assert "trained 1500 steps" in train.stdout and "samples/s" in train.stdout
    assert _metric(train.stdout, "test", "accuracy") == 1.0
    assert "accuracy 1.0000 (4/4)" in train.stdout  # the confusion matrix's last line
    # the saved model gives the same test metrics when evaluated on its own
    evaluate = nnkit_cmd("evaluate", "--model", model)
    assert evaluate.returncode == 0, evaluate.stderr
    assert _metric(evaluate.stdout, "xor test", "loss") == _metric(train.stdout, "test", "loss")
    # predict writes what the loaded model computes
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    np.save(tmp_path / "x.npy", X)
    pred = nnkit_cmd(
        "predict", "--model", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy"
    )
    assert pred.returncode == 0, pred.stderr
    m, params = nnkit.load(model)
    want = m.predict(params, X.astype(np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)
    assert ((want[:, 0] > 0.5) == [False, True, True, False]).all()
    # the plot is a real PNG image
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    matplotlib_image = pytest.importorskip("matplotlib.image")
    image = matplotlib_image.imread(plot)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_train_digits_prints_metrics_and_the_confusion_matrix():
    result = nnkit_cmd(
        "train",
        "digits",
        "--steps",
        "300",
        "--optimizer",
        "adam",
        "--loss",
        "cross_entropy",
        "--activation",
        "relu",
        "--layers",
        "32",
        "--lr",
        "0.005",
        "--schedule",
        "cosine",
        "--dtype",
        "float64",
    )
    assert result.returncode == 0, result.stderr
    assert "64-32-10 relu" in result.stdout and "float64" in result.stdout
    assert _metric(result.stdout, "test", "accuracy") > 0.85
    assert _metric(result.stdout, "final epoch", "val_accuracy") > 0.85
    rows = [x for x in result.stdout.splitlines() if re.match(r"^\s+\d\s+(\d+\s+){10}", x)]
    assert len(rows) == 10  # one row per true class


def test_train_sine_regression():
    result = nnkit_cmd(
        "train",
        "sine",
        "--epochs",
        "40",
        "--optimizer",
        "nesterov",
        "--lr",
        "0.02",
        "--strategy",
        "per_sample",
        "--batch-size",
        "16",
    )
    assert result.returncode == 0, result.stderr
    assert "trained 600 steps (40 epochs)" in result.stdout  # 230 samples -> 15 batches of 16
    assert _metric(result.stdout, "test", "loss") < 0.1
    assert "accuracy" not in result.stdout


def test_errors_exit_2_with_a_message(tmp_path):
    unknown = nnkit_cmd("train", "xor", "--backend", "nope", "--steps", "1")
    assert unknown.returncode == 2 and "backend 'nope' is unavailable" in unknown.stderr
    (tmp_path / "bad.st").write_bytes(b"\x00" * 5)
    corrupt = nnkit_cmd("evaluate", "--model", tmp_path / "bad.st", "--dataset", "xor")
    assert corrupt.returncode == 2 and "too short" in corrupt.stderr
    usage = nnkit_cmd("train", "mnist")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


@pytest.mark.parametrize(
    ("module", "flag", "extra"),
    [("matplotlib", "--plot", "plot"), ("safetensors", "--save", "io")],
)
def test_a_missing_extra_is_named_before_training(tmp_path, module, flag, extra):
    fake = tmp_path / "fake" / module
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"raise ImportError('No module named {module}')\n")
    out = tmp_path / "out"
    result = nnkit_cmd(
        "train", "xor", "--steps", "5", flag, out, env={"PYTHONPATH": str(tmp_path / "fake")}
    )
    assert result.returncode == 2
    assert f"pip install 'nnkit[{extra}]'" in result.stderr
    assert "trained" not in result.stdout  # refused before training
    assert not out.exists()


def test_import_nnkit_loads_no_optional_library():
    code = (
        "import sys, nnkit; print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'jax', 'cupy', 'rich', 'matplotlib', 'safetensors', 'sklearn'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]"
