"""Divergence in a stack of K models (a Sweep): a model whose loss or updated parameters turn
NaN/inf keeps its last finite parameters and optimizer state and stops updating, while the
others go on; the fit stops only when every model has.

``StackState``: the stack's optimizer state, the optimizer's own (``inner``) with which
models are still training (``alive``, (K,) bool) and how many updates each took (``steps``,
(K,) int). ``frozen(step)``: the optimizer's step as a ``steps.Update`` that keeps, per
model, the new parameters and state only where the model was alive and the step finite.
``StackGuard``: the fit's NaN guard for a stack: a check passes while any model's loss is
finite; when none is, the fit ends with ``DivergedError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .._ns import namespace
from ..tree import tree_leaves, tree_map
from .guard import Guard, NonFiniteLossError
from .state import TrainState


class StackState(NamedTuple):
    """A stack's optimizer state: ``inner`` (the optimizer's, for the stacked params),
    ``alive`` (K,) bool and ``steps`` (K,) int32, each model's updates so far."""

    inner: Any
    alive: Any
    steps: Any


class DivergedError(NonFiniteLossError):
    """Every model of a stack diverged (its loss or parameters turned NaN/inf) by step
    ``step``; each kept its last finite parameters."""

    def __init__(self, step: int):
        self.step, self.loss = step, float("nan")
        Exception.__init__(
            self,
            f"every model of the sweep diverged (non-finite loss or parameters) by step {step}; "
            "each kept its last finite parameters: lower the learning rates or check the data "
            "for NaN/inf",
        )


def models_finite(params: Any) -> Any:
    """(K,) bool: every parameter of model k is finite (the leaves (K, ...) of a stack)."""
    ok = None
    for leaf in tree_leaves(params):
        xp = namespace(leaf)
        finite = xp.all(xp.isfinite(leaf), axis=tuple(range(1, leaf.ndim)))
        ok = finite if ok is None else ok & finite
    return ok


def _keep(ok: Any, new: Any, old: Any) -> Any:
    """``new`` where ``ok`` (K,), else ``old``, along the model axis of a stacked leaf; a
    leaf shared by the stack (the optimizer's step count) takes ``new``."""
    if getattr(new, "ndim", 0) == 0:
        return new
    xp = namespace(new)
    return xp.where(xp.reshape(ok, (ok.shape[0],) + (1,) * (new.ndim - 1)), new, old)


def frozen(step: Callable) -> Callable:
    """``step`` (an optimizer's ``step(params, grads, state)`` for stacked params) as a
    ``steps.Update`` over a StackState: model k takes its update only while alive and only
    when its loss and new parameters are finite (it is alive no more otherwise); the loss
    of a model no longer alive is NaN."""

    def update(params: Any, g: Any, state: StackState, value: Any) -> tuple[Any, Any, Any]:
        xp = namespace(value)
        new_params, inner = step(params, g, state.inner)
        ok = state.alive & xp.isfinite(value) & models_finite(new_params)
        params = tree_map(lambda new, old: _keep(ok, new, old), new_params, params)
        inner = tree_map(lambda new, old: _keep(ok, new, old), inner, state.inner)
        steps = state.steps + xp.astype(ok, state.steps.dtype)
        return params, StackState(inner, ok, steps), xp.where(state.alive, value, float("nan"))

    return update


def any_finite(loss: Any, params: Any) -> Any:
    """A 0-d bool array: some model's loss (K,) is finite (the parameters are, by
    ``frozen``)."""
    xp = namespace(loss)
    return xp.any(xp.isfinite(loss))


class StackGuard(Guard):
    """The NaN guard of a stack's fit: a check fails only when no model's loss is finite;
    nothing is replayed then: ``frozen`` kept each model's last finite parameters in the
    state the check saw, which the fit keeps, raising DivergedError."""

    test = staticmethod(any_finite)

    def replay(
        self, good: TrainState, *, failed_at: int, current: TrainState, **_: Any
    ) -> tuple[TrainState, Any]:
        return current, DivergedError(failed_at)
