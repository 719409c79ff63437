"""Input checks shared by every public entry point; messages name what was received and expected."""

from __future__ import annotations

from typing import Any

import numpy as np  # host-side checks of user input

from . import backends
from .errors import InvalidTypeError, InvalidValueError

STRATEGIES = ("batched", "per_sample")


def check_choice(name: str, value: Any, choices: Any) -> Any:
    if value not in choices:
        raise InvalidValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
    return value


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def to_backend(backend: backends.Backend, x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` (NumPy, list, or an array of ``backend``) as an array of ``backend``.

    An array of any other non-NumPy backend is refused: moving it silently would
    hide a device transfer.
    """
    owner = backends.name_of(x)
    if owner not in (None, "numpy", backend.name):
        raise InvalidTypeError(
            f"{name} is a {owner} array but this trainer runs on backend {backend.name!r}; "
            f"convert it first, e.g. numpy.asarray({name}) or nnkit.backends.get({backend.name!r})"
            f".asarray(...)"
        )
    if owner is None:
        host = np.asarray(x)
        if host.dtype.kind not in "biuf":
            raise InvalidTypeError(f"{name} must be numeric, got dtype {host.dtype}")
        x = host
    return backend.asarray(x, dtype=dtype)


def check_features(X: Any, in_features: int | None, name: str = "X") -> None:
    """X must be (batch, in_features) with batch >= 1."""
    if X.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1), for one feature X.reshape(-1, 1))"
        raise InvalidValueError(
            f"{name} must be 2-D (batch, features), got shape {tuple(X.shape)}{hint}"
        )
    if X.shape[0] < 1:
        raise InvalidValueError(f"{name} has no samples (shape {tuple(X.shape)})")
    if in_features is not None and X.shape[1] != in_features:
        raise InvalidValueError(
            f"{name} has {X.shape[1]} features (shape {tuple(X.shape)}) but the model expects "
            f"{in_features}: expected shape (batch, {in_features})"
        )


def check_same_length(X: Any, Y: Any) -> None:
    if Y.shape[0] != X.shape[0]:
        raise InvalidValueError(
            f"X and Y have different numbers of samples: X {tuple(X.shape)}, Y {tuple(Y.shape)}"
        )
