"""Value checks of arrays (NaN/inf, ranges): they need a host read, so the Trainer runs
them once per ``fit``/``predict``/``evaluate`` on the whole data set, and a loss called
directly runs them only on arrays that can be read eagerly (never on JAX arrays, which may
be traced). One reduction on the array's device decides; the host copy is made only to
describe a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np  # host-side: describing the values that failed

from . import backends
from ._ns import namespace
from .errors import ValueRangeError
from .tree import tree_leaves


def readable(x: Any) -> bool:
    """True where reading values is cheap and allowed (never on JAX arrays, maybe traced)."""
    return not array_api_compat.is_lazy_array(x)


def all_finite(*trees: Any) -> Any:
    """A 0-d bool array: every array leaf of ``trees`` is free of NaN and inf. Pure (it
    compiles under ``Backend.jit``); the arrays must share one backend."""
    leaves = [a for a in tree_leaves(trees) if hasattr(a, "shape")]
    xp = namespace(leaves[0])
    ok = xp.all(xp.isfinite(leaves[0]))
    for leaf in leaves[1:]:
        ok = ok & xp.all(xp.isfinite(leaf))
    return ok


_compiled: dict[str, Callable[..., Any]] = {}


def _all_finite_compiled(x: Any) -> bool:
    """``all_finite(x)`` read on the host, compiled once per backend (one dispatch)."""
    backend = backends.infer(x)
    if backend.name not in _compiled:
        _compiled[backend.name] = backend.jit(all_finite)
    return bool(backend.to_numpy(_compiled[backend.name](x)))


def check_finite(x: Any, name: str) -> None:
    """No NaN or ±inf in x (integer and bool arrays pass); one reduction on x's device."""
    xp = array_api_compat.array_namespace(x)
    if not xp.isdtype(x.dtype, "real floating") or _all_finite_compiled(x):
        return
    h = backends.to_host(x)
    bad = np.argwhere(~np.isfinite(h))
    raise ValueRangeError(
        f"{name} contains NaN or inf ({len(bad)} of {h.size} values, the first at index "
        f"{tuple(int(i) for i in bad[0])}: {h[tuple(bad[0])]}); expected finite numbers"
    )


def check_range(x: Any, low: float, high: float, name: str, *, closed_high: bool) -> None:
    """All values of x in [low, high] (``closed_high``) or [low, high); one reduction."""
    xp = array_api_compat.array_namespace(x)
    above = x > high if closed_high else x >= high
    if not bool(xp.any((x < low) | above)):
        return
    h = backends.to_host(x)
    outside = int(((h < low) | (h > high if closed_high else h >= high)).sum())
    interval = f"[{low}, {high}]" if closed_high else f"[{low}, {high})"
    raise ValueRangeError(
        f"{name} must lie in {interval}, got values from {h.min()} to {h.max()} ({outside} outside)"
    )


def check_weights(weight: Any, name: str) -> None:
    """Per-sample weights (n,), or (K, n) for a stack of K models: finite, >= 0 and not all
    0 (each model's weighted mean needs a positive total); a few reductions on the weights'
    device."""
    check_finite(weight, name)
    check_range(weight, 0, float("inf"), name, closed_high=True)
    xp = array_api_compat.array_namespace(weight)
    if not bool(xp.all(xp.any(weight > 0, axis=-1))):
        whose = "" if weight.ndim == 1 else " for a model of the stack"
        raise ValueRangeError(
            f"{name} are all 0{whose} ({weight.shape[-1]} samples); expected at least one "
            "positive weight (the loss is sum_i w_i l_i / sum_i w_i)"
        )
