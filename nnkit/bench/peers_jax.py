"""The JAX + Optax peers of ``nnkit bench`` (see ``peers``): a jitted step per minibatch
(jax_optax_step), a jitted ``lax.scan`` over the epoch (jax_optax_scan), and that scan of
the step of K models mapped by ``jax.vmap`` (jax_vmap). Imported only when a JAX peer runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np  # host-side: the initial weights are drawn on the host

from .scenarios import Scenario


def _jax_parts(scenario: Scenario, dtype: str, models: int | None = None):
    """JAX, jax.numpy, the parameters and Optax state, the step and the device's name; with
    ``models`` = K, K models' stacked (a leading axis K on every leaf) and the step mapped
    over them by ``jax.vmap``, the minibatch shared."""
    import jax
    import jax.numpy as jnp
    import optax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    compute = dtype
    if dtype == "bfloat16":  # mixed: float32 params and state, bfloat16 forward/backward
        dtype = "float32"
    act = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[scenario.activation]
    k = scenario.sizes[-1]
    rng = np.random.default_rng(0)
    lead = () if models is None else (models,)
    params = [
        (
            jnp.asarray(rng.uniform(-0.1, 0.1, (*lead, a, b)), dtype=dtype),
            jnp.zeros((*lead, b), dtype=dtype),
        )
        for a, b in scenario.shapes
    ]

    def forward(params, x):
        for i, (W, b) in enumerate(params):
            x = x @ W + b
            if i < len(params) - 1 or scenario.loss == "mse":
                x = act(x)
        return x

    def loss_fn(params, x, y):
        low = jax.tree_util.tree_map(lambda a: a.astype(compute), params)
        out = forward(low, x.astype(compute)).astype(dtype)
        if scenario.loss == "mse":
            return jnp.mean((out - jax.nn.one_hot(y, k, dtype=out.dtype)) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    opt = (optax.sgd if scenario.optimizer == "sgd" else optax.adam)(scenario.lr)

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    device = jax.devices()[0]
    name = f"{device.platform}:{device.id} (jax {jax.__version__} + optax {optax.__version__})"
    if models is None:
        return jax, jnp, params, opt.init(params), step, name
    stacked_step = jax.vmap(step, in_axes=(0, 0, None, None))
    return jax, jnp, params, jax.vmap(opt.init)(params), stacked_step, name


def _epoch_order(jax: Any, scenario: Scenario, key: list, X: Any, y: Any) -> tuple[Any, Any]:
    """X and y in this epoch's order: shuffled with the next split of ``key[0]`` for the
    digits scenario (as nnkit's S3 shuffles), as they are otherwise."""
    if not scenario.digits:
        return X, y
    key[0], sub = jax.random.split(key[0])
    order = jax.random.permutation(sub, X.shape[0])
    return X[order], y[order]


def build(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: int | None = None,
):  # fmt: skip
    """Hand-written JAX + Optax: a jitted step per minibatch (jax_optax_step) or a jitted
    scan over the epoch (jax_optax_scan; jax_vmap: of the step of K = ``models`` models
    mapped by ``jax.vmap``), the state carried from one run() to the next."""
    jax, jnp, params, state, step, device = _jax_parts(scenario, dtype, models)
    Xd, yd = jnp.asarray(X, dtype=params[0][0].dtype), jnp.asarray(y)
    make_epoch = _step_epoch if peer == "jax_optax_step" else _scan_epoch
    epoch = make_epoch(jax, step, batch_size)
    carry = [params, state]
    key = [jax.random.PRNGKey(0)]

    def run() -> None:
        Xe, ye = _epoch_order(jax, scenario, key, Xd, yd)
        carry[0], carry[1], total = epoch(carry[0], carry[1], Xe, ye)
        jax.block_until_ready((carry[0], total))

    return device, run


def _step_epoch(jax: Any, step: Callable, batch_size: int) -> Callable:
    """jax_optax_step's epoch: one jitted step per minibatch, dispatched from Python."""
    jstep = jax.jit(step, donate_argnums=(0, 1))

    def epoch(p, s, X, y):
        total = 0.0
        for start in range(0, X.shape[0], batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            p, s, loss = jstep(p, s, xb, yb)
            total = total + loss * xb.shape[0]
        return p, s, total

    return epoch


def _scan_epoch(jax: Any, step: Callable, batch_size: int) -> Callable:
    """jax_optax_scan's epoch, one jitted call: the full minibatches in one ``lax.scan``, then
    the smaller last minibatch, as nnkit's fused epoch does (slicing, reshape and loss sum
    compiled in, nothing eager between epochs)."""

    def body(carry, batch):
        p, s, loss = step(*carry, *batch)
        return (p, s), loss

    def epoch(p, s, X, y):
        full = X.shape[0] // batch_size
        m = full * batch_size
        Xs = X[:m].reshape(full, batch_size, *X.shape[1:])
        ys = y[:m].reshape(full, batch_size, *y.shape[1:])
        (p, s), losses = jax.lax.scan(body, (p, s), (Xs, ys))
        total = losses.sum() * batch_size
        if m < X.shape[0]:
            p, s, loss = step(p, s, X[m:], y[m:])
            total = total + loss * (X.shape[0] - m)
        return p, s, total

    return jax.jit(epoch, donate_argnums=(0, 1))
