"""fit(fused=True): one compiled scan per epoch gives the same parameters as the step loop."""

import numpy as np
import pytest

from nnkit import InvalidValueError, Sequential, Trainer, backends
from nnkit.callbacks import Callback
from nnkit.layers import Dense, ReLU, Sigmoid
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD, Adam, schedules

needs_scan = pytest.mark.skipif(
    "jax" not in backends.available(), reason="fused epochs need a backend with scan (jax)"
)


def _data(n=50, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def _pair(loss, optimizer, layers):
    return [
        Trainer(Sequential(layers()), loss, optimizer, backend="jax", dtype="float64", seed=1)
        for _ in range(2)
    ]


CASES = {
    "sigmoid-mse-sgd-schedule": (
        MSE(),
        SGD(schedules.inverse_time(0.5, 0.01), momentum=0.9),
        lambda: [Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()],
    ),
    "relu-ce-adam": (
        CrossEntropy(),
        Adam(1e-2),
        lambda: [Dense(6, 8), ReLU(), Dense(8, 3)],
    ),
}


@needs_scan
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fit_args", [{"epochs": 3}, {"steps": 9}, {"epochs": 2, "shuffle": False}])
def test_fused_matches_step_loop(case, fit_args):
    X, y = _data()
    plain, fused = _pair(*CASES[case])
    h_plain = plain.fit(X, y, batch_size=8, **fit_args)  # 50 = 6 full minibatches + 2 samples
    h_fused = fused.fit(X, y, batch_size=8, fused=True, **fit_args)
    assert fused.steps_done == plain.steps_done
    for p, q in zip(plain.params, fused.params, strict=True):
        for k in p:
            np.testing.assert_allclose(np.asarray(q[k]), np.asarray(p[k]), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_fused["loss"], h_plain["loss"], rtol=1e-12)
    assert int(fused.opt_state.count) == int(plain.opt_state.count)


@needs_scan
def test_fused_moves_parameters_and_keeps_training():
    X, y = _data()
    trainer = _pair(*CASES["relu-ce-adam"])[0]
    before = [np.asarray(p["W"]).copy() for p in trainer.params if p]
    first = trainer.fit(X, y, batch_size=10, epochs=1, fused=True)["loss"][0]
    trainer.fit(X, y, batch_size=10, epochs=20, fused=True)
    after = [np.asarray(p["W"]) for p in trainer.params if p]
    assert all(not np.allclose(a, b) for a, b in zip(after, before, strict=True))
    assert trainer.evaluate(X, y)["loss"] < first


def test_fused_refuses_backends_without_scan():
    X, y = _data()
    trainer = Trainer(Sequential([Dense(6, 3)]), CrossEntropy(), SGD(0.1), backend="numpy")
    before = np.asarray(trainer.params[0]["W"]).copy()
    with pytest.raises(InvalidValueError, match="'numpy'"):
        trainer.fit(X, y, fused=True)
    np.testing.assert_array_equal(np.asarray(trainer.params[0]["W"]), before)


@needs_scan
def test_fused_refuses_per_sample():
    X, y = _data()
    trainer = Trainer(
        Sequential([Dense(6, 3)]), CrossEntropy(), SGD(0.1), backend="jax", strategy="per_sample"
    )
    with pytest.raises(InvalidValueError, match="per_sample"):
        trainer.fit(X, y, fused=True)


@needs_scan
def test_fused_chunks_at_checks_and_resumes_mid_epoch():
    """check_every and callback periods cut the scan into chunks; fits that stop and resume
    mid-epoch; all of it equals the plain step loop, and the hooks see every due step."""
    loss, optimizer, layers = CASES["relu-ce-adam"]
    fused, plain = _pair(loss, optimizer, layers)
    X, y = _data()  # 50 rows, batch 8: 6 full minibatches and one of 2 per epoch
    seen = []

    class EveryFour(Callback):
        every = 4

        def on_step(self, trainer):
            seen.append(trainer.steps_done)

    for steps in (5, 13, 9):
        fused.fit(
            X, y, steps=steps, batch_size=8, fused=True, check_every=3, callbacks=[EveryFour()]
        )
        plain.fit(X, y, steps=steps, batch_size=8)
    assert fused.steps_done == plain.steps_done == 27
    assert seen == [4, 8, 12, 16, 20, 24]
    for pf, pp in zip(fused.params, plain.params):
        for k in pf:
            np.testing.assert_allclose(np.asarray(pf[k]), np.asarray(pp[k]), rtol=1e-12)
