"""Property-based tests (hypothesis) over random architectures (1-3 Dense layers with
activations), batch sizes, dtypes, losses and the available backends:

- the hand-written backward pass matches central finite differences (float64);
- the per-sample and batched strategies give the same gradients;
- validation never lets a bad shape through: a call either gets shapes that are valid and
  succeeds, or raises one of nnkit's own errors — never a silent broadcast or a foreign error.

Example counts come from the hypothesis profile chosen in conftest.py ("ci": 50, "dev": 100).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from helpers import jax_x64
from hypothesis import given
from hypothesis import strategies as st

import nnkit
from nnkit import backends, errors, layers, losses, optim
from nnkit.tree import tree_leaves, tree_map

BACKENDS = backends.available()
SMOOTH = ["sigmoid", "tanh", "softmax", "identity", None]  # no kinks: finite differences hold
INITS = ["uniform", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
LOSSES = {
    "mse": losses.MSE,
    "bce": lambda: losses.BinaryCrossEntropy(from_logits=True),
    "ce": losses.CrossEntropy,
}


@st.composite
def networks(draw, activations=SMOOTH):
    """(model, in_features, out_features): 1-3 Dense layers, each maybe with an activation."""
    depth = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1))
    stack = []
    for fan_in, fan_out in pairwise(widths):
        stack.append(layers.Dense(fan_in, fan_out, init=draw(st.sampled_from(INITS))))
        act = draw(st.sampled_from(activations))
        if act is not None:
            stack.append(layers.activation(act))
    return nnkit.Sequential(stack), widths[0], widths[-1]


def problem(seed: int, n: int, f: int, k: int, loss_name: str):
    """Host data (X, target) for a batch of n rows, f features and k outputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    if loss_name == "ce":
        return X, rng.integers(0, k, size=n)
    if loss_name == "bce":
        return X, rng.uniform(size=(n, k))
    return X, rng.normal(size=(n, k))


def host(be, tree):
    return [be.to_numpy(a).astype(np.float64) for a in tree_leaves(tree)]


@pytest.mark.slow
@pytest.mark.usefixtures("x64")  # float64 (conftest); not an argument: hypothesis refuses those
@given(
    net=networks(),
    n=st.integers(1, 6),
    loss_name=st.sampled_from(sorted(LOSSES)),
    backend_name=st.sampled_from(BACKENDS),
    seed=st.integers(0, 2**16),
)
def test_gradients_match_finite_differences(net, n, loss_name, backend_name, seed):
    model, f, k = net
    be, loss = backends.get(backend_name), LOSSES[loss_name]()
    params = model.init(seed=seed, backend=be, dtype="float64")
    Xh, Th = problem(seed, n, f, k, loss_name)
    X, T = (
        be.asarray(Xh, dtype="float64"),
        be.asarray(Th, dtype=None if loss_name == "ce" else "float64"),
    )
    Y, cache = model.forward(params, X)
    _, grads = model.backward(params, cache, loss.grad(Y, T))
    rng = np.random.default_rng(seed + 1)
    h = 1e-5
    for _ in range(2):  # two random directions v: <grad, v> against (L(p + hv) - L(p - hv)) / 2h
        v = tree_map(lambda p: be.asarray(rng.normal(size=p.shape), dtype="float64"), params)
        shifted = [tree_map(lambda p, d, s=s: p + (s * h) * d, params, v) for s in (1.0, -1.0)]
        up, down = (float(be.to_numpy(loss(model.predict(p, X), T))) for p in shifted)
        numeric = (up - down) / (2 * h)
        analytic = sum(
            float(np.sum(g * d)) for g, d in zip(host(be, grads), host(be, v), strict=True)
        )
        assert abs(numeric - analytic) <= 1e-6 * abs(analytic) + 1e-7, (numeric, analytic)


@pytest.mark.slow
@given(
    net=networks(activations=[*SMOOTH, "relu", "leaky_relu"]),
    n=st.integers(1, 8),
    loss_name=st.sampled_from(sorted(LOSSES)),
    backend_name=st.sampled_from(BACKENDS),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 2**16),
)
def test_per_sample_equals_batched(net, n, loss_name, backend_name, dtype, seed):
    model, f, k = net
    X, T = problem(seed, n, f, k, loss_name)
    results = []
    with jax_x64(dtype == "float64"):  # float32 as users run JAX, float64 in x64 mode
        for strategy in ("batched", "per_sample"):
            tr = nnkit.Trainer(
                model,
                LOSSES[loss_name](),
                optim.SGD(0.1),
                backend=backend_name,
                strategy=strategy,
                seed=seed,
                dtype=dtype,
            )
            grads, value = tr.gradients(X, T)
            results.append(host(tr.backend, [value, grads]))
    rtol = {"float32": 1e-5, "float64": 1e-12}[dtype]  # summation order differs, nothing else
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, np.abs(b).max()))


shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


@given(
    x_shape=shapes,
    y_shape=shapes,
    k=st.integers(1, 3),
    loss_name=st.sampled_from(["mse", "ce"]),
    backend_name=st.sampled_from(BACKENDS),
)
def test_validation_never_lets_a_bad_shape_through(x_shape, y_shape, k, loss_name, backend_name):
    f = 3
    model = nnkit.Sequential([layers.Dense(f, k), layers.Tanh()])
    tr = nnkit.Trainer(model, LOSSES[loss_name](), optim.SGD(0.1), backend=backend_name)
    X = np.ones(x_shape)
    Y = np.zeros(y_shape, dtype=int) if loss_name == "ce" else np.zeros(y_shape)
    x_ok = len(x_shape) == 2 and x_shape[0] >= 1 and x_shape[1] == f
    n = x_shape[0] if x_shape else None
    if loss_name == "ce":
        y_ok = y_shape in ((n,), (n, k))  # labels, or one-hot / probability rows
    else:
        y_ok = y_shape == (n, k) or (k == 1 and y_shape == (n,))
    for call, ok in ((lambda: tr.predict(X), x_ok), (lambda: tr.evaluate(X, Y), x_ok and y_ok)):
        try:
            out = call()
        except (errors.InvalidValueError, errors.InvalidTypeError):
            assert not ok, "a valid input was refused"
        else:
            assert ok, f"bad shapes got through: X {x_shape}, Y {y_shape}"
            assert out is not None


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@given(
    n=st.integers(0, 3),
    k=st.integers(1, 3),
    target_shape=st.one_of(
        st.sampled_from(["same", "labels", "rows+1", "cols+1", "labels+1"]), shapes
    ),
    backend_name=st.sampled_from(BACKENDS),
)
def test_losses_never_broadcast(n, k, target_shape, loss_name, backend_name):
    be, loss = backends.get(backend_name), LOSSES[loss_name]()
    pred = be.asarray(np.zeros((n, k)))
    near = {"same": (n, k), "labels": (n,), "rows+1": (n + 1, k), "cols+1": (n, k + 1)}
    shape = {**near, "labels+1": (n + 1,)}.get(target_shape, target_shape)
    labels = loss_name == "ce" and len(shape) == 1
    target = be.asarray(np.zeros(shape, dtype=int if labels else float))
    fits = shape == (n, k) or (labels and shape == (n,))
    for call in (loss, loss.grad):
        try:
            call(pred, target)
        except errors.ShapeError:
            assert not (fits and n >= 1), "a valid loss input was refused"
        else:
            assert fits and n >= 1, f"{loss_name} took target {shape} for prediction {(n, k)}"
