"""The pure maths of one training step, built once per Trainer and compiled by the backend.

``grads(params, X, T) -> (grads, loss)``: forward and backward of a minibatch, in the
precision policy's compute dtype, with the loss and the gradients in the parameter dtype.
``batched``: one design-matrix forward/backward per minibatch, then the optimizer update.
``per_sample``: the lecture's loop, one row at a time, gradients summed, averaged, then
the update. Both return ``(params, opt_state, loss)`` and give the same gradients.

On a backend with ``inplace`` (NumPy) the batched training step is lean: the same layer,
loss and optimizer maths run in the backend's in-place ops (``Backend.inplace_ops``), every
intermediate in a buffer of its role reused from step to step, bitwise equal to the pure
step. Only that step uses them: it owns its intermediates and gradients and returns none of
them; ``grads`` and ``predict`` return new arrays.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from ..backends import Backend
from ..functional import PURE, takes_ops
from ..losses import Loss
from ..model import Sequential
from ..optim import Optimizer
from ..tree import tree_map
from .precision import Policy

STRATEGIES = ("batched", "per_sample")

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def grads_fn(model: Sequential, loss: Loss, policy: Policy, ops: Any = PURE) -> Callable:
    """``(params, X, T) -> (grads, loss)`` in the array operations ``ops`` (in-place ops: the
    grads are buffers that the next call overwrites). The first layer's input gradient is
    not computed: nothing uses it."""
    loss_takes_ops = takes_ops(loss.unchecked_grad)

    def grads(params: Any, X: Any, T: Any) -> tuple[Any, Any]:
        # one scope per minibatch shape (the last few): the in-place ops find each buffer by
        # its role alone
        scope = ops.scope((X.shape, X.dtype, T.shape, T.dtype), keep=4)
        low = policy.to_compute(params)
        Y, cache = model.forward(low, policy.to_compute(X), scope)
        Y = policy.to_param(Y)
        dY = loss.unchecked_grad(Y, T, *((scope.scope("loss"),) if loss_takes_ops else ()))
        _, g = model.backward(low, cache, policy.to_compute(dY), input_grad=False, ops=scope)
        return policy.to_param(g), loss.unchecked(Y, T)

    return grads


def predict_fn(model: Sequential, policy: Policy) -> Callable:
    """``(params, X) -> Y`` in the parameter dtype, keeping no cache."""

    def predict(params: Any, X: Any) -> Any:
        low = policy.to_compute(params)
        return policy.to_param(model.predict(low, policy.to_compute(X)))

    return predict


def batched_fn(grads: Callable, update: Callable) -> Step:
    """The pure batched step: ``update`` is ``optimizer.step`` or its in-place form."""

    def step(params: Any, opt_state: Any, X: Any, T: Any) -> tuple[Any, Any, Any]:
        g, value = grads(params, X, T)
        params, opt_state = update(params, g, opt_state)
        return params, opt_state, value

    return step


def per_sample_grads(grads: Callable, params: Any, X: Any, T: Any) -> tuple[Any, Any]:
    """The lecture's loop: ``grads`` of one row at a time, summed, then averaged."""
    n = X.shape[0]
    total_g, total = grads(params, X[0:1, ...], T[0:1, ...])
    for i in range(1, n):
        g, value = grads(params, X[i : i + 1, ...], T[i : i + 1, ...])
        total_g = tree_map(lambda a, b: a + b, total_g, g)
        total = total + value
    return tree_map(lambda a: a / n, total_g), total / n


@dataclasses.dataclass(frozen=True)
class Steps:
    """The compiled functions of one Trainer.

    ``step(params, opt_state, X, T) -> (params, opt_state, loss)`` for its strategy
    (params and opt_state consumed: donated on JAX, updated in place on NumPy);
    ``grads(params, X, T) -> (grads, loss)`` for its strategy, params untouched;
    ``predict(params, X) -> Y``; ``batched``: the uncompiled batched step, for the
    fused epoch to compile inside its scan.
    """

    step: Step
    grads: Callable
    predict: Callable
    batched: Step


def build(
    model: Sequential,
    loss: Loss,
    optimizer: Optimizer,
    policy: Policy,
    backend: Backend,
    strategy: str,
) -> Steps:
    """The Steps of a Trainer: compiled with ``backend.jit``, the optimizer update in place
    where the backend can (the Trainer's fit owns the arrays it updates)."""
    jit = backend.jit
    update, one = optimizer.step, grads_fn(model, loss, policy)
    lean = one
    if backend.inplace:
        ops = backend.inplace_ops()
        update = functools.partial(optimizer.step_inplace, ops=ops)
        lean = grads_fn(model, loss, policy, ops)
    batched = batched_fn(lean, update)
    predict = jit(predict_fn(model, policy))
    if strategy == "batched":
        return Steps(jit(batched, donate_argnums=(0, 1)), jit(one), predict, batched)
    one = jit(one)
    apply = jit(update, donate_argnums=(0, 2))

    def per_sample_step(params: Any, opt_state: Any, X: Any, T: Any) -> tuple[Any, Any, Any]:
        g, value = per_sample_grads(one, params, X, T)
        params, opt_state = apply(params, g, opt_state)
        return params, opt_state, value

    return Steps(per_sample_step, functools.partial(per_sample_grads, one), predict, batched)
