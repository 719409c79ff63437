"""The backend registry: which array libraries can run here, and which one is the default.

CuPy, JAX and torch are imported the first time their backend is asked for, never on
``import nnkit``. The default backend is the one set by :func:`use` or
:func:`set_default`, else the ``NNKIT_BACKEND`` environment variable, else ``"numpy"``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import Any

from .base import FLOAT_DTYPES, TF32_ENV, Backend, BackendUnavailable, tf32_requested

__all__ = [
    "FLOAT_DTYPES",
    "BFLOAT16_BACKENDS",
    "TF32_ENV",
    "tf32_requested",
    "Backend",
    "BackendUnavailable",
    "NAMES",
    "available",
    "get",
    "use",
    "set_default",
    "infer",
    "name_of",
    "to_host",
    "host",
    "is_host_data",
    "convert",
]

_MODULES = {
    "numpy": "numpy",
    "cupy": "cupy_backend",
    "jax": "jax_backend",
    "torch": "torch_backend",
    "array_api_strict": "strict_backend",
}
NAMES: tuple[str, ...] = tuple(_MODULES)
"""Every backend nnkit knows, available here or not, in the order ``available`` lists them."""
# named here so that an error can list them without importing them
BFLOAT16_BACKENDS: tuple[str, ...] = ("jax",)
"""The backends whose arrays can be bfloat16 (mixed precision: ``Trainer(dtype="bfloat16")``)."""

_loaded: dict[str, Backend | BackendUnavailable] = {}
_default: str | None = None


def _load(name: str) -> Backend:
    if name not in _MODULES:
        raise BackendUnavailable(name, f"it is not a known backend (known: {', '.join(NAMES)})")
    if name not in _loaded:
        module = importlib.import_module(f".{_MODULES[name]}", __name__)
        try:
            _loaded[name] = module.load()
        except BackendUnavailable as e:
            _loaded[name] = e
    result = _loaded[name]
    if isinstance(result, BackendUnavailable):
        raise result
    return result


def available() -> list[str]:
    """The backends that can run on this machine.

    Each backend's library is imported (once) to find out; a backend whose package imports
    but has no usable device (CuPy without a GPU) is not available.

    Returns
    -------
    list of str
        Names from ``NAMES``, e.g. ``["numpy", "jax", "torch", "array_api_strict"]``.
    """
    names = []
    for name in NAMES:
        try:
            _load(name)
        except BackendUnavailable:
            continue
        names.append(name)
    return names


def _default_name() -> str:
    return _default or os.environ.get("NNKIT_BACKEND") or "numpy"


def get(name: str | Backend | None = None) -> Backend:
    """The backend called ``name``.

    Parameters
    ----------
    name : str, Backend or None
        A name from ``NAMES``; a Backend (returned as it is); None: the default backend
        (set by ``use`` or ``set_default``, else ``$NNKIT_BACKEND``, else "numpy").

    Returns
    -------
    Backend
        The backend, its library imported on first use.

    Raises
    ------
    BackendUnavailable
        An unknown name, or a backend that cannot run here; the message says why and the
        pip command that installs it.
    """
    if isinstance(name, Backend):
        return name
    return _load(_default_name() if name is None else name)


def set_default(name: str | None) -> None:
    """Make ``name`` the default backend of the process.

    Parameters
    ----------
    name : str or None
        A backend's name; None restores the environment's default (``$NNKIT_BACKEND``, else
        "numpy").

    Raises
    ------
    BackendUnavailable
        ``name`` cannot run here (the default is then unchanged).
    """
    global _default
    if name is not None:
        _load(name)
    _default = name


@contextlib.contextmanager
def use(name: str) -> Iterator[Backend]:
    """``with use("jax"):`` makes ``name`` the default backend inside the block.

    Parameters
    ----------
    name : str
        A backend's name.

    Yields
    ------
    Backend
        The backend; the previous default is restored when the block ends.

    Raises
    ------
    BackendUnavailable
        ``name`` cannot run here.
    """
    global _default
    backend, previous = _load(name), _default
    _default = name
    try:
        yield backend
    finally:
        _default = previous


def infer(*arrays: Any) -> Backend:
    """The backend that owns ``arrays``.

    Parameters
    ----------
    *arrays : array
        One or more arrays of one backend.

    Returns
    -------
    Backend
        Their backend.

    Raises
    ------
    ValueError
        No arrays, or arrays of different backends.
    TypeError
        Something that is not an array of a known backend.
    """
    if not arrays:
        raise ValueError("infer() needs at least one array")
    found = {name_of(a) for a in arrays}
    if None in found:
        raise TypeError(
            f"infer() needs arrays of one of {NAMES}, got {[type(a).__name__ for a in arrays]}"
        )
    if len(found) != 1:
        raise ValueError(f"arrays belong to different backends: {sorted(found)}")
    return get(found.pop())


def host() -> Backend:
    """The backend of host memory.

    Returns
    -------
    Backend
        The NumPy backend: where host data is checked and prepared.
    """
    return get("numpy")


def is_host_data(x: Any) -> bool:
    """Whether ``x`` is data in host memory.

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool
        True for NumPy arrays and anything that is not a backend's array (lists, scalars).
    """
    name = name_of(x)
    return name is None or get(name).is_host


def to_host(x: Any) -> Any:
    """``x`` as a NumPy array.

    Parameters
    ----------
    x : array_like
        Any backend's array (through its ``to_numpy``), or anything ``numpy.asarray``
        takes (NumPy arrays, lists, scalars).

    Returns
    -------
    numpy.ndarray
        A host array of ``x``'s shape, dtype and values.
    """
    import numpy as np

    name = name_of(x)
    return np.asarray(x) if name is None else get(name).to_numpy(x)


def name_of(x: Any) -> str | None:
    """The name of the backend whose library made ``x``.

    Looks only at libraries already imported, so it never imports CuPy, JAX or torch.

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    str or None
        A name from ``NAMES``; None if ``x`` is not an array of a known backend.
    """
    import array_api_compat as compat

    if compat.is_numpy_array(x):
        return "numpy"
    if compat.is_cupy_array(x):
        return "cupy"
    if compat.is_jax_array(x):
        return "jax"
    if compat.is_torch_array(x):
        return "torch"
    if compat.is_array_api_obj(x) and compat.is_array_api_strict_namespace(
        compat.array_namespace(x)
    ):
        return "array_api_strict"
    return None


# DLPack device types (``__dlpack_device__()[0]``) of host memory and of a CUDA device
_DLPACK_CPU, _DLPACK_CUDA = 1, 2
_dlpack_devices: dict[tuple[str, str], tuple[int, int] | None] = {}


def _dlpack_device(x: Any) -> tuple[int, int] | None:
    """``(device type, device id)`` of ``x`` as DLPack names it; None where it has none."""
    try:
        kind, index = x.__dlpack_device__()
    except (AttributeError, BufferError, TypeError, ValueError, RuntimeError):
        return None
    return int(kind), int(index)


def _backend_dlpack_device(backend: Backend) -> tuple[int, int] | None:
    """Where ``backend``'s arrays live, as DLPack names it (asked once per backend and device)."""
    key = (backend.name, repr(backend.device))
    if key not in _dlpack_devices:
        import numpy as np

        _dlpack_devices[key] = _dlpack_device(backend.asarray(np.zeros(1, np.float32)))
    return _dlpack_devices[key]


def _dtype_name(x: Any) -> str:
    """``x.dtype``'s name without the library's prefix: "float64" for ``torch.float64``."""
    return getattr(x.dtype, "name", None) or str(x.dtype).rpartition(".")[2]


def convert(x: Any, backend: str | Backend) -> Any:
    """``x``, an array of any backend, as an array of ``backend`` (a name or a Backend) on
    that backend's device, with the same shape, dtype and values.

    Through DLPack (``backend.xp.from_dlpack``) without a copy where ``x`` already lives on
    the target's device (host memory: NumPy, torch CPU, JAX CPU; one CUDA device: CuPy,
    torch CUDA, JAX GPU), so the result may share memory with ``x``: writes into one show in
    the other. Where sharing would be unsound it copies on that device instead: an immutable
    (JAX) or read-only source never becomes writable memory (into torch, say), and a mutable
    source never backs an immutable (JAX) result. Through a NumPy copy on the host otherwise.

    Parameters
    ----------
    x : array
        An array of any known backend.
    backend : str or Backend
        The target backend.

    Returns
    -------
    array
        An array of ``backend`` with ``x``'s shape, dtype and values; ``x`` itself when it
        is already there.

    Raises
    ------
    TypeError
        ``x`` is not an array of a known backend (host data: use ``get(name).asarray``).
    BackendUnavailable
        ``backend`` cannot run here.
    """
    target = get(backend)
    owner = name_of(x)
    if owner is None:
        raise TypeError(
            f"convert() needs an array of one of the backends {list(NAMES)}, got "
            f"{type(x).__name__}; for host data (lists, scalars) use "
            f"nnkit.backends.get({target.name!r}).asarray(x)"
        )
    name = _dtype_name(x)
    if hasattr(target.xp, name):
        target.dtype(name)  # JAX: asking for a 64-bit dtype turns x64 on, so it stays 64-bit
    if owner == target.name:
        return target.asarray(x)  # the array itself where it is on the target's device
    source = get(owner)
    where = _dlpack_device(x)
    if where is not None and where[0] in (_DLPACK_CPU, _DLPACK_CUDA):
        if where == _backend_dlpack_device(target):
            out = _through_dlpack(x, source, target)
            if out is not None:
                return target.asarray(out)
    data = source.to_numpy(x)  # a view where x is in host memory, a copy otherwise
    if target.immutable and where is not None and where[0] == _DLPACK_CPU and source.writeable(x):
        data = data.copy()  # JAX may keep host memory as it is: not memory that x can change
    return target.asarray(data)


def _through_dlpack(x: Any, source: Backend, target: Backend) -> Any:
    """``x`` imported by ``target`` through DLPack on the device they share: no copy, or one
    on that device where sharing would be unsound; None where the two cannot exchange it."""
    x = source.exportable(x)
    writeable = source.writeable(x)
    if target.immutable and writeable:  # later writes into x must not change the result: a
        # copy that no one else holds (JAX 0.10's from_dlpack(copy=True) aliases on the CPU)
        x, writeable = source.xp.asarray(x, copy=True), False
    try:
        out = target.xp.from_dlpack(x)
    except (BufferError, TypeError, ValueError, RuntimeError):
        return None  # a dtype, layout or flag the two cannot exchange: through the host
    if not writeable and target.writeable(out):  # read-only memory must stay unwritten
        out = target.xp.asarray(out, copy=True)
    return out
