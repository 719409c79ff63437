"""The nnkit command, run as a user would: through subprocess."""

import os
import queue
import re
import subprocess
import sys
import threading
import time

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


# a plain progress line: epoch, step of total, time, then the metrics
PROGRESS = re.compile(r"^epoch (\d+) \| step (\d+)/(\d+) \((\d+)%\) \| .*loss", re.M)


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
        "--target",
        "--targets",
        "--task",
        "--standardize",
        "--test-fraction",
        ".csv",
        ".npz",
        ".npy",
    ):
        assert flag in train, flag
    predict = nnkit_cmd("predict", "--help").stdout
    for flag in ("--model", "FILE", "--out", "--raw", ".csv", ".npy"):
        assert flag in predict, flag


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
    # predict writes the classes; --raw what the loaded model computes
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    np.save(tmp_path / "x.npy", X)
    pred = nnkit_cmd("predict", "--model", model, tmp_path / "x.npy", "--out", tmp_path / "y.npy")
    assert pred.returncode == 0, pred.stderr
    assert np.load(tmp_path / "y.npy", allow_pickle=False).tolist() == [0, 1, 1, 0]
    raw = nnkit_cmd(  # the old spellings of FILE and --out still work
        "predict", "--model", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "r.npy",
        "--raw",
    )  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    m, params = nnkit.load(model)
    want = m.predict(params, X.astype(np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), want)
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
    # stdout is a pipe: a plain progress line every tenth of the run (4 epochs here)
    assert [int(m[1]) for m in PROGRESS.findall(result.stdout)] == list(range(60, 601, 60))


def test_sine_without_progress_prints_no_progress_line():
    result = nnkit_cmd("train", "sine", "--steps", "300", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "trained 300 steps" in result.stdout and not PROGRESS.search(result.stdout)


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


# -- data files ----------------------------------------------------------------------------------


def _blobs(n=240, seed=0):
    """Three separable classes named by strings, four features on different scales."""
    rng = np.random.default_rng(seed)
    names = np.array(["setosa", "versicolor", "virginica"])
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 4.0 * np.eye(3, 4)[y]
    return X * [1.0, 10.0, 100.0, 0.1], names[y]


def _write_csv(path, X, y=None, names=("a", "b", "c", "d"), target="species"):
    header = [*names] + ([target] if y is not None else [])
    rows = [",".join(map(str, row)) + ("" if y is None else f",{t}")
            for row, t in zip(X, y if y is not None else [None] * len(X))]  # fmt: skip
    path.write_text("\n".join([",".join(header), *rows]) + "\n")
    return path


def test_train_on_a_csv_then_predict_and_evaluate_by_class_name(tmp_path):
    X, y = _blobs()
    data = _write_csv(tmp_path / "flowers.csv", X, y)
    model = tmp_path / "flowers.safetensors"
    train = nnkit_cmd("train", data, "--save", model, "--no-progress")
    assert train.returncode == 0, train.stderr
    assert "3 classes (setosa, versicolor, virginica)" in train.stdout
    assert "4-64-64-3 relu, loss cross_entropy" in train.stdout and "standardized" in train.stdout
    assert "173 train, 19 val, 48 test" in train.stdout  # 20% test, then 10% validation
    assert _metric(train.stdout, "test", "accuracy") > 0.95
    assert "versicolor" in train.stdout.split("test:")[1]  # the confusion matrix's names
    # predict on a CSV without the target column (columns in another order: picked by name)
    new, truth = _blobs(20, seed=1)
    order = [2, 0, 3, 1]
    _write_csv(tmp_path / "new.csv", new[:, order], names=[("a", "b", "c", "d")[j] for j in order])
    out = nnkit_cmd("predict", "--model", model, tmp_path / "new.csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "species" and len(lines) == 21
    assert np.mean(np.array(lines[1:]) == truth) >= 0.9
    for suffix in ("csv", "npy"):
        target = tmp_path / f"pred.{suffix}"
        written = nnkit_cmd("predict", "--model", model, tmp_path / "new.csv", "--out", target)
        assert written.returncode == 0, written.stderr
        if suffix == "csv":
            assert target.read_text() == out.stdout
        else:
            assert np.load(target, allow_pickle=False).tolist() == lines[1:]
    # evaluate on a whole file with the target column: the same numbers as on a held-out file
    evaluate = nnkit_cmd("evaluate", "--model", model, data)
    assert evaluate.returncode == 0, evaluate.stderr
    assert _metric(evaluate.stdout, str(data), "accuracy") > 0.95


def test_train_on_an_npz_regression_and_npy_features(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) * [1.0, 50.0, 0.01]
    y = X @ [1.0, 0.02, 100.0] + 0.1 * np.sin(X[:, 0])
    np.savez(tmp_path / "r.npz", X=X, y=y)
    model = tmp_path / "r.safetensors"
    train = nnkit_cmd("train", tmp_path / "r.npz", "--epochs", "150", "--save", model,
                      "--no-progress")  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "regression" in train.stdout and "loss mse" in train.stdout
    assert _metric(train.stdout, "test", "loss") < 0.1 * y.var()
    assert "accuracy" not in train.stdout
    np.save(tmp_path / "x.npy", X[:50])
    pred = nnkit_cmd("predict", "--model", model, tmp_path / "x.npy", "--out", tmp_path / "p.npy")
    assert pred.returncode == 0, pred.stderr
    p = np.load(tmp_path / "p.npy")
    assert p.shape == (50,) and np.mean((p - y[:50]) ** 2) < 0.1 * y.var()
    # the same data as .npy features with --targets; integers mean classes, unless --task
    np.save(tmp_path / "y.npy", (y[:50] > 0).astype(np.int64))
    cls = nnkit_cmd("train", tmp_path / "x.npy", "--targets", tmp_path / "y.npy", "--steps", "5",
                    "--no-progress")  # fmt: skip
    assert cls.returncode == 0 and "2 classes (0, 1)" in cls.stdout, cls.stderr
    reg = nnkit_cmd("train", tmp_path / "x.npy", "--targets", tmp_path / "y.npy", "--steps", "5",
                    "--task", "regression", "--no-progress")  # fmt: skip
    assert reg.returncode == 0 and "target y: regression" in reg.stdout, reg.stderr


def test_a_bad_file_is_one_line_exit_2_no_traceback(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    result = nnkit_cmd("train", data, "--save", tmp_path / "m.safetensors")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"nnkit: error: {data}, line 3, column 2 (b): 'oops' is not a number\n"
    assert not (tmp_path / "m.safetensors").exists()
    # predict: a file whose columns do not fit the model; an output of an unknown kind
    model = tmp_path / "xor.safetensors"
    assert nnkit_cmd("train", "xor", "--steps", "5", "--save", model).returncode == 0
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n")
    wide = nnkit_cmd("predict", "--model", model, tmp_path / "three.csv")
    assert wide.returncode == 2 and wide.stderr.count("\n") == 1
    assert "three.csv: 3 feature columns, but the model takes 2 (x0, x1)" in wide.stderr
    (tmp_path / "two.csv").write_text("x0,x1\n1,0\n")
    out = nnkit_cmd("predict", "--model", model, tmp_path / "two.csv", "--out", tmp_path / "p.txt")
    assert out.returncode == 2 and "p.txt: predictions go to a .csv or .npy file" in out.stderr
    flags = nnkit_cmd("train", "xor", "--target", "y")
    assert flags.returncode == 2 and "--target: for a data file, not xor" in flags.stderr


# -- progress in a log ---------------------------------------------------------------------------


def _lines_as_they_come(args, deadline_s):
    """Run ``nnkit args`` with stdout to a pipe; yield (line, the time.monotonic() it arrived)
    as lines arrive; the process is killed (by its pid) at the deadline or when the caller
    stops early."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe buffers
    proc = subprocess.Popen([sys.executable, "-m", "nnkit", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put((line.rstrip("\n"), time.monotonic()))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    end = time.monotonic() + deadline_s
    try:
        while True:
            try:
                item = lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"nnkit {' '.join(map(str, args))} ran past {deadline_s} s")
            if item is None:
                assert proc.wait(timeout=60) == 0, proc.stderr.read()
                return
            yield item
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 9)
        proc.wait(timeout=60)
        reader.join(timeout=60)
        proc.stdout.close()
        proc.stderr.close()


def test_train_in_a_pipe_prints_progress_lines_while_it_runs():
    """Under nohup or in a CI log (stdout not a terminal) the run prints a plain line each
    tenth of its steps as it goes (at the end of the epoch that passes it), flushed at
    once, not all at the end."""
    seen, done = [], None
    args = ["train", "digits", "--steps", "3000", "--layers", "16"]  # 21 steps an epoch
    for line, arrived in _lines_as_they_come(args, 600):
        if match := PROGRESS.match(line):
            seen.append((int(match[1]), int(match[2]), arrived, line))
        if line.startswith("trained"):
            assert len(seen) == 10, seen  # all before the summary
            fit_s, done = float(re.search(r" in ([0-9.]+) s", line)[1]), arrived
    epochs, steps, arrivals, text = zip(*seen, strict=True)
    assert all(300 * k <= s < 300 * k + 21 for k, s in enumerate(steps[:-1], 1)), steps
    assert steps[-1] == 3000 and list(epochs) == sorted(set(epochs))  # increasing
    assert all("val_accuracy" in t and "samples/s" in t and "eta" in t for t in text)
    # the first line (10%) came about 90% of the fit's time before the end, not at the end
    assert done - arrivals[0] > 0.5 * fit_s, (done - arrivals[0], fit_s)


def test_training_on_a_file_loads_no_optional_library(tmp_path):
    """Reading a data file needs NumPy and the csv module only: no scikit-learn, pandas,
    or other backends' libraries; and no rich where nothing can draw a bar."""
    np.savez(tmp_path / "d.npz", X=np.eye(4), y=np.array([0, 1, 0, 1]))
    _write_csv(tmp_path / "d.csv", np.eye(4), np.array(["a", "b", "a", "b"]))
    code = (
        "import sys; from nnkit.cli import main\n"
        f"assert main(['train', {str(tmp_path / 'd.npz')!r}, '--steps', '3']) == 0\n"
        f"assert main(['train', {str(tmp_path / 'd.csv')!r}, '--steps', '3']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'pandas', 'jax', "
        "'torch', 'cupy', 'optax', 'rich'}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NNKIT_BACKEND"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.slow
def test_train_keeps_compiled_programs_for_the_next_run(tmp_path):
    """`nnkit train` on JAX keeps its compiled programs in $NNKIT_CACHE_DIR; a second run
    loads them and trains the same model (the same lines printed)."""
    if "jax" not in nnkit.backends.available():
        pytest.skip("needs JAX")
    cache = tmp_path / "compiled"
    env = {**os.environ, "NNKIT_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "nnkit", "train", "digits", "--backend", "jax",
               "--steps", "60", "--no-progress"]  # fmt: skip

    def results():
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                             check=True).stdout  # fmt: skip
        return [line for line in out.splitlines() if line.startswith(("final epoch", "test:"))]

    first = results()
    kept = sorted(p.name for p in cache.iterdir())
    assert kept, "the first run kept no compiled program"
    assert results() == first
    assert sorted(p.name for p in cache.iterdir()) == kept  # loaded, not compiled again
