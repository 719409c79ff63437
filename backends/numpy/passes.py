"""Two passes over a recording before it is replayed, as a compiler makes them:

- donation: the one operation that makes a donated argument's new value writes it into the
  donated array itself, where nothing after it reads the old value;
- buffer reuse: an element-wise operation writes into an input buffer that nothing reads
  afterwards (``a = exp(a)`` rather than a new array).

Both keep every value: NumPy computes an element-wise ufunc in place exactly as out of
place, and a result copied into its buffer is whole before the copy. ``Graph`` indexes the
nodes once (which nodes read, read a view of, or write each array's memory), so each pass
is one walk over the recording.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .tracing import Node, nested_map, root


class Graph:
    """The nodes of a recording, indexed by the memory they read and write, and the
    renames the passes make (applied to every node by ``finish``)."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.reads: dict[int, list[int]] = defaultdict(list)  # root id -> nodes reading it
        self.view_reads: dict[int, list[int]] = defaultdict(list)  # ... reading a view of it
        self.writes: dict[int, list[int]] = defaultdict(list)  # root id -> nodes writing it
        self._renamed: dict[int, np.ndarray] = {}
        for k, node in enumerate(nodes):
            for a in node.arrays():
                r = root(a)
                self.reads[id(r)].append(k)
                if a is not r:
                    self.view_reads[id(r)].append(k)
            for w in node.writes():
                self.writes[id(root(w))].append(k)

    def name(self, a: np.ndarray) -> np.ndarray:
        """The array ``a`` stands for after the renames so far."""
        while id(a) in self._renamed:
            a = self._renamed[id(a)]
        return a

    def last_use(self, a: np.ndarray) -> int:
        return max(self.reads[id(a)] + self.writes[id(a)], default=-1)

    def read_after(self, a: np.ndarray, k: int, views_only: bool = False) -> bool:
        """Whether a node after ``k`` reads ``a``'s memory (only through a view: views_only)."""
        found = self.view_reads[id(a)] if views_only else self.reads[id(a)]
        return any(j > k for j in found)

    def rename(self, k: int, old: np.ndarray, new: np.ndarray) -> None:
        """Node ``k`` writes ``new`` instead of ``old`` (made there), and the nodes after it
        read ``new`` where they read ``old`` itself."""
        self._renamed[id(old)] = new
        for table in (self.reads, self.view_reads, self.writes):
            table[id(new)] += table.pop(id(old), [])

    def finish(self) -> list[Node]:
        """The nodes with every rename applied."""
        swap = lambda v: self.name(v) if isinstance(v, np.ndarray) else v  # noqa: E731
        for node in self.nodes:
            node.args, node.kwargs = nested_map(swap, node.args), nested_map(swap, node.kwargs)
            node.out = nested_map(swap, node.out)
        return self.nodes


def donate(graph: Graph, buffer: np.ndarray, target: np.ndarray) -> bool:
    """Let the one node that makes ``buffer`` write it into ``target`` (a donated array of
    the same layout) instead, where that keeps every value: nothing after that node reads or
    writes ``target``'s memory or reads a view of ``buffer``, and the node itself reads
    ``target`` only if it is a ufunc call (NumPy gives those the result of unaliased arrays)
    or writes element by element after reading (``in_place``: the selects of where).
    False, changing nothing, where it cannot."""
    writers = graph.writes[id(buffer)]
    if len(writers) != 1:
        return False
    k = writers[0]
    node = graph.nodes[k]
    if node.kind not in ("ufunc", "copy", "into") or node.out is not buffer:
        return False
    in_place = isinstance(node.fn, np.ufunc) or getattr(node.fn, "in_place", False)
    if k in graph.reads[id(target)] and not in_place:
        return False
    if graph.read_after(target, k) or any(j > k for j in graph.writes[id(target)]):
        return False
    if graph.read_after(buffer, k, views_only=True):
        return False
    graph.rename(k, buffer, target)
    return True


def reuse(graph: Graph, made: set[int], kept: set[int]) -> None:
    """Let each element-wise node (or one whose result is copied in) write into an input
    buffer of the same layout that nothing reads after it. ``made``: ids of the buffers the
    recording made, the only ones that may be written over; ``kept``: ids of those whose
    value outlives the replay (outputs)."""
    for k, node in enumerate(graph.nodes):
        elementwise = isinstance(node.fn, np.ufunc) and node.fn.signature is None
        if not (elementwise or node.kind == "copy") or isinstance(node.out, tuple):
            continue
        out = graph.name(node.out)
        if id(out) not in made or id(out) in kept or len(graph.writes[id(out)]) != 1:
            continue
        if graph.read_after(out, k, views_only=True):
            continue
        for a in map(graph.name, node.arrays()):
            if (id(a) in made and id(a) not in kept and a is not out and root(a) is a
                    and graph.last_use(a) == k and a.shape == out.shape
                    and a.dtype == out.dtype and a.strides == out.strides):  # fmt: skip
                graph.rename(k, out, a)
                break
