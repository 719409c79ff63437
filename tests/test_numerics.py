"""Numerical safety: huge logits (±1e4, ±1e9) give finite, correct losses and gradients in
Sigmoid, Softmax, BinaryCrossEntropy (logits and probabilities) and CrossEntropy, in float32
and float64, on every available backend. On NumPy-based backends overflow and invalid
operations are turned into errors, so a naive formula fails even where it happens to round
to a finite value."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import x64_param

import nnkit
from nnkit import layers, losses, optim

MAGNITUDES = (1e4, 1e9)
DTYPES = ("float32", "float64")


@pytest.fixture(autouse=True)
def no_overflow():
    """Overflow, division by zero and invalid operations raise (NumPy and array-api-strict)."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture(
    params=[x64_param((m, d)) for m in MAGNITUDES for d in DTYPES], ids=lambda p: f"{p[0]:g}-{p[1]}"
)
def case(request, backend):
    m, dtype = request.param
    return backend, m, dtype


def host(backend, x):
    out = backend.to_numpy(x)
    assert np.isfinite(out).all(), out
    return out.astype(np.float64)


def test_sigmoid(case):
    backend, m, dtype = case
    z = backend.asarray([[-m, m, 0.0]], dtype=dtype)
    s, cache = layers.Sigmoid().forward({}, z)
    np.testing.assert_array_equal(host(backend, s), [[0.0, 1.0, 0.5]])
    dz, _ = layers.Sigmoid().backward({}, cache, backend.asarray([[1.0, 1.0, 1.0]], dtype=dtype))
    np.testing.assert_array_equal(host(backend, dz), [[0.0, 0.0, 0.25]])


def test_softmax(case):
    backend, m, dtype = case
    z = backend.asarray([[m, -m, 0.0], [-m, -m, m]], dtype=dtype)
    s, cache = layers.Softmax().forward({}, z)
    np.testing.assert_array_equal(host(backend, s), [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    dY = backend.asarray([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], dtype=dtype)
    dz, _ = layers.Softmax().backward({}, cache, dY)
    np.testing.assert_array_equal(host(backend, dz), np.zeros((2, 3)))


def test_bce_from_logits(case):
    backend, m, dtype = case
    bce = losses.BinaryCrossEntropy(from_logits=True)
    z = backend.asarray([[m, -m], [-m, m]], dtype=dtype)
    t = backend.asarray([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)
    # per element: 0, 0, m, m (log-sigmoid form), so the mean is m / 2
    np.testing.assert_allclose(host(backend, bce(z, t)), m / 2, rtol=1e-6)
    np.testing.assert_allclose(host(backend, bce.grad(z, t)), [[0, 0], [-0.25, 0.25]], rtol=1e-6)


def test_bce_probabilities_clip(case):
    """A saturated sigmoid gives p exactly 0 or 1; the clip keeps loss <= -log(eps) per element."""
    backend, m, dtype = case
    bce = losses.BinaryCrossEntropy()
    p, cache = layers.Sigmoid().forward({}, backend.asarray([[m, -m], [-m, m]], dtype=dtype))
    t = backend.asarray([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)
    worst = -np.log(np.finfo(dtype).eps)  # 36.04 in float64, 15.94 in float32
    np.testing.assert_allclose(host(backend, bce(p, t)), worst / 2, rtol=1e-5)
    dp = bce.grad(p, t)
    dz, _ = layers.Sigmoid().backward({}, cache, dp)
    assert np.abs(host(backend, dp)).max() > 1  # steep but finite
    np.testing.assert_array_equal(host(backend, dz), np.zeros((2, 2)))  # saturated sigmoid


def test_cross_entropy_from_logits(case):
    backend, m, dtype = case
    ce = losses.CrossEntropy()
    z = backend.asarray([[m, -m, 0.0], [0.0, m, -m]], dtype=dtype)
    labels = backend.asarray(np.array([1, 1]))
    # row 0: log softmax(z)_1 = -m - m = -2m; row 1: 0; mean over the batch = m
    np.testing.assert_allclose(host(backend, ce(z, labels)), m, rtol=1e-6)
    g = [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(host(backend, ce.grad(z, labels)), g, rtol=1e-6, atol=1e-30)


def test_cross_entropy_probabilities_after_softmax(case):
    backend, m, dtype = case
    ce = losses.CrossEntropy(from_logits=False)
    p, cache = layers.Softmax().forward({}, backend.asarray([[m, -m, 0.0]], dtype=dtype))
    labels = backend.asarray(np.array([1]))
    np.testing.assert_allclose(host(backend, ce(p, labels)), -np.log(np.finfo(dtype).eps))
    dz, _ = layers.Softmax().backward({}, cache, ce.grad(p, labels))
    np.testing.assert_array_equal(host(backend, dz), np.zeros((1, 3)))


@pytest.mark.parametrize(
    "loss", [losses.CrossEntropy(), losses.BinaryCrossEntropy(from_logits=True)]
)
def test_trainer_gradients_finite_at_huge_logits(case, loss):
    """End to end: a Dense layer producing logits of ±m, gradients and loss stay finite."""
    backend, m, dtype = case
    model = nnkit.Sequential([layers.Dense(2, 2, init="zeros")])
    tr = nnkit.Trainer(model, loss, optim.SGD(0.1), backend=backend, dtype=dtype)
    W = backend.asarray([[m, -m], [-m, m]], dtype=dtype)
    tr.restore(tr.state.replace(params=[{"W": W, "b": tr.params[0]["b"]}]))
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    ce = isinstance(loss, losses.CrossEntropy)
    y = np.array([1, 0]) if ce else np.eye(2)[::-1]  # both rows maximally wrong
    grads, value = tr.gradients(X, y)
    # CE: -log softmax = 2m per row, dz = ±1 / 2; BCE: m per element, dz = ±1 / 4
    np.testing.assert_allclose(host(backend, value), 2 * m if ce else m, rtol=1e-6)
    w = np.array([[1.0, -1.0], [-1.0, 1.0]]) / (2 if ce else 4)
    np.testing.assert_allclose(host(backend, grads[0]["W"]), w, rtol=1e-6)
    np.testing.assert_array_equal(host(backend, grads[0]["b"]), [0.0, 0.0])
