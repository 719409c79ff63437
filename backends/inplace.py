"""In-place optimizer updates for eager array libraries with ufunc ``out=`` (NumPy; CuPy too).

Each method updates lists of leaves (parameters and optimizer state, in the order of
``nnkit.tree.tree_leaves``) in place, with the same element-wise operations in the same
order as the functional ``step`` of ``nnkit.optim``, so the results are bitwise equal; the
gradients are only read. Temporaries come from two scratch buffers per shape and dtype,
kept across steps, so a step allocates nothing once warm. Scalars are Python numbers.

A backend can replace this with fused kernels over one flat buffer (one launch per step):
the methods see the whole lists of leaves at once for that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Leaves = Sequence[Any]


class InplaceUpdates:
    """Optimizer updates that overwrite params and state; ``xp`` is the library's own
    module (``numpy``, ``cupy``), whose ufuncs take ``out=``."""

    def __init__(self, xp: Any):
        self.xp = xp
        self._scratch: dict[tuple, tuple[Any, Any]] = {}

    def _buffers(self, like: Any) -> tuple[Any, Any]:
        """Two scratch arrays with the shape and dtype of ``like``."""
        key = (like.shape, like.dtype)
        if key not in self._scratch:
            self._scratch[key] = (self.xp.empty_like(like), self.xp.empty_like(like))
        return self._scratch[key]

    def sgd(self, params: Leaves, grads: Leaves, lr: float) -> None:
        """p <- p - lr g."""
        for p, g in zip(params, grads, strict=True):
            a, _ = self._buffers(p)
            self.xp.multiply(g, lr, out=a)
            p -= a

    def momentum(
        self,
        params: Leaves,
        velocity: Leaves,
        grads: Leaves,
        lr: float,
        mu: float,
        nesterov: bool,
    ) -> None:
        """v <- mu v - lr g;  p <- p + v  (Nesterov: p <- p + mu v - lr g, with the new v)."""
        for p, v, g in zip(params, velocity, grads, strict=True):
            a, b = self._buffers(p)
            v *= mu
            self.xp.multiply(g, lr, out=a)
            v -= a
            if nesterov:
                self.xp.multiply(v, mu, out=b)
                p += b
                p -= a
            else:
                p += v

    def rmsprop(
        self, params: Leaves, square_avg: Leaves, grads: Leaves, lr: float, rho: float, eps: float
    ) -> None:
        """s <- rho s + (1 - rho) g g;  p <- p - lr g / (sqrt(s) + eps)."""
        for p, s, g in zip(params, square_avg, grads, strict=True):
            a, b = self._buffers(p)
            s *= rho
            self.xp.multiply(g, 1 - rho, out=a)
            a *= g
            s += a
            self.xp.sqrt(s, out=b)
            b += eps
            self.xp.multiply(g, lr, out=a)
            a /= b
            p -= a

    def adam(
        self,
        params: Leaves,
        m: Leaves,
        v: Leaves,
        grads: Leaves,
        *,
        b1: float,
        b2: float,
        eps: float,
        step_size: float,
        bc2_sqrt: float,
        decay: float | None,
    ) -> None:
        """m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g g;  p <- p * decay (if given);
        p <- p - step_size m / (sqrt(v) / bc2_sqrt + eps)."""
        for p, m_, v_, g in zip(params, m, v, grads, strict=True):
            a, b = self._buffers(p)
            self.xp.subtract(g, m_, out=a)
            a *= 1 - b1
            m_ += a
            v_ *= b2
            self.xp.multiply(g, 1 - b2, out=a)
            a *= g
            v_ += a
            if decay is not None:
                p *= decay
            self.xp.sqrt(v_, out=b)
            b /= bc2_sqrt
            b += eps
            self.xp.multiply(m_, step_size, out=a)
            a /= b
            p -= a
