"""Scenario S6 of ``nnkit bench``: K lecture MLPs at once. The cells its options select (K
from --models, the quick run's 1 and 16, --full's 1..256), its rows (an nnkit Sweep and K
sequential fits per backend, the torch.func and JAX vmap peers), their units of work, the
report's K columns and ratios, the bad --models values, and a smoke run end to end."""

import json
import os
import subprocess
import sys

import pytest

from nnkit import Sweep, Trainer, backends, cli, unstack
from nnkit.bench import command, peers
from nnkit.bench import report as bench_report
from nnkit.bench.contenders import STACK_STRATEGIES, Planned, default_backends
from nnkit.bench.scenarios import SMOKE_ENV, scenarios
from nnkit.data import one_hot
from nnkit.tree import tree_copy

SMOKE = {**os.environ, SMOKE_ENV: "1"}


@pytest.fixture
def full_size(monkeypatch):
    monkeypatch.delenv(SMOKE_ENV, raising=False)


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv(SMOKE_ENV, "1")


def _matrix(*argv):
    args = command.resolve(command.build_parser().parse_args(list(argv)))
    return command.matrix(args)


def _stacking_peers():
    return [p for p in peers.STACKED if peers.runs_here(p)]


# -- the matrix ---------------------------------------------------------------------------


def test_s6_is_s1_for_k_models_at_batch_64(full_size):
    s1, s6 = scenarios()["S1"], scenarios()["S6"]
    assert (s6.sizes, s6.activation, s6.loss, s6.optimizer, s6.lr) == (
        s1.sizes, s1.activation, s1.loss, s1.optimizer, s1.lr)  # fmt: skip
    assert s6.batch_sizes == s6.quick_batch_sizes == (64,) and s6.steps(64) == s1.steps(64)
    assert s6.stacked and not s1.stacked
    assert s6.models == (1, 4, 16, 64, 256) and s6.quick_models == (1, 16)


@pytest.mark.parametrize(
    "argv, ks",
    [((), [1, 16]), (("--full",), [1, 4, 16, 64, 256]), (("--models", "2,1,8"), [2, 1, 8]),
     (("--full", "--models", "3"), [3])],
)  # fmt: skip
def test_the_k_of_s6s_cells(full_size, argv, ks):
    planned, _ = _matrix("--scenarios", "S6", *argv)
    assert list(dict.fromkeys(p.models for p in planned)) == ks
    for k in ks:  # each cell: every backend's Sweep and K sequential fits, the stacking peers
        cell = [p for p in planned if p.models == k]
        assert {p.cell for p in cell} == {("S6", "float32", 64, k)}
        assert [p.label for p in cell] == [
            f"nnkit {b} {s}" for b in default_backends() for s in STACK_STRATEGIES
        ] + _stacking_peers()


def test_s6_has_its_own_rows_and_peers_and_the_others_none_of_them(full_size):
    planned, _ = _matrix("--full", "--peers", ",".join(peers.available()) or "none")
    for p in planned:
        stacked = p.scenario == "S6"
        assert (p.models is not None) == stacked
        assert (p.strategy in (*STACK_STRATEGIES, "peer")) == stacked or p.strategy == "peer"
        if p.library != "nnkit":
            assert (p.library in peers.STACKED) == stacked, p


def test_strategies_and_max_sequential_choose_s6s_rows(full_size):
    planned, _ = _matrix("--scenarios", "S6", "--backends", "numpy", "--peers", "none",
                         "--strategies", "sweep")  # fmt: skip
    assert [(p.label, p.models) for p in planned] == [("nnkit numpy sweep", 1),
                                                      ("nnkit numpy sweep", 16)]  # fmt: skip
    # a backend's own list: numpy:sequential, jax with neither named, so both
    planned, skipped = _matrix("--scenarios", "S6", "--backends", "numpy:sequential,jax:batched",
                               "--peers", "none", "--models", "1,4,16", "--max-sequential",
                               "4")  # fmt: skip
    if "jax" in backends.available():
        assert [(p.label, p.models) for p in planned] == [
            ("nnkit numpy sequential", 1), ("nnkit jax sweep", 1), ("nnkit jax sequential", 1),
            ("nnkit numpy sequential", 4), ("nnkit jax sweep", 4), ("nnkit jax sequential", 4),
            ("nnkit jax sweep", 16)]  # fmt: skip
        assert set(skipped) == {
            f"S6 float32 b64 K16 nnkit {b} sequential: K over --max-sequential 4"
            for b in ("numpy", "jax")}  # fmt: skip


def _cli(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv, says",
    [
        (("--models", "0"), "--models takes whole numbers >= 1 (models trained at once), got '0'"),
        (("--models", "1,x"), "got 'x'"),
        (("--models", "-4"), "got '-4'"),
        (("--models", "2.5"), "got '2.5'"),
        (("--models", ","), "--models needs at least one K"),
        (("--max-sequential", "none"), "--max-sequential takes whole numbers >= 1"),
        (("--scenarios", "S1", "--models", "4"), "--models sets the K of S6 only, which "
                                                 "--scenarios leaves out"),
        (("--strategies", "sweeps"), "unknown strategy 'sweeps'"),
    ],
)  # fmt: skip
def test_bad_models_are_one_line_errors_with_exit_2(capsys, argv, says):
    code, out, err = _cli(capsys, "bench", "--peers", "none", *argv)
    assert code == 2 and out == ""
    assert err.startswith("nnkit: error: ") and err.count("\n") == 1, err
    assert says in err and "Traceback" not in err


def test_help_names_models():
    text = command.build_parser().format_help()
    assert "--models" in text and "--max-sequential" in text and "S6" in text


# -- the rows' units of work --------------------------------------------------------------


def _units(row):
    c = command.build(row)
    c.run()
    return c


def test_k_sequential_fits_train_each_model_as_a_lone_trainer(smoke, monkeypatch):
    """A unit of the sequential row is K fits of one epoch, model k's from its own state:
    after two units model k holds what a lone Trainer(seed=k) holds after two epochs."""
    s6, K = scenarios()["S6"], 3
    fitted = []
    original = Trainer.fit

    def recording(self, *a, **kw):
        history = original(self, *a, **kw)
        fitted.append(tree_copy(self.params))
        return history

    monkeypatch.setattr(Trainer, "fit", recording)
    c = _units(Planned("S6", "float32", 8, "nnkit", "numpy", "sequential", K))
    c.run()
    assert len(fitted) == 2 * K
    assert c.models == K and c.steps == s6.steps(8)
    assert c.flops_per_step == K * s6.flops_per_step(8)
    assert c.info()["models"] == K and c.label == "nnkit numpy sequential"
    monkeypatch.setattr(Trainer, "fit", original)
    X, y = s6.data(8)
    for k in range(K):
        alone = Trainer(s6.model(), s6.make_loss(), s6.make_optimizer(), backend="numpy",
                        seed=k)  # fmt: skip
        alone.fit(X, one_hot(y, 4), epochs=2, batch_size=8, shuffle=False, progress=False)
        for got, want in zip(fitted[K + k], alone.params, strict=True):
            for name in want:
                assert got[name] == pytest.approx(want[name], rel=1e-5, abs=1e-6), (k, name)
    assert not (fitted[K][0]["W"] == fitted[K + 1][0]["W"]).all()  # other seeds, other models


def test_a_sweep_row_trains_k_seeded_models_as_lone_trainers(smoke, monkeypatch):
    """A unit of the sweep row is one epoch of a Sweep of K models, seeds 0..K-1: after two
    units model k holds what a lone Trainer(seed=k) holds after two epochs."""
    s6, K = scenarios()["S6"], 3
    sweeps = []
    original = Sweep.fit

    def recording(self, *a, **kw):
        sweeps.append(self)
        return original(self, *a, **kw)

    monkeypatch.setattr(Sweep, "fit", recording)
    c = _units(Planned("S6", "float32", 8, "nnkit", "numpy", "sweep", K))
    c.run()
    assert len(sweeps) == 2 and sweeps[0] is sweeps[1] and sweeps[0].size == K
    assert c.models == K and c.flops_per_step == K * s6.flops_per_step(8)
    assert c.label == "nnkit numpy sweep" and c.first_unit_s is None  # NumPy compiles nothing
    X, y = s6.data(8)
    for k, got in enumerate(unstack(sweeps[0].params)):
        alone = Trainer(s6.model(), s6.make_loss(), s6.make_optimizer(), backend="numpy",
                        seed=k)  # fmt: skip
        alone.fit(X, one_hot(y, 4), epochs=2, batch_size=8, shuffle=False, progress=False)
        for layer, want in zip(got, alone.params, strict=True):
            for name in want:
                assert layer[name] == pytest.approx(want[name], rel=1e-5, abs=1e-6), (k, name)


@pytest.mark.skipif("jax" not in backends.available(), reason="jax is not installed")
def test_stack_rows_on_jax_time_their_compile_in_their_first_unit(smoke):
    for strategy in STACK_STRATEGIES:
        c = command.build(Planned("S6", "float32", 8, "nnkit", "jax", strategy, 2))
        assert c.first_unit_s is not None and c.first_unit_s > 0


@pytest.mark.parametrize("peer", ["torch_func", "jax_vmap"])
def test_stacking_peers_train_k_models_per_unit(smoke, peer):
    if not peers.runs_here(peer):
        pytest.skip(f"{peer} is not installed here")
    s6 = scenarios()["S6"]
    c = peers.contender(peer, s6, 8, "float32", 4)
    if peer == "jax_vmap":  # the peer's own code broadcasts (n, k) + (k,)
        import jax

        with jax.numpy_rank_promotion("allow"):
            c.run()
            c.run()
    else:
        c.run()
        c.run()
    assert (c.models, c.steps, c.library, c.strategy) == (4, s6.steps(8), peer, "peer")
    assert c.flops_per_step == 4 * s6.flops_per_step(8)
    assert c.executed_flops_per_step == 4 * s6.executed_flops_per_step(8)
    with pytest.raises(peers.PeerUnavailable, match="runs only scenarios of K models"):
        peers.contender(peer, s6, 8, "float32")
    with pytest.raises(peers.PeerUnavailable, match="runs no scenarios of K models"):
        peers.contender("torch", s6, 8, "float32", 4)  # installed wherever torch_func is


def test_torch_func_has_no_bfloat16_nor_a_gpu_here():
    if "torch_func" not in peers.available():
        pytest.skip("torch is not installed here")
    with pytest.raises(peers.PeerUnavailable, match="'torch_func' has no bfloat16"):
        peers.check("torch_func", "bfloat16")
    import torch

    if not torch.cuda.is_available():
        assert not peers.runs_here("torch_func_cuda")


# -- the report ---------------------------------------------------------------------------


def _row(label, k, seconds, backend="numpy"):
    nnkit = label.startswith("nnkit")
    library, strategy = ("nnkit", label.split()[-1]) if nnkit else (label, "peer")
    return {"scenario": "S6", "library": library, "backend": backend, "strategy": strategy,
            "batch_size": 64, "dtype": "float32", "device": "cpu (x86_64)",
            "steps_per_unit": 32, "flops_per_step": k * 100, "executed_flops_per_step": k * 90,
            "times_s": [seconds], "label": label, "models": k}  # fmt: skip


def test_report_gives_model_samples_and_the_ratios_of_s6():
    rows = [
        _row("nnkit numpy sweep", 1, 0.010), _row("nnkit numpy sequential", 1, 0.012),
        _row("torch_func", 1, 0.040, "torch"),
        _row("nnkit numpy sweep", 16, 0.040), _row("nnkit numpy sequential", 16, 0.160),
        _row("torch_func", 16, 0.100, "torch"),
    ]  # fmt: skip
    report = bench_report.summarise(rows, [], [], {})
    by = {(r["label"], r["models"]): r for r in report["results"]}
    sweep = by["nnkit numpy sweep", 16]
    assert sweep["samples_per_s"] == pytest.approx(32 * 64 / 0.040)
    assert sweep["model_samples_per_s"] == pytest.approx(16 * 32 * 64 / 0.040)
    assert sweep["speedup_vs_sequential"] == pytest.approx(4.0)
    assert sweep["ratio_vs"] == {"torch_func": pytest.approx(2.5)}  # the same K's peer only
    assert by["nnkit numpy sweep", 1]["speedup_vs_sequential"] == pytest.approx(1.2)
    assert by["torch_func", 16]["speedup_vs_sequential"] is None
    assert report["k_scaling"] == {
        "S6 float32 b64 nnkit numpy sweep": {"16": pytest.approx(4.0)},
        "S6 float32 b64 nnkit numpy sequential": {"16": pytest.approx(160 / 12)},
        "S6 float32 b64 torch_func": {"16": pytest.approx(2.5)},
    }
    assert report["crossover"] == {} and report["overhead_batch1"] == {}
    cols, body = bench_report.rows(report)["S6 float32"]
    assert cols[:8] == ["K", "batch", "contender", "time/step", "samples/s", "model-samples/s",
                        "vs sequential", "vs torch_func"]  # fmt: skip
    assert [(line[0], line[2]) for line in body] == [
        ("1", "nnkit numpy sweep"), ("1", "nnkit numpy sequential"), ("1", "torch_func"),
        ("16", "nnkit numpy sweep"), ("16", "nnkit numpy sequential"), ("16", "torch_func"),
    ]  # fmt: skip
    assert body[3][5:8] == ["819,200", "4.00x", "2.50x"]
    text = bench_report.markdown(report)
    assert "#### S6 float32" in text and "| K | batch | contender |" in text
    assert "|---:|---:|---|" in text
    assert "- S6 float32 b64 nnkit numpy sweep: a unit's time at K=16 is 4.00x its time at K=1" \
        in text  # fmt: skip


def test_one_model_tables_keep_their_columns():
    row = {**_row("nnkit numpy batched", 1, 0.01), "scenario": "S1", "models": None}
    cols, _ = bench_report.rows(bench_report.summarise([row], [], [], {}))["S1 float32"]
    assert cols[:6] == ["batch", "contender", "time/step", "samples/s", "steps/s",
                        "vs per-sample"]  # fmt: skip


# -- end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_s6_smoke_run_writes_its_rows(tmp_path):
    """``nnkit bench --scenarios S6 --models 1,2``: the rows of each K, K x samples/s, the
    ratios, the progress lines, JSON, markdown and plot."""
    nnkit_backends = [b for b in ("numpy", "jax") if b in backends.available()]
    proc = subprocess.run(
        [sys.executable, "-m", "nnkit", "bench", "--scenarios", "S6", "--models", "1,2",
         "--backends", ",".join(nnkit_backends), "--repeats", "2",
         "--matmul-size", "32", "--out", "r.json", "--markdown", "r.md", "--plot", "r.png"],
        cwd=tmp_path, env=SMOKE, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    rows = data["results"]
    labels = [f"nnkit {b} {s}" for b in nnkit_backends for s in STACK_STRATEGIES]
    labels += _stacking_peers()
    assert sorted((r["models"], r["label"]) for r in rows) == sorted(
        (k, label) for k in (1, 2) for label in labels)  # fmt: skip
    for r in rows:
        assert r["scenario"] == "S6" and r["batch_size"] == 8
        assert r["model_samples_per_s"] == pytest.approx(r["models"] * r["samples_per_s"])
        assert set(r["ratio_vs"]) == set(_stacking_peers()) - {r["label"]}
        if r["library"] == "nnkit":
            twin = [q for q in rows if (q["backend"], q["models"], q["strategy"]) ==
                    (r["backend"], r["models"], "sequential")]  # fmt: skip
            assert r["speedup_vs_sequential"] == pytest.approx(twin[0]["step_s"] / r["step_s"])
            assert (r["compile_s"] is not None) == (r["backend"] == "jax")
        assert f"S6 b8 K{r['models']} {r['label']} ... " in proc.stderr
    assert set(data["k_scaling"]) == {f"S6 float32 b8 {label}" for label in labels}
    text = (tmp_path / "r.md").read_text()
    assert "#### S6 float32" in text and "model-samples/s" in text
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert "model-samples/s" in proc.stdout
