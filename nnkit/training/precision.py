"""Precision policies: which dtype the weights are kept in and which one computes.

``Trainer(dtype="float32")`` or ``"float64"``: one dtype for everything.
``Trainer(dtype="bfloat16")``: mixed precision. Master weights, optimizer state, data and
the loss stay float32; each step casts the weights and the minibatch to bfloat16, runs
forward and backward (the matmuls) in bfloat16, casts the network output up to float32
for the loss and its gradient, and casts the gradients up to float32 before the optimizer
step. Casting uses ``xp.astype`` only; it needs a backend with bfloat16 arrays
(``backends.BFLOAT16_BACKENDS``: JAX). NumPy and CuPy have no native bfloat16 and refuse.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import backends, checks
from .._ns import namespace
from ..errors import InvalidValueError
from ..tree import tree_map

MIXED = {"bfloat16": "float32"}  # compute dtype -> master (parameter) dtype
DTYPES: tuple[str, ...] = (*backends.FLOAT_DTYPES, *MIXED)


@dataclasses.dataclass(frozen=True)
class Policy:
    """``param``: the dtype of weights, optimizer state, data and loss; ``compute``: the
    dtype of forward and backward. They differ only under mixed precision."""

    param: str
    compute: str

    @property
    def mixed(self) -> bool:
        return self.param != self.compute

    def to_compute(self, tree: Any) -> Any:
        """``tree``'s arrays in the compute dtype (``tree`` itself when not mixed)."""
        return _cast(tree, self.compute) if self.mixed else tree

    def to_param(self, tree: Any) -> Any:
        """``tree``'s arrays in the parameter dtype (``tree`` itself when not mixed)."""
        return _cast(tree, self.param) if self.mixed else tree


def _cast(tree: Any, dtype: str) -> Any:
    def cast(a: Any) -> Any:
        xp = namespace(a)
        return xp.astype(a, getattr(xp, dtype))

    return tree_map(cast, tree)


def policy(dtype: str, backend: backends.Backend) -> Policy:
    """The Policy of ``Trainer(dtype=...)`` on ``backend``; InvalidValueError for a dtype
    that is not one of DTYPES or that ``backend`` cannot compute in."""
    checks.check_choice("dtype", dtype, DTYPES)
    if dtype in MIXED and not backend.bfloat16:
        raise InvalidValueError(
            f"dtype {dtype!r} (mixed precision) needs a backend with {dtype} arrays, one of "
            f"{list(backends.BFLOAT16_BACKENDS)}; got backend {backend.name!r}, which has no "
            f"native {dtype}: use dtype 'float32' there"
        )
    return Policy(MIXED.get(dtype, dtype), dtype)
