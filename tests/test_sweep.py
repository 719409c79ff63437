"""nnkit.Sweep: K = optimizers x seeds x l2 models trained as one stack, each the training run
of a Trainer fitted alone with the same arguments (float64, tight tolerance, every backend);
divergence isolated per model; results, trainer(k) and best(); bad input refused."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import host

import nnkit
from nnkit import errors, optim
from nnkit.datasets import sine
from nnkit.losses import MSE, CrossEntropy
from nnkit.model import mlp
from nnkit.optim import schedules
from nnkit.tree import tree_leaves

RTOL = 1e-10


def _classes(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


DATA, VAL = _classes(50, 0), _classes(20, 1)
WEIGHTS = np.random.default_rng(2).uniform(0.2, 2.0, size=50)


def _net():
    return mlp([4, 6, 3], "tanh")


def _backends():
    """Every available backend, JAX's case marked slow (its lone Trainers compile for
    seconds: ``python -m pytest -m slow``, run by CI)."""
    return [pytest.param(b, marks=[pytest.mark.slow] if b == "jax" else [])
            for b in nnkit.backends.available()]  # fmt: skip


def _cases(cases, fast_on_jax):
    """(backend, case) for every available backend and case: on JAX, where each lone
    Trainer's fit compiles for seconds, only the cases ``fast_on_jax`` run with the test
    command; the others are marked slow (``python -m pytest -m slow``, run by CI)."""
    return [pytest.param(b, c, id=f"{b}-{c}",
                         marks=[pytest.mark.slow] if b == "jax" and c not in fast_on_jax else [])
            for b in nnkit.backends.available() for c in cases]  # fmt: skip


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol,
                               atol=rtol * 1e-3)  # fmt: skip


def _same_run(sweep, k, trainer, sweep_history, history):
    """Model k of the sweep and the lone trainer: the same parameters and records."""
    for a, b in zip(tree_leaves(sweep.params), tree_leaves(trainer.params), strict=True):
        _close(host(a)[k], host(b))
    assert len(sweep_history) == len(history)
    for got, want in zip(sweep_history.records, history.records, strict=True):
        assert got["epoch"] == want["epoch"] and got["step"] == want["step"]
        for key in ("loss", "val_loss", "val_accuracy"):
            assert (key in got) == (key in want)
            if key in want:
                _close(got[key][k], want[key])


SWEEPS = {
    "sgd": ([optim.SGD(0.1, momentum=0.9), optim.SGD(0.05)], [0, 3], [0.0, 1e-2]),
    "adam-schedules": ([optim.Adam(schedules.inverse_time(0.01, 0.1)),
                        optim.Adam(schedules.inverse_time(0.03, 0.1), b2=0.99)], [1], [0.0]),
    "rmsprop": (optim.RMSProp(0.01), [0, 1, 2], [0.0, 0.1]),
}  # fmt: skip


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("backend, name", _cases(SWEEPS, ["adam-schedules"]), indirect=["backend"])
def test_each_model_is_the_run_of_a_lone_trainer(backend, name):
    optimizers, seeds, l2 = SWEEPS[name]
    fit = {"epochs": 2, "batch_size": 16, "validation_data": VAL, "sample_weight": WEIGHTS}
    sweep = nnkit.Sweep(_net(), CrossEntropy(), optimizers, seeds=seeds, l2=l2, backend=backend,
                        dtype="float64")  # fmt: skip
    history = sweep.fit(*DATA, **fit)
    opts = optimizers if isinstance(optimizers, list) else [optimizers]
    assert sweep.size == len(opts) * len(seeds) * len(l2) == len(sweep.configs)
    for k, config in enumerate(sweep.configs):
        i = k // (len(seeds) * len(l2))
        assert config["seed"] == seeds[k // len(l2) % len(seeds)]
        assert config["l2"] == l2[k % len(l2)]
        assert config["optimizer"] == type(opts[i]).__name__
        trainer = nnkit.Trainer(_net(), CrossEntropy(), opts[i], seed=config["seed"],
                                l2=config["l2"], backend=backend, dtype="float64")  # fmt: skip
        _same_run(sweep, k, trainer, history, trainer.fit(*DATA, **fit))


OTHER_FITS = {
    "unshuffled": {"epochs": 2, "batch_size": 16, "shuffle": False},
    "steps": {"steps": 5, "batch_size": 16},  # ends mid-epoch
    "per_sample": {"epochs": 1, "batch_size": 8, "strategy": "per_sample"},
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("backend, case", _cases(OTHER_FITS, ["per_sample"]), indirect=["backend"])
def test_other_fits_are_the_lone_runs_too(backend, case):
    fit = dict(OTHER_FITS[case])
    strategy = fit.pop("strategy", "batched")
    X, y = sine(40, seed=0)
    opts = [optim.SGD(0.05, momentum=0.5), optim.SGD(0.02, momentum=0.5)]
    sweep = nnkit.Sweep(mlp([1, 5, 1], "tanh"), MSE(), opts, seeds=[0, 4], backend=backend,
                        strategy=strategy, dtype="float64")  # fmt: skip
    history = sweep.fit(X, y, **fit)
    again = sweep.fit(X, y, **fit)  # a second fit goes on from where the first stopped
    for k, config in enumerate(sweep.configs):
        trainer = nnkit.Trainer(mlp([1, 5, 1], "tanh"), MSE(), opts[k // 2], seed=config["seed"],
                                backend=backend, strategy=strategy, dtype="float64")  # fmt: skip
        first = trainer.fit(X, y, **fit)
        _close([r["loss"][k] for r in history.records], [r["loss"] for r in first.records])
        _same_run(sweep, k, trainer, again, trainer.fit(X, y, **fit))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on purpose
@pytest.mark.parametrize("backend", _backends(), indirect=True)
def test_a_diverging_model_stops_alone(backend):
    X, y = sine(40, seed=0)
    opts = [optim.SGD(0.05, momentum=0.9), optim.SGD(50.0, momentum=0.9)]
    sweep = nnkit.Sweep(mlp([1, 8, 1], "tanh"), MSE(), opts, backend=backend)
    history = sweep.fit(X, y, epochs=20, batch_size=8)
    assert sweep.diverged == [False, True]
    assert np.isnan(history["loss"][-1][1]) and np.isfinite(history["loss"][-1][0])
    assert all(np.isfinite(host(a)).all() for a in tree_leaves(sweep.params))
    lone = nnkit.Trainer(mlp([1, 8, 1], "tanh"), MSE(), opts[0], backend=backend)
    lone.fit(X, y, epochs=20, batch_size=8)
    for a, b in zip(tree_leaves(sweep.params), tree_leaves(lone.params), strict=True):
        np.testing.assert_allclose(host(a)[0], host(b), rtol=1e-5, atol=1e-6)
    # the diverged model keeps the parameters a lone trainer keeps (before its bad step)
    lone = nnkit.Trainer(mlp([1, 8, 1], "tanh"), MSE(), opts[1], backend=backend)
    with pytest.raises(nnkit.NonFiniteLossError) as info:
        lone.fit(X, y, epochs=20, batch_size=8)
    kept = sweep.trainer(1)
    assert kept.steps_done == lone.steps_done == info.value.step - 1
    for a, b in zip(tree_leaves(kept.params), tree_leaves(lone.params), strict=True):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-5, atol=1e-6)
    results = sweep.results()
    assert [r["index"] for r in results] == [0, 1] and results[1]["diverged"]
    assert np.isnan(results[1]["loss"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_raises_only_when_every_model_diverged(backend):
    X, y = sine(40, seed=0)
    sweep = nnkit.Sweep(mlp([1, 8, 1], "tanh"), MSE(), [optim.SGD(50.0, momentum=0.9)],
                        seeds=[0, 1], backend=backend)  # fmt: skip
    with pytest.raises(nnkit.NonFiniteLossError, match=r"every model of the sweep diverged"):
        sweep.fit(X, y, epochs=20, batch_size=8)
    assert sweep.diverged == [True, True]
    assert all(np.isfinite(host(a)).all() for a in tree_leaves(sweep.params))


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("backend", _backends(), indirect=True)
def test_results_best_and_trainers(backend, tmp_path):
    opts = [optim.SGD(0.3), optim.SGD(0.01), optim.SGD(0.1)]
    sweep = nnkit.Sweep(_net(), CrossEntropy(), opts, seeds=[0, 1], backend=backend,
                        dtype="float64")  # fmt: skip
    history = sweep.fit(*DATA, epochs=3, batch_size=16, validation_data=VAL)
    results = sweep.results()
    assert [r["val_loss"] for r in results] == sorted(history["val_loss"][-1])
    assert {r["index"] for r in results} == set(range(6))
    for r in results:
        assert r["lr"] == opts[r["index"] // 2].lr and r["seed"] == r["index"] % 2
        assert r["loss"] == history["loss"][-1][r["index"]] and not r["diverged"]
    Xv, yv = VAL
    pred = host(sweep.predict(Xv))
    assert pred.shape == (6, 20, 3)
    evaluated = sweep.evaluate(Xv, yv)
    best = sweep.best()
    assert isinstance(best, nnkit.Trainer)
    k = results[0]["index"]
    _close(host(best.predict(Xv)), pred[k])
    for j in range(6):
        trainer = sweep.trainer(j)
        _close(evaluated[j]["loss"], trainer.evaluate(Xv, yv)["loss"])
        _close(evaluated[j]["accuracy"], trainer.evaluate(Xv, yv)["accuracy"])
    # a sweep's model fitted on is the lone run fitted on
    lone = nnkit.Trainer(_net(), CrossEntropy(), opts[k // 2], seed=k % 2, backend=backend,
                         dtype="float64")  # fmt: skip
    lone.fit(*DATA, epochs=3, batch_size=16)
    lone.fit(*DATA, epochs=2, batch_size=16)
    best.fit(*DATA, epochs=2, batch_size=16)
    for a, b in zip(tree_leaves(best.params), tree_leaves(lone.params), strict=True):
        _close(host(a), host(b))
    assert best.steps_done == lone.steps_done
    best.save(tmp_path / "best.safetensors")
    loaded = nnkit.Trainer.load(tmp_path / "best.safetensors", backend=backend)
    _close(host(loaded.predict(Xv)), host(best.predict(Xv)))


def test_callbacks_and_progress_see_per_model_values(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    seen = []

    def stop_after_two(sweep, record):
        seen.append((sweep, record["loss"]))
        if record["epoch"] == 2:
            sweep.stop_training = True

    sweep = nnkit.Sweep(_net(), CrossEntropy(), optim.SGD(0.1), seeds=[0, 1, 2])
    history = sweep.fit(*DATA, epochs=5, batch_size=16, callbacks=[stop_after_two],
                        validation_data=VAL, progress=True)  # fmt: skip
    assert len(history) == 2 and all(s is sweep and len(loss) == 3 for s, loss in seen)
    out = capsys.readouterr().out
    assert "(best of 3)" in out and "val_accuracy" in out
    with pytest.raises(errors.InvalidValueError, match=r"one value per model"):
        sweep.fit(*DATA, epochs=2, batch_size=16, validation_data=VAL,
                  callbacks=[nnkit.callbacks.EarlyStopping()])  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"optimizers": [optim.SGD(0.1), optim.Adam()]}, errors.InvalidTypeError,
         r"one class.*got Adam, SGD"),
        ({"optimizers": [optim.SGD(0.1, momentum=0.5, nesterov=True),
                         optim.SGD(0.1, momentum=0.5)]},
         errors.InvalidValueError, r"differ in nesterov \(True, False\)"),
        ({"optimizers": [optim.SGD(schedules.step(0.1, 0.5, 10)),
                         optim.SGD(schedules.step(0.1, 0.5, 20))]},
         errors.InvalidValueError, r"differ in lr.*only numbers.*lr0"),
        ({"optimizers": [optim.SGD(0.1), optim.SGD(schedules.step(0.1, 0.5, 10))]},
         errors.InvalidValueError, r"differ in lr"),
        ({"optimizers": [optim.SGD((0.1, 0.2))]}, errors.InvalidValueError, r"one value per model"),
        ({"optimizers": []}, errors.InvalidTypeError, r"non-empty list"),
        ({"optimizers": ["sgd"]}, errors.InvalidTypeError, r"optimizers\[0\] must be an nnkit"),
        ({"seeds": 3}, errors.InvalidTypeError, r"seeds must be a sequence.*range\(3\)"),
        ({"seeds": []}, errors.InvalidValueError, r"seed: an empty sequence"),
        ({"seeds": [0, -2]}, errors.InvalidValueError, r"seed\[1\] must be an int >= 0"),
        ({"l2": [0.0, -1.0]}, errors.InvalidValueError, r"l2\[1\] must be a finite number >= 0"),
        ({"strategy": "loop"}, errors.InvalidValueError, r"strategy 'loop'"),
    ],
)  # fmt: skip
def test_bad_sweeps_are_refused(kwargs, exc, match):
    args = {"optimizers": optim.SGD(0.1), **kwargs}
    with pytest.raises(exc, match=match):
        nnkit.Sweep(_net(), CrossEntropy(), args.pop("optimizers"), **args)


def test_bad_calls_leave_the_sweep_untouched():
    sweep = nnkit.Sweep(_net(), CrossEntropy(), optim.SGD(0.1), seeds=[0, 1])
    before = [host(a).copy() for a in tree_leaves(sweep.params)]
    X, y = DATA
    for call, match in (
        (lambda: sweep.fit(X[:, :3], y), r"3 features.*expects 4"),
        (lambda: sweep.fit(X, y[:10]), r"different numbers of samples"),
        (lambda: sweep.fit(X, y, epochs=1, steps=2), r"epochs or steps"),
        (lambda: sweep.trainer(2), r"model index below 2, got 2"),
        (lambda: sweep.predict(X[:, None, :]), r"2-D"),
    ):
        with pytest.raises(errors.InvalidValueError, match=match):
            call()
    for a, b in zip(tree_leaves(sweep.params), before, strict=True):
        assert host(a).tobytes() == b.tobytes()


DEVICES_RUN = """
import json, os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np
import nnkit
from nnkit import optim
from nnkit.losses import CrossEntropy
from nnkit.model import mlp

X, y, Xv, yv = nnkit.datasets.digits(normalize=True)  # 1437 rows: the last minibatch 29
out = []
for devices in (None, 4):
    sweep = nnkit.Sweep(mlp([64, 16, 10], "tanh"), CrossEntropy(),
                        [optim.SGD(0.1, momentum=0.9), optim.SGD(0.05, momentum=0.9)],
                        seeds=[0, 1], backend="jax", devices=devices)
    h = sweep.fit(X, y, epochs=1, batch_size=64, validation_data=(Xv, yv))
    leaves = [np.asarray(a) for a in nnkit.tree.tree_leaves(sweep.params)]
    out.append([leaves, h["loss"][-1], h["val_loss"][-1],
                len(sweep.params[0]["W"].sharding.device_set)])
(a, la, va, na), (b, lb, vb, nb) = out
rel = max(float(np.linalg.norm(x - z) / np.linalg.norm(x)) for x, z in zip(a, b))
hist = max(abs(x - z) / abs(x) for x, z in zip(la + va, lb + vb))
print(json.dumps([rel, hist, na, nb]))
"""


@pytest.mark.slow
@pytest.mark.skipif("jax" not in nnkit.backends.available(), reason="needs jax")
def test_devices_split_the_batch_axis_of_a_sweep():
    """Four forced CPU devices train the sweep of one device (float32 rtol 1e-5)."""
    proc = subprocess.Popen([sys.executable, "-c", DEVICES_RUN], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the sweep on 4 devices ran over 300 s: {err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    rel, hist, one, four = json.loads(out.splitlines()[-1])
    assert rel <= 1e-5 and hist <= 1e-5 and (one, four) == (1, 4)
