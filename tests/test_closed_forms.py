"""Loss gradients equal their closed forms, and the losses equal their definitions."""

import numpy as np
import pytest
from helpers import host

from nnkit import losses

pytestmark = pytest.mark.usefixtures("x64")  # float64 on JAX: x64 mode on (conftest)


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot_over_n(backend):
    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(8, 5)) * 4, rng.integers(0, 5, size=8)
    onehot = np.eye(5)[labels]
    loss = losses.CrossEntropy()
    got = host(loss.grad(backend.asarray(z), backend.asarray(onehot)))
    np.testing.assert_allclose(got, (np_softmax(z) - onehot) / 8, rtol=1e-12, atol=1e-15)
    value = float(host(loss(backend.asarray(z), backend.asarray(labels))))
    expected = -np.mean(np.log(np_softmax(z))[np.arange(8), labels])
    assert value == pytest.approx(expected, rel=1e-12)


def test_sigmoid_bce_from_logits_gradient_is_sigmoid_minus_target_over_size(backend):
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(6, 3)) * 4, rng.uniform(size=(6, 3))
    loss = losses.BinaryCrossEntropy(from_logits=True)
    got = host(loss.grad(backend.asarray(z), backend.asarray(t)))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(got, (s - t) / z.size, rtol=1e-12, atol=1e-15)
    value = float(host(loss(backend.asarray(z), backend.asarray(t))))
    assert value == pytest.approx(-np.mean(t * np.log(s) + (1 - t) * np.log(1 - s)), rel=1e-12)


def test_mse_value_and_gradient(backend):
    rng = np.random.default_rng(2)
    p, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    loss = losses.MSE()
    assert float(host(loss(backend.asarray(p), backend.asarray(t)))) == pytest.approx(
        np.mean((p - t) ** 2), rel=1e-14
    )
    got = host(loss.grad(backend.asarray(p), backend.asarray(t)))
    np.testing.assert_allclose(got, 2 * (p - t) / p.size, rtol=1e-14)
