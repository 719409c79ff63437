"""Checks of hyperparameters and names, for constructors and ``fit``'s arguments.

Each returns the value it accepted (converted: ``float``, ``int``) or raises an
``InvalidValueError``/``InvalidTypeError`` whose message names the argument, what was
received and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np  # NumPy scalar types count as numbers

from .errors import InvalidTypeError, InvalidValueError


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
    """A learning rate: a finite float > 0, one per model (a sequence), or a schedule
    (callable step -> lr)."""
    if callable(lr):
        return lr
    if is_sequence(lr):
        return per_model(check_positive, "lr", lr)
    return check_positive("lr (a float, or a schedule step -> lr)", lr)


def check_instance(name: str, value: Any, cls: type) -> Any:
    if not isinstance(value, cls):
        raise InvalidTypeError(
            f"{name} must be an nnkit {cls.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def check_seed(seed: Any) -> int:
    """A seed for NumPy's generator: an int >= 0."""
    return check_int("seed", seed, 0)


def is_sequence(value: Any) -> bool:
    """A list, a tuple, a range or a 1-D array: one value per model of a stack."""
    return isinstance(value, (list, tuple, range)) or getattr(value, "ndim", 0) == 1


def check_seeds(seed: Any) -> tuple[int, ...] | None:
    """None for one seed (left to NumPy's generator); for a sequence, the K >= 1 seeds of a
    stack of models, each an int >= 0."""
    if not is_sequence(seed):
        return None
    seeds = tuple(check_int(f"seed[{i}]", s, 0) for i, s in enumerate(seed))
    if not seeds:
        raise InvalidValueError("seed: an empty sequence; expected one seed per model (K >= 1)")
    return seeds


def per_model(check: Any, name: str, value: Any) -> Any:
    """``check(name, value)`` for one number; for a sequence of K >= 1 numbers (one per
    model of a stack), the tuple of each checked as ``name[k]``."""
    if not is_sequence(value):
        return check(name, value)
    checked = tuple(check(f"{name}[{k}]", v) for k, v in enumerate(value))
    if not checked:
        raise InvalidValueError(f"{name}: an empty sequence; expected a number or one per model")
    return checked
