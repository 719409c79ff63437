"""The array-API namespace of an array, memoised by type (the hot path asks often)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

_by_type: dict[type, Any] = {}


def namespace(x: Any) -> Any:
    """``array_api_compat.array_namespace(x)``, looked up once per array type."""
    t = type(x)
    xp = _by_type.get(t)
    if xp is None:
        xp = _by_type[t] = array_namespace(x)
    return xp
