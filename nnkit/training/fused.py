"""Compiled runs of many steps (``Backend.scan``, JAX): the only loops that leave Python.

``FusedFit``: whole epochs in one compiled program, a scan over epochs of scans over
minibatches: each epoch's order is gathered on the device from orders sent once, the last
partial minibatch runs inside, and the epoch's summed loss, its finite check and the
validation metrics come back as arrays. ``FusedEpoch``: the full minibatches of part of an
epoch in one scan (for the stretches between host checks). Parameters and optimizer state
are donated (consumed). Backends without ``can_scan`` (NumPy, CuPy) have neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from .._ns import namespace
from ..errors import InvalidValueError
from ..metrics import hit_rate
from ..values import all_finite

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def check_fusable(backend: backends.Backend, strategy: str) -> None:
    """Raise InvalidValueError unless ``backend`` can scan and ``strategy`` is "batched"."""
    if not backend.can_scan:
        raise InvalidValueError(
            f"fused=True needs a backend with a compiled scan (jax); got backend {backend.name!r}"
        )
    if strategy != "batched":
        raise InvalidValueError(f"fused=True needs strategy 'batched', got {strategy!r}")


def scan_minibatches(
    step: Step, backend: backends.Backend, params: Any, state: Any, X: Any, T: Any,
    batch_size: int, steps: int,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """``step`` on the first ``steps`` minibatches of ``batch_size`` rows of X and T, in order,
    in one ``backend.scan``: (params, state, loss summed over the rows)."""
    xp, m = namespace(X), steps * batch_size
    Xs = xp.reshape(X[:m, ...], (steps, batch_size, *X.shape[1:]))
    Ts = xp.reshape(T[:m, ...], (steps, batch_size, *T.shape[1:]))

    def body(carry: Any, batch: Any) -> tuple[Any, Any]:
        params, state, loss = step(*carry, *batch)
        return (params, state), loss

    (params, state), losses = backend.scan(body, (params, state), (Xs, Ts))
    return params, state, xp.sum(losses) * batch_size


class FusedEpoch:
    """``epoch(params, state, X, T, batch_size, steps) -> (params, state, loss_sum)``: the
    first ``steps`` minibatches of X (n, in) and T (n, ...) in one compiled scan. One
    compiled function per (batch_size, steps)."""

    def __init__(self, step: Step, backend: backends.Backend):
        self._step, self._backend = step, backend
        self._compiled: dict[tuple[int, int], Callable] = {}

    def __call__(
        self, params: Any, state: Any, X: Any, T: Any, batch_size: int, steps: int
    ) -> tuple[Any, Any, Any]:
        key = (batch_size, steps)
        if key not in self._compiled:

            def fused_epoch(params: Any, state: Any, X: Any, T: Any) -> tuple[Any, Any, Any]:
                return scan_minibatches(
                    self._step, self._backend, params, state, X, T, batch_size, steps
                )

            self._compiled[key] = self._backend.jit(fused_epoch, donate_argnums=(0, 1))
        return self._compiled[key](params, state, X, T)


class FusedFit:
    """``fit(params, state, X, T, orders, batch_size, val) -> (params, state, records)``.

    Runs ``len(orders)`` whole epochs over X (n, in), T (n, ...): epoch i visits the rows in
    ``orders[i]`` (an (epochs, n) int array; None: the data order, no gather), minibatches
    of ``batch_size``, the smaller last one included. ``val``: None, or (X_val, T_val,
    accuracy) to evaluate ``predict`` and ``loss`` on at each epoch's end (accuracy: a
    bool, whether T_val holds classes). ``records``: per epoch, the loss summed over the
    rows, whether it and the parameters are finite, and the validation loss and accuracy
    (NaN where not computed), as (epochs,) arrays. One compiled function per (epochs,
    batch_size, shuffled, validation kind); the arrays' shapes select among jit's own.
    """

    def __init__(self, step: Step, predict: Callable, loss: Any, backend: backends.Backend):
        self._step, self._predict, self._loss, self._backend = step, predict, loss, backend
        self._compiled: dict[tuple, Callable] = {}

    def _epochs(self, epochs: int, batch_size: int, shuffled: bool, accuracy: bool | None,
                params: Any, state: Any, X: Any, T: Any, orders: Any, X_val: Any,
                T_val: Any) -> tuple[Any, Any, Any]:  # fmt: skip
        xp, n = namespace(X), X.shape[0]
        full = n // batch_size
        nan = xp.asarray(float("nan"), dtype=X.dtype)

        def epoch(carry: Any, order: Any) -> tuple[Any, Any]:
            params, state = carry
            Xe, Te = (xp.take(X, order, axis=0), xp.take(T, order, axis=0)) if shuffled else (X, T)
            params, state, loss_sum = scan_minibatches(
                self._step, self._backend, params, state, Xe, Te, batch_size, full
            )
            if full * batch_size < n:  # the last, smaller minibatch
                rest = slice(full * batch_size, n)
                params, state, loss = self._step(params, state, Xe[rest, ...], Te[rest, ...])
                loss_sum = loss_sum + loss * (n - full * batch_size)
            val_loss = val_acc = nan
            if accuracy is not None:
                pred = self._predict(params, X_val)
                val_loss = xp.astype(self._loss.unchecked(pred, T_val), X.dtype)
                val_acc = xp.astype(hit_rate(pred, T_val), X.dtype) if accuracy else nan
            finite = all_finite(loss_sum, params)
            return (params, state), (loss_sum, finite, val_loss, val_acc)

        xs = orders if shuffled else xp.arange(epochs)
        (params, state), records = self._backend.scan(epoch, (params, state), xs)
        return params, state, records

    def __call__(self, params: Any, state: Any, X: Any, T: Any, orders: Any, epochs: int,
                 batch_size: int, val: tuple[Any, Any, bool] | None):  # fmt: skip
        X_val, T_val, accuracy = (None, None, None) if val is None else val
        shuffled = orders is not None
        key = (epochs, batch_size, shuffled, accuracy)
        if key not in self._compiled:

            def fused_fit(params, state, X, T, orders, X_val, T_val):
                return self._epochs(epochs, batch_size, shuffled, accuracy,
                                    params, state, X, T, orders, X_val, T_val)  # fmt: skip

            self._compiled[key] = self._backend.jit(fused_fit, donate_argnums=(0, 1))
        return self._compiled[key](params, state, X, T, orders, X_val, T_val)
