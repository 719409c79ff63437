"""The stand-ins a recording runs a function on (``tracing``): ``Traced`` for an array,
``TracedScalar`` for a Python number, and the namespaces they hand out.

A stand-in computes as NumPy and Python would, at once, on its real value, and tells its
recorder what it did: ufuncs and operators through NEP 13's ``__array_ufunc__``, NumPy's
functions through NEP 18's ``__array_function__``, the namespace's functions through
``__array_namespace__`` (``TracingNamespace``), arithmetic on numbers through Python's
operators. Reading a value out of one (``float(x)``, ``if x:``, ``x.tolist()``) raises
``tracing.NotTraceable`` through its recorder, as a tracer of ``jax.jit`` does.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np


def recorder_of(args: tuple, kwargs: dict) -> Any:
    """The Recorder of the first traced value among ``args`` and ``kwargs``, or None."""
    for x in (*args, *kwargs.values()):
        kind = type(x)
        if kind is Traced or kind is TracedScalar:
            return x.recorder
        if kind is tuple or kind is list:
            found = recorder_of(tuple(x), {})
            if found is not None:
                return found
    return None



def _not_traceable(what: str) -> Callable:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise self.recorder.fail(f"{what} reads a value out of a traced array or number")

    method.__name__ = what
    return method


def _binary(ufunc: np.ufunc) -> tuple[Callable, Callable]:
    def op(self: Traced, other: Any) -> Any:
        return ufunc(self, other)

    def reflected(self: Traced, other: Any) -> Any:
        return ufunc(other, self)

    return op, reflected


def _inplace(ufunc: np.ufunc) -> Callable:
    def op(self: Traced, other: Any) -> Any:
        return ufunc(self, other, out=(self,))

    return op


def _unary(ufunc: np.ufunc) -> Callable:
    def op(self: Traced) -> Any:
        return ufunc(self)

    return op


class Traced:
    """A NumPy array under a trace: ``array`` (an input, a buffer or a view of one) and the
    ``recorder`` that notes what is done with it. Supports the operators, ``shape``,
    ``dtype``, ``ndim``, ``size``, ``device``, ``T``, ``mT``, indexing, ``astype`` and the
    array-API namespace; reading its values raises NotTraceable."""

    __slots__ = ("array", "recorder")

    def __init__(self, array: np.ndarray, recorder: Any):
        self.array, self.recorder = array, recorder

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    size = property(lambda self: self.array.size)
    device = property(lambda self: "cpu")
    T = property(lambda self: self.recorder.call(np.transpose, (self,), {}))
    mT = property(lambda self: self.recorder.call(np.swapaxes, (self, -1, -2), {}))

    def __repr__(self) -> str:
        return f"Traced(shape={self.shape}, dtype={self.dtype})"

    def __len__(self) -> int:
        return len(self.array)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return self.recorder.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return self.recorder.call(func, args, kwargs)

    def __array_namespace__(self, api_version: str | None = None) -> TracingNamespace:
        return NAMESPACE

    def __getitem__(self, index: Any) -> Any:
        return self.recorder.call(operator.getitem, (self, index), {})

    def __setitem__(self, index: Any, value: Any) -> None:
        self.recorder.call(operator.setitem, (self, index, value), {})

    def astype(self, dtype: Any, copy: bool = True) -> Any:
        return self.recorder.call(np.ndarray.astype, (self, dtype), {"copy": copy})

    def reshape(self, *shape: Any) -> Any:
        return self.recorder.call(np.reshape, (self, shape[0] if len(shape) == 1 else shape), {})

    __add__, __radd__ = _binary(np.add)
    __sub__, __rsub__ = _binary(np.subtract)
    __mul__, __rmul__ = _binary(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide)
    __mod__, __rmod__ = _binary(np.remainder)
    __matmul__, __rmatmul__ = _binary(np.matmul)
    __and__, __rand__ = _binary(np.bitwise_and)
    __or__, __ror__ = _binary(np.bitwise_or)
    __xor__, __rxor__ = _binary(np.bitwise_xor)
    __lshift__, __rlshift__ = _binary(np.left_shift)
    __rshift__, __rrshift__ = _binary(np.right_shift)
    __iadd__, __isub__ = _inplace(np.add), _inplace(np.subtract)
    __imul__, __itruediv__ = _inplace(np.multiply), _inplace(np.true_divide)
    __lt__, __le__ = _binary(np.less)[0], _binary(np.less_equal)[0]
    __gt__, __ge__ = _binary(np.greater)[0], _binary(np.greater_equal)[0]
    __eq__, __ne__ = _binary(np.equal)[0], _binary(np.not_equal)[0]
    __neg__, __pos__ = _unary(np.negative), _unary(np.positive)
    __abs__, __invert__ = _unary(np.absolute), _unary(np.invert)
    __hash__ = None  # type: ignore[assignment]  # as ndarray: unhashable

    def __pow__(self, other: Any) -> Any:
        return _power(self, other, reflected=False)

    def __rpow__(self, other: Any) -> Any:
        return _power(self, other, reflected=True)

    __bool__ = _not_traceable("bool()")
    __float__ = _not_traceable("float()")
    __int__ = _not_traceable("int()")
    __index__ = _not_traceable("index()")
    __complex__ = _not_traceable("complex()")
    __array__ = _not_traceable("numpy.asarray()")
    __iter__ = _not_traceable("iteration")
    __dlpack__ = _not_traceable("__dlpack__")
    item = _not_traceable("item()")
    tolist = _not_traceable("tolist()")
    tobytes = _not_traceable("tobytes()")


class _Probe(np.ndarray):
    """An array whose ufunc calls return what was called instead of computing it."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        return ufunc, method, inputs, kwargs


def _power(x: Traced, other: Any, reflected: bool) -> Any:
    """``x ** other`` (``other ** x``) as ndarray computes it: a probe of x's dtype shows the
    ufunc its ** picks for ``other`` (square for 2, sqrt for 0.5, reciprocal for -1, else
    power), noted as that ufunc; a traced exponent is noted as ``**`` itself, which picks
    again at each replay."""
    if type(other) in (Traced, TracedScalar):
        pair = (other, x) if reflected else (x, other)
        return x.recorder.call(operator.pow, pair, {})
    probe = np.zeros(1, x.dtype).view(_Probe)
    picked = other ** probe if reflected else probe ** other
    if not isinstance(picked, tuple) or picked[1] != "__call__":
        pair = (other, x) if reflected else (x, other)
        return x.recorder.call(operator.pow, pair, {})
    ufunc, _, inputs, kwargs = picked
    return ufunc(*(x if i is probe else i for i in inputs), **kwargs)


def _number_op(fn: Callable) -> tuple[Callable, Callable]:
    def op(self: TracedScalar, other: Any) -> Any:
        if type(other) is Traced or isinstance(other, np.ndarray):
            return NotImplemented  # the array's reflected operator notes it
        return self.recorder.scalar(fn, (self, other))

    def reflected(self: TracedScalar, other: Any) -> Any:
        return self.recorder.scalar(fn, (other, self))

    return op, reflected


class TracedScalar:
    """A Python number under a trace (the value ``value``, number ``index`` of ``recorder``):
    arithmetic on it is noted and replayed with Python's own operators; comparing it or
    reading it (``float``, ``if``) raises NotTraceable."""

    __slots__ = ("recorder", "index", "value")

    def __init__(self, recorder: Any, index: int, value: Any):
        self.recorder, self.index, self.value = recorder, index, value

    def __repr__(self) -> str:
        return f"TracedScalar({type(self.value).__name__})"

    def __array_namespace__(self, api_version: str | None = None) -> ScalarMath:
        return SCALAR_MATH

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # a ufunc of a NumPy array (or scalar) and this number (one learning rate per model
        # of a stack, divided by a bias correction of the step count): noted, the number read
        # anew at each replay
        return self.recorder.ufunc(ufunc, method, inputs, kwargs)

    __add__, __radd__ = _number_op(operator.add)
    __sub__, __rsub__ = _number_op(operator.sub)
    __mul__, __rmul__ = _number_op(operator.mul)
    __truediv__, __rtruediv__ = _number_op(operator.truediv)
    __floordiv__, __rfloordiv__ = _number_op(operator.floordiv)
    __mod__, __rmod__ = _number_op(operator.mod)
    __pow__, __rpow__ = _number_op(operator.pow)

    def __neg__(self) -> TracedScalar:
        return self.recorder.scalar(operator.neg, (self,))

    def __abs__(self) -> TracedScalar:
        return self.recorder.scalar(abs, (self,))

    __hash__ = object.__hash__
    __eq__ = _not_traceable("==")
    __ne__ = _not_traceable("!=")
    __lt__ = _not_traceable("<")
    __le__ = _not_traceable("<=")
    __gt__ = _not_traceable(">")
    __ge__ = _not_traceable(">=")
    __bool__ = _not_traceable("bool()")
    __float__ = _not_traceable("float()")
    __int__ = _not_traceable("int()")
    __index__ = _not_traceable("index()")
    __array__ = _not_traceable("numpy.asarray()")


class TracingNamespace:
    """``array_api_compat.numpy`` whose functions note their calls on traced arrays; ufuncs,
    dtypes and constants are its own (ufuncs note themselves through ``__array_ufunc__``)."""

    def __init__(self, xp: Any):
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._xp, name)
        if callable(value) and not isinstance(value, (np.ufunc, type)):
            value = _noting(value)
        setattr(self, name, value)  # looked up once
        return value


def _noting(fn: Callable) -> Callable:
    """``fn`` noting its calls where an argument is traced, else ``fn`` as it is."""

    def noted(*args: Any, **kwargs: Any) -> Any:
        recorder = recorder_of(args, kwargs)
        if recorder is None:
            return fn(*args, **kwargs)
        return recorder.call(fn, args, kwargs)

    noted.__name__ = getattr(fn, "__name__", "noted")
    noted.__doc__ = fn.__doc__
    return noted


def _clip(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002  (array API names)
    if min is not None:
        x = x if x > min else min  # as builtins.max(x, min), which the array API's clip is
    if max is not None:
        x = x if x < max else max
    return x


class ScalarMath:
    """The few namespace functions a formula may apply to a traced Python number (a
    schedule's ``cos`` and ``clip``), noted and replayed with ``math`` and builtins."""

    def __getattr__(self, name: str) -> Callable:
        fn = {"clip": _clip, "minimum": min, "maximum": max}.get(name) or getattr(math, name)

        def noted(x: Any, *args: Any, **kwargs: Any) -> Any:
            if type(x) is not TracedScalar:
                return fn(x, *args, **kwargs)
            if kwargs:
                return x.recorder.scalar(lambda v, *a: fn(v, *a, **kwargs), (x, *args))
            return x.recorder.scalar(fn, (x, *args))

        return noted


NAMESPACE = TracingNamespace(compat_numpy)
SCALAR_MATH = ScalarMath()
