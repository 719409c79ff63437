"""Input checks shared by every public entry point; messages name what was received and expected.

Two kinds of check, run at different places so the training step stays fast:

- **shape and type checks** read only ``.shape``, ``.ndim`` and ``.dtype``, which are
  known without touching the data (also under ``jax.jit``, where they cost nothing):
  they run on every call of ``Sequential.forward``/``predict`` and of a loss.
- **value checks** (NaN/inf, label range, BCE targets in [0, 1]) need a host read.
  The Trainer runs them once per ``fit``/``predict``/``evaluate`` on the whole data
  set, before any step; a loss called directly runs them only on arrays that can be
  read eagerly (``array_api_compat.is_lazy_array`` is False: NumPy, CuPy,
  array-api-strict), never on JAX arrays, which may be traced.

Every check raises before anything is computed, so parameters and optimizer state
are never touched by a rejected input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import array_api_compat
import numpy as np  # host-side checks of user input

from . import backends
from .errors import (
    BackendMismatchError,
    InvalidTypeError,
    InvalidValueError,
    ShapeError,
    ValueRangeError,
)

STRATEGIES = ("batched", "per_sample")
_RESHAPE_HINT = " (for one sample use X.reshape(1, -1), for one feature X.reshape(-1, 1))"

# -- hyperparameters and names ------------------------------------------------------


def check_choice(name: str, value: Any, choices: Any) -> Any:
    """``value`` if it is one of ``choices``; else an error listing them."""
    try:
        known = value in choices
    except TypeError:  # unhashable value
        known = False
    if not known:
        raise InvalidValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
    return value


def lookup(kind: str, name: Any, registry: Mapping[str, Any]) -> Any:
    """``registry[name]``; an unknown name raises an error listing the valid ones."""
    return registry[check_choice(kind, name, registry)]


def check_int(name: str, value: Any, minimum: int) -> int:
    """An int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """An int >= 1 (sizes, counts, steps)."""
    return check_int(name, value, 1)


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidTypeError(
            f"{name} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """A finite float > 0 (learning rates, eps)."""
    v = _real(name, value)
    if not (v > 0 and math.isfinite(v)):
        raise InvalidValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """A finite float >= 0 (weight decay, decay rates)."""
    v = _real(name, value)
    if not (v >= 0 and math.isfinite(v)):
        raise InvalidValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_unit_interval(name: str, value: Any) -> float:
    """A float in [0, 1) (momentum, betas, rho, LeakyReLU's alpha)."""
    v = _real(name, value)
    if not 0 <= v < 1:
        raise InvalidValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def check_lr(lr: Any) -> Any:
    """A learning rate: a finite float > 0, or a schedule (callable step -> lr)."""
    return lr if callable(lr) else check_positive("lr (a float, or a schedule step -> lr)", lr)


def check_instance(name: str, value: Any, cls: type) -> Any:
    if not isinstance(value, cls):
        raise InvalidTypeError(
            f"{name} must be an nnkit {cls.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def check_seed(seed: Any) -> int:
    """A seed for NumPy's generator: an int >= 0."""
    return check_int("seed", seed, 0)


# -- arrays: type, backend and device -------------------------------------------------


def _is_numeric(x: Any) -> bool:
    """bool, integer or real floating (complex, strings and objects are refused)."""
    return array_api_compat.array_namespace(x).isdtype(
        x.dtype, ("bool", "integral", "real floating")
    )


def to_backend(backend: backends.Backend, x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` (NumPy, list, or an array of ``backend`` on its device) as an array of ``backend``.

    An array of any other non-NumPy backend, or on another device, is refused:
    moving it silently would hide a device transfer.
    """
    owner = backends.name_of(x)
    if owner not in (None, "numpy", backend.name):
        raise BackendMismatchError(
            f"{name} is a {owner} array but this trainer runs on backend {backend.name!r}; "
            f"convert it first, e.g. numpy.asarray({name}) (moved for you) or "
            f"nnkit.backends.get({backend.name!r}).asarray(numpy.asarray({name}))"
        )
    if owner == backend.name and owner != "numpy":
        where = array_api_compat.device(x)
        if where != backend.device:
            raise BackendMismatchError(
                f"{name} is on device {where} but this trainer runs on {backend.device}; "
                f"move it first, e.g. nnkit.backends.get({backend.name!r}).asarray("
                f"numpy.asarray({name}))"
            )
    if owner is None:
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise InvalidValueError(
                f"{name} must be a rectangular array of numbers, got {type(x).__name__}: {e}"
            ) from e
    if not _is_numeric(x):
        raise InvalidTypeError(
            f"{name} must hold numbers (bool, int or float), got dtype {x.dtype}"
        )
    return backend.asarray(x, dtype=dtype)


# -- arrays: shapes (free under jit) ------------------------------------------------


def check_features(X: Any, in_features: int | None, name: str = "X") -> None:
    """X must be (batch, in_features) with batch >= 1."""
    if X.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D (batch, features), got shape {tuple(X.shape)}{_RESHAPE_HINT}"
        )
    if X.shape[0] < 1:
        raise ShapeError(f"{name} has no samples (shape {tuple(X.shape)}); expected batch >= 1")
    if in_features is not None and X.shape[1] != in_features:
        raise ShapeError(
            f"{name} has {X.shape[1]} features (shape {tuple(X.shape)}) but the model expects "
            f"{in_features}: expected shape (batch, {in_features})"
        )


def check_same_length(X: Any, Y: Any) -> None:
    if Y.ndim < 1 or Y.shape[0] != X.shape[0]:
        raise ShapeError(
            f"X and Y have different numbers of samples: X {tuple(X.shape)}, Y {tuple(Y.shape)}"
        )


def check_nonempty(pred_shape: tuple[int, ...], what: str) -> None:
    """A loss of no elements would be 0/0: refuse it."""
    if math.prod(pred_shape) == 0:
        raise ShapeError(f"{what}: prediction of shape {pred_shape} has no elements; expected >= 1")


def check_same_shape(pred_shape: tuple[int, ...], target: Any, what: str) -> None:
    """target of the prediction's shape: a loss never broadcasts one against the other."""
    if tuple(target.shape) != pred_shape:
        raise ShapeError(
            f"{what}: target shape {tuple(target.shape)} does not match prediction shape "
            f"{pred_shape}; expected target of shape {pred_shape}"
        )


def check_labels_shape(pred_shape: tuple[int, ...], target: Any, what: str) -> None:
    """Integer labels (batch,) for a (batch, K) prediction."""
    if len(pred_shape) != 2 or tuple(target.shape) != pred_shape[:1]:
        raise ShapeError(
            f"{what}: labels of shape {tuple(target.shape)} for a prediction of shape "
            f"{pred_shape}; expected labels (batch,) and prediction (batch, K)"
        )
    if not array_api_compat.array_namespace(target).isdtype(target.dtype, "integral"):
        raise InvalidTypeError(
            f"{what}: 1-D targets must be integer class labels, got dtype {target.dtype}; "
            f"use integer labels (e.g. y.astype(int)) or one-hot rows (batch, K)"
        )


# -- arrays: values (need a host read) ---------------------------------------------


def readable(x: Any) -> bool:
    """True where reading values is cheap and allowed (never on JAX arrays, maybe traced)."""
    return not array_api_compat.is_lazy_array(x)


def _host(x: Any) -> np.ndarray:
    name = backends.name_of(x)
    return np.asarray(x) if name in (None, "numpy") else backends.get(name).to_numpy(x)


_all_finite_by_backend: dict[str | None, Callable[[Any], Any]] = {}


def _all_finite(x: Any) -> Any:
    """0-d bool: every element of x is finite; compiled once per backend (one dispatch)."""
    name = backends.name_of(x)
    fn = _all_finite_by_backend.get(name)
    if fn is None:
        fn = backends.get(name).jit(_all_finite_eager) if name else _all_finite_eager
        _all_finite_by_backend[name] = fn
    return fn(x)


def _all_finite_eager(x: Any) -> Any:
    xp = array_api_compat.array_namespace(x)
    return xp.all(xp.isfinite(x))


def check_finite(x: Any, name: str) -> None:
    """No NaN or ±inf in x (integer and bool arrays pass); one reduction on x's device."""
    xp = array_api_compat.array_namespace(x)
    if not xp.isdtype(x.dtype, "real floating") or bool(_all_finite(x)):
        return
    h = _host(x)
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
    h = _host(x)
    outside = int(((h < low) | (h > high if closed_high else h >= high)).sum())
    interval = f"[{low}, {high}]" if closed_high else f"[{low}, {high})"
    raise ValueRangeError(
        f"{name} must lie in {interval}, got values from {h.min()} to {h.max()} ({outside} outside)"
    )
