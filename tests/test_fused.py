"""Compiled fits (JAX): the default whole-fit program and fused=True give the same
parameters, losses and validation metrics as the step loop (fused=False)."""

import numpy as np
import pytest

import nnkit
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
def test_fused_matches_step_loop(case, fit_args, x64):
    X, y = _data()
    plain, fused = _pair(*CASES[case])
    h_plain = plain.fit(X, y, batch_size=8, fused=False, **fit_args)  # 50 = 6 x 8 + 2
    h_fused = fused.fit(X, y, batch_size=8, fused=True, **fit_args)
    assert fused.steps_done == plain.steps_done
    for p, q in zip(plain.params, fused.params, strict=True):
        for k in p:
            np.testing.assert_allclose(np.asarray(q[k]), np.asarray(p[k]), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_fused["loss"], h_plain["loss"], rtol=1e-12)
    assert int(fused.opt_state.count) == int(plain.opt_state.count)


@needs_scan
def test_fused_moves_parameters_and_keeps_training(x64):
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
def test_fused_chunks_at_checks_and_resumes_mid_epoch(x64):
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
        plain.fit(X, y, steps=steps, batch_size=8, fused=False)
    assert fused.steps_done == plain.steps_done == 27
    assert seen == [4, 8, 12, 16, 20, 24]
    for pf, pp in zip(fused.params, plain.params):
        for k in pf:
            np.testing.assert_allclose(np.asarray(pf[k]), np.asarray(pp[k]), rtol=1e-12)


def _assert_same_run(a, b, ha, hb, keys=("loss",)):
    assert a.steps_done == b.steps_done and a.position == b.position
    for p, q in zip(a.params, b.params, strict=True):
        for k in p:
            np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12, atol=1e-13)
    assert ha["epoch"] == hb["epoch"] and ha["step"] == hb["step"]
    for key in keys:
        np.testing.assert_allclose(ha[key], hb[key], rtol=1e-12)


@needs_scan
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("shuffle", [True, False])
def test_default_fit_is_one_program_with_validation_on_the_device(case, shuffle, x64):
    """The default fit on JAX (one program for every epoch, validation computed inside it)
    equals the step loop with validation read on the host, record for record."""
    X, y = _data()
    X_val, y_val = _data(n=11, seed=4)
    plain, whole = _pair(*CASES[case])
    kw = dict(epochs=4, batch_size=8, shuffle=shuffle, validation_data=(X_val, y_val))
    h_plain, h_whole = plain.fit(X, y, fused=False, **kw), whole.fit(X, y, **kw)
    _assert_same_run(plain, whole, h_plain, h_whole, ("loss", "val_loss", "val_accuracy"))
    assert whole.evaluate(X_val, y_val)["loss"] == pytest.approx(h_whole["val_loss"][-1], 1e-12)


@pytest.mark.slow  # seconds of compiling: with the end-to-end runs
@needs_scan
def test_repeated_short_fits_equal_one_long_fit(x64):
    """Ten fits of 2 epochs (one compiled program, reused) equal one fit of 20 epochs, and
    fits that start or end mid-epoch (steps=) run the rest in compiled runs too."""
    X, y = _data()
    short, long, stepped = _pair(*CASES["relu-ce-adam"]) + _pair(*CASES["relu-ce-adam"])[:1]
    for _ in range(10):
        short.fit(X, y, epochs=2, batch_size=8)
    h_long = long.fit(X, y, epochs=20, batch_size=8)
    for steps in (10, 61, 69):  # 7 steps an epoch: starts and ends mid-epoch
        stepped.fit(X, y, steps=steps, batch_size=8)
    _assert_same_run(short, long, h_long, h_long, keys=())
    _assert_same_run(stepped, long, h_long, h_long, keys=())


@needs_scan
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_guard_in_a_whole_fit_program_names_the_same_step(x64):
    """A divergent run inside one compiled program: the guard replays from the state before
    the program and stops at the same step, with the same parameters, as the step loop."""
    X, y = _data()
    errors, trainers = [], []
    for fused in (None, False):
        trainer = Trainer(Sequential([Dense(6, 8), Sigmoid(), Dense(8, 3)]), MSE(), SGD(1e6),
                          backend="jax", dtype="float64", seed=1)  # fmt: skip
        with pytest.raises(nnkit.NonFiniteLossError) as info:
            trainer.fit(X * 1e3, y, epochs=30, batch_size=8, fused=fused)
        errors.append(info.value.step)
        trainers.append(trainer)
    assert errors[0] == errors[1] and trainers[0].steps_done == errors[0] - 1
    assert trainers[0].history["step"] == trainers[1].history["step"]
    for p, q in zip(trainers[0].params, trainers[1].params, strict=True):
        for k in p:
            np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12)


@needs_scan
def test_epoch_end_callbacks_and_the_progress_bar_see_every_epoch(capsys, x64):
    """A callback needs each epoch's end (one program per epoch) and a live progress bar
    about two updates a second: both see every epoch, and the run is the same."""
    X, y = _data()
    seen = []
    plain, watched = _pair(*CASES["relu-ce-adam"])
    h_plain = plain.fit(X, y, epochs=6, batch_size=8, fused=False)
    hook = lambda trainer, record: seen.append(record["epoch"])  # noqa: E731
    h_watched = watched.fit(X, y, epochs=6, batch_size=8, progress=True, callbacks=[hook])
    assert seen == [1, 2, 3, 4, 5, 6]
    _assert_same_run(plain, watched, h_plain, h_watched)
    assert "epoch 6" in capsys.readouterr().out


@pytest.mark.parametrize("name", backends.available())
def test_arrays_held_before_a_fit_stay_valid_and_unchanged(name):
    """Whole-fit programs leave their inputs alone (nothing to copy); a step that updates in
    place (NumPy) or consumes its input (JAX donation) works on a copy: whatever the caller
    held before each fit, the default program, a mid-epoch continuation step by step, and
    fused=False, still reads as it did."""
    X, y = _data()
    trainer = Trainer(Sequential([Dense(6, 8), Sigmoid(), Dense(8, 3)]), CrossEntropy(),
                      Adam(1e-2), backend=name, seed=1)  # fmt: skip
    be = trainer.backend
    held = []
    for kwargs in ({"epochs": 1}, {"steps": 3}, {"epochs": 2}, {"steps": 5, "fused": False}):
        state = (trainer.params, trainer.opt_state[1:])  # Adam: (count, m, v)
        leaves = nnkit.tree.tree_leaves(state)
        held.append((leaves, [np.array(be.to_numpy(a)) for a in leaves]))
        trainer.fit(X, y, batch_size=16, **kwargs)
    for leaves, copies in held:
        for a, c in zip(leaves, copies):
            np.testing.assert_array_equal(be.to_numpy(a), c)
    assert trainer.steps_done == 4 + 3 + 8 + 5
