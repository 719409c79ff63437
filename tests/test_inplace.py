"""The in-place optimizer path (backends with ``inplace``: NumPy) is bitwise equal to the
functional ``step``, reads the gradients only, and never touches arrays a user holds."""

import copy

import numpy as np
import pytest

from nnkit import Sequential, Trainer, backends
from nnkit.layers import Dense, ReLU, Sigmoid
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD, Adam, AdamW, RMSProp, schedules
from nnkit.tree import tree_leaves

OPTIMIZERS = {
    "sgd": lambda: SGD(0.1),
    "sgd_schedule": lambda: SGD(schedules.inverse_time(0.1, 0.3)),
    "momentum": lambda: SGD(0.05, momentum=0.9),
    "nesterov": lambda: SGD(schedules.step(0.05, 0.5, 2), momentum=0.9, nesterov=True),
    "rmsprop": lambda: RMSProp(1e-2),
    "adam": lambda: Adam(1e-2),
    "adam_cosine": lambda: Adam(schedules.cosine(1e-2, 3)),
    "adamw": lambda: AdamW(schedules.exponential(1e-2, 0.7), weight_decay=0.1),
}


def tree(rng, dtype):
    """A nested pytree (list / dict / tuple / empty dict) of NumPy arrays, 0-d included."""
    return [
        {"W": rng.normal(size=(5, 3)).astype(dtype), "b": rng.normal(size=3).astype(dtype)},
        {},
        (rng.normal(size=(2, 2, 2)).astype(dtype), np.asarray(rng.normal(), dtype=dtype)),
    ]


def arrays(t):
    """The array leaves of ``t`` (optimizer states also hold the step count, an int)."""
    return [a for a in tree_leaves(t) if hasattr(a, "shape")]


def host_copy(t):
    return [np.array(a, copy=True) for a in arrays(t)]


def assert_bitwise(got, expected):
    for a, b in zip(arrays(got), arrays(expected), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def numpy_functional():
    """The NumPy backend with its in-place path switched off: the functional reference."""
    backend = copy.copy(backends.get("numpy"))
    backend.inplace = False
    return backend


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_inplace_equals_step_bitwise(name, dtype):
    rng = np.random.default_rng(1)
    opt = OPTIMIZERS[name]()
    params = tree(rng, dtype)
    grads = [tree(rng, dtype) for _ in range(5)]
    state = opt.init(params)
    ref_params, ref_state = copy.deepcopy(params), copy.deepcopy(state)
    ops = backends.get("numpy").inplace_ops()
    for g in grads:
        g_before = host_copy(g)
        leaves_before = [id(a) for a in arrays((params, state))]
        params, state = opt.step_inplace(params, g, state, ops)
        ref_params, ref_state = opt.step(ref_params, g, ref_state)
        assert [id(a) for a in arrays((params, state))] == leaves_before  # in place
        assert_bitwise(g, g_before)  # gradients only read
        assert_bitwise(params, ref_params)
        assert_bitwise(state, ref_state)
        assert state.count == ref_state.count


@pytest.mark.parametrize("lr", [np.float64(0.1), np.asarray(0.1)], ids=["scalar", "0d"])
def test_step_inplace_falls_back_for_numpy_learning_rates(lr):
    """A learning rate that is a NumPy scalar or array (it promotes float32 params to
    float64 in ``step``) takes the functional step: same result, params untouched."""
    opt = SGD(lambda t: lr)
    params, grads = [np.ones(3, dtype=np.float32)], [np.ones(3, dtype=np.float32)]
    before = host_copy(params)
    ops = backends.get("numpy").inplace_ops()
    new, _ = opt.step_inplace(params, grads, opt.init(params), ops)
    assert_bitwise(params, before)
    assert_bitwise(new, opt.step(params, grads, opt.init(params))[0])
    assert new[0].dtype == np.float64


def test_backends_without_inplace_raise():
    base = backends.get("array_api_strict") if "array_api_strict" in backends.available() else None
    if base is None:
        pytest.skip("array_api_strict is not installed")
    assert not base.inplace
    with pytest.raises(NotImplementedError, match="array_api_strict"):
        base.inplace_ops()


def data(rng, n=37):
    X = rng.normal(size=(n, 6))
    return X, rng.integers(0, 4, size=n)


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
@pytest.mark.parametrize("name", ["nesterov", "rmsprop", "adamw"])
def test_fit_inplace_equals_functional_and_keeps_user_arrays(name, strategy):
    rng = np.random.default_rng(2)
    X, y = data(rng)
    X_val, y_val = data(rng, 9)
    model = Sequential([Dense(6, 8), ReLU(), Dense(8, 4)])

    def trainer(backend):
        opt = OPTIMIZERS[name]()
        return Trainer(model, CrossEntropy(), opt, backend=backend, strategy=strategy)

    fast, slow = trainer("numpy"), trainer(numpy_functional())
    assert fast.backend.inplace and not slow.backend.inplace
    held = [(fast.params, fast.opt_state)]
    held_copies = [host_copy(held[0])]
    for epochs in (2, 1):
        kw = dict(epochs=epochs, batch_size=8, validation_data=(X_val, y_val), check_every=3)
        fast_history, slow_history = fast.fit(X, y, **kw), slow.fit(X, y, **kw)
        assert fast_history["loss"] == slow_history["loss"]
        assert_bitwise(fast.params, slow.params)
        assert_bitwise(fast.opt_state, slow.opt_state)
        held.append((fast.params, fast.opt_state))
        held_copies.append(host_copy(held[-1]))
    # every pair held before the last fit (the live one is the trainer's own)
    for held_arrays, before in zip(held[:-1], held_copies[:-1], strict=True):
        for a, b in zip(arrays(held_arrays), before, strict=True):
            assert np.array_equal(a, b)


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_nan_guard_restores_the_pre_step_params_with_inplace_updates():
    """The guard's snapshots are copies: a divergent in-place run keeps the last good step."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(32, 4)) * 1e3
    model = Sequential([Dense(4, 4), Sigmoid(), Dense(4, 1)])
    fast = Trainer(model, MSE(), SGD(1e12), backend="numpy")
    slow = Trainer(model, MSE(), SGD(1e12), backend=numpy_functional())
    Y = rng.normal(size=(32, 1)) * 1e30
    errors = []
    for t in (fast, slow):
        with pytest.raises(FloatingPointError) as info:
            t.fit(X, Y, epochs=5, batch_size=8)
        errors.append(info.value.step)
    assert errors[0] == errors[1]
    assert all(np.isfinite(a).all() for a in tree_leaves(fast.params))
    assert_bitwise(fast.params, slow.params)
