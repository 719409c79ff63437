"""The GPU session's tools on the CPU: benchmarks/gpu_session.sh (its time box, its step
order, and its --dry-run end to end), the lecture full-run script, and the bfloat16 / CUDA
choices of the bench peers."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nnkit
from nnkit import backends
from nnkit.bench import peers
from nnkit.bench import report as bench_report
from nnkit.bench.contenders import strategies_for
from nnkit.bench.scenarios import scenarios
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "benchmarks" / "gpu_session.sh"
LECTURE_RUN = ROOT / "benchmarks" / "lecture_run.py"

# the device is lent for 15 minutes, start-up included: a run of at most 540 s
DEVICE_RUN_S = 540
# ... of which the session's steps take at most 8 minutes (issue 21)
SESSION_S = 480
# the steps, most valuable first (issue 13, "The time box"; issue 21: bench-s6)
ORDER = ["nvidia-smi", "info", "gpu-tests", "lecture-compiled", "bench-s1", "bench-s6",
         "lecture-eager", "bench-s2", "bench-s4-s5", "bench-crossover", "device-tests"]  # fmt: skip
DRY_SCALE = 3  # the dry run's limits: the device's x3
STEP = re.compile(r"^\s*step (\d+) ([\w-]+) ", re.M)
STARTED = re.compile(r"^=== ([\w-]+) \(\d\d:\d\d:\d\d, limit (\d+)s\): ", re.M)
# the files each step leaves in $OUT
OUTPUTS = {
    "info": ["backends.txt"],
    "lecture-compiled": ["lecture-compiled.json"],
    "lecture-eager": ["lecture-eager.json"],
    **{f"bench-{n}": [f"{n}.{e}" for e in ("json", "png", "md")]
       for n in ("s1", "s6", "s2", "s4-s5", "crossover")},
}  # fmt: skip
SESSION_PEERS = ("torch_cuda", "jax_optax_scan")  # bench-s2's
S1_PEERS = ("torch_cuda", "torch_compile_cuda", "jax_optax_scan")  # bench-s1's
S6_PEERS = ("torch_func_cuda", "jax_vmap")  # bench-s6's


def script_steps() -> list[tuple[str, int]]:
    """(name, limit in s) of every step the session script can run, in its order."""
    return [(name, int(limit)) for limit, name in STEP.findall(SESSION.read_text())]


def gpu_plan() -> tuple[list[str], list[str], list[str]]:
    """The session's GPU backends here: every available one but numpy and array_api_strict;
    those that compile a scan; the others (eager)."""
    gpu = [b for b in backends.available() if b not in ("numpy", "array_api_strict")]
    scan = [b for b in gpu if backends.get(b).can_scan]
    return gpu, scan, [b for b in gpu if b not in scan]


def lean(names: list[str]) -> list[str]:
    """``names`` as the session's bench-s2 and crossover steps give them: a backend that
    compiles a step (torch.compile, once per batch size) batched only."""
    return [b + ":batched" if backends.get(b).can_compile_step else b for b in names]


def steps_that_run(gpu: list[str], scan: list[str], eager: list[str]) -> list[str]:
    needs = {"lecture-compiled": scan, "lecture-eager": eager,
             "bench-s4-s5": ["jax"] if "jax" in scan else []}  # fmt: skip
    always = ("nvidia-smi", "info", "gpu-tests")
    return [n for n in ORDER if n in always or needs.get(n, gpu)]


def runnable_peers(dtype: str, session_peers=SESSION_PEERS) -> list[str]:
    """The session's peers that can run ``dtype`` here (the others are skipped by name)."""
    found = []
    for peer in session_peers:
        try:
            peers.check(peer, dtype)
        except peers.PeerUnavailable:
            continue
        found.append(peer)
    return found


def nnkit_labels(names: list[str], dtype: str) -> set[str]:
    """The nnkit rows of ``names`` (items of --backends: "torch:batched" runs batched only)
    with strategies batched,fused in ``dtype``."""
    found = set()
    for item in names:
        b, _, only = item.partition(":")
        wanted = tuple(only.split("+")) if only else ("batched", "fused")
        if dtype == "float32" or backends.get(b).bfloat16:
            found |= {f"nnkit {b} {s}" for s in strategies_for(b, wanted)}
    return found


def test_gpu_session_fits_the_device_time_box():
    """The steps' limits add up to at most 8 minutes (of the device run's 540 s), in the
    order of value; the script's header and docs/gpu.md state the total and each step's
    limit as the code has them."""
    steps = script_steps()
    assert [name for name, _ in steps] == ORDER
    total = sum(limit for _, limit in steps)
    assert total <= SESSION_S < DEVICE_RUN_S
    text = SESSION.read_text()
    budget = re.search(r"NNKIT_SESSION_BUDGET_S:-(\d+)", text)
    assert budget and total <= int(budget.group(1)) <= SESSION_S
    header = " ".join(line.lstrip("#").strip() for line in text.splitlines()
                      if line.startswith("#"))  # fmt: skip
    assert f"limits add up to {total} s" in header
    for name, limit in steps:
        assert re.search(rf"^#\s+{re.escape(name)}\s+{limit}\s", text, re.M), name
    # docs/gpu.md's table of the steps, and its total, as the script has them
    docs = (ROOT / "docs" / "gpu.md").read_text().split("### The GPU session")[1].split("###")[0]
    table = [(n, int(t)) for n, t in re.findall(r"^\| ([\w-]+) \| (\d+) \|", docs, re.M)]
    assert table == steps
    assert f"limits add up to {total} s" in " ".join(docs.split())


@pytest.mark.slow
def test_gpu_session_dry_run_writes_each_step_s_files_as_it_ends(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    env.pop("NNKIT_SESSION_BUDGET_S", None)
    gpu, scan, eager = gpu_plan()
    expected = steps_that_run(gpu, scan, eager)
    log_path = out / "session.log"
    # the files in $OUT when the S1 bench step has just ended: its own and the earlier ones
    early: set[str] | None = None
    with open(tmp_path / "stdout.txt", "w") as stdout:
        proc = subprocess.Popen(["bash", str(SESSION), "--dry-run"], env=env, stdout=stdout,
                                stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            if early is None and log_path.exists() and "=== bench-s1: exit" in log_path.read_text():
                early = {p.name for p in out.iterdir()}
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    log = log_path.read_text()
    assert proc.returncode == 0, log[-3000:]

    # every step that can run here ran, in order, under its device limit x3, and passed
    steps = dict(script_steps())
    started = [(name, int(limit)) for name, limit in STARTED.findall(log)]
    assert started == [(name, steps[name] * DRY_SCALE) for name in expected], log
    for name in expected:
        assert f"=== {name}: exit 0 " in log, log
    skipped = [name for name in ORDER if name not in expected]
    for name in skipped:
        assert f"=== {name}: skipped (" in log, log
    total = sum(steps[name] for name in expected) * DRY_SCALE
    assert f"=== session: {len(expected)} steps run, {len(skipped)} skipped, limits {total}s" in log

    # each step's files are in $OUT itself (no archive), written when the step ended
    made = {f for name in expected for f in OUTPUTS.get(name, [])}
    assert {p.name for p in out.iterdir()} == made | {"session.log"}
    if "bench-s1" in expected:
        before = {f for name in expected[: expected.index("bench-s1") + 1]
                  for f in OUTPUTS.get(name, [])}  # fmt: skip
        assert early is not None and before <= early, early
    lists = {"gpu": gpu, "scan": scan, "eager": eager, "lean": lean(gpu)}
    assert (out / "backends.txt").read_text() == "".join(
        f"{key}={','.join(names)}\n" for key, names in lists.items())  # fmt: skip
    for name in ("gpu-tests", "device-tests"):  # dry: collected, not run
        if name in expected:
            section = log.split(f"=== {name} (")[1].split(f"=== {name}: exit")[0]
            assert re.search(r"\d+ tests? collected", section), section

    if scan:  # JAX: fused (the dry run's one mode), float32 and bfloat16, cold and warm
        rows = json.loads((out / "lecture-compiled.json").read_text())["rows"]
        assert [(r["backend"], r["dtype"], r["mode"], r["steps"]) for r in rows] == [
            (b, d, "fused", 50) for b in scan for d in ("float32", "bfloat16")
            if d == "float32" or backends.get(b).bfloat16]  # fmt: skip
        assert all(r["cold_s"] > 0 and r["warm_s"] > 0 for r in rows)
    if eager:  # CuPy, torch: batched float32, the cold pass only
        rows = json.loads((out / "lecture-eager.json").read_text())["rows"]
        assert [(r["backend"], r["dtype"], r["mode"], r["steps"]) for r in rows] == [
            (b, "float32", "batched", 50) for b in eager]  # fmt: skip
        assert all(r["cold_s"] > 0 and r["warm_s"] is None for r in rows)
    if not gpu:
        return

    s1 = json.loads((out / "s1.json").read_text())
    assert {(r["label"], r["batch_size"], r["dtype"]) for r in s1["results"]} == {
        (label, 64, "float32") for label in nnkit_labels(gpu, "float32")
        | set(runnable_peers("float32", S1_PEERS))}  # fmt: skip
    compiling = {r["label"] for r in s1["results"] if r["compile_s"] is not None}
    assert compiling == {r["label"] for r in s1["results"]
                         if r["strategy"] == "fused" or r["library"] in peers.COMPILED}

    # S6 at K = 1 and 4: each GPU backend's Sweep, its sequential fits at K = 1 only
    # (--max-sequential 1), the stacking peers that run here
    s6 = json.loads((out / "s6.json").read_text())
    assert {(r["label"], r["models"]) for r in s6["results"]} == {
        (f"nnkit {b} {s}", k) for b in gpu for s, ks in (("sweep", (1, 4)), ("sequential", (1,)))
        for k in ks} | {(p, k) for p in runnable_peers("float32", S6_PEERS) for k in (1, 4)}
    assert {r["batch_size"] for r in s6["results"]} == {8}
    for b in gpu:
        assert f"S6 float32 b8 K4 nnkit {b} sequential: K over --max-sequential 1" in s6["skipped"]
        assert set(s6["k_scaling"][f"S6 float32 b8 nnkit {b} sweep"]) == {"4"}
    if "torch_func_cuda" not in runnable_peers("float32", S6_PEERS):
        assert any(s.startswith("peer 'torch_func_cuda' needs") for s in s6["skipped"])

    s2 = json.loads((out / "s2.json").read_text())
    dtypes = ("float32", "bfloat16")
    assert {(r["label"], r["batch_size"], r["dtype"]) for r in s2["results"]} == {
        (label, 4096, d) for d in dtypes for label in nnkit_labels(lean(gpu), d)
        | set(runnable_peers(d))}  # fmt: skip
    for b in gpu:
        assert backends.get(b).bfloat16 or f"backend {b!r} has no bfloat16" in s2["skipped"]
    if "torch_cuda" not in runnable_peers("float32"):
        assert any(s.startswith("peer 'torch_cuda' needs") for s in s2["skipped"]), s2["skipped"]
    # the peaks: each nnkit backend's and each peer's library, in each dtype it ran
    own = {(b, d) for d in dtypes for b in gpu if d == "float32" or backends.get(b).bfloat16}
    of_peers = {(peers.peak_library(p, None), d) for d in dtypes for p in runnable_peers(d)}
    assert {(p["library"], p["dtype"]) for p in s2["matmul_peak"]} == own | of_peers

    if "bench-s4-s5" in expected:  # JAX's default fit vs the Optax scan, one fit call or ten
        s45 = json.loads((out / "s4-s5.json").read_text())
        labels = {"nnkit jax fused"} | {p for p in runnable_peers("float32") if p.startswith("jax")}
        assert {(r["scenario"], r["label"]) for r in s45["results"]} == {
            (s, label) for s in ("S4", "S5") for label in labels}  # fmt: skip

    cross = json.loads((out / "crossover.json").read_text())
    labels = nnkit_labels(["numpy", *lean(gpu)], "float32")
    assert {(r["label"], r["batch_size"]) for r in cross["results"]} == {
        (label, b) for label in labels for b in (1, 8)}  # fmt: skip
    assert "S1 float32" in cross["crossover"]
    assert set(cross["overhead_batch1"]) == {f"S1 float32 {label}" for label in labels}


def _lecture_module():
    spec = importlib.util.spec_from_file_location("lecture_run", LECTURE_RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lecture_run_times_each_combination_and_skips_the_impossible(tmp_path):
    out = tmp_path / "lecture.json"
    subprocess.run(
        [sys.executable, str(LECTURE_RUN), "--backends", "numpy",
         "--dtypes", "float32,bfloat16", "--modes", "batched,fused", "--steps", "30",
         "--out", str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert (row["backend"], row["dtype"], row["mode"], row["steps"]) == (
        "numpy", "float32", "batched", 30)  # fmt: skip
    assert row["cold_s"] > 0 and row["warm_s"] > 0
    assert data["skipped"] == ["numpy: fused needs a compiled scan", "numpy: no bfloat16"]
    # the accuracies the script reports are those of the lecture network trained here: 30
    # steps, then the same 30 minibatches again from the start of the data
    X, y, X_test, y_test = nnkit.datasets.digits()
    model = nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )
    trainer = nnkit.Trainer(model, MSE(), SGD(0.5), backend="numpy", dtype="float32")
    trainer.fit(X, y, steps=30, batch_size=64, progress=False)
    assert row["accuracy"] == pytest.approx(trainer.evaluate(X_test, y_test)["accuracy"])
    trainer.restore(trainer.state.replace(position=(0, 0)))
    trainer.fit(X, y, steps=30, batch_size=64, progress=False)
    warm = trainer.evaluate(X_test, y_test)["accuracy"]
    assert row["warm_accuracy_after_2x_steps"] == pytest.approx(warm)
    assert warm > row["accuracy"] > 0.1  # it learns: better than chance, better with more steps


def test_lecture_run_without_the_warm_pass_trains_once(tmp_path):
    lecture = _lecture_module()
    out = tmp_path / "lecture.json"
    assert lecture.main(["--backends", "numpy", "--modes", "batched", "--steps", "30",
                         "--no-warm", "--out", str(out)]) == 0  # fmt: skip
    (row,) = json.loads(out.read_text())["rows"]
    assert row["warm_s"] is None and row["warm_accuracy_after_2x_steps"] is None
    assert row["cold_s"] > 0 and row["accuracy"] > 0.1


def test_lecture_run_stopped_early_keeps_the_rows_it_finished(tmp_path, monkeypatch):
    """--out is rewritten after each combination: a run stopped in the second keeps the first."""
    lecture = _lecture_module()
    done = []

    def run(backend, dtype, mode, steps, data, warm_pass=True):
        if done:
            raise KeyboardInterrupt  # stopped from outside, in the second combination
        done.append(mode)
        return {"backend": backend, "device": "cpu", "dtype": dtype, "mode": mode,
                "steps": steps, "cold_s": 1.0, "accuracy": 0.5, "warm_s": None,
                "warm_accuracy_after_2x_steps": None}  # fmt: skip

    monkeypatch.setattr(lecture, "run", run)
    out = tmp_path / "lecture.json"
    with pytest.raises(KeyboardInterrupt):
        lecture.main(["--backends", "numpy,numpy", "--modes", "batched", "--steps", "5",
                      "--out", str(out)])  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [(r["backend"], r["mode"]) for r in rows] == [("numpy", "batched")]


def test_peers_without_cuda_or_bfloat16_are_unavailable_by_name():
    s1 = scenarios()["S1"]
    with pytest.raises(peers.PeerUnavailable, match="sklearn' has no bfloat16"):
        peers.contender("sklearn", s1, 8, "bfloat16")
    if "torch" in peers.available():
        import torch

        if not torch.cuda.is_available():
            with pytest.raises(peers.PeerUnavailable, match="torch_cuda' needs a CUDA"):
                peers.contender("torch_cuda", s1, 8, "float32")
            assert peers.matmul_peak_fn("torch_cuda", 8, "float32") is None


@pytest.mark.parametrize("peer", ["torch", "jax_optax_step", "jax_optax_scan"])
def test_bfloat16_peers_run(peer):
    if peer not in peers.available():
        pytest.skip(f"{peer} not installed")
    s1 = scenarios()["S1"]
    c = peers.contender(peer, s1, 64, "bfloat16")
    if peer.startswith("jax"):  # the peer's own code broadcasts (n, k) + (k,)
        import jax

        with jax.numpy_rank_promotion("allow"):
            c.run()
    else:
        c.run()
    assert c.dtype == "bfloat16" and c.steps == s1.steps(64)
    assert c.flops_per_step == s1.flops_per_step(64)


def test_every_gpu_library_is_held_against_the_one_gpu_peak():
    """CuPy, JAX and torch name the same GPU differently; the best peak measured on it
    (here torch's) is the device peak of every GPU row, and the CPU keeps its own."""
    peaks = [
        {"library": "cupy", "device": "NVIDIA H100", "dtype": "float32", "gflops": 100.0},
        {"library": "torch_cuda", "device": "NVIDIA H100 (torch CUDA eager)",
         "dtype": "float32", "gflops": 200.0},
        {"library": "numpy", "device": "cpu (x86_64)", "dtype": "float32", "gflops": 10.0},
    ]  # fmt: skip
    row = {"scenario": "S2", "library": "nnkit", "backend": "jax", "strategy": "batched",
           "batch_size": 4096, "dtype": "float32", "device": "gpu:0 (NVIDIA H100)",
           "steps_per_unit": 1, "flops_per_step": 10**11, "times_s": [1.0]}  # fmt: skip
    cpu = {**row, "backend": "numpy", "device": "cpu (x86_64)", "times_s": [20.0]}
    report = bench_report.summarise([row, cpu], peaks, [], {})
    assert report["results"][0]["peak_fraction"] == pytest.approx(100.0 / 200.0)
    assert report["results"][1]["peak_fraction"] == pytest.approx(5.0 / 10.0)
    assert report["crossover"]["S2 float32"] == 4096
    bf16 = bench_report.summarise([{**row, "dtype": "bfloat16"}], peaks, [], {})
    assert bf16["crossover"]["S2 bfloat16"].startswith("n/a: no CPU row")
