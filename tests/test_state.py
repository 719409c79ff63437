"""TrainState and its one writer, the Trainer: what callbacks read during a fit, kept states,
``restore``, saved trainers, EarlyStopping's restore and the estimators' partial_fit."""

import dataclasses
import pickle
import warnings

import numpy as np
import pytest

import nnkit
from nnkit import backends
from nnkit.callbacks import Callback, EarlyStopping
from nnkit.datasets import sine
from nnkit.errors import InvalidTypeError, InvalidValueError
from nnkit.layers import Dense, Tanh
from nnkit.losses import MSE
from nnkit.optim import SGD, Adam
from nnkit.tree import tree_leaves

DATA = sine(40, seed=0)  # batch_size 16: 3 steps per epoch, the last one of 8 rows
HAS_JAX = "jax" in backends.available()


def _trainer(backend="numpy", optimizer=None):
    model = nnkit.Sequential([Dense(1, 8), Tanh(), Dense(8, 1)])
    return nnkit.Trainer(model, MSE(), optimizer or SGD(0.05, momentum=0.9), backend=backend)


def _host(trainer, tree):
    """Host copies of the array leaves of ``tree`` (params or optimizer state)."""
    return [np.array(trainer.backend.to_numpy(a)) for a in tree_leaves(tree) if hasattr(a, "shape")]


def _assert_bitwise(a, b):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


def _same_state(a, b):
    """Two trainers' TrainStates hold the same numbers and counters."""
    assert (a.steps_done, a.position) == (b.steps_done, b.position)
    _assert_bitwise(_host(a, a.params), _host(b, b.params))
    _assert_bitwise(_host(a, a.opt_state), _host(b, b.opt_state))


class _Watch(Callback):
    """Keeps what a callback reads after every step: counters and host copies."""

    every = 1

    def __init__(self):
        self.seen = []

    def on_step(self, trainer):
        state = trainer.state
        self.seen.append(
            {
                "steps_done": trainer.steps_done,
                "position": trainer.position,
                "params": _host(trainer, trainer.params),
                "opt_state": _host(trainer, trainer.opt_state),
                "state": (state.steps_done, state.position, _host(trainer, state.params)),
            }
        )


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_a_callback_mid_fit_reads_the_state_of_the_step_just_done(backend):
    """After step k, ``trainer.params``, ``opt_state``, ``steps_done`` and ``position`` are
    those of a trainer that ran k steps; ``trainer.state`` says the same."""
    watch = _Watch()
    _trainer(backend).fit(*DATA, steps=5, batch_size=16, callbacks=[watch])
    assert [s["steps_done"] for s in watch.seen] == [1, 2, 3, 4, 5]
    for k, seen in enumerate(watch.seen, start=1):
        ref = _trainer(backend)
        ref.fit(*DATA, steps=k, batch_size=16)
        assert seen["position"] == ref.position
        _assert_bitwise(seen["params"], _host(ref, ref.params))
        _assert_bitwise(seen["opt_state"], _host(ref, ref.opt_state))
        assert seen["state"][:2] == (k, ref.position)
        _assert_bitwise(seen["state"][2], seen["params"])
    assert [s["position"] for s in watch.seen] == [(0, 16), (0, 32), (0, 40), (1, 16), (1, 32)]


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_epoch_end_callbacks_read_the_state_after_a_compiled_program():
    """JAX runs each epoch as one compiled program; a callback at its end reads the state
    after it, as a trainer fitted for that many epochs holds it (to roundoff)."""
    seen = []

    def watch(trainer, record):
        seen.append((trainer.steps_done, trainer.position, _host(trainer, trainer.params)))

    _trainer("jax").fit(*DATA, epochs=3, batch_size=16, callbacks=[watch])
    assert [s[:2] for s in seen] == [(3, (0, 40)), (6, (1, 40)), (9, (2, 40))]
    for epochs, (_, _, params) in enumerate(seen, start=1):
        ref = _trainer("jax")
        ref.fit(*DATA, epochs=epochs, batch_size=16)
        for a, b in zip(params, _host(ref, ref.params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "jax"] if HAS_JAX else ["numpy"])
def test_a_kept_state_is_frozen_and_a_later_fit_leaves_it_as_it_was(backend):
    """NumPy steps update in place, JAX steps consume their inputs: a state kept between
    fits still reads as it did. Neither it nor the trainer's state can be assigned to."""
    trainer = _trainer(backend, Adam(0.01))
    trainer.fit(*DATA, steps=2, batch_size=16)
    kept = trainer.state
    params, opt_state = _host(trainer, kept.params), _host(trainer, kept.opt_state)
    trainer.fit(*DATA, epochs=2, batch_size=16)
    assert trainer.state is not kept and trainer.steps_done == 2 + 6
    assert (kept.steps_done, kept.position) == (2, (0, 32))
    _assert_bitwise(_host(trainer, kept.params), params)
    _assert_bitwise(_host(trainer, kept.opt_state), opt_state)
    with pytest.raises(dataclasses.FrozenInstanceError):
        kept.steps_done = 0
    for name in ("state", "params", "opt_state", "steps_done", "position", "history"):
        with pytest.raises(AttributeError):
            setattr(trainer, name, getattr(kept, name, None))
    assert trainer.steps_done == 8


def test_restore_goes_back_to_a_kept_state_and_training_continues_from_it():
    """Restoring the state after 4 steps and fitting 3 more equals fitting 7 at once."""
    trainer = _trainer()
    trainer.fit(*DATA, steps=4, batch_size=16)
    after_4 = trainer.state
    trainer.fit(*DATA, steps=5, batch_size=16)
    trainer.restore(after_4)
    assert trainer.steps_done == 4 and trainer.position == (1, 16)
    trainer.fit(*DATA, steps=3, batch_size=16)
    whole = _trainer()
    whole.fit(*DATA, steps=7, batch_size=16)
    _same_state(trainer, whole)


def test_a_callback_that_restores_mid_fit_starts_the_next_epoch_from_that_state():
    """A callback puts back the state the fit started from after epoch 2: epoch 3 trains from
    the initial parameters and data position (on a copy: the restored arrays stay as they
    were), as a new trainer's first epoch does."""
    trainer = _trainer()
    start = trainer.state
    initial = _host(trainer, start.params)

    def rewind(trainer, record):
        if record["epoch"] == 2:
            trainer.restore(start)

    history = trainer.fit(*DATA, epochs=3, batch_size=16, callbacks=[rewind])
    assert history["epoch"] == [1, 2, 1]
    _assert_bitwise(_host(trainer, start.params), initial)
    once = _trainer()
    once.fit(*DATA, epochs=1, batch_size=16)
    _same_state(trainer, once)


def test_restore_refuses_a_state_that_does_not_fit_and_changes_nothing():
    trainer = _trainer()
    trainer.fit(*DATA, steps=2, batch_size=16)
    state = trainer.state
    params, opt_state = _host(trainer, state.params), _host(trainer, state.opt_state)
    W = state.params[0]["W"]
    swapped = [{"W": np.asarray(W).T, "b": state.params[0]["b"]}, *state.params[1:]]
    bad = [
        ((state.params, state.opt_state), InvalidTypeError, "expected a TrainState"),
        (state.replace(params=swapped), InvalidValueError,
         r"params\[0\]\['W'\] has shape \(8, 1\), expected \(1, 8\)"),
        (state.replace(params=state.params[:2]), InvalidValueError,
         "params has 2 entries, expected 3"),
        (state.replace(params=[{"W": W}, *state.params[1:]]), InvalidValueError,
         r"params\[0\] has \['W'\], expected a dict of \['W', 'b'\]"),
        (state.replace(opt_state=Adam(0.1).init(state.params)), InvalidValueError, "opt_state"),
        (state.replace(steps_done=-1), InvalidValueError, "steps_done must be an int >= 0"),
        (state.replace(position=(0,)), InvalidValueError, "position must be a pair"),
        (state.replace(position=(0, 1.5)), InvalidValueError, "position's offset must be an int"),
    ]  # fmt: skip
    for wrong, error, message in bad:
        with pytest.raises(error, match=message):
            trainer.restore(wrong)
        assert trainer.state is state
    _assert_bitwise(_host(trainer, trainer.params), params)
    _assert_bitwise(_host(trainer, trainer.opt_state), opt_state)


def test_a_loaded_trainer_holds_the_saved_state_and_resumes_it(tmp_path):
    trainer = _trainer(optimizer=Adam(0.01))
    trainer.fit(*DATA, steps=7, batch_size=16)
    trainer.save(tmp_path / "t.safetensors")
    loaded = nnkit.Trainer.load(tmp_path / "t.safetensors")
    _same_state(loaded, trainer)
    for t in (trainer, loaded):
        t.fit(*DATA, steps=5, batch_size=16)
    _same_state(loaded, trainer)


def test_early_stopping_restores_only_the_best_params():
    """restore_best puts back the best epoch's parameters; the optimizer state, step count
    and data position stay those of the last step."""
    scores = [3.0, 1.0, 2.0, 4.0]  # best at epoch 2, patience 2: stops after epoch 4
    seen = {}

    def inject(trainer, record):
        record["score"] = scores[record["epoch"] - 1]
        seen[record["epoch"]] = (_host(trainer, trainer.params), _host(trainer, trainer.opt_state))

    trainer = _trainer()
    trainer.fit(*DATA, epochs=8, batch_size=16, callbacks=[inject, EarlyStopping("score", 2)])
    assert (trainer.steps_done, trainer.position) == (12, (3, 40))
    _assert_bitwise(_host(trainer, trainer.params), seen[2][0])
    _assert_bitwise(_host(trainer, trainer.opt_state), seen[4][1])


def test_stop_training_is_a_request_that_each_fit_clears():
    def stop(trainer, record):
        trainer.stop_training = True

    trainer = _trainer()
    trainer.fit(*DATA, epochs=5, batch_size=16, callbacks=[stop])
    assert trainer.stop_training is True and trainer.steps_done == 3
    trainer.fit(*DATA, epochs=2, batch_size=16)
    assert trainer.stop_training is False and trainer.steps_done == 3 + 6


def test_partial_fit_continues_from_the_estimators_state_after_pickling():
    """The second partial_fit of a pickled estimator (no Trainer: a new one takes over the
    saved momentum, data position and step count) equals that of the original."""
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning

    from nnkit.estimators import MLPRegressor

    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 3), rng.randn(50)
    est = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", momentum=0.9, batch_size=16,
                       random_state=0, dtype="float64")  # fmt: skip
    est.partial_fit(X, y)
    thawed, restart = pickle.loads(pickle.dumps(est)), pickle.loads(pickle.dumps(est))
    for e in (est, thawed):
        e.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, thawed.coefs_ + thawed.intercepts_):
        assert a.tobytes() == b.tobytes()
    assert thawed.t_ == est.t_ == 100
    # one more epoch from the same weights with a fresh optimizer and data order (a warm
    # fit) gives other numbers: the comparison above sees a lost state
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        restart.set_params(warm_start=True, max_iter=1).fit(X, y)
    assert not np.allclose(restart.coefs_[0], est.coefs_[0])
