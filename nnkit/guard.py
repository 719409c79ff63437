"""The NaN/inf guard of ``Trainer.fit``: one device-side finiteness test per check."""

from __future__ import annotations

from typing import Any

from ._ns import namespace
from .errors import NNKitError
from .tree import tree_leaves


class NonFiniteLossError(NNKitError, FloatingPointError):
    """Training produced a NaN or inf; ``step`` is the 1-based number of the step whose loss
    (or updated parameters) was not finite. The trainer keeps the parameters before it."""

    def __init__(self, step: int, loss: float):
        self.step, self.loss = step, loss
        super().__init__(
            f"non-finite loss {loss} at step {step}: training stopped and the parameters of "
            f"step {step - 1} (the last finite one) were kept; lower the learning rate or "
            "check the data for NaN/inf"
        )


def finite(loss: Any, params: Any) -> Any:
    """A 0-d bool array: ``loss`` and every parameter are finite (pure: the Trainer compiles
    it with ``Backend.jit``, so a check is one dispatch and one host read)."""
    xp = namespace(loss)
    ok = xp.all(xp.isfinite(loss))
    for leaf in tree_leaves(params):
        ok = ok & xp.all(xp.isfinite(leaf))
    return ok
