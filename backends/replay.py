"""A function of in-place ops called again as the array calls it made, without its Python.

The NumPy training step is written in ``InplaceOps`` (``backends.inplace``): every result
lands in a buffer kept from step to step, so a warm step makes the same ufunc calls on the
same arrays each time, only the values differ. ``Replay(fn, ops, leaves, copied)`` records
those calls and makes them again, much as a CUDA graph is captured and replayed: for a
small network the Python around the calls (layers, scopes, the model's loops) costs as much
as the arithmetic.

Arguments are of two kinds. Those at the positions ``copied`` (the minibatch X, T) are
copied into arrays of the Replay's own, and ``fn`` always runs on those copies. The others
are held (the parameters): their arrays are read in place, and a call whose held leaves
are other arrays than the recorded ones (another fit's copy, a weight replaced in its
dict) records again.

For each combination of the copied arguments' shapes and dtypes, and of the held
arguments, the first two calls run ``fn`` recording (the first one also makes the ops'
buffers, and records the calls that make them as calls into them). The recording is kept
only when both are the same calls on the same arrays with the same numbers, when every
array they touch is a buffer they write, an array held in the arguments or a view of one,
and when the results are such arrays; from the third call on, the calls are made again
and the second call's results returned. Otherwise ``fn`` is simply called, every time: a
function that makes new arrays (``xp.mean``, ``astype``) or takes a number that changes
between calls is never replayed, and stays right.

``fn`` must not branch on the values of its arrays (as under ``jax.jit``): a branch is
recorded as taken. nnkit's layers, losses and optimizer rules never do.

A recording whose matmuls are all small (under ``blas.SERIAL_BELOW`` multiply-adds each) is
replayed with the BLAS on one thread (``backends.blas``): there, threads cost more than
they save.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import blas

KEEP = 4  # recordings kept (the minibatch shapes of a fit: full and last partial, two fits)


class _Entry:
    """The state of one combination of shapes and held arguments."""

    def __init__(self, held: list, inputs: list):
        self.held = held  # the leaves of the held arguments
        self.inputs = inputs  # the arrays the copied arguments go into
        self.first: tuple[list, Any] | None = None  # the first call's (tape, result)
        self.tape: list | None = None  # kept: replay it
        self.serial = False  # replay it with the BLAS on one thread
        self.result: Any = None
        self.plain = False  # not replayable: call fn


class Replay:
    """``fn(*args)`` recorded and replayed (see the module's docstring); ``ops`` the
    ``InplaceOps`` ``fn`` computes in, ``leaves(tree)`` the leaves of a held argument or a
    result."""

    def __init__(self, fn: Callable, ops: Any, leaves: Callable, copied: tuple[int, ...]):
        self.fn, self.ops, self.leaves, self.copied = fn, ops, leaves, tuple(copied)
        self._entries: dict[tuple, _Entry] = {}

    def __call__(self, *args: Any) -> Any:
        copied = self.copied
        key = tuple((args[i].shape, args[i].dtype) for i in copied)
        held = [leaf for i, a in enumerate(args) if i not in copied for leaf in self.leaves(a)]
        entry = self._entries.get(key)
        if (entry is None or len(held) != len(entry.held)
                or any(a is not b for a, b in zip(held, entry.held, strict=True))):  # fmt: skip
            entry = self._new(key, held, args)
        if entry.plain:  # not replayable: the arguments as given, no copies
            return self.fn(*args)
        copyto = self.ops.xp.copyto
        for i, buffer in zip(copied, entry.inputs, strict=True):
            copyto(buffer, args[i])
        if entry.tape is not None:
            counts = blas.one_thread() if entry.serial else None
            try:
                for call, call_args, keywords in entry.tape:
                    call(*call_args, **keywords)
            finally:
                if counts is not None:
                    blas.restore(counts)
            return entry.result
        own = list(args)
        for i, buffer in zip(copied, entry.inputs, strict=True):
            own[i] = buffer
        with self.ops.recording([]) as tape:
            result = self.fn(*own)
        if entry.first is None:
            entry.first = (tape, result)
        else:
            if self._same(entry, entry.first, (tape, result)):
                entry.tape, entry.result = tape, result
                entry.serial = self._largest_matmul(tape) < blas.SERIAL_BELOW
            else:
                entry.plain = True
            entry.first = None
        return result

    def _new(self, key: tuple, held: list, args: tuple) -> _Entry:
        empty = self.ops.xp.empty_like
        entry = self._entries[key] = _Entry(held, [empty(args[i]) for i in self.copied])
        while len(self._entries) > KEEP:
            del self._entries[next(iter(self._entries))]
        return entry

    def _largest_matmul(self, tape: list) -> int:
        """The multiply-adds of the largest matmul of ``tape`` (0 if none)."""
        matmul = self.ops.xp.matmul
        sizes = [math.prod(a.shape) * b.shape[-1] for call, (a, b), _ in
                 (t for t in tape if t[0] is matmul)]  # fmt: skip
        return max(sizes, default=0)

    def _same(self, entry: _Entry, first: tuple[list, Any], second: tuple[list, Any]) -> bool:
        """Whether two recordings (tape, result) are the same calls on the same known arrays
        with the same numbers, and give the same known arrays as results."""
        (tape1, result1), (tape2, result2) = first, second
        array = self.ops.xp.ndarray
        known = {id(_root(a)) for a in entry.held if isinstance(a, array)}
        known |= {id(_root(a)) for a in entry.inputs}
        known |= {id(_root(keywords["out"])) for *_, keywords in tape2}
        if len(tape1) != len(tape2):
            return False
        for (f1, a1, k1), (f2, a2, k2) in zip(tape1, tape2, strict=True):
            if f1 is not f2 or k1.keys() != k2.keys():
                return False
            if not _same_values((*a1, *k1.values()), (*a2, *k2.values()), array, known):
                return False
        r1, r2 = self.leaves(result1), self.leaves(result2)
        return all(a is b for a, b in zip(r1, r2, strict=False)) and _same_values(
            r1, r2, array, known
        )


def _same_values(a: Any, b: Any, array: type, known: set[int]) -> bool:
    """Pairwise: arrays the same memory (shape, strides, dtype) of a known root, other
    values equal and of one type."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, array):
            if not isinstance(y, array) or id(_root(y)) not in known:
                return False
            if x is not y and _where(x) != _where(y):  # views made anew each call
                return False
        elif type(x) is not type(y) or not (x is y or x == y):
            return False
    return True


def _root(a: Any) -> Any:
    """The array that owns ``a``'s memory (``a`` itself, or the base of the view ``a``)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _where(a: Any) -> tuple:
    """What an array reads and writes: its owner, first byte, shape, strides and dtype."""
    return id(_root(a)), a.__array_interface__["data"][0], a.shape, a.strides, a.dtype
