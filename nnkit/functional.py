"""Numerically stable maths shared by activations and losses (any array-API namespace)."""

from __future__ import annotations

from typing import Any


def sigmoid(xp: Any, z: Any) -> Any:
    """1 / (1 + exp(-z)) without overflow: exp is only taken of -|z|."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1, e) / (1 + e)  # one division: 1/(1+e) or e/(1+e)


def log_softmax(xp: Any, z: Any) -> Any:
    """log softmax over the last axis of ``z`` (batch, K), by log-sum-exp."""
    shifted = z - xp.max(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax(xp: Any, z: Any) -> Any:
    """softmax over the last axis of ``z`` (batch, K)."""
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)
