"""Element-wise arithmetic written into existing arrays, for libraries whose ufuncs take
``out=`` (the NumPy backend). ``nnkit.optim`` writes each update rule once against this
interface; given these ops instead of the pure ones, a rule overwrites parameters and
optimizer state in place, with the same operations in the same order (bitwise equal).
"""

from __future__ import annotations

from typing import Any


class InplaceOps:
    """``add``, ``sub``, ``mul``, ``div`` (``x op y``) and ``sqrt`` write into ``out`` and
    return it; ``xp`` is the library's own module (``numpy``). ``scratch(like)`` gives two
    scratch arrays with the shape and dtype of ``like``, kept across steps, so a warm
    optimizer step allocates nothing."""

    def __init__(self, xp: Any):
        self.xp = xp
        self._scratch: dict[tuple, tuple[Any, Any]] = {}

    def scratch(self, like: Any) -> tuple[Any, Any]:
        key = (like.shape, like.dtype)
        if key not in self._scratch:
            self._scratch[key] = (self.xp.empty_like(like), self.xp.empty_like(like))
        return self._scratch[key]

    def add(self, x: Any, y: Any, out: Any) -> Any:
        return self.xp.add(x, y, out=out)

    def sub(self, x: Any, y: Any, out: Any) -> Any:
        return self.xp.subtract(x, y, out=out)

    def mul(self, x: Any, y: Any, out: Any) -> Any:
        return self.xp.multiply(x, y, out=out)

    def div(self, x: Any, y: Any, out: Any) -> Any:
        return self.xp.divide(x, y, out=out)

    def sqrt(self, x: Any, out: Any) -> Any:
        return self.xp.sqrt(x, out=out)
