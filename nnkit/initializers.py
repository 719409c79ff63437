"""Weight initializers, drawn on the host with NumPy's generator in float64.

Drawing on the host makes the same seed give the same weights on every backend
and dtype; the model casts and moves them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """U(-0.5, 0.5), as in the lecture code.

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    return rng.uniform(-0.5, 0.5, size=(fan_in, fan_out))


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot (Xavier) uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot (Xavier) normal: N(0, 2 / (fan_in + fan_out)), not truncated.

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He (Kaiming) uniform: U(-a, a) with a = sqrt(6 / fan_in).

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He (Kaiming) normal: N(0, 2 / fan_in), not truncated.

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def zeros(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """All zeros (``rng`` unused).

    Parameters
    ----------
    rng : numpy.random.Generator
        Where the draws come from.
    fan_in, fan_out : int
        The layer's input and output widths.

    Returns
    -------
    numpy.ndarray of shape (fan_in, fan_out)
        float64 weights.
    """
    return np.zeros((fan_in, fan_out))


INITIALIZERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "uniform": uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "zeros": zeros,
}
"""The initializers by the names ``Dense(init=...)`` takes."""


def bias_zeros(n: int) -> np.ndarray:
    """The initial bias.

    Parameters
    ----------
    n : int
        The layer's output width.

    Returns
    -------
    numpy.ndarray of shape (n,)
        float64 zeros.
    """
    return np.zeros(n)
