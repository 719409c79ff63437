"""Tracing: a NumPy function run once on stand-ins that note every array operation it makes.

``Recorder`` holds one recording. The function is called with each NumPy array of its
arguments replaced by a ``Traced`` array and each Python number by a ``TracedScalar``
(``traced``). Both compute as NumPy and Python would, at once and on the real values, and
note what they did:

- ufuncs, and so the operators (``x * y``, ``X @ W``, ``-x``): NEP 13, ``__array_ufunc__``;
- NumPy's other functions (``numpy.sum``, ``numpy.where``): NEP 18, ``__array_function__``;
- the functions of the namespace the formulas ask the arrays for (``xp = namespace(x)``,
  ``xp.sum``, ``xp.astype``): ``__array_namespace__`` gives a namespace that notes its calls;
- arithmetic on traced Python numbers (a step count, a learning rate from a schedule): a
  small program of Python operations.

Each noted operation that makes an array is a ``Node`` that wrote a new array, its buffer;
a view (``X.T``, ``b[None, :]``) is no operation at all: it stays a view of the same memory.
``backends.numpy.compiled`` turns a recording into a program that makes the same calls again
into the same buffers. So every array a noted operation reads must be an input, a buffer, a
view of one, or a constant the function made without traced values (``xp.arange(k)``).

Whatever would read a value out of the trace (``float(x)``, ``if x > 0:``, ``x.tolist()``,
``numpy.asarray(x)``) raises ``NotTraceable``, as ``jax.jit`` raises on its tracers: such a
function cannot be recorded and is simply called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np

from .traced import Traced, TracedScalar


class NotTraceable(Exception):
    """The function read a value out of a trace, or used something the tracer cannot note."""


class ScalarRef:
    """A traced Python number in a noted call: entry ``index`` of the recording's numbers."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class Node:
    """One noted operation: ``fn(*args, **kwargs)`` writing ``out``.

    ``kind``: "ufunc" (``fn(*args, out=out, **kwargs)`` writes the result), "copy" (the
    result of ``fn(*args, **kwargs)`` is copied into ``out``), "into" (``fn(out, *args,
    **kwargs)`` writes it), "effect" (``fn(*args, **kwargs)`` writes into arrays among its
    arguments; ``out`` those arrays); a program marks "fresh ufunc" and "fresh copy" the
    nodes whose new result is an output as it is (no ``out``). ``args`` hold real arrays,
    constants and ScalarRefs.
    """

    __slots__ = ("fn", "args", "kwargs", "out", "kind")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, out: Any, kind: str):
        self.fn, self.args, self.kwargs, self.out, self.kind = fn, args, kwargs, out, kind

    def arrays(self) -> list[np.ndarray]:
        """The arrays this node reads (arguments, nested in tuples, lists and dicts; not
        ``out``)."""
        found: list[np.ndarray] = []
        _arrays((self.args, [v for k, v in self.kwargs.items() if k != "out"]), found)
        return found

    def writes(self) -> tuple[np.ndarray, ...]:
        """The arrays this node writes."""
        return self.out if isinstance(self.out, tuple) else (self.out,)


def nested_map(fn: Callable[[Any], Any], value: Any) -> Any:
    """``fn`` applied to each value inside tuples, lists and dicts (a call's arguments)."""
    kind = type(value)
    if kind is tuple or kind is list:
        return kind(nested_map(fn, v) for v in value)
    if kind is dict:
        return {k: nested_map(fn, v) for k, v in value.items()}
    return fn(value)


def nested_any(test: Callable[[Any], bool], value: Any) -> bool:
    """Whether ``test`` holds for a value inside tuples, lists and dicts."""
    kind = type(value)
    if kind is tuple or kind is list:
        return any(nested_any(test, v) for v in value)
    if kind is dict:
        return any(nested_any(test, v) for v in value.values())
    return test(value)


def _arrays(value: Any, found: list) -> None:
    nested_map(lambda v: found.append(v) if isinstance(v, np.ndarray) else None, value)


def root(a: np.ndarray) -> Any:
    """The object that owns ``a``'s memory: ``a`` itself, or the base of the view ``a``."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _astype_into(out: np.ndarray, x: Any, dtype: Any, /, *args: Any, **kwargs: Any) -> None:
    """``x.astype(dtype)`` written into ``out`` (of that dtype): the same conversion."""
    np.copyto(out, x, casting="unsafe")


def _astype(buffer: np.ndarray, args: tuple, kwargs: dict) -> Callable:
    return _astype_into


class BitSelect:
    """``numpy.where(cond, x, y)`` written into ``out`` by bits, on the unsigned integers of
    out's width: ``out = y ^ ((x ^ y) * cond)``, the product by 1 or 0 keeping or clearing
    the differing bits. Each element is exactly x's or y's, NaN payloads and -0.0 included,
    as numpy.where copies them; three integer passes take a fraction of where's masked copy
    on large arrays. ``out`` may be x or y itself (each element is read before it is
    written), so a replay may write it into a donated input."""

    in_place = True

    def __init__(self, out: np.ndarray, x: Any, y: Any):
        self.dtype, self.bits = out.dtype, np.dtype(f"u{out.dtype.itemsize}")
        self.tmp = np.empty(out.shape, self.bits)
        # the bits of a constant number, converted once (arrays and traced numbers: per call)
        self.fixed = [None if isinstance(v, (np.ndarray, ScalarRef)) else self._bits(v)
                      for v in (x, y)]  # fmt: skip

    @classmethod
    def of(cls, buffer: np.ndarray, args: tuple, kwargs: dict) -> BitSelect | None:
        """A BitSelect for ``numpy.where(cond, x, y)`` whose result is ``buffer``, where cond
        is a bool array and x and y are numbers or arrays of the result's dtype (the bits to
        pick from); else None."""
        if kwargs or len(args) != 3 or buffer.dtype.kind not in "biuf":
            return None
        cond = args[0]
        if buffer.dtype.itemsize not in (1, 2, 4, 8) or not isinstance(cond, np.ndarray):
            return None
        if cond.dtype != np.bool_:  # other truth values take numpy.where itself
            return None
        for v in args[1:]:
            if isinstance(v, np.ndarray) and v.dtype != buffer.dtype:
                return None
            if not isinstance(v, (np.ndarray, int, float, np.generic, ScalarRef)):
                return None
        return cls(buffer, *args[1:])

    def __call__(self, out: np.ndarray, cond: np.ndarray, x: Any, y: Any) -> None:
        fx, fy = self.fixed
        xb = self._bits(x) if fx is None else fx
        yb = self._bits(y) if fy is None else fy
        np.bitwise_xor(xb, yb, out=self.tmp)
        np.multiply(self.tmp, cond, out=self.tmp, dtype=self.bits, casting="unsafe")  # & mask
        np.bitwise_xor(yb, self.tmp, out=out.view(self.bits))

    def _bits(self, v: Any) -> np.ndarray:
        """``v``'s bits: an array of the result's dtype viewed as integers, or a number
        converted to that dtype as numpy.where converts it."""
        return (v if isinstance(v, np.ndarray) else np.asarray(v, self.dtype)).view(self.bits)


def _reduction(ufunc: np.ufunc) -> Callable:
    """``numpy.sum`` and kin as what they call on an ndarray: ``ufunc.reduce`` (noted as a
    ufunc; NotImplemented for arguments beyond axis and keepdims)."""

    def reduce(x: Any, axis: Any = None, keepdims: bool = False, **rest: Any) -> Any:
        if rest or type(x) is not Traced:
            return NotImplemented
        return ufunc.reduce(x, axis=axis, keepdims=keepdims)

    return reduce


def _mean(x: Any, axis: Any = None, keepdims: bool = False, **rest: Any) -> Any:
    """``numpy.mean`` of a float array as it computes it: the sum (``add.reduce``), then
    divided by the count, an ``intp``, in float64 and cast back (NumPy's ``_mean``)."""
    if rest or type(x) is not Traced or x.dtype.kind != "f":
        return NotImplemented
    total = np.add.reduce(x, axis=axis, keepdims=keepdims)  # checks the axes first
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    count = np.intp(math.prod(x.shape[a] for a in axes))
    return x.recorder.into_new(np.true_divide, (total, count), x.dtype, casting="unsafe")


class BlockSelect:
    """``numpy.where(cond, x, y)`` whose condition varies along the leading axis alone (cond
    (K, 1, ..., 1) against x, y and out (K, ...): which of a stack's K models keeps its
    update), written as whole copies: x's blocks where cond holds, y's elsewhere (one copy
    of the array when every block comes from one of them, none when that is ``out``
    itself). Copies keep every bit, as numpy.where does; ``out`` may be x or y itself."""

    in_place = True

    @classmethod
    def of(cls, buffer: np.ndarray, args: tuple, kwargs: dict) -> BlockSelect | None:
        """A BlockSelect for ``numpy.where(cond, x, y)`` whose result is ``buffer``: cond a
        bool array (K, 1, ...) and x, y arrays of buffer's shape and dtype; else None."""
        if kwargs or len(args) != 3 or buffer.ndim < 2:
            return None
        cond, x, y = args
        if not isinstance(cond, np.ndarray) or cond.dtype != np.bool_:
            return None
        if cond.shape != (buffer.shape[0],) + (1,) * (buffer.ndim - 1):
            return None
        for v in (x, y):
            if not isinstance(v, np.ndarray) or v.shape != buffer.shape or v.dtype != buffer.dtype:
                return None
        return cls()

    def __call__(self, out: np.ndarray, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        keep = cond.reshape(-1)
        if keep.all() or not keep.any():
            source = x if keep[0] else y
            if not _same(source, out):
                np.copyto(out, source)
        elif _same(out, y):
            np.copyto(out, x, where=cond)
        elif _same(out, x):
            np.copyto(out, y, where=~cond)
        else:
            np.copyto(out, y)
            np.copyto(out, x, where=cond)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape and dtype are the same elements in memory."""
    return a is b or (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
                      and a.strides == b.strides)  # fmt: skip


def _select(buffer: np.ndarray, args: tuple, kwargs: dict) -> Any:
    """The replay of ``numpy.where``: by blocks (BlockSelect) or by bits (BitSelect)."""
    return BlockSelect.of(buffer, args, kwargs) or BitSelect.of(buffer, args, kwargs)


# NumPy functions noted as the ufunc calls they make on an ndarray
_DECOMPOSED: dict[Any, Callable] = {
    np.sum: _reduction(np.add), np.prod: _reduction(np.multiply),
    np.max: _reduction(np.maximum), np.min: _reduction(np.minimum), np.mean: _mean,
}  # fmt: skip
# functions whose result a replay writes into its buffer without a new array: those that
# take ``out=`` (the same loops as without it) ...
_WITH_OUT = {np.sum, np.prod, np.max, np.min, np.mean, np.take, np.concatenate}
# ... and those written by a function of their own (astype as a copy, where by bits; a
# factory that gives None leaves the call copied in)
_INTO: dict[Any, Callable] = {
    np.ndarray.astype: _astype, compat_numpy.astype: _astype, np.where: _select,
}


class Recorder:
    """One recording: its nodes, its program of traced numbers, and the arrays it knows."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.numbers: list[Any] = []  # the values of the traced numbers, inputs first
        self.number_ops: list[tuple[Callable, tuple]] = []  # number i (after the inputs)
        self.inputs = 0  # how many traced numbers are inputs
        self.known: set[int] = set()  # ids of the roots of inputs and buffers
        self.failed: str | None = None  # why the recording cannot be replayed

    # -- stand-ins for the arguments

    def array(self, a: np.ndarray) -> Traced:
        """The stand-in for input array ``a``."""
        self.known.add(id(root(a)))
        return Traced(a, self)

    def number(self, value: Any) -> TracedScalar:
        """The stand-in for input number ``value`` (all inputs come before any operation)."""
        self.numbers.append(value)
        self.inputs += 1
        return TracedScalar(self, len(self.numbers) - 1, value)

    def fail(self, why: str) -> NotTraceable:
        """Mark the recording as not replayable (even if the caller swallows the error)."""
        self.failed = self.failed or why
        return NotTraceable(why)

    # -- noting operations

    def scalar(self, fn: Callable, args: tuple) -> TracedScalar:
        """``fn(*args)`` on Python numbers, some traced: noted, its value computed now."""
        refs = tuple(self._arg(a) for a in args)
        value = fn(*self.values(refs))
        self.number_ops.append((fn, refs))
        self.numbers.append(value)
        return TracedScalar(self, len(self.numbers) - 1, value)

    def ufunc(self, ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
        """``getattr(ufunc, method)(*inputs, **kwargs)`` noted (NEP 13)."""
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        args = tuple(self._arg(x) for x in inputs)
        given = kwargs.pop("out", None)
        kw = {k: self._arg(v) for k, v in kwargs.items()}
        if given is not None:  # written into traced arrays (x += y): a write, noted as such
            outs = given if isinstance(given, tuple) else (given,)
            out = tuple(self._target(o) for o in outs)
            fn(*self.values(args), out=out, **self.values(kw))
            self.nodes.append(Node(fn, args, {**kw, "out": out}, out, "effect"))
            return outs[0] if len(outs) == 1 else outs
        result = fn(*self.values(args), **self.values(kw))
        if method == "at":  # ufunc.at writes into its first argument
            self.nodes.append(Node(fn, args, kw, (args[0],), "effect"))
            return None
        if ufunc.nout > 1 and method == "__call__":
            buffers = tuple(self._buffer(r) for r in result)
            self.nodes.append(Node(fn, args, {**kw, "out": buffers}, buffers, "ufunc"))
            return tuple(Traced(b, self) for b in buffers)
        buffer = self._buffer(result)
        self.nodes.append(Node(fn, args, {**kw, "out": buffer}, buffer, "ufunc"))
        return Traced(buffer, self)

    def call(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        """``fn(*args, **kwargs)``, a NumPy or namespace function (NEP 18, NEP 47), noted:
        its new arrays become buffers, its views stay views, calls on constants alone are
        not noted (their results are constants)."""
        if fn in _DECOMPOSED:
            result = _DECOMPOSED[fn](*args, **kwargs)
            if result is not NotImplemented:
                return result
        a = self._arg(args)
        kw = self._arg(kwargs)
        result = fn(*self.values(a), **self.values(kw))
        if not _traced(args) and not _traced(kwargs):
            return result
        return self._results(fn, a, kw, result)

    def into_new(self, ufunc: np.ufunc, inputs: tuple, dtype: Any, **kwargs: Any) -> Traced:
        """``ufunc(*inputs, out=<a new array of dtype>, **kwargs)`` noted (a result in
        another dtype than the loop's, as ``casting="unsafe"`` writes it)."""
        args = tuple(self._arg(x) for x in inputs)
        values = self.values(args)
        buffer = np.empty(np.broadcast_shapes(*(np.shape(v) for v in values)), dtype)
        self.known.add(id(buffer))
        ufunc(*values, out=buffer, **kwargs)
        self.nodes.append(Node(ufunc, args, {**kwargs, "out": buffer}, buffer, "ufunc"))
        return Traced(buffer, self)

    def _results(self, fn: Callable, args: tuple, kwargs: dict, result: Any) -> Any:
        if result is None:  # it wrote into its arguments (numpy.copyto, x[i] = v)
            writes = tuple(a for a in _written(fn, args) if isinstance(a, np.ndarray))
            self.nodes.append(Node(fn, args, kwargs, writes, "effect"))
            return None
        if isinstance(result, tuple) and all(isinstance(r, np.ndarray) for r in result):
            fresh = tuple(r for r in result if id(root(r)) not in self.known)
            buffers = {id(r): self._buffer(r) for r in fresh}
            if buffers:
                self.nodes.append(Node(_results_into(fn, result, fresh), args, kwargs,
                                       tuple(buffers.values()), "into"))  # fmt: skip
            return tuple(Traced(buffers.get(id(r), r), self) for r in result)
        if isinstance(result, (np.ndarray, np.generic)):
            if isinstance(result, np.ndarray) and id(root(result)) in self.known:
                return Traced(result, self)  # a view of an input or a buffer
            buffer = self._buffer(result)
            into = _INTO[fn](buffer, args, kwargs) if fn in _INTO else None
            if into is not None:
                self.nodes.append(Node(into, args, kwargs, buffer, "into"))
            elif fn in _WITH_OUT:
                self.nodes.append(Node(fn, args, {**kwargs, "out": buffer}, buffer, "ufunc"))
            else:
                self.nodes.append(Node(fn, args, kwargs, buffer, "copy"))
            return Traced(buffer, self)
        if isinstance(result, (bool, int, float, complex)):
            raise self.fail(f"{_name(fn)} read a Python number out of traced arrays")
        return result  # a dtype, finfo, a shape: not a value of the arrays

    # -- arguments

    def _arg(self, x: Any) -> Any:
        """``x`` as a noted call holds it: real arrays for Traced, ScalarRefs for traced
        numbers, in the containers they came in, constants as they are."""
        return nested_map(self._one_arg, x)

    def _one_arg(self, x: Any) -> Any:
        kind = type(x)
        if kind is Traced or kind is TracedScalar:
            if x.recorder is not self:
                raise self.fail("a value of another trace")
            return x.array if kind is Traced else ScalarRef(x.index)
        return x

    def values(self, x: Any) -> Any:
        """``x`` with each ScalarRef replaced by the number's value now."""
        return resolve(x, self.numbers)

    def _target(self, out: Any) -> np.ndarray:
        if type(out) is not Traced or out.recorder is not self:
            raise self.fail("out= must be a traced array of this trace")
        return out.array

    def _buffer(self, result: Any) -> np.ndarray:
        """A new result as an array (0-d for a NumPy scalar) that a replay writes into."""
        buffer = np.asarray(result)
        if not buffer.flags.writeable:
            buffer = buffer.copy()
        self.known.add(id(root(buffer)))
        return buffer


def _written(fn: Callable, args: tuple) -> tuple:
    """The arguments that a function returning None writes: the first one (numpy.copyto's
    destination, setitem's array)."""
    return args[:1]


def _results_into(fn: Callable, result: tuple, fresh: tuple) -> Callable:
    """An "into" function for ``fn`` returning a tuple: ``fn``'s new arrays (those of
    ``fresh``, by position in ``result``) copied into the buffers, views left alone."""
    positions = [i for i, r in enumerate(result) if any(r is f for f in fresh)]

    def into(out: tuple, *args: Any, **kwargs: Any) -> None:
        again = fn(*args, **kwargs)
        for buffer, i in zip(out, positions, strict=True):
            np.copyto(buffer, again[i])

    return into


def _traced(x: Any) -> bool:
    """Whether ``x`` holds a Traced array or a traced number (in tuples, lists, dicts)."""
    return nested_any(lambda v: type(v) is Traced or type(v) is TracedScalar, x)


def resolve(x: Any, numbers: list) -> Any:
    """``x`` with each ScalarRef replaced by its entry of ``numbers``."""
    return nested_map(lambda v: numbers[v.index] if type(v) is ScalarRef else v, x)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
