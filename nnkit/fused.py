"""The fused epoch: every minibatch step of an epoch in one compiled loop (``Backend.scan``).

On JAX this turns an epoch into a single ``jax.jit``-compiled ``lax.scan``, with the
parameters and optimizer state donated, so Python dispatches once per epoch instead
of once per step. Backends without ``can_scan`` (NumPy, CuPy) have no such loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import backends
from ._ns import namespace
from .errors import InvalidValueError

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def check_fusable(backend: backends.Backend, strategy: str) -> None:
    """Raise InvalidValueError unless ``backend`` can scan and ``strategy`` is "batched"."""
    if not backend.can_scan:
        raise InvalidValueError(
            f"fused=True needs a backend with a compiled scan (jax); got backend {backend.name!r}"
        )
    if strategy != "batched":
        raise InvalidValueError(f"fused=True needs strategy 'batched', got {strategy!r}")


def fuse(step: Step, backend: backends.Backend) -> Callable:
    """``epoch(params, state, Xs, Ts) -> (params, state, losses)``, compiled.

    ``step(params, state, X, T) -> (params, state, loss)`` is one minibatch update;
    Xs (steps, batch, in) and Ts (steps, batch, ...) hold the minibatches in order,
    ``losses`` (steps,) the loss of each. ``params`` and ``state`` are donated (consumed).
    """

    def body(carry, batch):
        params, state, loss = step(*carry, *batch)
        return (params, state), loss

    def epoch(params, state, Xs, Ts):
        (params, state), losses = backend.scan(body, (params, state), (Xs, Ts))
        return params, state, losses

    return backend.jit(epoch, donate_argnums=(0, 1))


def run(
    epoch: Callable, params: Any, state: Any, X: Any, T: Any, batch_size: int, steps: int
) -> tuple[Any, Any, Any]:
    """The first ``steps`` full minibatches of X (n, in) and T (n, ...) through ``epoch``.

    Returns (params, state, loss_sum) with loss_sum the sum of batch loss * batch_size.
    """
    xp, m = namespace(X), steps * batch_size
    Xs = xp.reshape(X[:m, ...], (steps, batch_size, *X.shape[1:]))
    Ts = xp.reshape(T[:m, ...], (steps, batch_size, *T.shape[1:]))
    params, state, losses = epoch(params, state, Xs, Ts)
    return params, state, xp.sum(losses) * batch_size
