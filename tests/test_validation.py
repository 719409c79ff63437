"""Bad input raises nnkit's own ValueError/TypeError subclasses, with a message naming what was
received and what was expected, and leaves parameters and optimizer state bit for bit as they were.
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nnkit
from nnkit import backends, errors, layers, losses, optim, values
from nnkit.layers import Dense, Tanh
from nnkit.optim import schedules
from nnkit.tree import tree_leaves

AVAILABLE = backends.available()
N, IN, OUT = 12, 4, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, IN))
TARGETS = {
    "mse": RNG.normal(size=(N, OUT)),
    "cross_entropy": np.arange(N) % OUT,
    "bce": (RNG.uniform(size=(N, OUT)) > 0.5).astype(float),
}


@functools.cache
def trained(backend_name: str, loss_name: str) -> nnkit.Trainer:
    """A trainer two Adam steps in (so its optimizer state is not all zeros)."""
    model = nnkit.Sequential([Dense(IN, 5), Tanh(), Dense(5, OUT)])
    loss = losses.LOSSES[loss_name]()
    tr = nnkit.Trainer(model, loss, optim.Adam(0.01), backend=backend_name, dtype="float64")
    tr.fit(X, TARGETS[loss_name], steps=2, batch_size=4)
    return tr


def snapshot(tr: nnkit.Trainer) -> list:
    """Everything a rejected call must leave alone, as host bytes."""
    leaves = tree_leaves((tr.params, tr.opt_state))
    state = [
        leaf if isinstance(leaf, int) else tr.backend.to_numpy(leaf).tobytes() for leaf in leaves
    ]
    return [*state, tr.steps_done, tr.position]


def rejects(tr, call, exc, match):
    before = snapshot(tr)
    with pytest.raises(exc, match=match) as info:
        call()
    assert isinstance(info.value, errors.NNKitError)
    assert snapshot(tr) == before
    return info.value


# (id, X, Y, loss, error class, message pattern): each is tried with fit and evaluate.
_nan_x = X.copy()
_nan_x[3, 2] = np.nan
_inf_y = TARGETS["mse"].copy()
_inf_y[5, 0] = -np.inf
BAD_DATA = [
    ("x-1d", X[:, 0], None, "mse", errors.ShapeError, r"2-D.*got shape \(12,\).*reshape"),
    ("x-3d", X[:, :, None], None, "mse", errors.ShapeError, r"2-D.*\(12, 4, 1\)"),
    ("x-features", X[:, :3], None, "mse", errors.ShapeError, r"3 features.*expects 4"),
    ("xy-samples", X, TARGETS["mse"][:7], "mse", errors.ShapeError, r"X \(12, 4\), Y \(7, 3\)"),
    ("zero-samples", X[:0], TARGETS["mse"][:0], "mse", errors.ShapeError, r"no samples"),
    ("x-nan", _nan_x, None, "mse", errors.ValueRangeError, r"X contains NaN.*\(3, 2\)"),
    ("x-inf", X * np.inf, None, "mse", errors.ValueRangeError, r"X contains NaN or inf \(48 of 48"),
    ("y-inf", X, _inf_y, "mse", errors.ValueRangeError, r"Y contains NaN or inf.*\(5, 0\)"),
    ("y-nan", X, TARGETS["mse"] * np.nan, "mse", errors.ValueRangeError, r"Y contains NaN"),
    ("x-strings", X.astype(str), None, "mse", errors.InvalidTypeError, r"numbers.*dtype <U"),
    ("x-complex", X + 1j, None, "mse", errors.InvalidTypeError, r"numbers.*complex128"),
    ("x-ragged", [[1.0, 2.0], [3.0]], None, "mse", errors.InvalidValueError, r"rectangular"),
    ("y-objects", X, np.full((N, OUT), None), "mse", errors.InvalidTypeError, r"dtype object"),
    ("mse-y-width", X, TARGETS["mse"][:, :2], "mse", errors.ShapeError, r"\(12, 2\).*\(12, 3\)"),
    ("mse-y-1d", X, TARGETS["mse"][:, 0], "mse", errors.ShapeError, r"\(12, 1\).*\(12, 3\)"),
    ("y-3d", X, TARGETS["mse"][..., None], "mse", errors.ShapeError, r"\(12, 3, 1\)"),
    ("mse-label", X, np.arange(N) % 4, "mse", errors.ValueRangeError, r"Y labels.*\[0, 3\)"),
    ("ce-label-k", X, np.arange(N) % 4, "cross_entropy", errors.ValueRangeError, r"\[0, 3\)"),
    ("ce-label-neg", X, -(np.arange(N) % 2), "cross_entropy", errors.ValueRangeError, r"-1"),
    ("ce-float-1d", X, np.arange(N) % 3.0, "cross_entropy", errors.InvalidTypeError, r"integer"),
    ("ce-onehot-width", X, np.eye(N)[:, :4], "cross_entropy", errors.ShapeError, r"\(12, 4\)"),
    ("bce-above-1", X, TARGETS["bce"] * 1.5, "bce", errors.ValueRangeError, r"\[0, 1\].*1.5"),
    ("bce-negative", X, -TARGETS["bce"], "bce", errors.ValueRangeError, r"\[0, 1\]"),
]


@pytest.mark.parametrize("case", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_is_rejected_and_state_untouched(backend, case, x64):
    _, Xb, Yb, loss_name, exc, match = case
    tr = trained(backend.name, loss_name)
    Yb = TARGETS[loss_name] if Yb is None else Yb
    rejects(tr, lambda: tr.fit(Xb, Yb, steps=1, batch_size=4), exc, match)
    rejects(tr, lambda: tr.evaluate(Xb, Yb), exc, match)
    rejects(tr, lambda: tr.gradients(Xb, Yb), exc, match)


@pytest.mark.parametrize("case", [c for c in BAD_DATA if c[2] is None], ids=lambda c: c[0])
def test_predict_rejects_bad_x(backend, case, x64):
    _, Xb, _, loss_name, exc, match = case
    tr = trained(backend.name, loss_name)
    rejects(tr, lambda: tr.predict(Xb), exc, match)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"batch_size": 0}, errors.InvalidValueError, r"batch_size must be an int >= 1, got 0"),
        ({"batch_size": -3}, errors.InvalidValueError, r"got -3"),
        ({"batch_size": 2.5}, errors.InvalidValueError, r"got 2.5"),
        ({"batch_size": True}, errors.InvalidValueError, r"got True"),
        ({"epochs": 0}, errors.InvalidValueError, r"epochs must be an int >= 1, got 0"),
        ({"steps": 0}, errors.InvalidValueError, r"steps must be an int >= 1, got 0"),
        ({"steps": 1, "epochs": 1}, errors.InvalidValueError, r"epochs or steps"),
    ],
)
def test_bad_fit_arguments(kwargs, exc, match):
    tr = trained("numpy", "mse")
    rejects(tr, lambda: tr.fit(X, TARGETS["mse"], **kwargs), exc, match)


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="needs a second backend")
@pytest.mark.parametrize("owner", [b for b in AVAILABLE if b != "numpy"])
@pytest.mark.parametrize("trainer_backend", AVAILABLE)
def test_array_of_another_backend_names_both(owner, trainer_backend, x64):
    tr = trained(trainer_backend, "mse")
    foreign = backends.get(owner).asarray(X)
    if owner == trainer_backend:  # same backend: accepted, and so is NumPy
        assert tr.predict(foreign).shape == (N, OUT)
        assert tr.predict(X).shape == (N, OUT)
        return
    match = (
        rf"X is a {owner} array.*backend '{trainer_backend}'.*"
        rf"nnkit\.backends\.convert\(X, '{trainer_backend}'\).*numpy.asarray\(X\)"
    )
    err = rejects(tr, lambda: tr.predict(foreign), errors.BackendMismatchError, match)
    assert isinstance(err, TypeError)
    foreign_y = backends.get(owner).asarray(TARGETS["mse"])
    match_y = rf"Y is a {owner} array.*convert\(Y, '{trainer_backend}'\)"
    rejects(tr, lambda: tr.fit(X, foreign_y, steps=1), errors.BackendMismatchError, match_y)
    # the suggested conversion is accepted and gives what the NumPy data gives
    converted = tr.predict(backends.convert(foreign, trainer_backend))
    np.testing.assert_array_equal(backends.to_host(converted), backends.to_host(tr.predict(X)))


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
def test_array_on_another_device_names_both():
    """A real second device: JAX on a CPU split in two (a fresh process, as XLA needs)."""
    script = textwrap.dedent(
        """
        import jax, numpy as np, nnkit
        tr = nnkit.Trainer(nnkit.Sequential([nnkit.layers.Dense(2, 1)]), nnkit.losses.MSE(),
                           nnkit.optim.SGD(0.1), backend="jax")
        before = [np.asarray(a).tobytes() for p in tr.params for a in p.values()]
        x = jax.device_put(np.ones((3, 2), np.float32), jax.devices()[1])
        try:
            tr.predict(x)
        except nnkit.errors.BackendMismatchError as e:
            print(e)
        assert before == [np.asarray(a).tobytes() for p in tr.params for a in p.values()]
        assert tr.predict(np.asarray(x)).shape == (3, 1)  # the suggested conversions work
        assert tr.predict(nnkit.backends.convert(x, "jax")).shape == (3, 1)
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(
        r"X is on device cpu:1 but this trainer runs on cpu:0 \(cpu\); move it.*"
        r"nnkit\.backends\.convert\(X, 'jax'\)",
        out,
    ), out


def test_value_checks_run_once_per_fit_not_per_step(monkeypatch):
    """The training step uses the unchecked maths: data is read for checks once per fit."""
    calls = []

    def counted(check):
        def wrapper(*args, **kwargs):
            calls.append(check.__name__)
            return check(*args, **kwargs)

        return wrapper

    for name in ("check_finite", "check_range"):
        monkeypatch.setattr(values, name, counted(getattr(values, name)))
    for strategy in ("batched", "per_sample"):
        calls.clear()
        model = nnkit.Sequential([Dense(IN, OUT)])
        tr = nnkit.Trainer(model, losses.CrossEntropy(), optim.SGD(0.1), strategy=strategy)
        tr.fit(X, TARGETS["cross_entropy"], steps=6, batch_size=2)
        assert len(calls) == 3  # finite X, finite Y, labels in range


# -- Sequential.forward / predict ----------------------------------------------------


def test_forward_checks_shapes(backend):
    model = nnkit.Sequential([Dense(IN, OUT), Tanh()])
    params = model.init(backend=backend)
    for bad, match in (
        (X[:, :2], r"2 features.*expects 4"),
        (X[0], r"2-D"),
        (X[:0], r"no samples"),
    ):
        Xb = backend.asarray(bad, dtype="float32")
        for call in (model.forward, model.predict):
            with pytest.raises(errors.ShapeError, match=match):
                call(params, Xb)
    with pytest.raises(errors.InvalidValueError, match=r"params has 1 entries.*2 layers"):
        model.forward(params[:1], backend.asarray(X, dtype="float32"))


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
def test_forward_shape_check_works_under_jit():
    import jax

    model = nnkit.Sequential([Dense(IN, OUT)])
    params = model.init(backend="jax")
    with pytest.raises(errors.ShapeError, match=r"5 features"):
        jax.jit(model.forward)(params, jax.numpy.ones((2, 5)))
    with pytest.raises(errors.ShapeError, match=r"CrossEntropy.*\(2, 4\)"):
        jax.jit(losses.CrossEntropy())(jax.numpy.ones((2, 3)), jax.numpy.ones((2, 4)))


# -- losses called directly -------------------------------------------------------------


@pytest.mark.parametrize("loss_name", sorted(losses.LOSSES))
def test_loss_never_broadcasts(backend, loss_name):
    loss = losses.LOSSES[loss_name]()
    pred = backend.asarray(np.full((4, 3), 0.5))
    for target in (np.full((4, 1), 0.5), np.full((3,), 0.5), np.full((4, 3, 1), 0.5)):
        t = backend.asarray(target)
        for call in (loss, loss.grad):
            with pytest.raises(errors.ShapeError, match=r"does not match|labels of shape"):
                call(pred, t)
    empty = backend.asarray(np.zeros((0, 3)))
    target = empty if loss_name != "cross_entropy" else backend.asarray(np.zeros(0, dtype=int))
    with pytest.raises(errors.ShapeError, match=r"\(0, 3\) has no elements"):
        loss(empty, target)


def test_loss_value_checks_when_eager(backend):
    pred = backend.asarray(np.full((4, 3), 0.5))
    ce, bce = losses.CrossEntropy(), losses.BinaryCrossEntropy()
    labels = backend.asarray(np.array([0, 1, 2, 3]))
    targets = backend.asarray(np.full((4, 3), 1.25))
    for call, t, match in ((ce, labels, r"\[0, 3\)"), (bce, targets, r"\[0, 1\].*1.25")):
        if values.readable(t):
            for fn in (call, call.grad):
                with pytest.raises(errors.ValueRangeError, match=match):
                    fn(pred, t)
        else:  # JAX: values unchecked in the loss itself (the Trainer checks them)
            assert math.isfinite(float(call(pred, t)))
    with pytest.raises(errors.InvalidTypeError, match=r"integer class labels"):
        ce(pred, backend.asarray(np.array([0.0, 1.0, 2.0, 1.0])))


# -- hyperparameters and names -------------------------------------------------------------

BAD_HYPERPARAMETERS = [
    (
        lambda: optim.SGD(0.0),
        errors.InvalidValueError,
        r"lr \(a float, or a schedule step -> lr\) must be a finite number > 0, got 0.0",
    ),
    (lambda: optim.SGD(-1), errors.InvalidValueError, r"lr .* got -1"),
    (lambda: optim.SGD(float("nan")), errors.InvalidValueError, r"got nan"),
    (lambda: optim.SGD(float("inf")), errors.InvalidValueError, r"got inf"),
    (
        lambda: optim.SGD("0.1"),
        errors.InvalidTypeError,
        r"lr .*must be a real number, got str '0.1'",
    ),
    (lambda: optim.SGD(True), errors.InvalidTypeError, r"got bool True"),
    (lambda: optim.SGD(0.1, momentum=1.0), errors.InvalidValueError, r"momentum .*\[0, 1\)"),
    (lambda: optim.SGD(0.1, momentum=-0.1), errors.InvalidValueError, r"momentum"),
    (lambda: optim.SGD(0.1, momentum="x"), errors.InvalidTypeError, r"momentum must be a real"),
    (lambda: optim.SGD(0.1, nesterov=True), errors.InvalidValueError, r"nesterov.*momentum"),
    (lambda: optim.RMSProp(rho=1.0), errors.InvalidValueError, r"rho must be in \[0, 1\)"),
    (lambda: optim.RMSProp(eps=0.0), errors.InvalidValueError, r"eps must be .*> 0, got 0.0"),
    (lambda: optim.Adam(b1=1.0), errors.InvalidValueError, r"b1 must be in \[0, 1\), got 1.0"),
    (lambda: optim.Adam(b2=-0.5), errors.InvalidValueError, r"b2 .* got -0.5"),
    (lambda: optim.Adam(eps=-1e-8), errors.InvalidValueError, r"eps"),
    (lambda: optim.AdamW(weight_decay=-1), errors.InvalidValueError, r"weight_decay.*>= 0"),
    (lambda: optim.AdamW(lr=0), errors.InvalidValueError, r"lr"),
    (lambda: schedules.inverse_time(0.0, 0.1), errors.InvalidValueError, r"lr0"),
    (lambda: schedules.inverse_time(0.1, -1), errors.InvalidValueError, r"decay.*got -1"),
    (lambda: schedules.exponential(0.1, 0.0), errors.InvalidValueError, r"rate"),
    (lambda: schedules.exponential(0.1, 0.5, 0), errors.InvalidValueError, r"every.*got 0"),
    (lambda: schedules.step(0.1, 0.5, 0), errors.InvalidValueError, r"every"),
    (lambda: schedules.step(-0.1, 0.5, 2), errors.InvalidValueError, r"lr0"),
    (lambda: schedules.cosine(0.1, 0), errors.InvalidValueError, r"total_steps"),
    (lambda: schedules.cosine(0.1, 10, final=-1), errors.InvalidValueError, r"final"),
    (lambda: optim.optimizer("adamm"), errors.InvalidValueError, r"'adamm'.*'adam', 'adamw'"),
    (lambda: layers.activation("gelu"), errors.InvalidValueError, r"'gelu'.*'relu', 'sigmoid'"),
    (lambda: Dense(3, 2, init="xavier"), errors.InvalidValueError, r"'xavier'.*'glorot_normal'"),
    (lambda: Dense(0, 2), errors.InvalidValueError, r"in_features must be an int >= 1, got 0"),
    (lambda: Dense(3, 2.0), errors.InvalidValueError, r"out_features.*got 2.0"),
    (lambda: layers.LeakyReLU(alpha=1.0), errors.InvalidValueError, r"alpha.*\[0, 1\)"),
    (lambda: nnkit.Sequential([]), errors.InvalidValueError, r"at least one layer"),
    (
        lambda: nnkit.Sequential([Dense(2, 2)]).init(dtype="float16"),
        errors.InvalidValueError,
        r"dtype 'float16'.*'float64'",
    ),
    (lambda: nnkit.Sequential([Dense(2, 2), "relu"]), errors.InvalidTypeError, r"layer 1.*str"),
]


@pytest.mark.parametrize("make, exc, match", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def _trainer(**kwargs):
    args = {
        "model": nnkit.Sequential([Dense(2, 1)]),
        "loss": losses.MSE(),
        "optimizer": optim.SGD(0.1),
    }
    args.update(kwargs)
    return nnkit.Trainer(args.pop("model"), args.pop("loss"), args.pop("optimizer"), **args)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (
            {"strategy": "minibatch"},
            errors.InvalidValueError,
            r"strategy 'minibatch'.*'per_sample'",
        ),
        ({"dtype": "float16"}, errors.InvalidValueError, r"dtype 'float16'.*'float32'"),
        ({"seed": -1}, errors.InvalidValueError, r"seed must be an int >= 0, got -1"),
        ({"seed": 0.5}, errors.InvalidValueError, r"got 0.5"),
        ({"loss": "mse"}, errors.InvalidTypeError, r"loss must be an nnkit Loss, got str"),
        (
            {"optimizer": optim.SGD},
            errors.InvalidTypeError,
            r"optimizer must be an nnkit Optimizer",
        ),
        ({"model": [Dense(2, 1)]}, errors.InvalidTypeError, r"model must be an nnkit Sequential"),
    ],
)
def test_bad_trainer_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _trainer(**kwargs)


def test_good_names_resolve():
    assert isinstance(optim.optimizer("adam", lr=0.01), optim.Adam)
    assert isinstance(layers.activation("leaky_relu", alpha=0.2), layers.LeakyReLU)


def test_errors_are_value_and_type_errors():
    assert issubclass(errors.ShapeError, ValueError)
    assert issubclass(errors.ValueRangeError, ValueError)
    assert issubclass(errors.BackendMismatchError, TypeError)


def test_numpy_input_is_checked_on_every_call():
    """NumPy arrays can change in place between calls: no check result is reused."""
    model = nnkit.Sequential([layers.Dense(3, 2)])
    tr = nnkit.Trainer(model, nnkit.losses.MSE(), nnkit.optim.SGD(0.1), backend="numpy")
    X, Y = np.ones((4, 3)), np.zeros((4, 2))
    tr.fit(X, Y, steps=1)
    X[1, 2] = np.nan
    before = snapshot(tr)
    with pytest.raises(errors.ValueRangeError, match="X contains NaN"):
        tr.fit(X, Y, steps=1)
    assert snapshot(tr) == before


@pytest.mark.skipif("jax" not in backends.available(), reason="needs jax")
def test_checks_of_the_same_immutable_arrays_are_reused(monkeypatch):
    """JAX arrays cannot change: fit on the very same arrays checks them once, and new
    arrays (or different ones) are checked again."""
    model = nnkit.Sequential([layers.Dense(3, 2)])
    tr = nnkit.Trainer(model, nnkit.losses.MSE(), nnkit.optim.SGD(0.1), backend="jax")
    be = tr.backend
    X, Y = be.asarray(np.ones((4, 3)), "float32"), be.asarray(np.zeros((4, 2)), "float32")
    calls = []
    real = values.check_finite
    monkeypatch.setattr(values, "check_finite", lambda *a: calls.append(a[1]) or real(*a))
    tr.fit(X, Y, steps=1)
    tr.fit(X, Y, steps=1)
    assert calls == ["X", "Y"]
    bad = be.asarray(np.full((4, 3), np.nan), "float32")
    with pytest.raises(errors.ValueRangeError):
        tr.fit(bad, Y, steps=1)
    tr.fit(X, np.zeros((4, 2)), steps=1)  # NumPy Y: checked, and not remembered
    tr.fit(X, np.zeros((4, 2)), steps=1)
    assert calls == ["X", "Y", "X", "X", "Y", "X", "Y"]
