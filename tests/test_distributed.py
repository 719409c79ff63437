"""Past one device: data-parallel training over a JAX mesh of forced CPU devices (in
subprocesses: XLA_FLAGS must be set before JAX is imported), over two processes joined by
``nnkit.distributed``, and runs killed with SIGKILL and resumed from their checkpoint.

Every subprocess has a hard timeout and is killed by its pid when it runs over."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit import backends
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD

WORKER = Path(__file__).with_name("distributed_worker.py")
needs_jax = pytest.mark.skipif("jax" not in backends.available(), reason="needs jax")
TIMEOUT_S = 300


def _start(config: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> tuple[int, str, str]:
    """Wait for ``proc`` at most ``timeout`` seconds, then kill it by its pid."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"worker {proc.pid} ran over {timeout} s: {err[-2000:]}")
    return proc.returncode, out, err


def _run(config: dict) -> str:
    code, out, err = _finish(_start(config))
    assert code == 0, err[-3000:]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """Normwise relative difference of b from a."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


# -- one process, four devices ------------------------------------------------------------

SAME_RUN = """
import json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np
import nnkit
from nnkit.layers import Dense, Tanh
from nnkit.losses import CrossEntropy
from nnkit.optim import SGD, Adam

X, y, Xv, yv = nnkit.datasets.digits(normalize=True)  # 1437 rows: 22 x 64 and 29 more
OPTIMIZERS = {"sgd": lambda: SGD(0.1), "momentum": lambda: SGD(0.05, momentum=0.9),
              "adam": lambda: Adam(1e-2)}
out = {}
for dtype in sys.argv[1:]:
    for name, make in OPTIMIZERS.items():
        runs = {}
        for devices, fused in ((None, None), (4, None), (4, False)):
            t = nnkit.Trainer(nnkit.Sequential([Dense(64, 32), Tanh(), Dense(32, 10)]),
                              nnkit.losses.CrossEntropy(), make(), backend="jax",
                              dtype=dtype, devices=devices, seed=1)
            h = t.fit(X, y, epochs=1, batch_size=64, fused=fused, validation_data=(Xv, yv))
            leaves = [t.backend.to_numpy(a) for a in nnkit.tree.tree_leaves(t.params)]
            runs[(devices, fused)] = (leaves, h["loss"], h["val_loss"],
                                      t.backend.to_numpy(t.predict(Xv)),
                                      t.evaluate(Xv, yv)["loss"],
                                      t.params[0]["W"].sharding.is_fully_replicated,
                                      len(t.params[0]["W"].sharding.device_set))
        one = runs[(None, None)]
        for key, run in runs.items():
            rel = max(float(np.linalg.norm(a - b) / np.linalg.norm(a))
                      for a, b in zip(one[0] + [one[3]], run[0] + [run[3]]))
            hist = max(abs(a - b) / abs(a) for a, b in zip(one[1] + one[2] + [one[4]],
                                                           run[1] + run[2] + [run[4]]))
            out[f"{dtype} {name} {key}"] = [rel, hist, run[5], run[6]]
print(json.dumps(out))
"""


@pytest.mark.slow
@needs_jax
def test_four_devices_train_the_same_run_as_one():
    """SGD, momentum and Adam, float32 and float64, the whole-fit program and fused=False, one
    digits epoch:
    the parameters, losses, validation metrics and predictions of 4 devices equal one
    device's (float32 rtol 1e-5, float64 rtol 1e-10, normwise), the last minibatch of 29
    rows (not a multiple of 4) included; the parameters end replicated on all 4. (A smooth
    activation: with ReLU a unit whose input sits at 0 may flip on float32 roundoff and
    the runs part by more; float64 agrees to 1e-15 either way.)"""
    procs = [subprocess.Popen([sys.executable, "-c", SAME_RUN, dtype], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
             for dtype in ("float32", "float64")]  # side by side: one core each
    results = {}
    try:
        for proc in procs:
            code, out, err = _finish(proc)
            assert code == 0, err[-3000:]
            results.update(json.loads(out.splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert len(results) == 2 * 3 * 3
    for name, (rel, hist, replicated, count) in results.items():
        tol = 1e-5 if name.startswith("float32") else 1e-10
        assert rel <= tol and hist <= tol, (name, rel, hist)
        assert replicated and count == (1 if "(None" in name else 4), name


DEVICE_ERRORS = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np, jax
import nnkit
from nnkit.layers import Dense
from nnkit.losses import MSE
from nnkit.optim import SGD

def trainer(**kw):
    return nnkit.Trainer(nnkit.Sequential([Dense(3, 2)]), MSE(), SGD(0.1), backend="jax", **kw)

X, Y = np.ones((8, 3)), np.ones((8, 2))
for kw, fit in (({"devices": 4}, {"batch_size": 6}), ({"devices": 5}, None),
                ({"devices": "most"}, None), ({"devices": [jax.devices()[0]] * 2}, None),
                ({"devices": 2, "strategy": "per_sample"}, None)):
    try:
        t = trainer(**kw)
        before = [np.array(a) for a in nnkit.tree.tree_leaves(t.params)]
        t.fit(X, Y, **fit)
        print("accepted", kw)
    except (TypeError, ValueError) as e:
        if fit:
            after = [np.array(a) for a in nnkit.tree.tree_leaves(t.params)]
            assert all(np.array_equal(a, b) for a, b in zip(before, after))
        print(type(e).__name__, "|", str(e).replace(chr(10), " "))
t = trainer(devices=1)
print("one", t.backend.device_count, t.backend.device_name())
t = trainer(devices=[jax.devices()[2], jax.devices()[3]])
print("two", t.backend.device_count, t.backend.device_name())
t.fit(t.backend.asarray(X), t.backend.asarray(Y), batch_size=4)  # its own replicated arrays
t.fit(jax.device_put(X, jax.devices()[3]), Y, batch_size=4)  # one of its devices: moved
try:
    t.fit(jax.device_put(X, jax.devices()[0]), Y, batch_size=4)
except TypeError as e:
    print(type(e).__name__, "|", str(e).split(";")[0])
"""


@needs_jax
def test_bad_devices_are_clear_errors():
    proc = subprocess.Popen([sys.executable, "-c", DEVICE_ERRORS], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    code, out, err = _finish(proc)
    assert code == 0, err[-3000:]
    lines = out.splitlines()
    assert lines[0].startswith("InvalidValueError | batch_size 6 does not split evenly over "
                               "the 4 devices; expected a multiple of 4 (e.g. 4 or 8)")
    assert lines[1].startswith("ValueError | devices=5: JAX sees 4 device(s)")
    assert lines[2].startswith("TypeError | devices must be None, an int, 'all' or a sequence")
    assert lines[3].startswith("ValueError | devices=[") and "distinct devices" in lines[3]
    assert lines[4].startswith("InvalidValueError | devices=2 trains the 'batched' strategy")
    assert lines[5] == "one 1 cpu:0 (cpu)"
    assert lines[6] == "two 2 2 x cpu (cpu), mesh axis 'batch'"
    assert lines[7] == ("BackendMismatchError | X is on device cpu:0 but this trainer runs on 2 x "
                        "cpu (cpu), mesh axis 'batch'")


@pytest.mark.parametrize("name", [b for b in backends.available() if b != "jax"])
def test_backends_that_cannot_shard_refuse_devices_naming_jax(name):
    make = lambda devices: nnkit.Trainer(  # noqa: E731
        nnkit.Sequential([Dense(3, 2), Sigmoid()]), MSE(), SGD(0.1), backend=name,
        devices=devices)  # fmt: skip
    assert make(None).backend.device_count == make(1).backend.device_count == 1
    for devices in (2, "all"):
        with pytest.raises(ValueError, match=f"backend '{name}' trains on one device.*'jax'"):
            make(devices)


# -- two processes --------------------------------------------------------------------------


@pytest.mark.slow
@needs_jax
def test_two_processes_of_two_devices_train_as_one_process_of_four(tmp_path):
    """2 processes x 2 forced CPU devices on 127.0.0.1 (gloo), each calling fit with the
    full data: identical parameters in both, equal to 1 process x 4 devices (float32
    rtol 1e-5); save writes from process 0 only, the file the parameters."""
    common = {"backend": "jax", "optimizer": "adam", "epochs": 2, "batch_size": 64}
    port = _free_port()
    workers = [
        _start({**common, "devices": "all", "local_devices": 2, "process_id": i,
                "coordinator": f"127.0.0.1:{port}", "num_processes": 2,
                "save": str(tmp_path / "run.safetensors"),
                "out": str(tmp_path / "two_{process}.npz")})  # fmt: skip
        for i in range(2)
    ]
    single = _start({**common, "devices": 4, "local_devices": 4,
                     "out": str(tmp_path / "four_{process}.npz")})  # fmt: skip
    try:
        for proc in [*workers, single]:
            code, out, err = _finish(proc)
            assert code == 0, err[-3000:]
    finally:
        for proc in [*workers, single]:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    a, b, four = (np.load(tmp_path / f) for f in ("two_0.npz", "two_1.npz", "four_0.npz"))
    for key in four.files:
        np.testing.assert_array_equal(a[key], b[key])
        assert _relative(four[key], a[key]) <= 1e-5, key
    _, params = nnkit.load(tmp_path / "run.safetensors")
    saved = nnkit.tree.tree_leaves(params)
    for i, leaf in enumerate(saved):
        np.testing.assert_array_equal(np.asarray(leaf), a[f"p{i}"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
@needs_jax
def test_a_process_that_dies_stops_the_other_within_bounded_time(tmp_path):
    port = _free_port()
    common = {"backend": "jax", "optimizer": "adam", "epochs": 50, "batch_size": 64,
              "devices": "all", "local_devices": 2, "coordinator": f"127.0.0.1:{port}",
              "num_processes": 2, "out": str(tmp_path / "x_{process}.npz")}  # fmt: skip
    start = time.monotonic()
    survivor = _start({**common, "process_id": 0})
    dead = _start({**common, "process_id": 1, "die_after_init": True})
    try:
        code, _, _ = _finish(dead, timeout=120)
        assert code == 3
        code, _, err = _finish(survivor, timeout=120)
    finally:
        for proc in (survivor, dead):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert code != 0 and time.monotonic() - start < 120
    assert "stopped sending heartbeats" in err or "another task died" in err, err[-2000:]
    assert not (tmp_path / "x_0.npz").exists()


# -- killed and resumed ---------------------------------------------------------------------

KILLED = [
    ("numpy", None, 1, "momentum", 0.0, 128),  # bitwise
    pytest.param("jax", None, 1, "adam", 1e-5, 32, marks=[needs_jax, pytest.mark.slow]),
    pytest.param("jax", 4, 4, "adam", 1e-5, 32, marks=[needs_jax, pytest.mark.slow]),
]


@pytest.mark.parametrize("backend, devices, local, optimizer, rtol, hidden", KILLED)
def test_a_run_killed_with_sigkill_resumes_from_its_checkpoint(
    tmp_path, backend, devices, local, optimizer, rtol, hidden
):
    """A fit that saves a Checkpoint every 5 steps is killed with SIGKILL after a few; the
    file it leaves loads whole (never torn), and a new process resuming from it reaches the
    parameters of the run never interrupted: bitwise on NumPy, within float tolerance on
    JAX (one device and four). On NumPy the BLAS runs at its default thread count and the
    hidden layer of 128 makes OpenBLAS split the batch-64 matmuls over its threads."""
    ckpt = tmp_path / "ckpt.safetensors"
    common = {"backend": backend, "devices": devices, "local_devices": local,
              "optimizer": optimizer, "epochs": 2, "batch_size": 64, "hidden": hidden}  # fmt: skip
    run = _start({**common, "checkpoint": str(ckpt), "every": 5, "pause": 0.4,
                  "out": str(tmp_path / "never.npz")})  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        seen = set()
        while len(seen) < 3 and time.monotonic() < deadline and run.poll() is None:
            if ckpt.exists():
                seen.add(ckpt.stat().st_mtime_ns)
            time.sleep(0.05)
        if len(seen) < 3:
            os.kill(run.pid, signal.SIGKILL)
            pytest.fail(f"the run saved {len(seen)} checkpoints: {run.communicate()[1][-2000:]}")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL and not (tmp_path / "never.npz").exists()
    saved = nnkit.Trainer.load(ckpt)  # whole: it loads, with its state
    assert 0 < saved.steps_done < 2 * 23 and saved.steps_done % 5 == 0
    out = _run({**common, "resume": str(ckpt), "out": str(tmp_path / "resumed.npz")})
    if backend == "numpy" and (os.cpu_count() or 1) > 1:
        assert max(json.loads(out.strip().splitlines()[-1])["blas_threads"]) > 1
    result = np.load(tmp_path / "resumed.npz")
    params = [k for k in result.files if k.startswith("p")]
    for key in [*params, "pred"]:
        if rtol == 0:
            np.testing.assert_array_equal(result[key], result[f"reference_{key}"])
        else:
            assert _relative(result[f"reference_{key}"], result[key]) <= rtol, key


# -- the command line -----------------------------------------------------------------------


def _nnkit(*argv: str, devices: int = 4) -> subprocess.CompletedProcess:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    return subprocess.run([sys.executable, "-m", "nnkit", *argv], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)  # fmt: skip


@pytest.mark.slow
@needs_jax
def test_cli_trains_over_devices_and_info_lists_them():
    proc = _nnkit("train", "digits", "--backend", "jax", "--devices", "4", "--steps", "40",
                  "--no-progress")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on jax (4 x cpu (cpu), mesh axis 'batch')" in proc.stdout
    assert "accuracy" in proc.stdout
    info = _nnkit("info", devices=2)
    assert "devices: cpu:0 (cpu), cpu:1 (cpu)" in info.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "jax", "--devices", "3"], "batch_size 64 does not split evenly over the 3"),
        (["--devices", "2"], "backend 'numpy' trains on one device"),
        (["--backend", "jax", "--devices", "none"], "expected a positive int or 'all'"),
    ],
)  # fmt: skip
def test_cli_device_errors_are_one_line_and_exit_2(argv, message):
    if "jax" in argv and "jax" not in backends.available():
        pytest.skip("needs jax")
    proc = _nnkit("train", "digits", "--steps", "5", "--no-progress", *argv)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert message in line
