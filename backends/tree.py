"""Minimal pytrees: nested lists, tuples (named tuples too) and dicts with leaves at the ends.

Everything that is not one of those containers is a leaf (arrays, numbers, None). Here, below
the rest of nnkit, because a backend's compiler flattens the arguments it is given
(``backends.numpy``); ``nnkit.tree`` offers the same functions to the rest of the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# a tree's shape without its leaves: None for a leaf, else (container type, dict keys or
# None, the children's shapes); equal shapes flatten to leaves in the same places
TreeDef = Any


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leafwise over ``tree`` and trees of the same structure.

    Parameters
    ----------
    fn : callable
        ``fn(leaf, *leaves_of_rest) -> new leaf``.
    tree : pytree
        Nested lists, tuples (named tuples too) and dicts; anything else is a leaf.
    *rest : pytree
        Trees of ``tree``'s structure, whose leaves are passed beside ``tree``'s.

    Returns
    -------
    pytree
        A tree of ``tree``'s structure (the same container types) holding ``fn``'s results.
    """
    if isinstance(tree, dict):
        return {k: tree_map(fn, tree[k], *(r[k] for r in rest)) for k in tree}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(tree_map(fn, *leaves) for leaves in zip(tree, *rest, strict=True)))
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, *leaves) for leaves in zip(tree, *rest, strict=True))
    return fn(tree, *rest)


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in a fixed order.

    Parameters
    ----------
    tree : pytree
        Nested lists, tuples and dicts.

    Returns
    -------
    list
        The leaves, depth first, dict values in insertion order.
    """
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
    """A tree of ``like``'s structure holding ``leaves``.

    Parameters
    ----------
    like : pytree
        The structure to fill.
    leaves : list
        As many leaves as ``like`` has, in ``tree_leaves`` order.

    Returns
    -------
    pytree
        ``like``'s structure with ``leaves`` in place of its own.
    """
    it = iter(leaves)
    return tree_map(lambda _: next(it), like)


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """``(leaves, treedef)``: the leaves in ``tree_leaves`` order and the structure, a value
    that compares equal for trees of the same containers and dict keys."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    kind = type(tree)
    if kind is dict:
        return (dict, tuple(tree), tuple(_flatten(v, leaves) for v in tree.values()))
    if kind is list or kind is tuple or (isinstance(tree, tuple) and hasattr(tree, "_fields")):
        return (kind, None, tuple(_flatten(v, leaves) for v in tree))
    if isinstance(tree, (dict, list, tuple)):  # a subclass: as its base container
        base = dict if isinstance(tree, dict) else list if isinstance(tree, list) else tuple
        return _flatten(base(tree), leaves)
    leaves.append(tree)
    return None


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """The tree of ``treedef`` (from ``flatten``) holding ``leaves``."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef: TreeDef, leaves: Iterator[Any]) -> Any:
    if treedef is None:
        return next(leaves)
    kind, keys, children = treedef
    values = [_unflatten(child, leaves) for child in children]
    if kind is dict:
        return dict(zip(keys, values, strict=True))
    if kind is list or kind is tuple:
        return kind(values)
    return kind(*values)  # a named tuple


def flattener(treedef: TreeDef) -> Callable[[Any], list | None]:
    """A function ``tree -> leaves`` for trees of ``treedef``, or None for a tree of another
    structure: ``flatten`` written out for one structure (one expression, no recursion), for
    a compiled function that takes the same structure every call."""
    checks: list[str] = []
    leaves: list[str] = []
    names: dict[str, Any] = {}
    _walk(treedef, "t", checks, leaves, names)
    source = (f"def flat(t):\n    if not ({' and '.join(checks) or 'True'}):\n        return None\n"
              f"    return [{', '.join(leaves)}]\n")  # fmt: skip
    exec(source, names)  # noqa: S102  (code generated from a treedef: containers and keys)
    return names["flat"]


def _walk(treedef: TreeDef, at: str, checks: list, leaves: list, names: dict) -> None:
    if treedef is None:
        leaves.append(at)
        return
    kind, keys, children = treedef
    name = f"K{id(kind)}"
    names[name] = kind
    checks.append(f"type({at}) is {name} and len({at}) == {len(children)}")
    if kind is dict:
        checks.append(f"tuple({at}) == {keys!r}")
        parts = [f"{at}[{k!r}]" for k in keys]
    else:
        parts = [f"{at}[{i}]" for i in range(len(children))]
    for child, part in zip(children, parts, strict=True):
        _walk(child, part, checks, leaves, names)


def unflattener(treedef: TreeDef) -> Callable[[list], Any]:
    """``unflatten`` for one ``treedef``, written out as one expression: ``leaves -> tree``."""
    names: dict[str, Any] = {}
    expression = _build(treedef, iter(range(count(treedef))), names)
    exec(f"def build(l):\n    return {expression}\n", names)  # noqa: S102
    return names["build"]


def count(treedef: TreeDef) -> int:
    """The number of leaves of a tree of ``treedef``."""
    return 1 if treedef is None else sum(count(child) for child in treedef[2])


def _build(treedef: TreeDef, index: Iterator[int], names: dict) -> str:
    if treedef is None:
        return f"l[{next(index)}]"
    kind, keys, children = treedef
    parts = [_build(child, index, names) for child in children]
    if kind is dict:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(keys, parts, strict=True)) + "}"
    if kind is list:
        return "[" + ", ".join(parts) + "]"
    if kind is tuple:
        return "(" + "".join(p + ", " for p in parts) + ")"
    name = f"K{id(kind)}"
    names[name] = kind
    return f"{name}({', '.join(parts)})"
