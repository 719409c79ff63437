"""Array operations written into existing arrays, for libraries whose ufuncs take ``out=``
(the NumPy backend). Layers, losses (``nnkit.functional``'s ops) and optimizer rules
(``nnkit.optim``) are written once against this interface; given these ops instead of the
pure ones, the same formula writes into buffers, with the same operations in the same order
(bitwise equal).

``out`` is an array (written and returned) or a role: a string naming one call site. The
first call of a role computes its result as a new array and keeps it as the role's buffer;
later calls write into it. So a warm training step allocates nothing, and a result is only
valid until its role is computed again: only the owner of every array involved (the
Trainer's training step) may use these ops. A role's buffer is looked up by name alone (a
few dict lookups per step, no shapes hashed): every call of a role in one scope must see
inputs of the same shapes and dtypes, so the step takes one ``scope`` per minibatch shape.

``replayed(fn, leaves)`` runs a function of these ops again as the list of calls it made
(``backends.replay``): a warm training step without its Python.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .replay import Replay

# op name -> its function: a path in xp ("add.reduce"), or "self.<helper>" for the ops' own
_ELEMENTWISE: dict[str, str] = {
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "gt": "greater",
    "maximum": "maximum", "matmul": "matmul", "neg": "negative", "abs": "abs", "sqrt": "sqrt",
    "exp": "exp", "tanh": "tanh", "nonnegative": "self._nonnegative", "where": "self._where",
}  # fmt: skip
_REDUCTIONS: dict[str, str] = {"sum": "add.reduce", "max": "maximum.reduce"}  # as numpy.sum


def _elementwise(fn: Any, buffers: dict[str, Any], tape: list, asarray: Any) -> Any:
    """``fn`` as an op ``op(*args, out=...)``: ``fn(*args, out=out)``, ``out`` an array or a
    role (its buffer in ``buffers``, made by the role's first call). One Python call. While
    ``tape[0]`` is a list (a recording), each call is appended to it as ``(fn, args,
    {"out": out})``: called again, it writes the same array. A role's buffer is an array
    even where ``fn`` gives a scalar (of 0-d operands): ``asarray`` makes it one."""
    get = buffers.get

    def op(*args: Any, out: Any) -> Any:
        if type(out) is str:
            buffer = get(out)
            if buffer is None:
                buffer = buffers[out] = asarray(fn(*args))
                if tape[0] is not None:
                    tape[0].append((fn, args, {"out": buffer}))
                return buffer
            out = buffer
        if tape[0] is not None:
            tape[0].append((fn, args, {"out": out}))
        return fn(*args, out=out)

    return op


def _reduction(reduce: Any, buffers: dict[str, Any], tape: list, asarray: Any) -> Any:
    """``ufunc.reduce`` as an op ``op(x, axis, keepdims=False, out=...)`` (as ``_elementwise``;
    ``axis`` None reduces every axis)."""
    get = buffers.get

    def op(x: Any, axis: int | None, keepdims: bool = False, out: Any = None) -> Any:
        if type(out) is str:
            buffer = get(out)
            if buffer is None:
                buffer = buffers[out] = asarray(reduce(x, axis, None, None, keepdims))
                if tape[0] is not None:
                    tape[0].append((reduce, (x, axis), {"out": buffer, "keepdims": keepdims}))
                return buffer
            out = buffer
        if tape[0] is not None:
            tape[0].append((reduce, (x, axis), {"out": out, "keepdims": keepdims}))
        return reduce(x, axis, None, out, keepdims)

    return op


class InplaceOps:
    """``add``, ``sub``, ``mul``, ``div``, ``gt``, ``matmul``, ``maximum`` (``x op y``),
    ``neg``, ``abs``, ``sqrt``, ``exp``, ``tanh``, ``nonnegative``, ``sum`` and ``max`` (over
    one axis), ``where`` write into ``out`` and return it (the PURE ops of
    ``nnkit.functional`` say what each computes); ``xp`` is the library's module (``numpy``).
    ``scratch(like)`` gives two scratch arrays with the shape and dtype of ``like``, kept
    across steps; ``scope(name)`` the ops, with buffers of their own, of one layer (or of one
    minibatch shape); ``replayed(fn, leaves)`` see ``backends.replay.Replay``."""

    def __init__(self, xp: Any, tape: list | None = None):
        self.xp = xp
        self._scratch: dict[tuple, tuple[Any, Any]] = {}
        self._buffers: dict[str, Any] = {}
        self._scopes: dict[Any, InplaceOps] = {}
        self._tape = [None] if tape is None else tape  # [the recording], shared by the scopes
        for table, make in ((_ELEMENTWISE, _elementwise), (_REDUCTIONS, _reduction)):
            for name, path in table.items():  # bound once: an op costs one Python call
                owner, *attributes = path.split(".")
                fn = self if owner == "self" else getattr(xp, owner)
                for attribute in attributes:
                    fn = getattr(fn, attribute)
                setattr(self, name, make(fn, self._buffers, self._tape, xp.asarray))

    def scope(self, name: Any, keep: int | None = None) -> InplaceOps:
        """The ops of scope ``name``, made on first use; ``keep``: forget the oldest scopes
        beyond that many (their buffers go once nothing else holds them)."""
        child = self._scopes.get(name)
        if child is None:
            child = self._scopes[name] = InplaceOps(self.xp, self._tape)
            while keep is not None and len(self._scopes) > keep:
                del self._scopes[next(iter(self._scopes))]
        return child

    @contextlib.contextmanager
    def recording(self, tape: list) -> Iterator[list]:
        """Within the block, every op of these ops and their scopes is appended to ``tape``."""
        self._tape[0] = tape
        try:
            yield tape
        finally:
            self._tape[0] = None

    def replayed(self, fn: Callable, leaves: Callable, copied: tuple[int, ...] = ()) -> Replay:
        """``fn`` (a function of these ops) replayed as the calls it made: see ``Replay``."""
        return Replay(fn, self, leaves, copied)

    def scratch(self, like: Any) -> tuple[Any, Any]:
        key = (like.shape, like.dtype)
        if key not in self._scratch:
            self._scratch[key] = (self.xp.empty_like(like), self.xp.empty_like(like))
        return self._scratch[key]

    def _nonnegative(self, x: Any, out: Any = None) -> Any:
        """1 where x >= 0, else 0, in x's dtype: one comparison written as numbers."""
        if out is None:
            out = self.xp.empty_like(x)
        return self.xp.greater_equal(x, 0, out=out)

    def _where(self, cond: Any, x: Any, y: Any, out: Any = None) -> Any:
        """``x`` where ``cond``, else ``y``: ``y`` copied into ``out`` (skipped when ``out`` is
        ``y``), then ``x`` where ``cond``. ``out`` must not be ``x``."""
        if out is None:
            return self.xp.where(cond, x, y)
        if out is x:
            raise ValueError("where(cond, x, y, out=x) would overwrite x before reading it")
        if out is not y:
            self.xp.copyto(out, y)
        self.xp.copyto(out, x, where=cond)
        return out
