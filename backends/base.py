"""The Backend object: one array namespace and one device, plus the few
primitives that differ per array library (moving data, waiting, compiling)."""

from __future__ import annotations

import copy
import importlib
import os
from collections.abc import Callable
from typing import Any

FLOAT_DTYPES = ("float32", "float64")
TF32_ENV = "NNKIT_TF32"


def tf32_requested() -> bool:
    """True when ``NNKIT_TF32`` is set to a non-empty value other than "0": float32 matmuls
    may then use TF32 tensor cores (10-bit mantissa). Unset: full float32 precision."""
    return os.environ.get(TF32_ENV, "") not in ("", "0")


def require(module: str, backend: str, install: str) -> Any:
    """``importlib.import_module(module)``, or BackendUnavailable for ``backend`` saying that
    it is not installed and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendUnavailable(backend, f"it is not installed ({e})", install) from e


class BackendUnavailable(RuntimeError):
    """A backend was asked for that cannot run here; the message says why and how to install it."""

    def __init__(self, name: str, reason: str, install: str | None = None):
        self.name, self.reason, self.install = name, reason, install
        hint = f" Install it with: {install}" if install else ""
        super().__init__(f"backend {name!r} is unavailable: {reason}.{hint}")


class Backend:
    """An array-API namespace ``xp`` bound to one ``device``.

    Subclasses override only what their library does differently; everything
    above this shim sees arrays through ``xp`` alone.
    """

    name: str = "?"
    install: str = ""
    is_host: bool = False  # True where arrays are NumPy arrays in host memory (no copy out)
    can_scan: bool = False  # True where ``scan`` compiles a whole loop (JAX)
    can_compile_step: bool = False  # True where ``compile_step`` compiles a step (torch)
    bfloat16: bool = False  # True where arrays can be bfloat16 (mixed precision)
    immutable: bool = False  # True where arrays never change once made (JAX): checks of an
    # array's values may then be remembered by the array's identity
    can_shard: bool = False  # True where ``on(devices)`` trains data-parallel (JAX)
    device_count: int = 1  # the devices each minibatch is split over
    reference_only: bool = False  # True where the backend checks correctness, no target to time
    donates: bool = False  # True where ``jit(fn, donate_argnums)`` may write into or consume
    # the donated arguments (NumPy's replay, JAX); False where every call returns new arrays

    def __init__(self, xp: Any, device: Any):
        self.xp = xp
        self.device = device

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, device={self.device!r})"

    def dtype(self, dtype: Any) -> Any:
        """The namespace's dtype for a name such as ``"float32"`` (dtypes pass through)."""
        if not isinstance(dtype, str):
            return dtype
        if not hasattr(self.xp, dtype):
            raise ValueError(f"dtype {dtype!r} is not supported by backend {self.name!r}")
        return getattr(self.xp, dtype)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Host (NumPy, list) or same-backend data as an array on this backend's device."""
        dtype = None if dtype is None else self.dtype(dtype)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    def on(self, devices: Any) -> Backend:
        """This backend data-parallel over ``devices``: None or 1 is this backend itself;
        only backends with ``can_shard`` (JAX) take more (an int N, "all", or a sequence of
        devices) and return a backend whose arrays live on a mesh of them."""
        if devices is None or (type(devices) is int and devices == 1):
            return self
        raise ValueError(
            f"devices={devices!r}: backend {self.name!r} trains on one device; data-parallel "
            "training over several devices needs the 'jax' backend (backend='jax')"
        )

    def shard_rows(self, x: Any) -> Any:
        """Inside compiled code: ``x`` (rows, ...) split by rows over this backend's devices
        where they divide the rows evenly, else whole on each; ``x`` itself on one device."""
        return x

    def replicate(self, tree: Any) -> Any:
        """Inside compiled code: every leaf of ``tree`` whole on each of this backend's
        devices; ``tree`` itself on one device."""
        return tree

    def is_here(self, x: Any) -> bool:
        """Whether ``x``, an array of this backend's library, is on this backend's device(s)."""
        import array_api_compat

        return array_api_compat.device(x) == self.device

    def place(self, tree: Any) -> Any:
        """``tree`` (a pytree of this backend's arrays and Python numbers) as a compiled call
        returns such a tree: on a compiling backend every leaf an array on the device, so
        that the first call of a compiled function and the calls after it see the same
        argument kinds (one compilation); elsewhere ``tree`` itself."""
        return tree

    def to_numpy(self, x: Any) -> Any:
        """A NumPy copy (or view, on the CPU) of ``x``."""
        import numpy as np

        return np.asarray(x)

    def exportable(self, x: Any) -> Any:
        """``x`` as an array that any DLPack importer can take: a copy on its device where
        ``x.strides`` has a negative one (NumPy, CuPy: torch cannot import those), detached
        from the autograd graph (torch); ``x`` itself otherwise."""
        strides = getattr(x, "strides", None)
        if strides is not None and any(s < 0 for s in strides):
            return self.xp.asarray(x, copy=True)
        return x

    def writeable(self, x: Any) -> bool:
        """False where ``x`` must not be written in place: every array of an immutable
        backend (JAX), read-only NumPy arrays."""
        return not self.immutable and bool(getattr(getattr(x, "flags", None), "writeable", True))

    def sync(self, x: Any = None) -> Any:
        """Block until the computation behind ``x`` has finished; returns ``x``."""
        return x

    def jit(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """``fn`` compiled where the backend has a compiler (JAX: XLA; NumPy: recorded once,
        then replayed as the array calls it made); ``fn`` itself otherwise. The arguments at
        ``donate_argnums`` are given up by the caller: the compiled function may write its
        outputs into them. Compiled or not, the same numbers."""
        return fn

    def compile_step(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """``fn``, a pure training step ``(params, opt_state, *rows) -> (params, opt_state,
        loss)``, compiled as one program on request where ``jit`` leaves it eager (torch:
        ``torch.compile``): the same formulas, equal to ``fn`` within float rounding; each
        new shape of the rows compiles once. ``donate_argnums`` as for ``jit``.

        Only backends with ``can_compile_step`` implement it; the others raise
        NotImplementedError.
        """
        raise NotImplementedError(f"backend {self.name!r} does not compile a training step")

    def without_jit(self) -> Backend:
        """This backend with ``jit`` the identity: every function runs as written, one array
        operation at a time (the plain path that compiled ones are tested against)."""
        plain = copy.copy(self)
        plain.jit = lambda fn, donate_argnums=(): fn  # type: ignore[method-assign]
        plain.donates = False
        return plain

    def scan(self, fn: Callable, carry: Any, xs: Any) -> tuple[Any, Any]:
        """``carry, ys = scan(fn, carry, xs)``: ``fn(carry, x) -> (carry, y)`` over the leading
        axis of every leaf of ``xs``, compiled as one loop (``jax.lax.scan`` semantics).

        Only backends with ``can_scan`` implement it; the others raise NotImplementedError.
        """
        raise NotImplementedError(f"backend {self.name!r} has no compiled scan")

    def loop(self, fn: Callable, carry: Any, count: Any, length: int) -> tuple[Any, Any]:
        """``carry, ys = loop(fn, carry, count, length)``: ``fn(carry, i) -> (carry, y)`` for
        i = 0 .. count - 1, ``count`` a value known only when the compiled code runs (at most
        ``length``), as one compiled loop; each leaf of ``ys`` is (length, ...), row i holding
        step i's y and the rows from ``count`` on zeros. One compilation serves every count.

        Only backends with ``can_scan`` implement it; the others raise NotImplementedError.
        """
        raise NotImplementedError(f"backend {self.name!r} has no compiled loop")

    def device_name(self) -> str:
        """A human-readable name of the device (for reports)."""
        return str(self.device)

    def keep_compiled(self, directory: str) -> bool:
        """Keep the programs this backend compiles in ``directory``, for later processes to
        load instead of compiling again; returns whether it does (backends that compile)."""
        return False

    def device_names(self) -> list[str]:
        """Every device this backend can train on here (``on(devices)`` picks among them)."""
        return [self.device_name()]

    def memory_bytes(self) -> int | None:
        """Total memory of an accelerator device in bytes; None for host memory or unknown."""
        return None
