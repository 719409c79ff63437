"""Each initializer's draws against its formula, on a fan_in x fan_out = 400 x 300 matrix:
the bound (uniform), the mean, the standard deviation and, for the normals, the share of
draws beyond two standard deviations (no truncation), each within five standard errors of
the 120,000 draws; directly and through ``Sequential.init``."""

import math

import numpy as np
import pytest
from helpers import host

import nnkit
from nnkit.initializers import INITIALIZERS
from nnkit.layers import Dense

FAN_IN, FAN_OUT = 400, 300
N = FAN_IN * FAN_OUT
SEEDS = (0, 1, 2)
Z = 5  # standard errors allowed

# name -> (distribution, scale): a uniform's scale is its bound a, U(-a, a); a normal's its std
FORMULAS = {
    "uniform": ("uniform", 0.5),
    "glorot_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "he_uniform": ("uniform", math.sqrt(6 / FAN_IN)),
    "he_normal": ("normal", math.sqrt(2 / FAN_IN)),
    "zeros": ("zeros", 0.0),
}
# P(|x| > 2 sigma) for a normal that is not truncated
NORMAL_TAIL = math.erfc(2 / math.sqrt(2))


def check_draws(w, name):
    """``w`` (FAN_IN, FAN_OUT) drawn as initializer ``name``'s formula says."""
    kind, scale = FORMULAS[name]
    assert w.shape == (FAN_IN, FAN_OUT)
    if kind == "zeros":
        assert not np.any(w)
        return
    if kind == "uniform":
        std, kurtosis = scale / math.sqrt(3), 9 / 5
        assert np.all(np.abs(w) <= w.dtype.type(scale))  # the bound rounded as w is
        # no draw within `gap` of a bound has probability (1 - gap / (2 a))**N = e**-20
        gap = 2 * scale * 20 / N
        assert w.max() > scale - gap and w.min() < -scale + gap
    else:
        std, kurtosis = scale, 3.0
        tail = np.mean(np.abs(w) > 2 * scale)
        assert abs(tail - NORMAL_TAIL) < Z * math.sqrt(NORMAL_TAIL * (1 - NORMAL_TAIL) / N)
    w = w.astype(np.float64)
    assert abs(w.mean()) < Z * std / math.sqrt(N)
    # the standard error of a sample std: std * sqrt((kurtosis - 1) / (4 N))
    assert abs(w.std() - std) < Z * std * math.sqrt((kurtosis - 1) / (4 * N))


def test_every_initializer_has_a_formula_here():
    assert set(FORMULAS) == set(INITIALIZERS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_draws_follow_its_formula(name, seed):
    check_draws(INITIALIZERS[name](np.random.default_rng(seed), FAN_IN, FAN_OUT), name)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_dense_init_draws_follow_the_formula(name, seed):
    (params,) = nnkit.Sequential([Dense(FAN_IN, FAN_OUT, init=name)]).init(seed=seed)
    check_draws(host(params["W"]), name)
    b = host(params["b"])
    assert b.shape == (FAN_OUT,) and not np.any(b)
