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
weight sum (scikit-learn's rule). ``l2 == 0`` traces nothing more.

Stacks of K models (params stacked as ``nnkit.stack`` makes them, as a ``Sweep`` trains
them): the same functions, on minibatches whose rows a fit gathered for each model
(``model_first``); the loss is then one per model (K,), ``l2`` a number or one per model.
The update after the gradients is an ``Update`` (``applied``: the optimizer's step as it
is; a Sweep's keeps the last finite parameters of a model that diverged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .._ns import namespace
from ..backends import Backend
from ..layers import Dense
from ..losses import Loss, weight_sum
from ..metrics import hit_rate
from ..model import Sequential
from ..optim import Optimizer
from ..stacks import per_model, shared
from ..tree import tree_map
from .precision import Policy

STRATEGIES = ("batched", "per_sample")

Step = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]
# (params, grads, opt_state, loss) -> (params, opt_state, loss): what a step does after the
# gradients
Update = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]


def model_first(model: Sequential, params: Any, X: Any, T: Any, w: Any = None) -> tuple:
    """A minibatch ``(X, T, w)`` as a fit gives it, made the form the model's maths take.

    One model's params: as it is. Params stacked over K models: every array with the model
    axis first, (K, batch, ...): rows gathered for each model by its own order (batch, K,
    ...) have their first two axes swapped (views); rows shared by every model (batch, ...)
    (a fit without shuffling) are broadcast to the stack.
    """
    k = model.stack_size(params)
    if k is None:
        return X, T, w
    if X.ndim == 3:
        xp = namespace(X)
        return tuple(None if a is None else xp.moveaxis(a, 0, 1) for a in (X, T, w))
    return shared(X, k), shared(T, k), shared(w, k)


def grads_fn(model: Sequential, loss: Loss, policy: Policy, l2: float = 0.0) -> Callable:
    """``(params, X, T, w=None) -> (grads, loss)`` of a minibatch in the model's form (see
    ``model_first``). The first layer's input gradient is not computed: nothing uses it.
    ``l2``: the L2 penalty (see ``l2_fn``)."""
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
    """What a minibatch's L2 penalty is divided by: its row count, or its weight sum (one
    per model of a stack)."""
    return X.shape[-2] if w is None else weight_sum(w)


def l2_fn(model: Sequential, l2: float | tuple[float, ...]) -> Callable | None:
    """``(params, grads, loss, n) -> (grads, loss)`` with scikit-learn's L2 penalty on the
    Dense weights "W" of a minibatch of n rows: ``grads["W"] + l2 / n * W`` and ``loss +
    0.5 * l2 / n * sum(W**2)``, in the parameter dtype; for stacked params each model's
    (``l2`` and n a number or one per model). None when ``l2 == 0``: nothing to add."""
    if not l2:
        return None
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]

    def penalty(params: Any, grads: Any, value: Any, n: Any) -> tuple[Any, Any]:
        xp, grads = namespace(value), [dict(g) for g in grads]
        total = 0
        for i in dense:
            W = params[i]["W"]
            grads[i]["W"] = grads[i]["W"] + per_model(l2, W, "l2") / per_model(n, W) * W
            total = total + xp.sum(W**2, axis=(-2, -1))
        scale = 0.5 * per_model(l2, value, "l2") / per_model(n, value)
        return grads, value + xp.astype(scale * total, value.dtype)

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
        if pred.ndim > X.ndim:  # a stack's predictions (K, n, out) of data all models share
            T, w = shared(T, pred.shape[0]), shared(w, pred.shape[0])
        value = xp.astype(loss.unchecked(pred, T, w), X.dtype)
        if not classes:
            return value, xp.full(value.shape, float("nan"), dtype=X.dtype)
        return value, xp.astype(hit_rate(pred, T, w), X.dtype)

    return metrics


def applied(step: Callable) -> Update:
    """``step`` (an optimizer's ``step(params, grads, state)``) as an Update: the new params
    and state, the loss as it is."""

    def update(params: Any, g: Any, opt_state: Any, value: Any) -> tuple[Any, Any, Any]:
        params, opt_state = step(params, g, opt_state)
        return params, opt_state, value

    return update


def batched_fn(grads: Callable, update: Update) -> Step:
    """The pure batched step: the gradients, then ``update``."""

    def step(params: Any, opt_state: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any, Any]:
        g, value = grads(params, X, T, w)
        return update(params, g, opt_state, value)

    return step


def per_sample_grads(
    grads: Callable, params: Any, X: Any, T: Any, w: Any = None
) -> tuple[Any, Any]:
    """The lecture's loop: ``grads`` of one row at a time, summed, then averaged; with
    weights ``w`` (batch,), ``sum_i w_i g_i / sum_i w_i``. A stack's minibatch (every array
    (K, batch, ...), see ``model_first``): row i of every model at a time."""
    axis = X.ndim - 2  # the rows: 0 for one model, 1 behind a stack's model axis

    def rows(a: Any, i: int) -> Any:
        return a[(slice(None),) * axis + (slice(i, i + 1), ...)]

    def row(i: int) -> tuple[Any, Any]:
        g, value = grads(params, rows(X, i), rows(T, i))
        if w is None:
            return g, value
        wi = w[..., i]
        return tree_map(lambda a: per_model(wi, a) * a, g), wi * value

    total_g, total = row(0)
    for i in range(1, X.shape[axis]):
        g, value = row(i)
        total_g = tree_map(lambda a, b: a + b, total_g, g)
        total = total + value
    n = mass(X, w)
    return tree_map(lambda a: a / per_model(n, a), total_g), total / n


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
    l2: float | tuple[float, ...] = 0.0,
    update: Update | None = None,
) -> Steps:
    """The Steps of a Trainer, compiled with ``backend.jit``; ``l2``: the L2 penalty of
    ``l2_fn``; ``update``: what follows the gradients (default: ``applied(optimizer.step)``).
    """
    jit = backend.jit
    update = applied(optimizer.step) if update is None else update
    model_grads = grads_fn(model, loss, policy, l2=l2)

    def one(params: Any, X: Any, T: Any, w: Any = None) -> tuple[Any, Any]:
        return model_grads(params, *model_first(model, params, X, T, w))

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
        X, T, w = model_first(model, params, X, T, w)
        g, value = per_sample_grads(row, params, X, T, w)
        return (g, value) if penalty is None else penalty(params, g, value, mass(X, w))

    def per_sample_step(
        params: Any, opt_state: Any, X: Any, T: Any, w: Any = None
    ) -> tuple[Any, Any, Any]:
        g, value = per_sample(params, X, T, w)
        return apply(params, g, opt_state, value)

    return Steps(per_sample_step, per_sample, predict, metrics, batched)
