"""The fused epoch: every minibatch step of an epoch in one compiled loop (``Backend.scan``).

On JAX this turns an epoch into a single ``jax.jit``-compiled ``lax.scan``, with the
parameters and optimizer state donated, so Python dispatches once per epoch instead
of once per step. Backends without ``can_scan`` (NumPy, CuPy) have no such loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from .._ns import namespace
from ..errors import InvalidValueError

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def check_fusable(backend: backends.Backend, strategy: str) -> None:
    """Raise InvalidValueError unless ``backend`` can scan and ``strategy`` is "batched"."""
    if not backend.can_scan:
        raise InvalidValueError(
            f"fused=True needs a backend with a compiled scan (jax); got backend {backend.name!r}"
        )
    if strategy != "batched":
        raise InvalidValueError(f"fused=True needs strategy 'batched', got {strategy!r}")


class FusedEpoch:
    """``epoch(params, state, X, T, batch_size, steps) -> (params, state, loss_sum)``.

    Runs ``step(params, state, X, T) -> (params, state, loss)`` on the first ``steps``
    minibatches of ``batch_size`` rows of X (n, in) and T (n, ...), in order, inside one
    compiled ``Backend.scan``; slicing and the loss sum (sum of loss * batch_size) happen
    in the compiled code too. ``params`` and ``state`` are donated (consumed). One
    compiled function is kept per (batch_size, steps).
    """

    def __init__(self, step: Step, backend: backends.Backend):
        self._step, self._backend = step, backend
        self._compiled: dict[tuple[int, int], Callable] = {}

    def _body(self, carry: Any, batch: Any) -> tuple[Any, Any]:
        params, state, loss = self._step(*carry, *batch)
        return (params, state), loss

    def _epoch(self, batch_size: int, steps: int, params: Any, state: Any, X: Any, T: Any):
        xp, m = namespace(X), steps * batch_size
        Xs = xp.reshape(X[:m, ...], (steps, batch_size, *X.shape[1:]))
        Ts = xp.reshape(T[:m, ...], (steps, batch_size, *T.shape[1:]))
        (params, state), losses = self._backend.scan(self._body, (params, state), (Xs, Ts))
        return params, state, xp.sum(losses) * batch_size

    def __call__(
        self, params: Any, state: Any, X: Any, T: Any, batch_size: int, steps: int
    ) -> tuple[Any, Any, Any]:
        key = (batch_size, steps)
        if key not in self._compiled:

            def fused_epoch(params: Any, state: Any, X: Any, T: Any) -> tuple[Any, Any, Any]:
                return self._epoch(batch_size, steps, params, state, X, T)

            self._compiled[key] = self._backend.jit(fused_epoch, donate_argnums=(0, 1))
        return self._compiled[key](params, state, X, T)
