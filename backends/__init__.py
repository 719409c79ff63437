"""The backend registry: which array libraries can run here, and which one is the default.

CuPy and JAX are imported the first time their backend is asked for, never on
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
]

_MODULES = {
    "numpy": "numpy_backend",
    "cupy": "cupy_backend",
    "jax": "jax_backend",
    "array_api_strict": "strict_backend",
}
NAMES: tuple[str, ...] = tuple(_MODULES)
# the backends whose arrays can be bfloat16 (their Backend.bfloat16 is True); named here
# so that an error can list them without importing them
BFLOAT16_BACKENDS: tuple[str, ...] = ("jax",)

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
    """Names of the backends that can run on this machine."""
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
    """The backend called ``name`` (``None``: the default); raises BackendUnavailable."""
    if isinstance(name, Backend):
        return name
    return _load(_default_name() if name is None else name)


def set_default(name: str | None) -> None:
    """Make ``name`` the process-wide default (``None`` restores the environment's)."""
    global _default
    if name is not None:
        _load(name)
    _default = name


@contextlib.contextmanager
def use(name: str) -> Iterator[Backend]:
    """``with use("jax"):`` makes ``name`` the default inside the block."""
    global _default
    backend, previous = _load(name), _default
    _default = name
    try:
        yield backend
    finally:
        _default = previous


def infer(*arrays: Any) -> Backend:
    """The backend that owns ``arrays``; raises ValueError if they belong to different ones."""
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
    """The backend of host memory (NumPy): where host data is checked and prepared."""
    return get("numpy")


def is_host_data(x: Any) -> bool:
    """True for data in host memory: NumPy arrays, and anything not a backend's array
    (lists, scalars)."""
    name = name_of(x)
    return name is None or get(name).is_host


def to_host(x: Any) -> Any:
    """``x`` as a NumPy array: a backend's array through its ``to_numpy``, anything else
    (NumPy arrays, lists, scalars) through ``numpy.asarray``."""
    import numpy as np

    name = name_of(x)
    return np.asarray(x) if name is None else get(name).to_numpy(x)


def name_of(x: Any) -> str | None:
    """The name of the backend whose library made ``x``; None if ``x`` is not such an array.

    Looks only at libraries already imported, so it never imports CuPy or JAX.
    """
    import array_api_compat as compat

    if compat.is_numpy_array(x):
        return "numpy"
    if compat.is_cupy_array(x):
        return "cupy"
    if compat.is_jax_array(x):
        return "jax"
    if compat.is_array_api_obj(x) and compat.is_array_api_strict_namespace(
        compat.array_namespace(x)
    ):
        return "array_api_strict"
    return None
