"""Minimal pytrees: nested lists, tuples (named tuples too) and dicts with arrays at the leaves.

``tree_map``, ``tree_leaves`` and ``tree_unflatten`` live in ``nnkit.backends.tree`` (a
backend's compiler flattens its arguments too); ``tree_copy`` is here.
"""

from __future__ import annotations

from typing import Any

from ._ns import namespace
from .backends.tree import tree_leaves, tree_map, tree_unflatten

__all__ = ["tree_copy", "tree_leaves", "tree_map", "tree_unflatten"]


def tree_copy(tree: Any) -> Any:
    """A copy of every array leaf of ``tree``.

    Use it to keep arrays apart from steps that consume their inputs (NumPy's replay writes
    new parameters into the old ones; ``jax.jit`` with donation may too), e.g. a callback
    that keeps parameters across steps.

    Parameters
    ----------
    tree : pytree
        Nested lists, tuples and dicts of any backend's arrays.

    Returns
    -------
    pytree
        ``tree``'s structure with every array copied on its device; non-array leaves (ints,
        None) are shared.
    """
    return tree_map(
        lambda a: namespace(a).asarray(a, copy=True) if hasattr(a, "shape") else a, tree
    )
