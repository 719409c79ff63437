"""The GPU session's tools on the CPU: benchmarks/gpu_session.sh --dry-run end to end, the
lecture full-run script, and the bfloat16 / CUDA choices of the bench peers."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import nnkit
from nnkit import backends
from nnkit.bench import peers
from nnkit.bench import report as bench_report
from nnkit.bench.scenarios import scenarios
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD

ROOT = Path(__file__).resolve().parents[1]
needs_jax = pytest.mark.skipif("jax" not in backends.available(), reason="needs jax")


def test_lecture_run_times_each_combination_and_skips_the_impossible(tmp_path):
    out = tmp_path / "lecture.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lecture_run.py"), "--backends", "numpy",
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
    trainer.position = (0, 0)
    trainer.fit(X, y, steps=30, batch_size=64, progress=False)
    warm = trainer.evaluate(X_test, y_test)["accuracy"]
    assert row["warm_accuracy_after_2x_steps"] == pytest.approx(warm)
    assert warm > row["accuracy"] > 0.1  # it learns: better than chance, better with more steps


@needs_jax
def test_gpu_session_dry_run_writes_every_report(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), "--dry-run"],
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "session.log").read_text()
    for name in ("info", "bench-s1-s3", "bench-s2", "lecture-run"):
        assert f"=== {name}: exit 0" in log, log
    with tarfile.open(tmp_path / "gpu-session.tgz") as tar:
        names = {Path(n).name for n in tar.getnames()}
        s2 = json.load(tar.extractfile("./s2.json"))
    assert {f"{s}.{e}" for s in ("s1-s3", "s2") for e in ("json", "png", "md")} < names
    assert "lecture.json" in names
    dtypes = {(r["backend"], r["strategy"], r["dtype"]) for r in s2["results"]}
    assert ("jax", "fused", "bfloat16") in dtypes and ("numpy", "batched", "float32") in dtypes
    assert "backend 'numpy' has no bfloat16" in s2["skipped"]
    assert {(p["library"], p["dtype"]) for p in s2["matmul_peak"]} == {
        ("numpy", "float32"), ("jax", "float32"), ("jax", "bfloat16")}  # fmt: skip


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
