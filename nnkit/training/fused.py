"""Compiled runs of many steps (``Backend.scan``, JAX): the only loops that leave Python.

``FusedFit``: whole epochs in one compiled program, a loop over epochs (as many as the
call asks, one compilation for all counts) of scans over minibatches: each epoch's order is
gathered on the device from orders sent once per fit, the last partial minibatch runs
inside, and the epoch's summed loss, its finite check and the validation metrics come back
as arrays (the losses and metrics one per model of a stack: see ``loop``). ``FusedEpoch``:
the full minibatches of part of an epoch in one scan (for the stretches between host
checks): it donates (consumes) the parameters and optimizer state it is given. ``FusedFit``
does not: its inputs stay valid and its outputs are new, so a fit that runs only programs
never copies the parameters.
Backends without ``can_scan`` (NumPy, CuPy) have neither; torch (``can_compile_step``)
runs ``fit(fused=True)`` one compiled step at a time instead (``Backend.compile_step``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from .._ns import namespace
from ..data import take_rows
from ..errors import InvalidValueError
from ..values import all_finite
from .steps import metrics_fn

Step = Callable[..., tuple[Any, Any, Any]]


def xp_full_nan(like: Any) -> Any:
    """A 0-d NaN of ``like``'s dtype."""
    return namespace(like).full((), float("nan"), dtype=like.dtype)


def check_fusable(backend: backends.Backend, strategy: str) -> None:
    """Raise InvalidValueError unless ``backend`` can scan or compile a step and
    ``strategy`` is "batched"."""
    if not (backend.can_scan or backend.can_compile_step):
        raise InvalidValueError(
            "fused=True needs a backend with a compiled scan (jax) or a compiled step "
            f"(torch); got backend {backend.name!r}"
        )
    if strategy != "batched":
        raise InvalidValueError(f"fused=True needs strategy 'batched', got {strategy!r}")


def scan_minibatches(
    step: Step, backend: backends.Backend, params: Any, state: Any, rows: tuple[Any, ...],
    batch_size: int, steps: int,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """``step`` on the first ``steps`` minibatches of ``batch_size`` rows of ``rows`` (X, T[,
    w]), in order, in one ``backend.scan``: (params, state, loss summed over the rows)."""
    xp, m = namespace(rows[0]), steps * batch_size
    batches = tuple(xp.reshape(a[:m, ...], (steps, batch_size, *a.shape[1:])) for a in rows)

    def body(carry: Any, batch: Any) -> tuple[Any, Any]:
        params, state, loss = step(*carry, *batch)
        return (params, state), loss

    (params, state), losses = backend.scan(body, (params, state), batches)
    return params, state, xp.sum(losses, axis=0) * batch_size


class FusedEpoch:
    """``epoch(params, state, X, T[, w], *, batch_size, steps) -> (params, state,
    loss_sum)``: the first ``steps`` minibatches of X (n, in), T (n, ...) and the weights w
    (n,) where given, in one compiled scan. One compiled function per (batch_size, steps)."""

    def __init__(self, step: Step, backend: backends.Backend):
        self._step, self._backend = step, backend
        self._compiled: dict[tuple[int, int], Callable] = {}

    def __call__(
        self, params: Any, state: Any, *rows: Any, batch_size: int, steps: int
    ) -> tuple[Any, Any, Any]:
        key = (batch_size, steps)
        if key not in self._compiled:

            def fused_epoch(params: Any, state: Any, *rows: Any) -> tuple[Any, Any, Any]:
                return scan_minibatches(
                    self._step, self._backend, params, state, rows, batch_size, steps
                )

            self._compiled[key] = self._backend.jit(fused_epoch, donate_argnums=(0, 1))
        return self._compiled[key](params, state, *rows)


class FusedFit:
    """``fit(params, state, *, rows, orders, first, count, capacity, batch_size, val=None,
    tail=0) -> (params, state, records)``: ``count`` whole epochs, then the first ``tail``
    minibatches of one more, in one compiled program; ``first``, ``count`` and ``tail`` are
    values of the call, not of the program, so a fit cut into stretches of any length (for
    a live progress bar), its end mid-epoch included, compiles once.

    Epoch i of the call visits the rows of ``rows`` (X (n, in), T (n, ...)[, weights w
    (n,)]) in ``orders[first + i]``
    (``orders``: an int array (rows, n) of epoch orders, sent once per fit; None: the data
    order, no gather), in minibatches of ``batch_size``, the smaller last one included;
    ``count`` <= ``capacity``; ``tail`` full minibatches of the next epoch (fewer than an
    epoch has) follow, also a value of the call. ``val``: None, or the prepared validation
    data (X_val, T_val, classes, w_val) to evaluate at each epoch's end (see
    ``steps.metrics_fn``). ``records``: per epoch
    (rows 0 .. count - 1 of ``capacity``; the tail's in row ``capacity``, meaningful where
    ``tail`` > 0), the loss summed over its rows, whether it and the parameters are finite,
    and the validation loss and accuracy (NaN where not computed), as arrays. One compiled
    function per (capacity, batch_size, shuffled, validation kind).
    """

    def __init__(self, step: Step, predict: Callable, loss: Any, backend: backends.Backend,
                 finite: Callable = all_finite):  # fmt: skip
        self._step, self._predict, self._loss, self._backend = step, predict, loss, backend
        self._finite = finite
        self._compiled: dict[tuple, Callable] = {}

    def _program(self, capacity: int, batch_size: int, shuffled: bool,
                 classes: bool | None) -> Callable:  # fmt: skip
        step, backend, finite = self._step, self._backend, self._finite
        metrics = None if classes is None else metrics_fn(self._predict, self._loss, classes)

        def record(params, loss_sum, val):
            """An epoch's record: its summed loss, whether it and the parameters are finite,
            the validation loss and accuracy (NaN where not computed)."""
            nan = xp_full_nan(loss_sum)
            val_loss, val_acc = (nan, nan) if metrics is None else metrics(params, *val)
            return loss_sum, finite(loss_sum, params), val_loss, val_acc

        def whole_epoch(params, state, rows, order, val):
            """Every minibatch of the epoch ``order`` (None: data order), the smaller last
            one included; then the epoch's record."""
            n = rows[0].shape[0]
            if shuffled:
                rows = tuple(take_rows(a, order) for a in rows)
            full = n // batch_size
            params, state, loss_sum = scan_minibatches(
                step, backend, params, state, rows, batch_size, full
            )
            if n > full * batch_size:  # the last, smaller minibatch
                rest = slice(full * batch_size, n)
                params, state, loss = step(params, state, *(a[rest, ...] for a in rows))
                loss_sum = loss_sum + loss * (n - full * batch_size)
            return (params, state), record(params, loss_sum, val)

        def order_of(orders, epoch):
            """Row ``epoch`` (a value of the running program) of ``orders``; None unshuffled."""
            if not shuffled:
                return None
            xp = namespace(orders)
            return xp.take(orders, xp.reshape(epoch, (1,)), axis=0)[0, ...]

        def tail_steps(params, state, rows, order, val, steps):
            """The first ``steps`` (a value of the running program, below the epoch's
            minibatch count, so all full) minibatches of the epoch ``order``; its record."""
            xp = namespace(rows[0])
            per_epoch = -(-rows[0].shape[0] // batch_size)

            def minibatch(carry, i):  # only its own rows are gathered
                taken = i * batch_size + xp.arange(batch_size)
                taken = xp.take(order, taken, axis=0) if shuffled else taken
                batch = (take_rows(a, taken) for a in rows)
                params, state, loss = step(*carry, *batch)
                return (params, state), loss

            (params, state), losses = backend.loop(minibatch, (params, state), steps, per_epoch)
            return (params, state), record(params, xp.sum(losses, axis=0) * batch_size, val)

        def fused_fit(params, state, rows, orders, first, count, tail, val):
            xp = namespace(rows[0])

            def epoch(carry, i):
                return whole_epoch(*carry, rows, order_of(orders, first + i), val)

            (params, state), records = backend.loop(epoch, (params, state), count, capacity)
            last = order_of(orders, first + count)
            (params, state), rec = tail_steps(params, state, rows, last, val, tail)
            records = tuple(
                xp.concat([r, xp.reshape(x, (1, *x.shape))])
                for r, x in zip(records, rec, strict=True)
            )
            return params, state, records

        return backend.jit(fused_fit)

    def __call__(self, params: Any, state: Any, *, rows: tuple[Any, ...], orders: Any,
                 first: int, count: int, capacity: int, batch_size: int, val: Any = None,
                 tail: int = 0):  # fmt: skip
        classes = None if val is None else val.classes
        key = (capacity, batch_size, orders is not None, classes)
        if key not in self._compiled:
            self._compiled[key] = self._program(*key)
        val_rows = () if val is None else val.rows
        return self._compiled[key](params, state, rows, orders, first, count, tail, val_rows)
