"""Optimizers as pure functions over any pytree of arrays (nested list / tuple / dict).

``state = opt.init(params)``; ``params, state = opt.step(params, grads, state)``.
Nothing is updated in place and the optimizer object holds no state, so a
step runs unchanged under ``jax.jit``. The update rules follow ``torch.optim``.

Each rule is written once, per leaf, in the array operations of ``nnkit.functional`` (as
layers and losses are):
``step`` runs it with the pure ops; ``step_inplace(params, grads, state, ops)`` runs it
with a backend's in-place ops (``Backend.inplace_ops``, NumPy), which overwrite params and
state (bitwise equal to ``step``) and only read the gradients. Only the owner of the
arrays may call it: the Trainer's eager loop does, on the copy a fit works on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .. import checks
from .._ns import namespace
from ..errors import InvalidValueError
from ..functional import PURE
from ..tree import tree_leaves, tree_map, tree_unflatten

LR = float | Callable[[Any], Any]


def _zeros(params: Any) -> Any:
    return tree_map(lambda p: namespace(p).zeros_like(p), params)


def map_rule(rule: Callable, ops: Any, trees: tuple[Any, ...], **scalars: Any) -> list[Any]:
    """``rule(ops, *leaves, **scalars) -> new leaves`` over the leaves of ``trees`` (params,
    the state parts, grads last); returns the updated trees, every one but the gradients,
    each shaped like ``trees[0]`` (the very trees given, where the ops wrote in place)."""
    leaves = [tree_leaves(t) for t in trees]
    results = [rule(ops, *column, **scalars) for column in zip(*leaves, strict=True)]
    updated = []
    for i, tree in enumerate(trees[:-1]):
        new = [r[i] for r in results]
        in_place = all(a is b for a, b in zip(new, leaves[i], strict=True))  # in-place ops
        updated.append(tree if in_place else tree_unflatten(trees[0], new))
    return updated


class Optimizer:
    lr: LR

    def learning_rate(self, count: Any) -> Any:
        """The learning rate of update number ``count`` (0 for the first)."""
        return self.lr(count) if callable(self.lr) else self.lr

    def init(self, params: Any) -> Any:
        raise NotImplementedError

    def step(self, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        """One update: new ``(params, state)``; the arguments are left as they are."""
        return self.update(PURE, params, grads, state)

    def step_inplace(self, params: Any, grads: Any, state: Any, ops: Any) -> tuple[Any, Any]:
        """``step`` with params and state overwritten through ``ops`` (a backend's
        ``inplace_ops()``); returns the same arrays. Falls back to ``step`` where the
        learning rate is not a Python number (a NumPy scalar or array could change the
        result's dtype, as it does in ``step``)."""
        if type(self.learning_rate(state.count)) not in (int, float):
            return self.step(params, grads, state)
        return self.update(ops, params, grads, state)

    def update(self, ops: Any, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        """The update rule in the arithmetic of ``ops`` (see ``nnkit.functional``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class SGDState(NamedTuple):
    count: Any
    velocity: Any  # a pytree like params, or None without momentum


class SGD(Optimizer):
    """v <- mu v - lr g;  p <- p + v.  Nesterov: p <- p + mu v - lr g (with the new v).

    Without momentum: p <- p - lr g.
    """

    def __init__(self, lr: LR, momentum: float = 0.0, nesterov: bool = False):
        self.lr = checks.check_lr(lr)
        self.momentum = checks.check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise InvalidValueError("nesterov=True needs momentum > 0, got momentum 0")

    def init(self, params):
        return SGDState(0, _zeros(params) if self.momentum else None)

    def update(self, ops, params, grads, state):
        lr, mu = self.learning_rate(state.count), self.momentum
        if not mu:
            (params,) = map_rule(_sgd, ops, (params, grads), lr=lr)
            return params, SGDState(state.count + 1, None)
        params, v = map_rule(
            _momentum, ops, (params, state.velocity, grads), lr=lr, mu=mu, nesterov=self.nesterov
        )
        return params, SGDState(state.count + 1, v)


def _sgd(ops: Any, p: Any, g: Any, *, lr: Any) -> tuple[Any]:
    """p <- p - lr g."""
    a, _ = ops.scratch(p)
    return (ops.sub(p, ops.mul(g, lr, out=a), out=p),)


def _momentum(ops: Any, p: Any, v: Any, g: Any, *, lr: Any, mu: float, nesterov: bool):
    """v <- mu v - lr g;  p <- p + v  (Nesterov: p <- p + mu v - lr g, with the new v)."""
    a, b = ops.scratch(p)
    lr_g = ops.mul(g, lr, out=a)
    v = ops.sub(ops.mul(v, mu, out=v), lr_g, out=v)
    if nesterov:
        p = ops.sub(ops.add(p, ops.mul(v, mu, out=b), out=p), lr_g, out=p)
    else:
        p = ops.add(p, v, out=p)
    return p, v


class RMSPropState(NamedTuple):
    count: Any
    square_avg: Any


class RMSProp(Optimizer):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)."""

    def __init__(self, lr: LR = 1e-3, rho: float = 0.9, eps: float = 1e-8):
        self.lr = checks.check_lr(lr)
        self.rho = checks.check_unit_interval("rho", rho)
        self.eps = checks.check_positive("eps", eps)

    def init(self, params):
        return RMSPropState(0, _zeros(params))

    def update(self, ops, params, grads, state):
        lr = self.learning_rate(state.count)
        params, s = map_rule(
            _rmsprop, ops, (params, state.square_avg, grads), lr=lr, rho=self.rho, eps=self.eps
        )
        return params, RMSPropState(state.count + 1, s)


def _rmsprop(ops: Any, p: Any, s: Any, g: Any, *, lr: Any, rho: float, eps: float):
    """s <- rho s + (1 - rho) g g;  p <- p - lr g / (sqrt(s) + eps)."""
    a, b = ops.scratch(p)
    s = ops.add(ops.mul(s, rho, out=s), ops.mul(ops.mul(g, 1 - rho, out=a), g, out=a), out=s)
    denom = ops.add(ops.sqrt(s, out=b), eps, out=b)
    p = ops.sub(p, ops.div(ops.mul(g, lr, out=a), denom, out=a), out=p)
    return p, s


class AdamState(NamedTuple):
    count: Any
    m: Any
    v: Any


class Adam(Optimizer):
    """Bias-corrected Adam with eps outside the square root (torch.optim.Adam):

    m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  t = 1, 2, ...
    """

    weight_decay = 0.0

    def __init__(self, lr: LR = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.lr = checks.check_lr(lr)
        self.b1 = checks.check_unit_interval("b1", b1)
        self.b2 = checks.check_unit_interval("b2", b2)
        self.eps = checks.check_positive("eps", eps)

    def init(self, params):
        return AdamState(0, _zeros(params), _zeros(params))

    def _scalars(self, count: Any) -> tuple[Any, Any, Any]:
        """(step_size, bc2_sqrt, decay) of update number ``count``; decay None without
        weight decay."""
        lr, t = self.learning_rate(count), count + 1
        decay = 1 - lr * self.weight_decay if self.weight_decay else None
        return lr / (1 - self.b1**t), (1 - self.b2**t) ** 0.5, decay

    def update(self, ops, params, grads, state):
        step_size, bc2_sqrt, decay = self._scalars(state.count)
        params, m, v = map_rule(
            _adam, ops, (params, state.m, state.v, grads), b1=self.b1, b2=self.b2, eps=self.eps,
            step_size=step_size, bc2_sqrt=bc2_sqrt, decay=decay,
        )  # fmt: skip
        return params, AdamState(state.count + 1, m, v)


def _adam(ops: Any, p: Any, m: Any, v: Any, g: Any, *, b1: float, b2: float, eps: float,
          step_size: Any, bc2_sqrt: Any, decay: Any):  # fmt: skip
    """m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g g;  p <- p * decay (if not None);
    p <- p - step_size m / (sqrt(v) / bc2_sqrt + eps)."""
    a, b = ops.scratch(p)
    m = ops.add(m, ops.mul(ops.sub(g, m, out=a), 1 - b1, out=a), out=m)
    v = ops.add(ops.mul(v, b2, out=v), ops.mul(ops.mul(g, 1 - b2, out=a), g, out=a), out=v)
    if decay is not None:
        p = ops.mul(p, decay, out=p)
    denom = ops.add(ops.div(ops.sqrt(v, out=b), bc2_sqrt, out=b), eps, out=b)
    p = ops.sub(p, ops.div(ops.mul(m, step_size, out=a), denom, out=a), out=p)
    return p, m, v


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): p <- p (1 - lr wd), then Adam."""

    def __init__(
        self,
        lr: LR = 1e-3,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(lr, b1, b2, eps)
        self.weight_decay = checks.check_nonnegative("weight_decay", weight_decay)
