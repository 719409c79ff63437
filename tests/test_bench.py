"""``nnkit bench`` end to end on a tiny matrix (NNKIT_BENCH_SMOKE shapes), through a subprocess,
and its argument errors through ``nnkit.cli.main`` in-process."""

import json
import os
import statistics
import subprocess
import sys

import pytest

from nnkit import backends, cli

SMOKE = {**os.environ, "NNKIT_BENCH_SMOKE": "1"}
# matmul FLOPs of one step of the smoke S1 (8-16-8-4) and S3 (64-16-10), per sample:
# forward X@W, backward X.T@dY and dY@W.T, 2*in*out each
SMOKE_FLOPS_PER_SAMPLE = {"S1": 6 * (8 * 16 + 16 * 8 + 8 * 4), "S3": 6 * (64 * 16 + 16 * 10)}


def _bench(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "nnkit", "bench", *args],
        cwd=cwd,
        env=SMOKE,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    proc = _bench(
        "--backends", "numpy", "--scenarios", "S1,S3", "--batch-sizes", "1,8",
        "--strategies", "per_sample,batched,fused", "--dtype", "float32,float64",
        "--peers", "none", "--repeats", "2", "--matmul-size", "64",
        "--out", "r.json", "--plot", "r.png", "--markdown", "r.md",
        cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with open(folder / "r.json") as f:
        return json.load(f), proc.stdout, folder


def test_json_has_one_row_per_cell(report):
    data, _, _ = report
    cells = {(r["scenario"], r["dtype"], r["batch_size"], r["strategy"]) for r in data["results"]}
    # fused is dropped on numpy (no compiled scan); 2 scenarios x 2 dtypes x 2 batches x 2
    assert len(data["results"]) == len(cells) == 16
    assert {r["strategy"] for r in data["results"]} == {"per_sample", "batched"}


def test_rows_carry_consistent_figures(report):
    data, _, _ = report
    peak = {p["dtype"]: p["gflops"] for p in data["matmul_peak"]}
    for r in data["results"]:
        assert r["backend"] == "numpy" and r["device"].startswith("cpu")
        assert len(r["times_s"]) == 2 and r["median_s"] > 0
        assert r["median_s"] == pytest.approx(statistics.median(r["times_s"]))
        assert r["step_s"] == pytest.approx(r["median_s"] / r["steps_per_unit"])
        assert r["samples_per_s"] == pytest.approx(r["steps_per_s"] * r["batch_size"])
        assert r["flops_per_step"] == SMOKE_FLOPS_PER_SAMPLE[r["scenario"]] * r["batch_size"]
        gflops = r["flops_per_step"] * r["steps_per_unit"] / r["median_s"] / 1e9
        assert r["gflops"] == pytest.approx(gflops)
        assert r["peak_fraction"] == pytest.approx(gflops / peak[r["dtype"]])
        base = [q for q in data["results"] if q["strategy"] == "per_sample" and
                (q["scenario"], q["dtype"], q["batch_size"]) ==
                (r["scenario"], r["dtype"], r["batch_size"])]  # fmt: skip
        assert r["speedup_vs_per_sample"] == pytest.approx(base[0]["step_s"] / r["step_s"])


def test_peaks_crossover_and_overhead(report):
    data, stdout, _ = report
    assert {(p["library"], p["dtype"]) for p in data["matmul_peak"]} == {
        ("numpy", "float32"),
        ("numpy", "float64"),
    }
    assert all(p["gflops"] > 0 and p["n"] == 64 for p in data["matmul_peak"])
    assert data["crossover"] == {
        f"{s} {d}": "n/a: no GPU" for s in ("S1", "S3") for d in ("float32", "float64")
    }
    assert set(data["overhead_batch1"]) == {
        f"{sc} {d} nnkit numpy {s}"
        for sc in ("S1", "S3")
        for d in ("float32", "float64")
        for s in ("per_sample", "batched")
    }
    assert "crossover S1 float32: n/a: no GPU" in stdout
    assert "nnkit numpy batched" in stdout


def test_plot_and_markdown_are_written(report):
    _, _, folder = report
    assert (folder / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (folder / "r.md").read_text()
    assert "#### S1 float32" in text and "| batch | contender |" in text


@pytest.mark.skipif("jax" not in backends.available(), reason="jax not installed")
def test_fused_rows_on_jax(tmp_path):
    proc = _bench(
        "--backends", "jax", "--scenarios", "S1", "--batch-sizes", "8",
        "--peers", "none", "--repeats", "1", "--matmul-size", "32", "--out", "j.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "j.json").read_text())["results"]
    assert [r["strategy"] for r in rows] == ["per_sample", "batched", "fused"]
    for r in rows:
        assert r["speedup_vs_per_sample"] == pytest.approx(rows[0]["step_s"] / r["step_s"])


def test_unknown_backend_is_a_clear_error(tmp_path):
    proc = _bench("--backends", "nosuch", "--peers", "none", cwd=tmp_path)
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr


@pytest.mark.parametrize(
    "args, named",
    [
        (("--peers", "nosuch"), "nosuch"),
        (("--strategies", "sideways"), "sideways"),
        (("--scenarios", "S9"), "S9"),
    ],
)
def test_unknown_choices_are_clear_errors(tmp_path, args, named):
    proc = _bench("--backends", "numpy", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert named in proc.stderr and "expected one of" in proc.stderr


def _cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``nnkit ARGV...`` run in this process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse's own exits: --help, unparsable flags
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_help_lists_its_options(capsys):
    code, out, err = _cli(capsys, "bench", "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: nnkit bench")
    for option in ("--backends", "--strategies", "--batch-sizes", "--scenarios", "--dtype",
                   "--peers", "--repeats", "--threads", "--matmul-size", "--out", "--plot",
                   "--markdown"):  # fmt: skip
        assert option in out


def test_bad_bench_argument_is_one_line_and_exit_2(capsys):
    code, out, err = _cli(capsys, "bench", "--scenarios", "S9", "--peers", "none")
    assert code == 2 and out == ""
    assert err.startswith("nnkit: error: unknown scenario 'S9'") and err.count("\n") == 1
    assert "Traceback" not in err
    code, _, err = _cli(capsys, "bench", "--repeats", "many")  # argparse's own error
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("nnkit bench: error: argument --repeats")
