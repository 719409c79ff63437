"""The element-wise arithmetic the update rules of ``nnkit.optim`` are written in.

A rule calls ``ops.add(x, y, out=...)``, ``sub``, ``mul``, ``div``, ``sqrt(x, out=...)`` and
``ops.scratch(like)``. ``PURE`` returns new arrays and ignores ``out`` (any backend, and
under ``jax.jit``); a backend with ``inplace`` (NumPy) gives ops that write into ``out``
(``Backend.inplace_ops``), so the same rule then updates its arrays in place. The same ops
serve layers and losses (see ``nnkit.functional``).
"""

from __future__ import annotations

from ..functional import PURE, PureOps

__all__ = ["PURE", "PureOps"]
