"""Optimizers as pure functions over any pytree of arrays (nested list / tuple / dict).

``state = opt.init(params)``; ``params, state = opt.step(params, grads, state)``.
Nothing is updated in place and the optimizer object holds no state, so a
step runs unchanged under ``jax.jit``. The update rules follow ``torch.optim``.

``step_inplace(params, grads, state, updates)`` is the same step for the Trainer's eager
loop on backends with ``inplace`` (NumPy): the scalars are computed here and the element-wise
work is handed to the backend's ``updates`` object, which overwrites params and state
(bitwise equal to ``step``). Only the owner of the arrays may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .. import validation
from .._ns import namespace
from ..errors import InvalidValueError
from ..tree import tree_leaves, tree_map

LR = float | Callable[[Any], Any]


def _zeros(params: Any) -> Any:
    return tree_map(lambda p: namespace(p).zeros_like(p), params)


class Optimizer:
    lr: LR

    def learning_rate(self, count: Any) -> Any:
        """The learning rate of update number ``count`` (0 for the first)."""
        return self.lr(count) if callable(self.lr) else self.lr

    def init(self, params: Any) -> Any:
        raise NotImplementedError

    def step(self, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def step_inplace(self, params: Any, grads: Any, state: Any, updates: Any) -> tuple[Any, Any]:
        """``step`` with params and state overwritten by ``updates`` (a backend's
        ``updates()``); returns the same objects. Falls back to ``step`` where the optimizer
        has no in-place form or its learning rate is not a Python number (a NumPy scalar
        or array could change the result's dtype, as it does in ``step``)."""
        if type(self.learning_rate(state.count)) not in (int, float):
            return self.step(params, grads, state)
        return self._step_inplace(params, grads, state, updates)

    def _step_inplace(self, params, grads, state, updates):
        return self.step(params, grads, state)

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
        self.lr = validation.check_lr(lr)
        self.momentum = validation.check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise InvalidValueError("nesterov=True needs momentum > 0, got momentum 0")

    def init(self, params):
        return SGDState(0, _zeros(params) if self.momentum else None)

    def step(self, params, grads, state):
        lr, mu = self.learning_rate(state.count), self.momentum
        if not mu:
            return tree_map(lambda p, g: p - lr * g, params, grads), SGDState(state.count + 1, None)
        v = tree_map(lambda v, g: mu * v - lr * g, state.velocity, grads)
        if self.nesterov:
            params = tree_map(lambda p, v, g: p + mu * v - lr * g, params, v, grads)
        else:
            params = tree_map(lambda p, v: p + v, params, v)
        return params, SGDState(state.count + 1, v)

    def _step_inplace(self, params, grads, state, updates):
        lr, leaves = self.learning_rate(state.count), tree_leaves(params)
        if not self.momentum:
            updates.sgd(leaves, tree_leaves(grads), lr)
        else:
            v = tree_leaves(state.velocity)
            updates.momentum(leaves, v, tree_leaves(grads), lr, self.momentum, self.nesterov)
        return params, state._replace(count=state.count + 1)


class RMSPropState(NamedTuple):
    count: Any
    square_avg: Any


class RMSProp(Optimizer):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)."""

    def __init__(self, lr: LR = 1e-3, rho: float = 0.9, eps: float = 1e-8):
        self.lr = validation.check_lr(lr)
        self.rho = validation.check_unit_interval("rho", rho)
        self.eps = validation.check_positive("eps", eps)

    def init(self, params):
        return RMSPropState(0, _zeros(params))

    def step(self, params, grads, state):
        lr, rho, eps = self.learning_rate(state.count), self.rho, self.eps
        s = tree_map(lambda s, g: rho * s + (1 - rho) * g * g, state.square_avg, grads)
        params = tree_map(
            lambda p, g, s: p - lr * g / (namespace(s).sqrt(s) + eps), params, grads, s
        )
        return params, RMSPropState(state.count + 1, s)

    def _step_inplace(self, params, grads, state, updates):
        lr, s = self.learning_rate(state.count), tree_leaves(state.square_avg)
        updates.rmsprop(tree_leaves(params), s, tree_leaves(grads), lr, self.rho, self.eps)
        return params, state._replace(count=state.count + 1)


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
        self.lr = validation.check_lr(lr)
        self.b1 = validation.check_unit_interval("b1", b1)
        self.b2 = validation.check_unit_interval("b2", b2)
        self.eps = validation.check_positive("eps", eps)

    def init(self, params):
        return AdamState(0, _zeros(params), _zeros(params))

    def _scalars(self, count: Any) -> tuple[Any, Any, Any]:
        """(step_size, bc2_sqrt, decay) of update number ``count``; decay None without
        weight decay."""
        lr, t = self.learning_rate(count), count + 1
        decay = 1 - lr * self.weight_decay if self.weight_decay else None
        return lr / (1 - self.b1**t), (1 - self.b2**t) ** 0.5, decay

    def step(self, params, grads, state):
        b1, b2, eps = self.b1, self.b2, self.eps
        step_size, bc2_sqrt, decay = self._scalars(state.count)
        m = tree_map(lambda m, g: m + (1 - b1) * (g - m), state.m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
        if decay is not None:
            params = tree_map(lambda p: p * decay, params)
        params = tree_map(
            lambda p, m, v: p - step_size * m / (namespace(v).sqrt(v) / bc2_sqrt + eps),
            params,
            m,
            v,
        )
        return params, AdamState(state.count + 1, m, v)

    def _step_inplace(self, params, grads, state, updates):
        step_size, bc2_sqrt, decay = self._scalars(state.count)
        m, v = tree_leaves(state.m), tree_leaves(state.v)
        updates.adam(
            tree_leaves(params),
            m,
            v,
            tree_leaves(grads),
            b1=self.b1,
            b2=self.b2,
            eps=self.eps,
            step_size=step_size,
            bc2_sqrt=bc2_sqrt,
            decay=decay,
        )
        return params, state._replace(count=state.count + 1)


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
        self.weight_decay = validation.check_nonnegative("weight_decay", weight_decay)
