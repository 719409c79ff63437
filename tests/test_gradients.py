"""Every layer's and loss's backward against central finite differences (float64)."""

import numpy as np
import pytest
from helpers import host, numeric_grad, rel_error

from nnkit import layers, losses

pytestmark = pytest.mark.usefixtures("x64")  # float64 on JAX: x64 mode on (conftest)

TOL = 1e-6
SHAPES = [(1, 1), (3, 4), (5, 7)]
ACTIVATIONS = [
    layers.Sigmoid,
    layers.Tanh,
    layers.ReLU,
    lambda: layers.LeakyReLU(0.1),
    layers.Softmax,
    layers.Identity,
]


def away_from_kinks(rng, shape):
    """Inputs with |z| >= 0.1 so ReLU-type kinks are never inside the difference step."""
    z = rng.uniform(0.1, 2.0, size=shape)
    return z * rng.choice([-1.0, 1.0], size=shape)


def check_layer(backend, layer, p_host, X_host, rng):
    """Compare dX and every parameter gradient of sum(Y * R) with finite differences."""
    p = {k: backend.asarray(v, dtype="float64") for k, v in p_host.items()}
    X = backend.asarray(X_host, dtype="float64")
    Y, cache = layer.forward(p, X)
    R = rng.normal(size=tuple(Y.shape))
    dX, grads = layer.backward(p, cache, backend.asarray(R, dtype="float64"))
    assert set(grads) == set(p)

    def objective(X_h, p_h):
        Pb = {k: backend.asarray(v, dtype="float64") for k, v in p_h.items()}
        return float(np.sum(host(layer.forward(Pb, backend.asarray(X_h))[0]) * R))

    assert host(dX).shape == X_host.shape
    assert rel_error(host(dX), numeric_grad(lambda x: objective(x, p_host), X_host)) < TOL
    for k in p_host:

        def f(v, k=k):
            return objective(X_host, {**p_host, k: v})

        assert host(grads[k]).shape == p_host[k].shape
        assert rel_error(host(grads[k]), numeric_grad(f, p_host[k])) < TOL


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_backward_matches_finite_differences(backend, make, shape):
    rng = np.random.default_rng(0)
    check_layer(backend, make(), {}, away_from_kinks(rng, shape), rng)


@pytest.mark.parametrize("batch,n_in,n_out", [(1, 1, 1), (3, 4, 5), (5, 7, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_backward_matches_finite_differences(backend, batch, n_in, n_out, bias):
    rng = np.random.default_rng(1)
    layer = layers.Dense(n_in, n_out, bias=bias)
    p = layer.init(rng)
    if bias:
        p["b"] = rng.normal(size=n_out)
    check_layer(backend, layer, p, rng.normal(size=(batch, n_in)), rng)


def targets_for(loss, rng, shape):
    if isinstance(loss, losses.CrossEntropy):
        return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
    if isinstance(loss, losses.BinaryCrossEntropy):
        return rng.uniform(0, 1, size=shape)
    return rng.normal(size=shape)


def preds_for(loss, rng, shape):
    if isinstance(loss, (losses.BinaryCrossEntropy, losses.CrossEntropy)) and not loss.from_logits:
        return rng.uniform(0.05, 0.95, size=shape)  # probabilities, inside the clip
    return rng.normal(size=shape) * 3


LOSSES = [
    losses.MSE(),
    losses.BinaryCrossEntropy(from_logits=True),
    losses.BinaryCrossEntropy(from_logits=False),
    losses.CrossEntropy(from_logits=True),
    losses.CrossEntropy(from_logits=False),
]


@pytest.mark.parametrize("shape", [(1, 2), (3, 4), (6, 10)])
@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_loss_grad_matches_finite_differences(backend, loss, shape):
    rng = np.random.default_rng(2)
    pred, target = preds_for(loss, rng, shape), targets_for(loss, rng, shape)
    t = backend.asarray(target, dtype="float64")
    analytic = host(loss.grad(backend.asarray(pred, dtype="float64"), t))

    def f(p):
        return float(host(loss(backend.asarray(p, dtype="float64"), t)))

    assert analytic.shape == shape
    assert rel_error(analytic, numeric_grad(f, pred)) < TOL


@pytest.mark.parametrize("loss", [losses.CrossEntropy(), losses.CrossEntropy(from_logits=False)])
def test_cross_entropy_integer_labels_equal_one_hot(backend, loss):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=7)
    pred = backend.asarray(preds_for(loss, rng, (7, 5)), dtype="float64")
    one_hot = backend.asarray(np.eye(5)[labels], dtype="float64")
    lab = backend.asarray(labels)
    assert float(host(loss(pred, lab))) == pytest.approx(
        float(host(loss(pred, one_hot))), rel=1e-14
    )
    np.testing.assert_allclose(
        host(loss.grad(pred, lab)), host(loss.grad(pred, one_hot)), rtol=1e-14
    )


@pytest.mark.parametrize(("first", "width"), [(lambda: layers.Dense(3, 5), 5), (layers.Tanh, 3)])
def test_backward_without_input_grad_gives_the_same_param_grads(backend, first, width):
    """``input_grad=False`` (the Trainer's step) returns dX None and bitwise the same grads."""
    from nnkit import Sequential
    from nnkit.tree import tree_leaves

    model = Sequential([first(), layers.Dense(width, 2)])
    rng = np.random.default_rng(4)
    params = model.init(seed=1, backend=backend, dtype="float64")
    X = backend.asarray(rng.normal(size=(4, 3)), dtype="float64")
    Y, cache = model.forward(params, X)
    dY = backend.asarray(rng.normal(size=tuple(Y.shape)), dtype="float64")
    dX, grads = model.backward(params, cache, dY)
    none, fast = model.backward(params, cache, dY, input_grad=False)
    assert dX.shape == X.shape and none is None
    for a, b in zip(tree_leaves(grads), tree_leaves(fast), strict=True):
        assert host(a).tobytes() == host(b).tobytes()
