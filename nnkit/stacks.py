"""Stacks of K models: every leaf of a pytree of parameters (or optimizer state) with a
leading model axis K, slice k holding model k.

``stack(list_of_params)`` and ``unstack(params)`` convert between K separate pytrees and one
stacked pytree. ``per_model(value, like)`` lines a per-model number up with a stacked leaf:
one value per model (a sequence of K numbers) becomes an array shaped ``(K, 1, ..., 1)``
that broadcasts along the leaf's leading axis, so that a formula written for one model
(``p - lr * g``) applies model k's value to slice k; a plain number stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np  # host-side: per-model hyperparameters are host numbers
from array_api_compat import device

from ._ns import namespace
from .backends.tree import flatten, unflatten
from .errors import InvalidTypeError, InvalidValueError
from .tree import tree_copy, tree_leaves, tree_map


def stack(params: Sequence[Any]) -> Any:
    """One pytree whose leaves stack the leaves of ``params`` along a new leading axis.

    Parameters
    ----------
    params : sequence of pytrees
        K >= 1 pytrees of one structure (e.g. K results of ``model.init``), arrays of one
        backend with equal shapes leaf by leaf.

    Returns
    -------
    pytree
        ``params[0]``'s structure; each array leaf of shape ``(K, *shape)``, slice k equal to
        ``params[k]``'s leaf.

    Raises
    ------
    InvalidValueError
        An empty sequence, pytrees of different structures, or leaves of different shapes
        (the message names the first such leaf).
    """
    if isinstance(params, dict) or not isinstance(params, (list, tuple)) or not params:
        raise InvalidValueError(
            f"stack needs a non-empty list of params (one pytree per model), got "
            f"{type(params).__name__ if not isinstance(params, (list, tuple)) else 'an empty one'}"
        )
    first, treedef = flatten(params[0])
    columns = [[leaf] for leaf in first]
    for k, tree in enumerate(params[1:], start=1):
        leaves, other = flatten(tree)
        if other != treedef:
            raise InvalidValueError(
                f"stack: params[{k}] has another structure than params[0]; expected K pytrees "
                "of one structure, e.g. K results of model.init (given one model's params? "
                "stack takes a list of them: stack([p0, p1, ...]))"
            )
        for i, (leaf, column) in enumerate(zip(leaves, columns, strict=True)):
            if _shape(leaf) != _shape(column[0]):
                raise InvalidValueError(
                    f"stack: leaf {i} of params[{k}] has shape {_shape(leaf)}, params[0]'s "
                    f"has {_shape(column[0])}; expected equal shapes"
                )
            column.append(leaf)
    return unflatten(treedef, [_stack_leaf(column) for column in columns])


def _stack_leaf(column: list[Any]) -> Any:
    if not hasattr(column[0], "shape"):
        if any(v != column[0] for v in column):
            raise InvalidValueError(f"stack: non-array leaves differ: {column}")
        return column[0]
    return namespace(column[0]).stack(column, axis=0)


def unstack(params: Any) -> list[Any]:
    """The K pytrees of a stacked ``params`` (copies: later changes to either side leave the
    other alone); ``unstack(stack(ps))`` equals ``ps``.

    Raises
    ------
    InvalidValueError
        A leaf without a leading axis, or leaves whose leading axes differ.
    """
    k = stack_size(params)
    return [tree_copy(tree_map(lambda a, i=i: _slice(a, i), params)) for i in range(k)]


def _slice(a: Any, i: int) -> Any:
    return a[i, ...] if hasattr(a, "shape") else a


def stack_size(params: Any) -> int:
    """K, the leading axis shared by every array leaf of stacked ``params``."""
    sizes = {tuple(a.shape[:1]) for a in tree_leaves(params) if hasattr(a, "shape")}
    if len(sizes) != 1 or () in sizes:
        found = sorted(sizes)
        raise InvalidValueError(
            f"expected stacked params, every leaf with one leading model axis K; got leading "
            f"axes {found if found else 'none (no arrays)'}"
        )
    return next(iter(sizes))[0]


def per_model(value: Any, like: Any, name: str = "value") -> Any:
    """``value`` ready to combine with ``like``, a leaf of stacked params (K, ...).

    A number (or a 0-d array) is returned as it is. A sequence or 1-D array of K numbers,
    one per model, becomes an array of ``like``'s namespace, dtype and device, shaped
    ``(K, 1, ..., 1)`` to ``like.ndim``: model k's value broadcast over slice k.

    Raises
    ------
    InvalidValueError
        ``value`` holds another number of values than ``like`` stacks models (``name``
        names it in the message).
    """
    if not is_per_model(value):
        return value
    xp = namespace(like)
    v = xp.asarray(value, dtype=like.dtype, device=device(like))
    if v.ndim != 1:
        raise InvalidTypeError(
            f"{name}: expected a number or one value per model (K,), got shape {tuple(v.shape)}"
        )
    if like.ndim < 1 or v.shape[0] != like.shape[0]:
        raise InvalidValueError(
            f"{name} has {v.shape[0]} values, one per model, but the params stack "
            f"{like.shape[0] if like.ndim else 'no'} models (leaf of shape {tuple(like.shape)}); "
            "expected as many values as models"
        )
    return xp.reshape(v, (v.shape[0],) + (1,) * (like.ndim - 1))


def host_values(value: Any) -> Any:
    """A per-model sequence (a tuple or list) as a host float64 array, for arithmetic on a
    step count (bias corrections, schedules) in double precision, as Python does it for one
    number; anything else as it is."""
    return np.asarray(value, dtype=np.float64) if isinstance(value, (list, tuple)) else value


def is_per_model(value: Any) -> bool:
    """Whether ``value`` holds one number per model (a sequence or an array of 1+ dims)."""
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) >= 1


def shared(x: Any, k: int) -> Any:
    """``x`` (an array of one model, or None) broadcast to a stack of ``k`` models, the same
    for each: shape (k, *x.shape), a view where the backend has views."""
    return None if x is None else namespace(x).broadcast_to(x, (k, *x.shape))


def _shape(leaf: Any) -> tuple[int, ...] | None:
    return tuple(leaf.shape) if hasattr(leaf, "shape") else None
