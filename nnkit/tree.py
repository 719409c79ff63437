"""Minimal pytrees: nested lists, tuples (named tuples too) and dicts with arrays at the leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leafwise over ``tree`` and trees of the same structure in ``rest``."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, tree[k], *(r[k] for r in rest)) for k in tree}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(tree_map(fn, *leaves) for leaves in zip(tree, *rest, strict=True)))
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, *leaves) for leaves in zip(tree, *rest, strict=True))
    return fn(tree, *rest)


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in a fixed order (dict keys in insertion order)."""
    leaves: list[Any] = []
    _collect(tree, leaves.append)
    return leaves


def _collect(tree: Any, add: Callable[[Any], None]) -> None:
    if isinstance(tree, dict):
        tree = tree.values()
    elif not isinstance(tree, (list, tuple)):
        add(tree)
        return
    for v in tree:
        _collect(v, add)


def tree_unflatten(like: Any, leaves: list[Any]) -> Any:
    """A tree of ``like``'s structure holding ``leaves`` (in ``tree_leaves`` order)."""
    it = iter(leaves)
    return tree_map(lambda _: next(it), like)


def tree_copy(tree: Any) -> Any:
    """A copy of every array leaf (kept apart from steps that consume their inputs, as
    ``jax.jit`` with donation does); non-array leaves (ints, None) are shared."""
    from ._ns import namespace

    return tree_map(
        lambda a: namespace(a).asarray(a, copy=True) if hasattr(a, "shape") else a, tree
    )
