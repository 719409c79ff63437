"""The Backend object: one array namespace and one device, plus the few
primitives that differ per array library (moving data, waiting, compiling)."""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

FLOAT_DTYPES = ("float32", "float64")
"""The float dtypes every backend trains in (mixed precision aside): names for ``dtype=``."""
TF32_ENV = "NNKIT_TF32"
"""The environment variable that lets float32 matmuls use TF32 tensor cores when set."""


def tf32_requested() -> bool:
    """Whether ``NNKIT_TF32`` asks for TF32 matmuls.

    Returns
    -------
    bool
        True when ``NNKIT_TF32`` is set to a non-empty value other than "0": float32 matmuls
        may then use TF32 tensor cores (a 10-bit mantissa). False (unset): full float32.
    """
    return os.environ.get(TF32_ENV, "") not in ("", "0")


def require(module: str, backend: str, install: str) -> Any:
    """``importlib.import_module(module)``, or BackendUnavailable for ``backend`` saying that
    it is not installed and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendUnavailable(backend, f"it is not installed ({e})", install) from e


class BackendUnavailable(RuntimeError):
    """A backend was asked for that cannot run here; the message says why and how to install it.

    Parameters
    ----------
    name : str
        The backend's name, e.g. ``"cupy"``.
    reason : str
        Why it cannot run, e.g. ``"it is not installed (No module named 'cupy')"``.
    install : str, optional
        The command that installs it, e.g. ``"pip install 'nnkit[cuda12]'"``.

    Attributes
    ----------
    name, reason, install : str
        As given.
    """

    def __init__(self, name: str, reason: str, install: str | None = None):
        self.name, self.reason, self.install = name, reason, install
        hint = f" Install it with: {install}" if install else ""
        super().__init__(f"backend {name!r} is unavailable: {reason}.{hint}")


class Backend:
    """An array-API namespace ``xp`` bound to one ``device``.

    Subclasses override only what their library does differently; everything
    above this shim sees arrays through ``xp`` alone. Get one with ``nnkit.backends.get``.

    Parameters
    ----------
    xp : module
        The array-API namespace (``array_api_compat.numpy``, ``jax.numpy``, ...).
    device : object
        The library's device object that arrays are placed on.

    Attributes
    ----------
    name : str
        The backend's name: "numpy", "cupy", "jax", "torch" or "array_api_strict".
    xp, device
        As given.
    install : str
        The pip command that installs the backend's library.
    is_host : bool
        True where arrays are NumPy arrays in host memory (nothing to copy out).
    can_scan : bool
        True where ``scan`` and ``loop`` compile a whole loop (JAX).
    can_compile_step : bool
        True where ``compile_step`` compiles a training step (torch).
    bfloat16 : bool
        True where arrays can be bfloat16 (mixed precision: JAX).
    immutable : bool
        True where arrays never change once made (JAX): checks of an array's values may
        then be remembered by the array's identity.
    can_shard : bool
        True where ``on(devices)`` trains data-parallel over several devices (JAX).
    device_count : int
        The devices each minibatch is split over (1 but for a backend from ``on``).
    reference_only : bool
        True where the backend checks correctness and is no target to time
        (array_api_strict).
    donates : bool
        True where ``jit(fn, donate_argnums)`` may write into or consume the donated
        arguments (NumPy's replay, JAX).
    workers : int
        How many independent jobs (say, stacks of models) are worth running at once, each in
        a thread of its own (``concurrently``): 1 where each array operation already uses
        every core or the device; NumPy: the cores.
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
    workers: int = 1  # independent jobs worth running at once, in a thread each

    def __init__(self, xp: Any, device: Any):
        self.xp = xp
        self.device = device

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, device={self.device!r})"

    def dtype(self, dtype: Any) -> Any:
        """The namespace's dtype for a name.

        Parameters
        ----------
        dtype : str or dtype
            A name such as ``"float32"``, or a dtype (returned as it is).

        Returns
        -------
        dtype
            ``xp``'s dtype of that name.

        Raises
        ------
        ValueError
            The namespace has no dtype of that name.
        """
        if not isinstance(dtype, str):
            return dtype
        if not hasattr(self.xp, dtype):
            raise ValueError(f"dtype {dtype!r} is not supported by backend {self.name!r}")
        return getattr(self.xp, dtype)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Host (NumPy, list) or same-backend data as an array on this backend's device.

        Parameters
        ----------
        x : array_like
            A NumPy array, a list or number, or an array of this backend.
        dtype : str or dtype, optional
            The dtype to cast to (default: ``x``'s, as ``xp.asarray`` infers it).

        Returns
        -------
        array
            An array of this backend on ``device``; ``x`` itself where it already is one
            (JAX), a view of host memory where the library shares it (NumPy, torch CPU).
        """
        dtype = None if dtype is None else self.dtype(dtype)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    def on(self, devices: Any) -> Backend:
        """This backend data-parallel over ``devices``.

        Parameters
        ----------
        devices : None, int, "all" or sequence of devices
            None or 1: this backend itself. Only backends with ``can_shard`` (JAX) take
            more: an int N (the first N devices), "all", or a sequence of the library's
            devices.

        Returns
        -------
        Backend
            A backend whose arrays live on a mesh of those devices (``device_count`` of
            them), or this one.

        Raises
        ------
        ValueError
            More than one device asked of a backend that trains on one (naming JAX), or
            devices that do not exist here.
        TypeError
            ``devices`` of another kind (JAX).
        """
        if devices is None or (type(devices) is int and devices == 1):
            return self
        raise ValueError(
            f"devices={devices!r}: backend {self.name!r} trains on one device; data-parallel "
            "training over several devices needs the 'jax' backend (backend='jax')"
        )

    def shard_rows(self, x: Any) -> Any:
        """Inside compiled code: ``x`` split by rows over this backend's devices.

        Parameters
        ----------
        x : array of shape (rows, ...)
            An array of this backend.

        Returns
        -------
        array of shape (rows, ...)
            ``x`` split by rows over the devices where they divide the rows evenly, else
            whole on each; ``x`` itself on one device.
        """
        return x

    def replicate(self, tree: Any) -> Any:
        """Inside compiled code: every leaf of ``tree`` whole on each of the devices.

        Parameters
        ----------
        tree : pytree
            Nested lists, tuples and dicts of this backend's arrays.

        Returns
        -------
        pytree
            ``tree`` with every leaf replicated over the devices; ``tree`` itself on one
            device.
        """
        return tree

    def is_here(self, x: Any) -> bool:
        """Whether an array of this backend's library is on this backend's device(s).

        Parameters
        ----------
        x : array
            An array of this backend's library.

        Returns
        -------
        bool
            True where ``x`` lives on ``device`` (or the backend's devices).
        """
        import array_api_compat

        return array_api_compat.device(x) == self.device

    def place(self, tree: Any) -> Any:
        """``tree`` as a compiled call returns such a tree.

        On a compiling backend every leaf becomes an array on the device, so that the first
        call of a compiled function and the calls after it see the same argument kinds (one
        compilation); elsewhere ``tree`` is returned as it is.

        Parameters
        ----------
        tree : pytree
            This backend's arrays and Python numbers (an optimizer state, say).

        Returns
        -------
        pytree
            ``tree``, placed.
        """
        return tree

    def to_numpy(self, x: Any) -> Any:
        """``x`` as a NumPy array.

        Parameters
        ----------
        x : array
            An array of this backend.

        Returns
        -------
        numpy.ndarray
            A copy of ``x`` in host memory, or a view where ``x`` is in host memory already.
        """
        import numpy as np

        return np.asarray(x)

    def exportable(self, x: Any) -> Any:
        """``x`` as an array that any DLPack importer can take.

        Parameters
        ----------
        x : array
            An array of this backend.

        Returns
        -------
        array
            A copy on its device where ``x.strides`` has a negative one (NumPy, CuPy: torch
            cannot import those), ``x`` detached from the autograd graph (torch), or ``x``.
        """
        strides = getattr(x, "strides", None)
        if strides is not None and any(s < 0 for s in strides):
            return self.xp.asarray(x, copy=True)
        return x

    def writeable(self, x: Any) -> bool:
        """Whether ``x`` may be written in place.

        Parameters
        ----------
        x : array
            An array of this backend.

        Returns
        -------
        bool
            False for every array of an immutable backend (JAX) and for read-only NumPy
            arrays; True otherwise.
        """
        return not self.immutable and bool(getattr(getattr(x, "flags", None), "writeable", True))

    def sync(self, x: Any = None) -> Any:
        """Block until the computation behind ``x`` has finished (needed for honest timing
        on GPUs and JAX, which return before they compute).

        Parameters
        ----------
        x : array or pytree, optional
            What to wait for (CuPy, torch CUDA: the whole device stream is waited for).

        Returns
        -------
        object
            ``x``.
        """
        return x

    def jit(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """``fn`` compiled where the backend has a compiler.

        JAX: XLA. NumPy: recorded once, then replayed as the array calls it made (bitwise
        the same numbers). Elsewhere ``fn`` itself.

        Parameters
        ----------
        fn : callable
            A pure function of arrays and pytrees of arrays: plain array expressions that
            never branch on values or read them (``float(x)``).
        donate_argnums : tuple of int
            Positions of arguments the caller gives up: the compiled function may write its
            outputs into them.

        Returns
        -------
        callable
            The compiled function (or ``fn``), called as ``fn`` is.
        """
        return fn

    def compile_step(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """A training step compiled as one program on request where ``jit`` leaves it eager
        (torch: ``torch.compile``).

        Parameters
        ----------
        fn : callable
            A pure step ``(params, opt_state, *rows) -> (params, opt_state, loss)``.
        donate_argnums : tuple of int
            As for ``jit``.

        Returns
        -------
        callable
            The compiled step: the same formulas, equal to ``fn`` within float rounding;
            each new shape of the rows compiles once.

        Raises
        ------
        NotImplementedError
            On backends without ``can_compile_step`` (all but torch).
        """
        raise NotImplementedError(f"backend {self.name!r} does not compile a training step")

    @contextlib.contextmanager
    def concurrently(self) -> Iterator[Callable[[Sequence[Callable[[], Any]]], list[Any]]]:
        """A runner of independent jobs: ``run(jobs)`` calls each job (no arguments) and
        returns their results in order. Here they run one after another; a backend with
        ``workers`` > 1 runs up to that many at once.

        Yields
        ------
        callable
            ``run(jobs: Sequence[Callable[[], T]]) -> list[T]``. A job's error is raised
            once the jobs of that call have ended.
        """
        yield lambda jobs: [job() for job in jobs]

    def without_jit(self) -> Backend:
        """This backend with ``jit`` the identity.

        Returns
        -------
        Backend
            A copy on which every function runs as written, one array operation at a time:
            the plain path that compiled ones are tested against.
        """
        plain = copy.copy(self)
        plain.jit = lambda fn, donate_argnums=(): fn  # type: ignore[method-assign]
        plain.donates = False
        return plain

    def scan(self, fn: Callable, carry: Any, xs: Any) -> tuple[Any, Any]:
        """``fn`` over the leading axis of ``xs``, compiled as one loop (``jax.lax.scan``).

        Parameters
        ----------
        fn : callable
            ``fn(carry, x) -> (carry, y)``.
        carry : pytree
            The initial carry.
        xs : pytree
            Arrays whose leading axes (all of one length) are scanned over.

        Returns
        -------
        tuple
            ``(carry, ys)``: the last carry and the ``y`` of every step, stacked.

        Raises
        ------
        NotImplementedError
            On backends without ``can_scan`` (all but JAX).
        """
        raise NotImplementedError(f"backend {self.name!r} has no compiled scan")

    def loop(self, fn: Callable, carry: Any, count: Any, length: int) -> tuple[Any, Any]:
        """``fn(carry, i)`` for i = 0 .. count - 1 as one compiled loop, ``count`` a value
        known only when the compiled code runs: one compilation serves every count.

        Parameters
        ----------
        fn : callable
            ``fn(carry, i) -> (carry, y)``.
        carry : pytree
            The initial carry.
        count : int or 0-d array
            How many steps to run, at most ``length``.
        length : int
            The most steps: the leading length of ``ys``.

        Returns
        -------
        tuple
            ``(carry, ys)``: each leaf of ``ys`` is (length, ...), row i holding step i's
            ``y`` and the rows from ``count`` on zeros.

        Raises
        ------
        NotImplementedError
            On backends without ``can_scan`` (all but JAX).
        """
        raise NotImplementedError(f"backend {self.name!r} has no compiled loop")

    def device_name(self) -> str:
        """A human-readable name of the device.

        Returns
        -------
        str
            E.g. ``"cpu (x86_64)"``, ``"cpu:0 (cpu)"`` or a GPU's name (for reports).
        """
        return str(self.device)

    def keep_compiled(self, directory: str) -> bool:
        """Keep the programs this backend compiles in ``directory``, for later processes to
        load instead of compiling again (JAX's persistent compilation cache).

        Parameters
        ----------
        directory : str
            Where to keep them.

        Returns
        -------
        bool
            Whether the backend keeps them: True on backends that compile (JAX).
        """
        return False

    def device_names(self) -> list[str]:
        """Every device this backend can train on here.

        Returns
        -------
        list of str
            Their names, as ``device_name`` gives one (``on(devices)`` picks among them).
        """
        return [self.device_name()]

    def memory_bytes(self) -> int | None:
        """The total memory of an accelerator device.

        Returns
        -------
        int or None
            Bytes; None for host memory, or where the library does not say.
        """
        return None
