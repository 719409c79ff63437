"""per_sample and batched give the same gradients and the same parameters (float64)."""

import numpy as np
import pytest
from helpers import host

import nnkit
from nnkit.layers import Dense, ReLU, Sigmoid, Softmax, Tanh
from nnkit.losses import MSE, BinaryCrossEntropy, CrossEntropy
from nnkit.optim import SGD, Adam

pytestmark = pytest.mark.usefixtures("x64")  # float64 on JAX: x64 mode on (conftest)


def mlp(last):
    return nnkit.Sequential([Dense(6, 8), Tanh(), Dense(8, 5), ReLU(), Dense(5, 3), last])


CASES = [
    (lambda: mlp(Sigmoid()), MSE, lambda: SGD(0.5)),
    (lambda: mlp(Softmax()), MSE, lambda: SGD(0.1, momentum=0.9, nesterov=True)),
    (lambda: mlp(Sigmoid()), BinaryCrossEntropy, lambda: Adam(1e-2)),
    (lambda: mlp(ReLU()), lambda: CrossEntropy(from_logits=True), lambda: Adam(1e-2)),
]


def data(n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def assert_trees_close(a, b, rtol):
    for la, lb in zip(a, b, strict=True):
        assert la.keys() == lb.keys()
        for k in la:
            np.testing.assert_allclose(host(la[k]), host(lb[k]), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("make_model,make_loss,make_opt", CASES)
def test_same_gradients_for_one_minibatch(backend, make_model, make_loss, make_opt):
    X, y = data()
    kw = {"backend": backend, "dtype": "float64", "seed": 3}
    per = nnkit.Trainer(make_model(), make_loss(), make_opt(), strategy="per_sample", **kw)
    bat = nnkit.Trainer(make_model(), make_loss(), make_opt(), strategy="batched", **kw)
    g_per, loss_per = per.gradients(X, y)
    g_bat, loss_bat = bat.gradients(X, y)
    assert float(host(loss_per)) == pytest.approx(float(host(loss_bat)), rel=1e-12)
    assert_trees_close(g_per, g_bat, rtol=1e-10)
    assert any(np.abs(host(g["W"])).max() > 0 for g in g_bat if "W" in g)


@pytest.mark.parametrize("make_model,make_loss,make_opt", CASES)
def test_same_parameters_after_several_steps(backend, make_model, make_loss, make_opt):
    X, y = data(40)
    kw = {"backend": backend, "dtype": "float64", "seed": 4}
    per = nnkit.Trainer(make_model(), make_loss(), make_opt(), strategy="per_sample", **kw)
    bat = nnkit.Trainer(make_model(), make_loss(), make_opt(), strategy="batched", **kw)
    start = [{k: host(v).copy() for k, v in p.items()} for p in bat.params]
    h_per = per.fit(X, y, steps=6, batch_size=8)
    h_bat = bat.fit(X, y, steps=6, batch_size=8)
    assert per.steps_done == bat.steps_done == 6
    assert h_per["loss"] == pytest.approx(h_bat["loss"], rel=1e-10)
    assert_trees_close(per.params, bat.params, rtol=1e-10)
    moved = [np.abs(host(p["W"]) - s["W"]).max() for p, s in zip(bat.params, start) if "W" in p]
    assert max(moved) > 1e-3  # training did change the parameters
