"""Where the estimators' data lives: which backend trains on it, and how results go back to
the caller's array namespace and device (scikit-learn's array API dispatch: outputs follow X).
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np  # host side: scikit-learn hands over NumPy (or SciPy sparse) data
from sklearn import get_config

from .. import backends
from ..errors import ValueRangeError
from ..training import inputs

# the least magnitude that a cast to float32 rounds to inf (float32's largest finite value
# plus half its last step)
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103


def dispatching() -> bool:
    """Whether scikit-learn's array API dispatch is on (``sklearn.set_config``)."""
    return bool(get_config().get("array_api_dispatch", False))


def owner(x: Any) -> str | None:
    """The backend whose library made ``x``; None for host data (NumPy, lists, sparse)."""
    return None if backends.is_host_data(x) else backends.name_of(x)


def float_dtypes(x: Any) -> list[Any]:
    """The float dtypes ``validate_data`` may keep: x's namespace's under dispatch, else
    NumPy's."""
    if dispatching() and owner(x) is not None:
        xp = array_api_compat.array_namespace(x)
        return [xp.float64, xp.float32]
    return [np.float64, np.float32]


def is_float(x: Any) -> bool:
    """Whether ``x`` (an array of any namespace) holds real floating-point numbers."""
    return bool(array_api_compat.array_namespace(x).isdtype(x.dtype, "real floating"))


def float_name(x: Any) -> str:
    """The name of validated X's dtype, "float64" or "float32" (``validate_data`` with
    ``float_dtypes`` leaves no other)."""
    return "float64" if x.dtype == array_api_compat.array_namespace(x).float64 else "float32"


def check_representable(x: Any, dtype: str, name: str, requested: str | None) -> None:
    """Refuse finite float64 values of ``x`` that a cast to ``dtype`` ("float32": the
    training dtype; nothing to check for "float64") would turn into inf, naming them and
    what keeps them; ``requested`` is the estimator's ``dtype`` parameter."""
    xp = array_api_compat.array_namespace(x)
    if dtype == "float64" or x.dtype != xp.float64 or not x.shape[0]:
        return
    magnitude = xp.reshape(xp.abs(x), (-1,))
    largest = float(xp.max(magnitude))
    if largest < FLOAT32_OVERFLOW:
        return
    count = int(xp.sum(xp.astype(magnitude >= FLOAT32_OVERFLOW, xp.int32)))
    row = int(xp.argmax(magnitude)) // (magnitude.shape[0] // x.shape[0])
    if requested is None:
        how = "this estimator trains in float32, the dtype of the X it was first fitted on"
        fix = "Fit it on float64 X, or set dtype='float64', to keep them"
    else:
        how = f"dtype={requested!r} trains in float32"
        fix = "dtype=None (X's own float dtype) or dtype='float64' keeps them"
    raise ValueRangeError(
        f"{name} holds {count} finite value(s) too large for float32 (largest magnitude "
        f"{largest:.6g}, in row {row}; float32 reaches {float(np.finfo(np.float32).max):.6g}) "
        f"that the cast to float32 would turn into inf: {how}. {fix}, or rescale the data "
        "(e.g. with sklearn.preprocessing.StandardScaler)."
    )


def space(x: Any) -> tuple[str, str]:
    """(namespace, device) of ``x``: ("numpy", "cpu") for host data."""
    name = owner(x)
    if name is None:
        return "numpy", "cpu"
    return name, str(array_api_compat.device(x))


def check_same_space(x: Any, fitted: tuple[str, str] | None, estimator: Any, method: str):
    """Under dispatch, ``x`` must come from the namespace and device that ``fit`` saw
    (scikit-learn's rule); raises ValueError naming both."""
    if not dispatching() or fitted is None:
        return
    here = space(x)
    if here == fitted:
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same namespace "
        f"and the same device as those passed to fit(): fit saw {fitted[0]} on {fitted[1]}, "
        f"{method} got {here[0]} on {here[1]}. Convert X first, e.g. with "
        f"nnkit.backends.convert(X, {fitted[0]!r})."
    )


def densify(x: Any) -> Any:
    """SciPy sparse matrices as dense host arrays (nnkit's layers are dense); others as is."""
    return x.toarray() if hasattr(x, "toarray") and hasattr(x, "nnz") else x


def training_backend(requested: Any, x: Any) -> backends.Backend:
    """``requested`` (a name or Backend) when given; else the backend that owns ``x``; else
    the default backend (``NNKIT_BACKEND`` or NumPy)."""
    if requested is not None:
        return backends.get(requested)
    return backends.get(owner(x))


def to_backend(backend: backends.Backend, x: Any, dtype: Any = None) -> Any:
    """``x`` as the Trainer takes it (``training.inputs.to_backend``), after moving an array of
    ``backend`` to its device (an estimator follows its data there); an array of another
    non-host backend is left as it is, for the Trainer to refuse with its error."""
    name = owner(x)
    if name is not None and name != backend.name:
        return x
    if name is not None:
        x = backends.convert(x, backend)
    return inputs.to_backend(backend, x, "X", dtype)


def take_rows(x: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` (host ints) of ``x``, an array of any backend, on x's device."""
    xp = array_api_compat.array_namespace(x)
    return xp.take(x, xp.asarray(rows, device=array_api_compat.device(x)), axis=0)


def to_caller(result: Any, like: Any) -> Any:
    """``result`` (any backend's array) in the namespace, device and dtype of ``like`` (the
    caller's validated X): NumPy for host data."""
    name = owner(like)
    if name is None:
        return np.asarray(backends.to_host(result), dtype=like.dtype)
    xp = array_api_compat.array_namespace(like)
    where = array_api_compat.device(like)
    if backends.name_of(result) != name:
        result = backends.to_host(result)
    out = xp.asarray(result, device=where)
    return out if out.dtype == like.dtype else xp.astype(out, like.dtype)


def labels_to_caller(labels: np.ndarray, like: Any) -> Any:
    """Host ``labels`` in ``like``'s namespace and device where they are numbers; string or
    object labels stay NumPy (no other namespace holds them)."""
    name = owner(like)
    if name is None or labels.dtype.kind not in "biuf":
        return labels
    xp = array_api_compat.array_namespace(like)
    return xp.asarray(labels, device=array_api_compat.device(like))
