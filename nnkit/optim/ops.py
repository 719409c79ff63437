"""The element-wise arithmetic the update rules of ``nnkit.optim`` are written in.

A rule calls ``ops.add(x, y, out=...)``, ``sub``, ``mul``, ``div``, ``sqrt(x, out=...)`` and
``ops.scratch(like)``. ``PURE`` returns new arrays and ignores ``out`` (any backend, and
under ``jax.jit``); a backend with ``inplace`` (NumPy) gives ops that write into ``out``
(``Backend.inplace_ops``), so the same rule then updates its arrays in place.
"""

from __future__ import annotations

from typing import Any

from .._ns import namespace


class PureOps:
    """``x op y`` as a new array; ``out`` and the scratch arrays are unused (None)."""

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

    def sqrt(self, x: Any, out: Any = None) -> Any:
        return namespace(x).sqrt(x)


PURE = PureOps()
