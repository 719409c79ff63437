"""``nnkit bench`` end to end on a tiny matrix (NNKIT_BENCH_SMOKE shapes), through a subprocess;
the matrix its arguments select (quick by default, --full), its timing and peak logic on fake
clocks, and its argument errors through ``nnkit.cli.main`` in-process."""

import json
import os
import re
import statistics
import subprocess
import sys

import pytest

from nnkit import Trainer, backends, cli
from nnkit.bench import against, command, peers, timing
from nnkit.bench import report as bench_report
from nnkit.bench.contenders import (
    STACK_STRATEGIES,
    STRATEGIES,
    Contender,
    Planned,
    default_backends,
    stack_strategies,
    strategies_for,
)
from nnkit.bench.scenarios import SMOKE_ENV, scenario, scenarios

SMOKE = {**os.environ, "NNKIT_BENCH_SMOKE": "1"}
# matmul FLOPs of one step of the smoke S1 (8-16-8-4) and S3 (64-16-10), per sample:
# forward X@W, backward X.T@dY and dY@W.T, 2*in*out each
SMOKE_FLOPS_PER_SAMPLE = {"S1": 6 * (8 * 16 + 16 * 8 + 8 * 4), "S3": 6 * (64 * 16 + 16 * 10)}
# ... of which every contender executes all but the first layer's input gradient dY@W.T
SMOKE_FIRST_LAYER = {"S1": 8 * 16, "S3": 64 * 16}
PROGRESS = re.compile(
    r"^\[(\d+)/(\d+)\] (S\d) b(\d+)(?: K\d+)?( b?float\d+)? (.+) \.\.\. [\d.]+ (s|ms|us|ns)/step$"
)


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
        return json.load(f), proc.stdout, folder, proc.stderr


@pytest.mark.slow
def test_json_has_one_row_per_cell(report):
    data, *_ = report
    cells = {(r["scenario"], r["dtype"], r["batch_size"], r["strategy"]) for r in data["results"]}
    # fused is dropped on numpy (no compiled scan); 2 scenarios x 2 dtypes x 2 batches x 2
    assert len(data["results"]) == len(cells) == 16
    assert {r["strategy"] for r in data["results"]} == {"per_sample", "batched"}


@pytest.mark.slow
def test_rows_carry_consistent_figures(report):
    data, *_ = report
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
        executed = r["flops_per_step"] - 2 * SMOKE_FIRST_LAYER[r["scenario"]] * r["batch_size"]
        assert r["executed_flops_per_step"] == executed
        exec_gflops = executed * r["steps_per_unit"] / r["median_s"] / 1e9
        assert r["executed_gflops"] == pytest.approx(exec_gflops)
        assert r["peak_fraction"] == pytest.approx(exec_gflops / peak[r["dtype"]])
        assert r["own_peak_fraction"] == r["peak_fraction"]  # numpy is the only library
        base = [q for q in data["results"] if q["strategy"] == "per_sample" and
                (q["scenario"], q["dtype"], q["batch_size"]) ==
                (r["scenario"], r["dtype"], r["batch_size"])]  # fmt: skip
        assert r["speedup_vs_per_sample"] == pytest.approx(base[0]["step_s"] / r["step_s"])


@pytest.mark.slow
def test_peaks_crossover_and_overhead(report):
    data, stdout, *_ = report
    assert {(p["library"], p["dtype"]) for p in data["matmul_peak"]} == {
        ("numpy", "float32"),
        ("numpy", "float64"),
    }
    for p in data["matmul_peak"]:
        assert p["gflops"] > 0 and p["n"] == 64 and p["gflops_by_n"] == {"64": p["gflops"]}
        assert p["calls_by_n"]["64"] >= 3 and p["sizes_left_out"] == []
    assert data["mode"] == "quick" and data["matmul_sizes"] == [64]
    top = max(data["results"], key=lambda r: r["own_peak_fraction"])
    assert data["max_own_peak"]["fraction"] == top["own_peak_fraction"]
    assert f"highest % own peak: {100 * top['own_peak_fraction']:.1f}%" in stdout
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


@pytest.mark.slow
def test_plot_and_markdown_are_written(report):
    _, _, folder, _ = report
    assert (folder / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (folder / "r.md").read_text()
    assert "#### S1 float32" in text and "| batch | contender |" in text


@pytest.mark.slow
def test_a_progress_line_per_contender_as_it_is_timed(report):
    data, _, _, stderr = report
    lines = [m.groups() for m in map(PROGRESS.match, stderr.splitlines()) if m]
    assert sorted(int(k) for k, *_ in lines) == list(range(1, 17))
    assert {total for _, total, *_ in lines} == {"16"}
    rows = {(r["scenario"], str(r["batch_size"]), r["label"], r["dtype"]) for r in data["results"]}
    named = {(s, b, label, (d or " float32").strip()) for _, _, s, b, d, label, _ in lines}
    assert named == rows
    # in the order they finish: all of a cell (scenario, dtype, batch) before the next
    cells = [(s, b, d) for _, _, s, b, d, *_ in lines]
    assert cells == sorted(cells, key=cells.index) and len(set(cells)) == 8
    assert "matmul peak numpy float32: " in stderr


@pytest.mark.slow
def test_default_is_the_quick_run_and_quiet_silences_it(tmp_path, monkeypatch):
    proc = _bench("--backends", "numpy", "--peers", "none", "--out", "q.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "q.json").read_text())
    assert data["mode"] == "quick"
    monkeypatch.setenv(SMOKE_ENV, "1")
    smoke = scenarios()  # the tiny shapes, as the subprocess ran them
    # one model: batched where the scenario runs it; K models at once (S6): its quick K, a
    # Sweep and K sequential fits each
    quick = [(s, b, k, strategy) for s, sc in smoke.items() for b in sc.quick_batch_sizes
             for k in sc.quick_models or [None]
             for strategy in (STACK_STRATEGIES if sc.stacked else ["batched"])
             if sc.stacked or sc.runs("nnkit numpy batched")]  # fmt: skip
    assert [(r["scenario"], r["batch_size"], r["models"], r["strategy"])
            for r in data["results"]] == quick  # fmt: skip
    assert {k for *_, k, _ in quick} == {None, 1, 4}
    lines = [line for line in proc.stderr.splitlines() if PROGRESS.match(line)]
    assert len(lines) == len(quick) and lines[-1].startswith(f"[{len(quick)}/{len(quick)}]")
    assert "--full for the whole matrix" in proc.stderr
    proc = _bench("--backends", "numpy", "--peers", "none", "--scenarios", "S1",
                  "--batch-sizes", "8", "--quiet", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == ""
    assert "nnkit numpy batched" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif("jax" not in backends.available(), reason="jax not installed")
def test_fused_rows_on_jax(tmp_path):
    proc = _bench(
        "--backends", "jax", "--scenarios", "S1", "--batch-sizes", "8", "--full",
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
    for option in ("--full", "--backends", "--strategies", "--batch-sizes", "--scenarios",
                   "--dtype", "--peers", "--repeats", "--threads", "--matmul-size", "--quiet",
                   "--out", "--plot", "--markdown", "--against"):  # fmt: skip
        assert option in out


def test_bad_bench_argument_is_one_line_and_exit_2(capsys):
    code, out, err = _cli(capsys, "bench", "--scenarios", "S9", "--peers", "none")
    assert code == 2 and out == ""
    assert err.startswith("nnkit: error: unknown scenario 'S9'") and err.count("\n") == 1
    assert "Traceback" not in err
    code, _, err = _cli(capsys, "bench", "--repeats", "many")  # argparse's own error
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("nnkit bench: error: argument --repeats")


# -- the matrix the arguments select (full-size scenarios; nothing is built or timed) ----


@pytest.fixture
def full_size(monkeypatch):
    monkeypatch.delenv(SMOKE_ENV, raising=False)


def _matrix(*argv):
    args = command.resolve(command.build_parser().parse_args(list(argv)))
    planned, skipped = command.matrix(args)
    return args, planned, skipped


def _runnable_peers():
    out = []
    for p in peers.available():
        try:
            peers.check(p, "float32")
        except peers.PeerUnavailable:
            continue
        out.append(p)
    return out


def _quick_leaves_out(row):
    """Whether the quick run, without --backends and --peers, leaves ``row`` out: what
    torch.compile compiles (tens of seconds a contender)."""
    library, backend, strategy = row
    if library == "nnkit":
        return strategy == "fused" and backends.get(backend).can_compile_step
    return library in peers.TORCH_COMPILE


def _expected(cells, wanted, quick=False):
    """The planned rows of ``cells``: (scenario, batch) of one model, or (scenario, batch, K)
    of K models at once (S6: each backend's Sweep and K sequential fits, the stacking peers)."""
    nnkit = [("nnkit", b, s) for b in default_backends() for s in strategies_for(b, wanted)]
    rows = nnkit + [(p, None, "peer") for p in _runnable_peers() if p not in peers.STACKED]
    rows = [row for row in rows if not (quick and _quick_leaves_out(row))]
    label = {row: f"nnkit {row[1]} {row[2]}" if row[0] == "nnkit" else row[0] for row in rows}
    stacked = [("nnkit", b, s) for b in default_backends() for s in stack_strategies(wanted)]
    stacked += [(p, None, "peer") for p in _runnable_peers() if p in peers.STACKED]
    found = []
    for sc, batch, *k in cells:
        if k:
            found += [Planned(sc, "float32", batch, *row, k[0]) for row in stacked]
        else:
            found += [Planned(sc, "float32", batch, *row) for row in rows
                      if scenarios()[sc].runs(label[row])]  # fmt: skip
    return found


QUICK_CELLS = [("S1", 64), ("S1", 1024), ("S2", 256), ("S4", 64), ("S5", 64), ("S6", 64, 1),
               ("S6", 64, 16)]  # fmt: skip


def test_quick_default_matrix(full_size):
    args, planned, skipped = _matrix()
    assert not args.full and args.repeats == 5 and args.budget_s == command.QUICK_CELL_BUDGET_S
    assert args.matmul_size == [512, 1024, 2048]
    assert planned == _expected(QUICK_CELLS, ("batched", "fused"), quick=True)
    assert {p.strategy for p in planned} <= {"batched", "fused", "peer", "sweep", "sequential"}
    assert {p.strategy for p in planned if p.scenario == "S6"} == {"sweep", "sequential", "peer"}
    assert {p.models for p in planned if p.scenario == "S6"} == {1, 16}
    assert {p.models for p in planned if p.scenario != "S6"} == {None}
    assert "array_api_strict" not in {p.backend for p in planned}
    fused = {p.backend for p in planned if p.strategy == "fused"}
    assert fused == {b for b in default_backends() if backends.get(b).can_scan}
    assert not {p.library for p in planned} & set(peers.TORCH_COMPILE)
    left_out = {f"nnkit {b} fused" for b in default_backends()
                if backends.get(b).can_compile_step} | {
        f"peer {p!r}" for p in _runnable_peers() if p in peers.TORCH_COMPILE}  # fmt: skip
    assert {n.split(": ")[0] for n in skipped if "quick run leaves it out" in n} == left_out
    assert all("needs" in note or "quick run leaves it out" in note for note in skipped)
    # the quick run's unit of S2 is one step; the full run keeps its own
    assert scenario("S2", full=False).steps(256) == 1 and scenario("S2").steps(256) == 2
    assert scenario("S1", full=False) == scenarios()["S1"]


def test_full_selects_the_whole_matrix(full_size):
    args, planned, _ = _matrix("--full")
    assert args.budget_s is None and args.matmul_size == [512, 1024, 2048, 4096]
    cells = [(s, b, *k) for s, sc in scenarios().items() for b in sc.batch_sizes
             for k in ([(m,) for m in sc.models] or [()])]  # fmt: skip
    assert planned == _expected(cells, STRATEGIES)
    assert [c[2] for c in cells if c[0] == "S6"] == [1, 4, 16, 64, 256]
    assert {p.scenario for p in planned} >= {"S1", "S2", "S3"}
    assert "per_sample" in {p.strategy for p in planned}


@pytest.mark.parametrize(
    "argv, cells, strategies",
    [
        (("--scenarios", "S3"), [("S3", 64)], ("batched", "fused")),
        (("--batch-sizes", "8"), [("S1", 8), ("S2", 8), ("S4", 8), ("S5", 8), ("S6", 8, 1),
                                  ("S6", 8, 16)], ("batched", "fused")),
        (("--strategies", "per_sample"), QUICK_CELLS, ("per_sample",)),
        (("--scenarios", "S6,S1", "--models", "4,2", "--strategies", "sweep,batched"),
         [("S6", 64, 4), ("S6", 64, 2), ("S1", 64), ("S1", 1024)], ("sweep", "batched")),
        (("--full", "--scenarios", "S2", "--strategies", "batched"),
         [("S2", 256), ("S2", 1024)], ("batched",)),
    ],
)  # fmt: skip
def test_explicit_options_override_quick_and_full(full_size, argv, cells, strategies):
    args, planned, _ = _matrix(*argv, "--repeats", "3", "--matmul-size", "256")
    assert args.repeats == 3 and args.budget_s is None and args.matmul_size == [256]
    assert planned == _expected(cells, strategies, quick=not args.full)


@pytest.mark.skipif("torch" not in backends.available(), reason="torch not installed")
def test_named_backends_and_peers_are_in_the_quick_run_and_a_backend_can_name_strategies(
    full_size,
):
    """Naming torch (--backends) or torch_compile (--peers) puts what torch.compile compiles
    in the quick run; "NAME:S1+S2" times only those strategies on that backend."""
    _, planned, skipped = _matrix("--scenarios", "S1", "--backends", "torch,numpy:batched",
                                  "--peers", "torch_compile")  # fmt: skip
    assert [(p.batch_size, p.label) for p in planned] == [
        (b, label) for b in (64, 1024) for label in
        ("nnkit torch batched", "nnkit torch fused", "nnkit numpy batched", "torch_compile")]
    assert not [n for n in skipped if "quick run" in n]
    _, planned, _ = _matrix("--scenarios", "S1", "--backends", "torch:fused+batched",
                            "--strategies", "per_sample", "--peers", "none")  # fmt: skip
    assert [p.label for p in planned] == ["nnkit torch fused", "nnkit torch batched"] * 2


def test_a_backends_unknown_strategy_is_a_clear_error(capsys):
    code, out, err = _cli(capsys, "bench", "--backends", "numpy:sideways", "--peers", "none")
    assert code == 2 and out == ""
    assert "unknown strategy in --backends 'numpy:sideways': 'sideways'" in err
    assert "expected one of" in err


def test_a_compiling_rows_first_unit_less_its_median_is_its_compile_time():
    row = {"scenario": "S1", "library": "torch_compile", "backend": "torch", "strategy": "peer",
           "batch_size": 64, "dtype": "float32", "device": "cpu (torch)", "steps_per_unit": 4,
           "flops_per_step": 10, "times_s": [0.2, 0.1, 0.3], "first_unit_s": 23.3,
           "label": "torch_compile"}  # fmt: skip
    eager = {**row, "library": "torch", "label": "torch", "first_unit_s": None}
    report = bench_report.summarise([row, eager], [], [], {})
    assert report["results"][0]["compile_s"] == pytest.approx(23.1)
    assert report["results"][1]["compile_s"] is None
    lines = bench_report.markdown(report).splitlines()
    assert [line for line in lines if "compiled in" in line] == [
        "- torch_compile: compiled in 23.1 s (S1 float32 batch 64; its first unit less a "
        "timed one)"]  # fmt: skip


def test_resolving_twice_changes_nothing(full_size):
    args = command.resolve(command.build_parser().parse_args([]))
    assert command.resolve(args) is args and args.budget_s is not None


# -- timing and peak logic, on fake clocks ------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.events: list = []  # ("pause", seconds) as timing pauses

    def __call__(self):
        return self.now

    def pause(self, seconds):
        self.events.append(("pause", seconds))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing, "perf_counter", fake)
    monkeypatch.setattr(timing, "pause", fake.pause)
    return fake


def test_peak_is_the_best_size_of_the_fastest_calls():
    times = {512: [0.004, 0.0027, 0.009], 1024: [0.05, 0.02, 0.06, 0.07],
             2048: [0.2, 0.21, 0.22]}  # fmt: skip
    n, gflops, by_n = timing.best_peak(times)
    assert by_n == {k: pytest.approx(2 * k**3 / min(t) / 1e9) for k, t in times.items()}
    assert n == 1024 and gflops == pytest.approx(2 * 1024**3 / 0.02 / 1e9)
    # the medians would have named another size, and a lower peak
    medians = {k: 2 * k**3 / statistics.median(t) / 1e9 for k, t in times.items()}
    assert max(medians, key=medians.get) == 2048 and max(medians.values()) < gflops
    with pytest.raises(ValueError, match="no matmul"):
        timing.best_peak({})


def test_time_matmuls_interleaves_and_leaves_out_what_does_not_fit(clock):
    rate = {256: 50e9, 512: 100e9, 1024: 80e9, 2048: 90e9}  # FLOP/s of each size, undisturbed
    calls = []

    def maker(name, slow_every=3, oom_at=None):
        def make(n):
            if n == oom_at:
                raise MemoryError("out of memory")
            count = [0]

            def unit():
                count[0] += 1
                calls.append((name, n))
                # every third call of a size is disturbed (four times slower)
                clock.now += 2 * n**3 / rate[n] * (4 if count[0] % slow_every == 0 else 1)

            return unit

        return make

    sources = [("a", "cpu", "float32", maker("a")), ("b", "cpu", "float32", maker("b", 2, 1024))]
    peaks = timing.matmul_peaks(sources, [256, 512, 1024, 2048], repeats=4)
    a, b = peaks
    # a: 2048 would take 2 * 2048**3 / 80e9 * 8 = 1.7 s; under MAX_PEAK_CALL_S (3 s): timed
    assert a["n"] == 512 and a["gflops"] == pytest.approx(100.0)
    assert a["gflops_by_n"] == pytest.approx({"256": 50.0, "512": 100.0, "1024": 80.0,
                                              "2048": 90.0})  # fmt: skip
    assert a["sizes_left_out"] == []
    # fast sizes are called more than repeats times (MIN_PEAK_ROUND_S a round), slow ones not
    assert a["calls_by_n"]["2048"] == 4 and a["calls_by_n"]["256"] > 4
    # b: out of memory at 1024, so neither 1024 nor 2048
    assert b["gflops_by_n"].keys() == {"256", "512"} and "MemoryError" in b["sizes_left_out"][0]
    # the rounds go round every (library, size): the last call of 'a' comes after b's first timed
    assert max(i for i, c in enumerate(calls) if c[0] == "a") > calls.index(("b", 256)) + 1


def test_a_size_that_would_take_too_long_is_left_out(clock):
    def make(n):
        def unit():
            clock.now += n**3 * 1e-9  # 1 s at n=1000: 8 s at 2000

        return unit

    (times, notes), = timing.time_matmuls([make], [500, 1000, 2000, 4000], repeats=3,
                                          max_call_s=5.0)  # fmt: skip
    assert sorted(times) == [500, 1000] and notes == ["n>=2000: over 5 s a call"]
    assert len(times[1000]) == 3


def test_median_times_rounds_within_a_budget_and_reports_each_unit_once(clock):
    def unit(seconds):
        def run():
            clock.now += seconds

        return run

    for seconds, budget, repeats, rounds in [(0.01, 4.0, 5, 5), (1.0, 4.0, 5, 3),
                                             (0.2, 4.0, 7, 6), (1.0, None, 5, 5),
                                             (1.0, 4.0, 2, 2)]:  # fmt: skip
        done: list = []
        times = timing.median_times([unit(seconds)] * 3, repeats,
                                    lambda i, t, done=done: done.append((i, len(t))),
                                    budget_s=budget)  # fmt: skip
        assert [len(t) for t in times] == [rounds] * 3
        assert sorted(done) == [(0, rounds), (1, rounds), (2, rounds)]


def test_median_times_calls_a_librarys_units_together_and_settles_between_libraries(clock):
    """A round calls one library's units back to back, pauses before another library's, and
    the pause is in no unit's time."""

    def unit(name, seconds):
        def run():
            clock.events.append(name)
            clock.now += seconds

        return run

    names, libs = ["np1", "jx1", "np2", "tc1"], ["numpy", "jax", "numpy", "torch"]
    seconds = [0.001, 0.002, 0.003, 0.004]
    times = timing.median_times([unit(n, s) for n, s in zip(names, seconds)], 3,
                                warmups=1, libraries=libs, settle_s=0.5)  # fmt: skip
    assert times == [pytest.approx([s] * 3) for s in seconds]
    S = ("pause", 0.5)
    assert clock.events[4:] == [  # after the warm-ups, one call each
        S, "np1", "np2", S, "jx1", S, "tc1",  # round 0: numpy first
        S, "jx1", S, "tc1", S, "np2", "np1",  # round 1: jax first, numpy's units rotated
        S, "tc1", S, "np1", "np2", S, "jx1",  # round 2: torch first
    ]  # fmt: skip
    with pytest.raises(ValueError, match="2 libraries for 4 units"):
        timing.median_times([unit(n, s) for n, s in zip(names, seconds)], 1,
                            libraries=["numpy", "jax"])  # fmt: skip


class FakeWorker:
    """A worker of checkout @old: its twin of a row takes 1 s of the parent's clock (the pipe
    and the unit) and reports 0.25 s; another unit of work where ``other_steps``."""

    checkout = against.Checkout("/old", "abc", "old")

    def __init__(self, clock, other_steps=False):
        self.clock, self.other_steps = clock, other_steps

    def cell(self, rows, full):
        return [_fake_contender(self.clock, row, 0.25, self.checkout.info(), self.other_steps)
                for row in rows]  # fmt: skip


def _fake_contender(clock, row, seconds, checkout=None, other_steps=False):
    name = row.backend or row.library

    def measure(settle_s):  # as a worker: the pause and the unit there, its own time
        clock.events += [("pause there", settle_s)] * bool(settle_s) + [f"{name}@old"]
        clock.now += 1.0
        return seconds

    def run():
        clock.events.append(name)
        clock.now += seconds

    return Contender(row.scenario, row.library, row.backend, row.strategy, row.batch_size,
                     row.dtype, "cpu", 2 + other_steps, 10,
                     run if checkout is None else timing.SelfTimed(measure),
                     checkout=checkout)  # fmt: skip


def test_other_checkouts_rows_are_timed_in_the_same_rounds_by_their_worker(clock):
    """Each nnkit row's twin of another checkout comes right after it; a round calls them as
    a library of their own (one pause before them, taken in the worker) and keeps the time
    the worker measured."""
    rows = [Planned("S1", "float32", 64, "nnkit", "numpy", "batched"),
            Planned("S1", "float32", 64, "nnkit", "jax", "batched"),
            Planned("S1", "float32", 64, "sklearn", None, "peer")]  # fmt: skip
    local = [_fake_contender(clock, row, s) for row, s in zip(rows, (0.001, 0.002, 0.003))]
    group, notes = against.beside(local, rows, [FakeWorker(clock)], full=False)
    assert [c.label for c in group] == ["nnkit numpy batched", "nnkit numpy batched @old",
                                        "nnkit jax batched", "nnkit jax batched @old",
                                        "sklearn"] and notes == []  # fmt: skip
    args = command.resolve(command.build_parser().parse_args(["--repeats", "3"]))
    times = command.time_cell(group, args)
    assert times == [pytest.approx([s] * 3) for s in (0.001, 0.25, 0.002, 0.25, 0.003)]
    S, T = ("pause", timing.SETTLE_S), ("pause there", timing.SETTLE_S)
    assert clock.events[5:] == [  # after a warm-up each (no pause), one call each a round
        "numpy", "sklearn", T, "numpy@old", S, "jax", T, "jax@old",  # round 0: numpy first
        T, "numpy@old", S, "jax", T, "jax@old", S, "sklearn", "numpy",  # round 1: numpy @old
        S, "jax", T, "jax@old", S, "numpy", "sklearn", T, "numpy@old",  # round 2: jax
    ]  # fmt: skip
    # a twin that is another unit of work is left out, with a note
    group, notes = against.beside(local, rows, [FakeWorker(clock, other_steps=True)], False)
    assert group == local
    assert notes == [f"@old S1 float32 b64 nnkit {b} batched: another unit of work (3 steps of "
                     "10 FLOPs, here 2 of 10)" for b in ("numpy", "jax")]  # fmt: skip


def test_rows_are_held_against_their_own_librarys_peak_by_executed_flops():
    peaks = [
        {"library": "jax", "device": "cpu:0 (cpu)", "dtype": "float32", "gflops": 100.0},
        {"library": "numpy", "device": "cpu (x86_64)", "dtype": "float32", "gflops": 50.0},
        {"library": "jax", "device": "gpu:0 (H100)", "dtype": "float32", "gflops": 1000.0},
    ]
    row = {
        "scenario": "S2",
        "library": "jax_optax_scan",
        "backend": "jax",
        "strategy": "peer",
        "batch_size": 256,
        "dtype": "float32",
        "device": "cpu:0 (jax + optax)",
        "steps_per_unit": 1,
        "flops_per_step": 90 * 10**9,
        "executed_flops_per_step": 80 * 10**9,
        "times_s": [1.0],
        "label": "jax_optax_scan",
    }
    sk = {**row, "library": "sklearn", "backend": "sklearn", "device": "cpu (scikit-learn)",
          "times_s": [2.0], "label": "sklearn"}  # fmt: skip
    report = bench_report.summarise([row, sk], peaks, [], {})
    jax_row, sk_row = report["results"]
    assert jax_row["gflops"] == pytest.approx(90.0) and jax_row["executed_gflops"] == 80.0
    assert jax_row["own_peak_fraction"] == pytest.approx(0.8)  # jax's CPU peak, not its GPU's
    assert sk_row["own_peak_fraction"] == pytest.approx(40.0 / 50.0)  # numpy's
    assert jax_row["peak_fraction"] == pytest.approx(0.8)  # the best CPU peak
    assert report["max_own_peak"] == {"fraction": pytest.approx(0.8),
                                      "row": "S2 float32 b256 jax_optax_scan"}  # fmt: skip


def test_fit_call_scenarios_time_the_default_jax_fit_beside_the_scan_peer(full_size):
    s4, s5 = scenarios()["S4"], scenarios()["S5"]
    assert (s4.fit_calls, s4.epochs_per_fit, s5.fit_calls, s5.epochs_per_fit) == (1, 100, 10, 10)
    # a unit is all 100 epochs: the steps of 100 epochs of S1's data
    assert s4.steps(64) == s5.steps(64) == 100 * scenarios()["S1"].steps(64)
    assert s4.runs("nnkit jax fused") and s4.runs("jax_optax_scan")
    assert not s4.runs("nnkit numpy batched") and not s4.runs("torch")
    _, planned, _ = _matrix("--scenarios", "S4,S5")
    assert {p.label for p in planned} <= {"nnkit jax fused", "jax_optax_scan"}


@pytest.mark.skipif("jax" not in backends.available(), reason="jax not installed")
def test_a_fit_call_unit_makes_its_fit_calls(monkeypatch):
    monkeypatch.setenv(SMOKE_ENV, "1")
    s5 = scenarios()["S5"]
    c = command.build(command.Planned("S5", "float32", 8, "nnkit", "jax", "fused"))
    calls = []
    original = Trainer.fit

    def counting(self, *a, **k):
        calls.append(k["epochs"])
        return original(self, *a, **k)

    monkeypatch.setattr(Trainer, "fit", counting)
    c.run()
    assert calls == [s5.epochs_per_fit] * s5.fit_calls
    assert c.steps == s5.epoch_steps(8) * s5.epochs


def test_each_cell_is_written_as_it_ends(monkeypatch):
    """A run stopped midway keeps what it measured: after each cell the report so far
    (rows of the cells done, "complete": False), at the end the whole one."""
    monkeypatch.setenv(SMOKE_ENV, "1")
    args = command.build_parser().parse_args(
        ["--backends", "numpy", "--peers", "none", "--scenarios", "S1", "--repeats", "1",
         "--matmul-size", "32"])  # fmt: skip
    partials = []
    final = command.run(args, on_cell=partials.append)
    cells = sorted({(r["scenario"], r["batch_size"]) for r in final["results"]})
    assert len(partials) == len(cells) == 2
    for i, partial in enumerate(partials):
        assert partial["complete"] is False
        assert len({(r["scenario"], r["batch_size"]) for r in partial["results"]}) == i + 1
    assert final["complete"] is True and final["matmul_peak"]


# -- what torch.compile compiles: nnkit torch fused and the torch_compile peer (slow) ----

needs_torch = pytest.mark.skipif("torch" not in backends.available(), reason="needs torch")


@pytest.mark.slow
@needs_torch
def test_torch_compiled_rows_compile_in_their_first_unit_only(monkeypatch):
    """The digits epoch at batch 64 ends with a minibatch of 29: both shapes compile in the
    first unit, which ``build`` runs and times; the timed units compile nothing."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv(SMOKE_ENV, "1")
    for row in (Planned("S3", "float32", 64, "nnkit", "torch", "fused"),
                Planned("S3", "float32", 64, "torch_compile", None, "peer")):  # fmt: skip
        before = counters["stats"]["unique_graphs"]
        c = command.build(row)
        assert c.first_unit_s is not None and c.info()["first_unit_s"] == c.first_unit_s
        built = counters["stats"]["unique_graphs"]
        assert built - before >= 2, row  # the minibatches of 64, and the last one of 29
        c.run()
        c.run()
        assert counters["stats"]["unique_graphs"] == built, row
    eager = command.build(Planned("S3", "float32", 64, "torch", None, "peer"))
    assert eager.first_unit_s is None


@pytest.mark.slow
@needs_torch
def test_bench_times_torch_compile_beside_torch_and_reports_compile_times(tmp_path):
    proc = _bench(
        "--backends", "torch", "--scenarios", "S1", "--batch-sizes", "8",
        "--strategies", "batched,fused", "--peers", "torch,torch_compile", "--repeats", "2",
        "--matmul-size", "32", "--out", "t.json", "--markdown", "t.md", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["label"]: r for r in json.loads((tmp_path / "t.json").read_text())["results"]}
    assert set(rows) == {"nnkit torch batched", "nnkit torch fused", "torch", "torch_compile"}
    for label, r in rows.items():
        compiled = label in ("nnkit torch fused", "torch_compile")
        assert (r["compile_s"] is not None) == compiled, label
        assert r["compile_s"] is None or r["compile_s"] == pytest.approx(
            r["first_unit_s"] - r["median_s"])  # fmt: skip
        assert set(r["ratio_vs"]) == {"torch", "torch_compile"} - {label}
    assert rows["torch_compile"]["device"].startswith("cpu (torch ")
    assert "torch.compile" in rows["torch_compile"]["device"]
    text = (tmp_path / "t.md").read_text()
    for label in ("nnkit torch fused", "torch_compile"):
        assert f"- {label}: compiled in " in text and f"\n{label}: compiled in " in proc.stdout
    assert "| vs torch | vs torch_compile |" in text


def test_markdown_holds_nnkit_against_each_backends_own_library():
    """One table per scenario pairs each nnkit row (per_sample left out) with the peers of its
    backend's library at the same batch size: torch beside torch, numpy beside sklearn."""
    peaks = [
        {"library": "torch", "device": "cpu", "dtype": "float32", "n": 512, "gflops": 100.0},
        {"library": "numpy", "device": "cpu", "dtype": "float32", "n": 512, "gflops": 50.0},
    ]
    base = {"scenario": "S2", "strategy": "batched", "batch_size": 256, "dtype": "float32",
            "device": "cpu (x86_64)", "steps_per_unit": 1, "flops_per_step": 20 * 10**9,
            "executed_flops_per_step": 20 * 10**9}  # fmt: skip
    made = [
        {**base, "library": "nnkit", "backend": "torch", "times_s": [0.5],
         "label": "nnkit torch batched"},
        {**base, "library": "nnkit", "backend": "torch", "strategy": "per_sample", "times_s": [9.0],
         "label": "nnkit torch per_sample"},
        {**base, "library": "nnkit", "backend": "numpy", "times_s": [1.0],
         "label": "nnkit numpy batched"},
        {**base, "library": "torch", "backend": "torch", "strategy": "peer", "times_s": [0.4],
         "label": "torch"},
        {**base, "library": "sklearn", "backend": "sklearn", "strategy": "peer", "times_s": [2.0],
         "label": "sklearn"},
    ]  # fmt: skip
    text = bench_report.markdown(bench_report.summarise(made, peaks, [], {}))
    table = text[text.index("#### S2 float32: nnkit against each backend's own library"):]
    lines = [line for line in table.splitlines() if line.startswith("| 256 ")]
    assert lines == [
        "| 256 | nnkit numpy batched | 1 s | sklearn | 2 s | 2.00x | 40.0% | 20.0% |",
        "| 256 | nnkit torch batched | 500 ms | torch | 400 ms | 0.80x | 40.0% | 50.0% |",
    ]
