"""Numerically stable maths shared by activations and losses (any array-API namespace), and
the small array operations that layers, losses and optimizers are written in.

Each formula is written once against an ``ops`` object. ``PURE`` (the default) evaluates
plain array-API expressions and returns new arrays: every backend, and under ``jax.jit``.
A backend with ``inplace`` (NumPy) offers ``Backend.inplace_ops()``: the same operations
writing into ``out``, an existing array or a role name (a string naming one call site, whose
buffer the ops keep and reuse across training steps), so the same formula then runs without
allocating, bitwise equal to ``PURE``. ``ops.scope(name)`` gives the ops of one layer (the
roles of different layers never share a buffer; ``PURE.scope`` is ``PURE``).
"""

from __future__ import annotations

import inspect
from typing import Any

from ._ns import namespace


class PureOps:
    """``x op y`` and friends as new arrays; ``out`` (array or role) and scratch are unused."""

    def scope(self, name: Any, keep: int | None = None) -> PureOps:
        return self

    def scratch(self, like: Any) -> tuple[None, None]:
        return None, None

    def add(self, x: Any, y: Any, out: Any = None) -> Any:
        return x + y

    def sub(self, x: Any, y: Any, out: Any = None) -> Any:
        return x - y

    def mul(self, x: Any, y: Any, out: Any = None) -> Any:
        return x * y

    def div(self, x: Any, y: Any, out: Any = None) -> Any:
        return x / y

    def gt(self, x: Any, y: Any, out: Any = None) -> Any:
        return x > y

    def matmul(self, x: Any, y: Any, out: Any = None) -> Any:
        return x @ y

    def maximum(self, x: Any, y: Any, out: Any = None) -> Any:
        return namespace(x).maximum(x, y)

    def neg(self, x: Any, out: Any = None) -> Any:
        return -x

    def abs(self, x: Any, out: Any = None) -> Any:
        return namespace(x).abs(x)

    def nonnegative(self, x: Any, out: Any = None) -> Any:
        """1 where x >= 0, else 0, in x's dtype."""
        xp = namespace(x)
        return xp.astype(x >= 0, x.dtype)

    def sqrt(self, x: Any, out: Any = None) -> Any:
        return namespace(x).sqrt(x)

    def exp(self, x: Any, out: Any = None) -> Any:
        return namespace(x).exp(x)

    def tanh(self, x: Any, out: Any = None) -> Any:
        return namespace(x).tanh(x)

    def sum(self, x: Any, axis: int | None, keepdims: bool = False, out: Any = None) -> Any:
        return namespace(x).sum(x, axis=axis, keepdims=keepdims)

    def max(self, x: Any, axis: int, keepdims: bool = False, out: Any = None) -> Any:
        return namespace(x).max(x, axis=axis, keepdims=keepdims)

    def where(self, cond: Any, x: Any, y: Any, out: Any = None) -> Any:
        """``x`` where ``cond``, else ``y``; an in-place ``out`` may be ``y``, never ``x``."""
        return namespace(cond).where(cond, x, y)


PURE = PureOps()


def takes_ops(*methods: Any) -> bool:
    """Whether every one of ``methods`` has an ``ops`` parameter (layers and losses written
    before it existed run without one: pure, new arrays)."""
    return all("ops" in inspect.signature(method).parameters for method in methods)


def sigmoid(xp: Any, z: Any, ops: Any = PURE) -> Any:
    """1 / (1 + exp(-z)) without overflow: exp is only taken of -|z|.

    One division: 1/(1+e) where z >= 0, e/(1+e) elsewhere; the numerator is max(e, 1 or 0)
    (e <= 1): the same bits as ``where(z >= 0, 1, e)``, without a masked select.
    """
    e = ops.abs(z, out="sigmoid.e")
    e = ops.exp(ops.neg(e, out=e), out=e)
    den = ops.add(e, 1, out="sigmoid.den")
    num = ops.maximum(e, ops.nonnegative(z, out="sigmoid.step"), out=e)
    return ops.div(num, den, out="sigmoid")


def log_softmax(xp: Any, z: Any) -> Any:
    """log softmax over the last axis of ``z`` (batch, K), by log-sum-exp."""
    shifted = z - xp.max(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax(xp: Any, z: Any, ops: Any = PURE) -> Any:
    """softmax over the last axis of ``z`` (batch, K)."""
    e = ops.sub(z, ops.max(z, axis=-1, keepdims=True, out="softmax.max"), out="softmax")
    e = ops.exp(e, out=e)
    return ops.div(e, ops.sum(e, axis=-1, keepdims=True, out="softmax.sum"), out=e)
