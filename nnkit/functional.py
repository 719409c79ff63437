"""Numerically stable maths shared by activations and losses, on arrays of any backend.

Each function takes its array namespace from its argument (``namespace(z)``), so the same
formula runs on NumPy, CuPy, JAX and torch, and under each backend's ``jit``.
"""

from __future__ import annotations

from typing import Any

from ._ns import namespace


def sigmoid(z: Any) -> Any:
    """1 / (1 + exp(-z)) without overflow.

    ``exp`` is only taken of ``-|z|``: sigmoid(z) = 1 / (1 + e) where z >= 0 and e / (1 + e)
    elsewhere, with e = exp(-|z|).

    Parameters
    ----------
    z : array
        Any shape, a float dtype, any backend.

    Returns
    -------
    array
        ``z``'s shape and dtype, values in [0, 1].
    """
    xp = namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1, e) / (1 + e)


def softmax(z: Any) -> Any:
    """Softmax over the last axis: exp(z - max z) / sum(exp(z - max z)).

    Parameters
    ----------
    z : array of shape (..., K)
        Logits, a float dtype, any backend.

    Returns
    -------
    array of shape (..., K)
        Probabilities: each row non-negative, summing to 1.
    """
    xp = namespace(z)
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def log_softmax(z: Any) -> Any:
    """log softmax over the last axis, by log-sum-exp: finite for any finite logits.

    Parameters
    ----------
    z : array of shape (..., K)
        Logits, a float dtype, any backend.

    Returns
    -------
    array of shape (..., K)
        ``z - max z - log(sum(exp(z - max z)))`` along the last axis.
    """
    xp = namespace(z)
    shifted = z - xp.max(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
