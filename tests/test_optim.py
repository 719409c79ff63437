"""Each optimizer's first three steps equal its update rule written out by hand."""

import math
import re

import numpy as np
import pytest
from helpers import host

from nnkit.optim import SGD, Adam, AdamW, RMSProp, schedules

pytestmark = pytest.mark.usefixtures("x64")  # float64 on JAX: x64 mode on (conftest)


def tree(backend, rng):
    """A nested pytree (list / dict / tuple) of float64 arrays."""
    return [
        {"W": backend.asarray(rng.normal(size=(3, 2)), "float64")},
        (backend.asarray(rng.normal(size=4), "float64"),),
    ]


def leaves(t):
    return [host(t[0]["W"]), host(t[1][0])]


def run(backend, opt, steps=3):
    """Three optimizer steps with fresh gradients each time; host copies of every stage."""
    rng = np.random.default_rng(0)
    params = tree(backend, rng)
    grads = [tree(backend, rng) for _ in range(steps)]
    state = opt.init(params)
    seen = [leaves(params)]
    for g in grads:
        params, state = opt.step(params, g, state)
        seen.append(leaves(params))
    return seen, [leaves(g) for g in grads]


def assert_matches(seen, expected):
    for got_step, exp_step in zip(seen, expected, strict=True):
        for got, exp in zip(got_step, exp_step, strict=True):
            np.testing.assert_allclose(got, exp, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("lr", [0.1, schedules.inverse_time(0.1, 0.5)], ids=["const", "decay"])
def test_sgd(backend, lr):
    seen, grads = run(backend, SGD(lr))
    p, expected = seen[0], [seen[0]]
    for t, g in enumerate(grads):
        rate = lr(t) if callable(lr) else lr
        p = [pi - rate * gi for pi, gi in zip(p, g)]
        expected.append(p)
    assert_matches(seen, expected)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(backend, nesterov):
    lr, mu = 0.1, 0.9
    seen, grads = run(backend, SGD(lr, momentum=mu, nesterov=nesterov))
    p, v, expected = seen[0], [np.zeros_like(x) for x in seen[0]], [seen[0]]
    for g in grads:
        v = [mu * vi - lr * gi for vi, gi in zip(v, g)]
        if nesterov:
            p = [pi + mu * vi - lr * gi for pi, vi, gi in zip(p, v, g)]
        else:
            p = [pi + vi for pi, vi in zip(p, v)]
        expected.append(p)
    assert_matches(seen, expected)


def test_rmsprop(backend):
    lr, rho, eps = 0.01, 0.9, 1e-8
    seen, grads = run(backend, RMSProp(lr, rho, eps))
    p, s, expected = seen[0], [np.zeros_like(x) for x in seen[0]], [seen[0]]
    for g in grads:
        s = [rho * si + (1 - rho) * gi**2 for si, gi in zip(s, g)]
        p = [pi - lr * gi / (np.sqrt(si) + eps) for pi, gi, si in zip(p, g, s)]
        expected.append(p)
    assert_matches(seen, expected)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw(backend, decoupled):
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    opt = AdamW(lr, b1, b2, eps, weight_decay=wd) if decoupled else Adam(lr, b1, b2, eps)
    seen, grads = run(backend, opt)
    p, expected = seen[0], [seen[0]]
    m, v = [np.zeros_like(x) for x in p], [np.zeros_like(x) for x in p]
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = [pi * (1 - lr * wd) for pi in p]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi**2 for vi, gi in zip(v, g)]
        m_hat = [mi / (1 - b1**t) for mi in m]
        v_hat = [vi / (1 - b2**t) for vi in v]
        p = [pi - lr * mh / (np.sqrt(vh) + eps) for pi, mh, vh in zip(p, m_hat, v_hat)]
        expected.append(p)
    assert_matches(seen, expected)


def test_optimizer_does_not_modify_its_inputs(backend):
    rng = np.random.default_rng(1)
    params, grads = tree(backend, rng), tree(backend, rng)
    before = leaves(params)
    opt = Adam(0.1)
    state = opt.init(params)
    opt.step(params, grads, state)
    for a, b in zip(leaves(params), before):
        np.testing.assert_array_equal(a, b)
    assert state.count == 0


@pytest.mark.parametrize(
    "schedule,expected",
    [
        (schedules.inverse_time(0.5, 0.1), lambda t: 0.5 / (1 + 0.1 * t)),
        (schedules.exponential(0.5, 0.5, every=10), lambda t: 0.5 * 0.5 ** (t / 10)),
        (schedules.step(0.5, 0.1, every=3), lambda t: 0.5 * 0.1 ** (t // 3)),
        (
            schedules.cosine(0.5, total_steps=8, final=0.1),
            lambda t: 0.1 + 0.4 * (1 + math.cos(math.pi * min(t, 8) / 8)) / 2,
        ),
    ],
    ids=["inverse_time", "exponential", "step", "cosine"],
)
def test_schedules(schedule, expected, backend):
    for t in range(12):
        assert schedule(t) == pytest.approx(expected(t), rel=1e-15)
        on_device = schedule(backend.asarray(t, dtype="float64"))
        assert float(host(on_device)) == pytest.approx(expected(t), rel=1e-12)
    assert schedule(0) == pytest.approx(schedule.lr0)


LR = "lr (a float, or a schedule step -> lr) must be"


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: SGD(0.0), ValueError, f"{LR} a finite number > 0, got 0.0"),
        (lambda: SGD(-1), ValueError, f"{LR} a finite number > 0, got -1"),
        (lambda: SGD(float("nan")), ValueError, f"{LR} a finite number > 0, got nan"),
        (lambda: SGD("0.1"), TypeError, f"{LR} a real number, got str '0.1'"),
        (lambda: SGD(0.1, momentum=1.0), ValueError, "momentum must be in [0, 1), got 1.0"),
        (lambda: SGD(0.1, momentum=True), TypeError, "momentum must be a real number, got bool"),
        (lambda: SGD(0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
        (lambda: Adam(b1=1.0), ValueError, "b1 must be in [0, 1), got 1.0"),
        (lambda: Adam(b2=-0.5), ValueError, "b2 must be in [0, 1), got -0.5"),
        (lambda: Adam(b1="0.9"), TypeError, "b1 must be a real number, got str '0.9'"),
        (lambda: Adam(eps=0), ValueError, "eps must be a finite number > 0, got 0"),
        (lambda: RMSProp(rho=-0.1), ValueError, "rho must be in [0, 1), got -0.1"),
        (lambda: RMSProp(eps=float("inf")), ValueError, "eps must be a finite number > 0, got inf"),
        (lambda: AdamW(weight_decay=-1), ValueError, "weight_decay must be a finite number >= 0"),
        (lambda: schedules.inverse_time(0, 0.1), ValueError, "lr0 must be a finite number > 0"),
        (lambda: schedules.inverse_time(0.1, -1), ValueError, "decay must be a finite number >= 0"),
        (lambda: schedules.exponential(0.5, -1, 2), ValueError, "rate must be a finite number > 0"),
        (lambda: schedules.step(0.5, 0.1, every=0), ValueError, "every must be an int >= 1"),
        (lambda: schedules.cosine(0.5, 0), ValueError, "total_steps must be an int >= 1, got 0"),
        (lambda: schedules.cosine(0.5, 8, final=-0.1), ValueError, "final must be a finite number"),
    ],
)
def test_invalid_hyperparameters_are_rejected(make, error, message):
    """Each bad value is refused by the check of its own argument: the message starts with
    the argument's name and says what it must be (and the value given)."""
    with pytest.raises(error, match="^" + re.escape(message)):
        make()
