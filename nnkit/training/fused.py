"""Compiled runs of many steps (``Backend.scan``, JAX): the only loops that leave Python.

``FusedFit``: whole epochs in one compiled program, a scan over epochs of scans over
minibatches: each epoch's order is gathered on the device from orders sent once, the last
partial minibatch runs inside, and the epoch's summed loss, its finite check and the
validation metrics come back as arrays. ``FusedEpoch``: the full minibatches of part of an
epoch in one scan (for the stretches between host checks). Parameters and optimizer state
epoch in one scan (for the stretches between host checks): it donates (consumes) the
parameters and optimizer state it is given. ``FusedFit`` does not: its inputs stay valid
and its outputs are new, so a fit that runs only programs never copies the parameters.
Backends without ``can_scan`` (NumPy, CuPy) have neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from .._ns import namespace
from ..errors import InvalidValueError
from ..values import all_finite
from .steps import metrics_fn

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
    """``fit(params, state, X, T, orders, epochs, batch_size, val, tail) -> (params, state,
    records)``: ``epochs`` whole epochs, then the first ``tail`` minibatches of one more, in
    one compiled program.

    Epoch i visits the rows of X (n, in), T (n, ...) in ``orders[i]`` (an (epochs + 1 if
    tail else epochs, n) int array; None: the data order, no gather), in minibatches of
    ``batch_size``, the smaller last one included. ``val``: None, or (X_val, T_val,
    classes) to evaluate at each epoch's end (see ``steps.metrics_fn``). ``records``: per
    epoch (the tail last), the loss summed over its rows, whether it and the parameters
    are finite, and the validation loss and accuracy (NaN where not computed), as arrays.
    One compiled function per (epochs, tail, batch_size, shuffled, validation kind).
    """

    def __init__(self, step: Step, predict: Callable, loss: Any, backend: backends.Backend):
        self._step, self._predict, self._loss, self._backend = step, predict, loss, backend
        self._compiled: dict[tuple, Callable] = {}

    def _program(self, epochs: int, tail: int, batch_size: int, shuffled: bool,
                 classes: bool | None) -> Callable:  # fmt: skip
        step, backend = self._step, self._backend
        metrics = None if classes is None else metrics_fn(self._predict, self._loss, classes)

        def run(params, state, X, T, order, X_val, T_val, steps):
            """``steps`` minibatches from the start of the epoch ``order`` (None: data order),
            the smaller last one where ``steps`` covers it; then that epoch's record."""
            xp, n = namespace(X), X.shape[0]
            Xe, Te = (xp.take(X, order, axis=0), xp.take(T, order, axis=0)) if shuffled else (X, T)
            full = min(steps, n // batch_size)
            params, state, loss_sum = scan_minibatches(
                step, backend, params, state, Xe, Te, batch_size, full
            )
            if steps > full:  # the last, smaller minibatch
                rest = slice(full * batch_size, n)
                params, state, loss = step(params, state, Xe[rest, ...], Te[rest, ...])
                loss_sum = loss_sum + loss * (n - full * batch_size)
            nan = xp.full((), float("nan"), dtype=X.dtype)
            val_loss, val_acc = (nan, nan) if metrics is None else metrics(params, X_val, T_val)
            record = (loss_sum, all_finite(loss_sum, params), val_loss, val_acc)
            return (params, state), record

        def fused_fit(params, state, X, T, orders, X_val, T_val):
            xp = namespace(X)
            per_epoch = -(-X.shape[0] // batch_size)

            def epoch(carry, order):
                return run(*carry, X, T, order if shuffled else None, X_val, T_val, per_epoch)

            xs = orders[:epochs, ...] if shuffled else xp.arange(epochs)
            (params, state), records = backend.scan(epoch, (params, state), xs)
            if tail:
                last = orders[epochs, ...] if shuffled else None
                (params, state), rec = run(params, state, X, T, last, X_val, T_val, tail)
                records = tuple(
                    xp.concat([r, xp.reshape(x, (1,))]) for r, x in zip(records, rec, strict=True)
                )
            return params, state, records

        return backend.jit(fused_fit)

    def __call__(self, params: Any, state: Any, X: Any, T: Any, orders: Any, epochs: int,
                 batch_size: int, val: tuple[Any, Any, bool] | None, tail: int = 0):  # fmt: skip
        X_val, T_val, classes = (None, None, None) if val is None else val
        key = (epochs, tail, batch_size, orders is not None, classes)
        if key not in self._compiled:
            self._compiled[key] = self._program(*key)
        return self._compiled[key](params, state, X, T, orders, X_val, T_val)
