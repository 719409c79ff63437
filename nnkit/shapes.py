"""Shape checks of arrays: they read only ``.shape``, ``.ndim`` and ``.dtype``, known without
touching the data (also under ``jax.jit``, where they cost nothing), so they run on every
call of ``Sequential.forward``/``predict`` and of a loss."""

from __future__ import annotations

import math
from typing import Any

from ._ns import namespace
from .errors import InvalidTypeError, ShapeError

_RESHAPE_HINT = " (for one sample use X.reshape(1, -1), for one feature X.reshape(-1, 1))"


def check_features(
    X: Any, in_features: int | None, name: str = "X", stack: int | None = None
) -> None:
    """X must be (batch, in_features) with batch >= 1; for a stack of ``stack`` models also
    (stack, batch, in_features), each model's own rows."""
    if not (X.ndim == 2 or (stack is not None and X.ndim == 3)):
        expected = "2-D (batch, features)" + (
            "" if stack is None else f" or 3-D (K={stack} models, batch, features)"
        )
        raise ShapeError(f"{name} must be {expected}, got shape {tuple(X.shape)}{_RESHAPE_HINT}")
    if X.ndim == 3 and X.shape[0] != stack:
        raise ShapeError(
            f"{name} has shape {tuple(X.shape)}: rows for {X.shape[0]} models, but the params "
            f"stack {stack}; expected ({stack}, batch, features) or (batch, features)"
        )
    if X.shape[-2] < 1:
        raise ShapeError(f"{name} has no samples (shape {tuple(X.shape)}); expected batch >= 1")
    if in_features is not None and X.shape[-1] != in_features:
        raise ShapeError(
            f"{name} has {X.shape[-1]} features (shape {tuple(X.shape)}) but the model expects "
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
    """Integer labels (batch,) for a (batch, K) prediction ((stack, batch) for a stack's
    (stack, batch, K))."""
    if len(pred_shape) < 2 or tuple(target.shape) != pred_shape[:-1]:
        raise ShapeError(
            f"{what}: labels of shape {tuple(target.shape)} for a prediction of shape "
            f"{pred_shape}; expected labels (batch,) and prediction (batch, K)"
        )
    if not namespace(target).isdtype(target.dtype, "integral"):
        raise InvalidTypeError(
            f"{what}: 1-D targets must be integer class labels, got dtype {target.dtype}; "
            f"use integer labels (e.g. y.astype(int)) or one-hot rows (batch, K)"
        )


def check_weights_shape(n: int | tuple[int, ...], weight: Any, what: str) -> None:
    """Per-sample weights: real numbers of shape (n,), one per row of n; ``n`` a shape
    (K, batch): one per row of each model of a stack."""
    xp = namespace(weight)
    if not xp.isdtype(weight.dtype, ("bool", "integral", "real floating")):
        raise InvalidTypeError(f"{what}: weights must be real numbers, got dtype {weight.dtype}")
    expected = (n,) if isinstance(n, int) else tuple(n)
    if tuple(weight.shape) != expected:
        one = len(expected) == 1
        rows = f"{expected[0]} samples" if one else f"predictions of shape {expected} (rows)"
        raise ShapeError(
            f"{what}: weights of shape {tuple(weight.shape)} for {rows}; expected one "
            f"weight per sample, shape {expected}"
            + ("" if one else f" or ({expected[-1]},) shared by every model")
        )
