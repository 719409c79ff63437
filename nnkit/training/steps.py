"""The pure maths of one training step, built once per Trainer and compiled by the backend.

``grads(params, X, T, w=None) -> (grads, loss)``: forward and backward of a minibatch, in
the precision policy's compute dtype, with the loss and the gradients in the parameter
dtype; ``w`` (batch,): per-sample weights (the loss's weighted mean), None: the plain mean.
A minibatch travels as the tuple ``(X, T)`` or ``(X, T, w)``, its arrays row-aligned.
``batched``: one design-matrix forward/backward per minibatch, then the optimizer update.
``per_sample``: the lecture's loop, one row at a time, gradients summed, averaged, then
the update. Both return ``(params, opt_state, loss)`` and give the same gradients.

Every function here is plain maths, compiled by the backend's ``jit`` as it is written (JAX:
XLA; NumPy: recorded once and replayed as its array calls). The batched step donates the
parameters and optimizer state: a compiled step may write the new values into them.

``l2 > 0`` adds scikit-learn's L2 penalty to every minibatch of n rows: ``0.5 * l2 *
sum(W**2) / n`` over the Dense weights "W" (never biases) to the loss and ``l2 * W / n`` to
their gradients (per-sample: once, to the averaged rows); with weights, n is the minibatch's
weight sum (scikit-learn's rule). ``l2 == 0`` traces nothing more. A stack of K models (see
``nnkit.stack``) may give each model its own penalty (``l2`` a sequence of K numbers): model k
adds ``0.5 * l2[k] * sum(W_k**2) / n_k`` to its own loss, n_k its rows' count or weight sum.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .._ns import namespace
from ..backends import Backend
from ..layers import Dense
from ..losses import Loss, weight_sum
from ..metrics import hit_rate
from ..model import Sequential
from ..optim import Optimizer
from ..stacks import is_per_model, per_model
from ..tree import tree_map
from .precision import Policy

STRATEGIES = ("batched", "per_sample")

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def grads_fn(
    model: Sequential, loss: Loss, policy: Policy, l2: float | Sequence[float] = 0.0
) -> Callable:
    """``(params, X, T, w=None) -> (grads, loss)``. The first layer's input gradient is not
    computed: nothing uses it. ``l2``: the L2 penalty (see ``l2_fn``)."""
    penalty = l2_fn(model, l2)

    def grads(params: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any]:
        low = policy.to_compute(params)
        Y, cache = model.forward(low, policy.to_compute(X))
        Y = policy.to_param(Y)
        dY = loss.unchecked_grad(Y, T, w)
        value = loss.unchecked(Y, T, w)
        _, g = model.backward(low, cache, policy.to_compute(dY), input_grad=False)
        if penalty is None:
            return policy.to_param(g), value
        return penalty(params, policy.to_param(g), value, mass(X, w))

    return grads


def mass(X: Any, w: Any = None) -> Any:
    """What a minibatch's L2 penalty is divided by: its row count, or its weight sum (for a
    stack's weights (K, batch): each model's, shape (K,))."""
    return X.shape[-2] if w is None else weight_sum(w)


def l2_fn(model: Sequential, l2: float | Sequence[float]) -> Callable | None:
    """``(params, grads, loss, n) -> (grads, loss)`` with scikit-learn's L2 penalty on the
    Dense weights "W" of a minibatch of n rows: ``grads["W"] + l2 / n * W`` and ``loss +
    0.5 * l2 / n * sum(W**2)``, in the parameter dtype. None when ``l2 == 0``: nothing to
    add. Stacked params (loss (K,)): ``l2`` and n may hold one value per model, and each
    model's sum is its own."""
    if not is_per_model(l2) and not l2:
        return None
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]

    def penalty(params: Any, grads: Any, value: Any, n: Any) -> tuple[Any, Any]:
        xp, grads = namespace(value), [dict(g) for g in grads]
        scale = per_model(l2, value, "l2") / n
        total = 0
        for i in dense:
            W = params[i]["W"]
            grads[i]["W"] = grads[i]["W"] + per_model(scale, W, "l2") * W
            total = total + xp.sum(W**2, axis=(-2, -1))
        return grads, value + xp.astype(0.5 * scale * total, value.dtype)

    return penalty


def predict_fn(model: Sequential, policy: Policy) -> Callable:
    """``(params, X) -> Y`` in the parameter dtype, keeping no cache."""

    def predict(params: Any, X: Any) -> Any:
        low = policy.to_compute(params)
        return policy.to_param(model.predict(low, policy.to_compute(X)))

    return predict


def metrics_fn(predict: Callable, loss: Loss, classes: bool) -> Callable:
    """``(params, X, T, w=None) -> (loss, accuracy)`` on checked data, 0-d arrays of X's
    dtype, weighted by ``w`` (n,) where given; accuracy NaN unless ``classes`` (T holds class
    labels). Pure: compiled on its own, or inside a whole-fit program at each epoch's end."""

    def metrics(params: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any]:
        xp = namespace(X)
        pred = predict(params, X)
        value = xp.astype(loss.unchecked(pred, T, w), X.dtype)
        if not classes:
            return value, xp.full((), float("nan"), dtype=X.dtype)
        return value, xp.astype(hit_rate(pred, T, w), X.dtype)

    return metrics


def batched_fn(grads: Callable, update: Callable) -> Step:
    """The pure batched step: ``update`` is ``optimizer.step`` or its in-place form."""

    def step(params: Any, opt_state: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any, Any]:
        g, value = grads(params, X, T, w)
        params, opt_state = update(params, g, opt_state)
        return params, opt_state, value

    return step


def per_sample_grads(
    grads: Callable, params: Any, X: Any, T: Any, w: Any = None
) -> tuple[Any, Any]:
    """The lecture's loop: ``grads`` of one row at a time, summed, then averaged; with
    weights ``w`` (batch,), ``sum_i w_i g_i / sum_i w_i``."""

    def row(i: int) -> tuple[Any, Any]:
        g, value = grads(params, X[i : i + 1, ...], T[i : i + 1, ...])
        if w is None:
            return g, value
        return tree_map(lambda a: w[i] * a, g), w[i] * value

    total_g, total = row(0)
    for i in range(1, X.shape[0]):
        g, value = row(i)
        total_g = tree_map(lambda a, b: a + b, total_g, g)
        total = total + value
    n = mass(X, w)
    return tree_map(lambda a: a / n, total_g), total / n


def data_parallel(step: Step, backend: Backend) -> Step:
    """``step`` with each minibatch's rows split over the backend's devices and the updated
    parameters and state whole on each (``Backend.shard_rows``, ``Backend.replicate``): the
    compiler sums the shards' gradients. On one device both are the identity."""

    def sharded(params: Any, opt_state: Any, *rows: Any) -> tuple[Any, Any, Any]:
        params, opt_state, value = step(params, opt_state, *map(backend.shard_rows, rows))
        params, opt_state = backend.replicate((params, opt_state))
        return params, opt_state, value

    return sharded


@dataclasses.dataclass(frozen=True)
class Steps:
    """The compiled functions of one Trainer.

    ``step(params, opt_state, X, T, w=None) -> (params, opt_state, loss)`` for its strategy
    (params and opt_state consumed: donated on JAX, updated in place on NumPy);
    ``grads(params, X, T, w=None) -> (grads, loss)`` for its strategy, params untouched;
    ``predict(params, X) -> Y``; ``metrics[classes](params, X, T, w=None) -> (loss,
    accuracy)``
    (see ``metrics_fn``); ``batched``: the uncompiled batched step, for the fused runs to
    compile inside their scans.
    """

    step: Step
    grads: Callable
    predict: Callable
    metrics: dict[bool, Callable]
    batched: Step


def build(
    model: Sequential,
    loss: Loss,
    optimizer: Optimizer,
    policy: Policy,
    backend: Backend,
    strategy: str,
    l2: float = 0.0,
) -> Steps:
    """The Steps of a Trainer, compiled with ``backend.jit``; ``l2``: the L2 penalty of
    ``l2_fn``."""
    jit = backend.jit
    update, one = optimizer.step, grads_fn(model, loss, policy, l2=l2)
    batched = data_parallel(batched_fn(one, update), backend)
    plain_predict = predict_fn(model, policy)

    def pure_predict(params: Any, X: Any) -> Any:  # rows split, the output whole everywhere
        return backend.replicate(plain_predict(params, backend.shard_rows(X)))

    predict = jit(pure_predict)
    metrics = {c: jit(metrics_fn(pure_predict, loss, c)) for c in (False, True)}
    if strategy == "batched":
        return Steps(jit(batched, donate_argnums=(0, 1)), jit(one), predict, metrics, batched)
    row = jit(grads_fn(model, loss, policy))  # one row's gradients: the penalty comes after
    penalty = l2_fn(model, l2)
    apply = jit(update, donate_argnums=(0, 2))

    def per_sample(params: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any]:
        g, value = per_sample_grads(row, params, X, T, w)
        return (g, value) if penalty is None else penalty(params, g, value, mass(X, w))

    def per_sample_step(
        params: Any, opt_state: Any, X: Any, T: Any, w: Any = None
    ) -> tuple[Any, Any, Any]:
        g, value = per_sample(params, X, T, w)
        params, opt_state = apply(params, g, opt_state)
        return params, opt_state, value

    return Steps(per_sample_step, per_sample, predict, metrics, batched)
