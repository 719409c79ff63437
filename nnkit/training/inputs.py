"""Input preparation for the Trainer: user data checked once and moved to the backend.

Every check that reads values runs here, once per ``fit``/``predict``/``evaluate`` call,
before any step (the training step itself uses the loss's unchecked maths), and every
check raises before anything is computed, so a rejected input never touches parameters.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import array_api_compat
import numpy as np  # host-side: lists and other host data become NumPy arrays first

from .. import backends, shapes, values
from ..errors import BackendMismatchError, InvalidTypeError, InvalidValueError
from ..losses import Loss
from ..metrics import is_classification
from ..model import Sequential


def to_backend(backend: backends.Backend, x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` (host data, or an array of ``backend`` on its device) as an array of ``backend``.

    An array of any other non-host backend, or on another device, is refused: moving it
    silently would hide a device transfer.
    """
    owner = backends.name_of(x)
    if owner is None:
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise InvalidValueError(
                f"{name} must be a rectangular array of numbers, got {type(x).__name__}: {e}"
            ) from e
    elif owner != backend.name and not backends.get(owner).is_host:
        raise BackendMismatchError(
            f"{name} is a {owner} array but this trainer runs on backend {backend.name!r}; "
            f"convert it first: nnkit.backends.convert({name}, {backend.name!r}) (without a "
            f"copy where the two share a device), or numpy.asarray({name}) (moved for you)"
        )
    elif owner == backend.name and not backend.is_host:
        if not backend.is_here(x):
            where = array_api_compat.device(x)
            raise BackendMismatchError(
                f"{name} is on device {where} but this trainer runs on "
                f"{backend.device_name()}; "
                f"move it first, e.g. nnkit.backends.convert({name}, {backend.name!r}) or "
                f"numpy.asarray({name}) (moved for you)"
            )
    if not array_api_compat.array_namespace(x).isdtype(
        x.dtype, ("bool", "integral", "real floating")
    ):
        raise InvalidTypeError(
            f"{name} must hold numbers (bool, int or float), got dtype {x.dtype}"
        )
    return backend.asarray(x, dtype=dtype)


class Inputs:
    """Prepares data for one Trainer: ``features(X)`` and ``pair(X, Y, weight=None)``.

    Host data (NumPy arrays, lists) is checked and prepared on the host, where that compiles
    and launches nothing, and then moved to the backend once; arrays already on the backend
    are checked there. On a backend with immutable arrays (JAX), the result for the very
    same X and Y objects as the last ``pair`` call is reused: their values cannot have
    changed, so neither can the checks.
    """

    def __init__(self, backend: backends.Backend, model: Sequential, loss: Loss, dtype: str):
        self.backend, self.model, self.loss, self.dtype = backend, model, loss, dtype
        self._last: tuple[Any, Any, Any, Prepared] | None = None

    def _stage(self, *data: Any) -> backends.Backend:
        """Where to check: the host when every input is host data, else the backend."""
        return backends.host() if all(map(backends.is_host_data, data)) else self.backend

    def _features(self, stage: backends.Backend, X: Any) -> Any:
        X = to_backend(stage, X, "X", dtype=self.dtype)
        shapes.check_features(X, self.model.in_features)
        values.check_finite(X, "X")
        return X

    def features(self, X: Any) -> Any:
        """X checked (shape, finite) and moved: (n, in) in the parameter dtype."""
        return self.backend.asarray(self._features(self._stage(X), X))

    def pair(self, X: Any, Y: Any, weight: Any = None) -> Prepared:
        """X (n, in), the targets T as the loss wants them (``Loss.prepare_target``), whether
        T holds classes (``metrics.is_classification``), and the sample weights (n,) in the
        parameter dtype (finite, >= 0, not all 0), or None."""
        last = self._last
        if last is not None and last[0] is X and last[1] is Y and last[2] is weight:
            return last[3]
        data = (X, Y) if weight is None else (X, Y, weight)
        stage = self._stage(*data)
        Xs = self._features(stage, X)
        T = to_backend(stage, Y, "Y")
        shapes.check_same_length(Xs, T)
        values.check_finite(T, "Y")
        k = self.model.out_features or Xs.shape[1]  # activations alone keep the width
        T = self.loss.prepare_target(T, (Xs.shape[0], k), Xs.dtype)
        w = None if weight is None else self._weights(stage, weight, Xs.shape[0])
        prepared = Prepared(
            self.backend.asarray(Xs), self.backend.asarray(T), is_classification(T, k),
            None if w is None else self.backend.asarray(w),
        )  # fmt: skip
        if self.backend.immutable and {backends.name_of(a) for a in data} == {self.backend.name}:
            self._last = (X, Y, weight, prepared)
        return prepared

    def _weights(self, stage: backends.Backend, weight: Any, n: int) -> Any:
        """``sample_weight`` checked (n,), finite, >= 0, not all 0, in the parameter dtype."""
        w = to_backend(stage, weight, "sample_weight")
        shapes.check_weights_shape(n, w, "sample_weight")
        values.check_weights(w, "sample_weight")
        w = stage.asarray(w, dtype=self.dtype)
        values.check_finite(w, f"sample_weight (in {self.dtype})")
        return w


class Prepared(NamedTuple):
    """Checked data on the trainer's backend: X (n, in), targets T, whether T holds class
    labels (integer labels or one-hot rows), and the sample weights w (n,) or None."""

    X: Any
    T: Any
    classes: bool
    w: Any = None

    @property
    def rows(self) -> tuple[Any, ...]:
        """The row-aligned arrays a step takes: (X, T), or (X, T, w) with weights."""
        return (self.X, self.T) if self.w is None else (self.X, self.T, self.w)
