"""Runs of element-wise calls on large arrays, replayed block of rows by block over threads.

A replayed step makes its calls one whole array after another: a run of k element-wise calls
over arrays of n rows (an optimizer's update of one weight matrix: 13 calls for Adam) reads
and writes every array from memory k times, on one core (NumPy's ufunc loops are
single-threaded). Replayed instead block by block, each block of rows going through the whole
run while it is in cache, with the blocks shared among the threads of the process's CPUs
(ufunc loops release the GIL), the same ufuncs make the same arithmetic on the same elements
in the same order: bitwise the plain replay.

Only what keeps that true, and pays, is blocked:

- ufuncs whose every element is correctly rounded or exact wherever it sits in the array
  (``+ - * /``, sqrt, square, comparisons, min/max, where's bit operations ...; not exp, log
  or tanh, whose SIMD loops treat an array's tail their own way);
- calls whose array arguments are the output's rows (sliced with it) or broadcast along rows
  (read whole, and written by no call of the run), never another view of the same memory;
- runs of at least MIN_ELEMENTS output elements in all; smaller ones stay plain calls
  (measured: below it the threads' hand-off costs more than it saves).
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .tracing import Node, ScalarRef, nested_any, resolve

MIN_ELEMENTS = 1 << 20  # output elements of a run, summed over its calls
BLOCK_BYTES = 1 << 17  # bytes of the widest output row block: a run's blocks stay in cache
WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

# exact (or correctly rounded) element by element, wherever the element sits
EXACT = frozenset(
    getattr(np, name)
    for name in (
        "add", "subtract", "multiply", "divide", "true_divide", "negative", "positive",
        "absolute", "sqrt", "square", "reciprocal", "maximum", "minimum", "fmax", "fmin",
        "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
        "logical_and", "logical_or", "logical_not", "bitwise_and", "bitwise_or",
        "bitwise_xor", "invert", "sign", "copysign", "isfinite", "isnan", "fabs",
    )
)  # fmt: skip
KWARGS = frozenset({"out", "casting", "dtype"})

_pool: ThreadPoolExecutor | None = None


def runs(nodes: list[Node], tape: list[Callable], numbers: list) -> list[Callable]:
    """The calls that replay ``nodes`` (``tape``: one call per node): the blocked runs in
    place of their nodes' calls, every other node's call as it is."""
    out: list[Callable] = []
    k = 0
    while k < len(nodes):
        end = _run_end(nodes, k)
        if end - k and sum(nodes[j].out.size for j in range(k, end)) >= MIN_ELEMENTS:
            out.append(_blocked(nodes[k:end], numbers))
            k = end
        else:
            out.append(tape[k])
            k += 1
    return out


def _rows(node: Node) -> int | None:
    """The row count of ``node``'s output where it can be made block by block, else None."""
    out = node.out
    if (
        node.kind != "ufunc" or node.fn not in EXACT or node.fn.nout != 1
        or not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] < 2
        or not KWARGS.issuperset(node.kwargs)
    ):  # fmt: skip
        return None
    if _conflict(node, node):
        return None
    return out.shape[0]


def _sliced(a: np.ndarray, out: np.ndarray) -> bool:
    """Whether argument ``a`` goes block by block with ``out`` (its rows), rather than whole
    (broadcast along the rows)."""
    return a.ndim == out.ndim and a.shape[0] == out.shape[0]


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides and a.shape == b.shape
    )  # fmt: skip


def _conflict(reader: Node, writer: Node) -> bool:
    """Whether ``writer``'s output could be written in one block while ``reader`` reads it in
    another: an argument of ``reader`` in its memory that is not ``reader``'s rows in the
    very layout of that output."""
    out = writer.out
    return any(
        np.may_share_memory(a, out) and not (_sliced(a, reader.out) and _same_view(a, out))
        for a in reader.arrays()
    )


def _run_end(nodes: list[Node], start: int) -> int:
    """The end of the longest run of blockable calls from ``start``: one row count, and no
    call reading another's output (either way round) other than row by row."""
    rows = _rows(nodes[start])
    if rows is None:
        return start
    k = start + 1
    while k < len(nodes) and _rows(nodes[k]) == rows:
        node, before = nodes[k], nodes[start:k]
        if any(_conflict(node, other) or _conflict(other, node) for other in before):
            break
        k += 1
    return k


def _blocked(nodes: list[Node], numbers: list) -> Callable[[], None]:
    """One call that makes ``nodes`` (a run) block of rows by block, the blocks split among
    WORKERS threads in contiguous shares."""
    rows = nodes[0].out.shape[0]
    row_bytes = max(n.out.itemsize * math.prod(n.out.shape[1:]) for n in nodes)
    step = max(1, BLOCK_BYTES // row_bytes)
    blocks = [slice(i, min(i + step, rows)) for i in range(0, rows, step)]
    calls = [[_block_call(node, b, numbers) for node in nodes] for b in blocks]
    share = -(-len(calls) // WORKERS)
    parts = [calls[i : i + share] for i in range(0, len(calls), share)]

    def part(blocks: list[list[Callable]]) -> None:
        for block in blocks:
            for call in block:
                call()

    def run() -> None:
        context = contextvars.copy_context()  # numpy's error state, as in the caller
        futures = [_executor().submit(context.run, part, p) for p in parts[1:]]
        part(parts[0])
        for f in futures:
            f.result()

    return run


def _block_call(node: Node, rows: slice, numbers: list) -> Callable[[], Any]:
    """``node``'s call on the block ``rows``: its output's rows and the sliced arguments'."""
    out = node.out

    def cut(a: Any) -> Any:
        return a[rows] if isinstance(a, np.ndarray) and _sliced(a, out) else a

    args = tuple(cut(a) for a in node.args)
    kwargs = {k: cut(v) for k, v in node.kwargs.items()}
    if nested_any(lambda v: type(v) is ScalarRef, (args, kwargs)):
        return lambda: node.fn(*resolve(args, numbers), **resolve(kwargs, numbers))
    return functools.partial(node.fn, *args, **kwargs)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, WORKERS - 1), thread_name_prefix="nnkit-blocks")
    return _pool
