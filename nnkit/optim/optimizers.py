"""Optimizers as pure functions over any pytree of arrays (nested list / tuple / dict).

``state = opt.init(params)``; ``params, state = opt.step(params, grads, state)``.
Nothing is updated in place and the optimizer object holds no state, so a
step runs unchanged under a backend's ``jit``. The update rules follow ``torch.optim``.

Each rule is written once, per leaf, as plain array expressions (``p - lr * g``); the
learning rate and the bias corrections are Python arithmetic on the step count (a traced
number under ``jit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .. import checks
from .._ns import namespace
from ..errors import InvalidValueError
from ..tree import tree_leaves, tree_map, tree_unflatten

LR = float | Callable[[Any], Any]


def _zeros(params: Any) -> Any:
    return tree_map(lambda p: namespace(p).zeros_like(p), params)


def map_rule(rule: Callable, trees: tuple[Any, ...], **scalars: Any) -> list[Any]:
    """``rule(*leaves, **scalars) -> new leaves`` over the leaves of ``trees`` (params, the
    state parts, grads last); returns the updated trees, every one but the gradients, each
    shaped like ``trees[0]``."""
    leaves = [tree_leaves(t) for t in trees]
    results = [rule(*column, **scalars) for column in zip(*leaves, strict=True)]
    return [tree_unflatten(trees[0], [r[i] for r in results]) for i in range(len(trees) - 1)]


class Optimizer:
    """The base of the optimizers: pure ``init`` and ``step`` over pytrees of arrays.

    Attributes
    ----------
    lr : float or callable
        The learning rate, or a schedule ``step -> lr``.
    """

    lr: LR

    def learning_rate(self, count: Any) -> Any:
        """The learning rate of an update.

        Parameters
        ----------
        count : int or 0-d array
            The update's number, 0 for the first (a traced number under ``jit``).

        Returns
        -------
        float or 0-d array
            ``lr``, or the schedule's value at ``count``.
        """
        return self.lr(count) if callable(self.lr) else self.lr

    def init(self, params: Any) -> Any:
        """The optimizer's state before the first update.

        Parameters
        ----------
        params : pytree
            Nested lists, tuples and dicts of arrays (a model's parameters).

        Returns
        -------
        NamedTuple
            The state: the update count (0) and, per parameter, zeros of its shape where
            the rule keeps a running quantity (velocity, averages).
        """
        raise NotImplementedError

    def step(self, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        """One update; the arguments are left as they are.

        Parameters
        ----------
        params : pytree
            The parameters.
        grads : pytree
            Their gradients, of ``params``' structure.
        state : NamedTuple
            The state from ``init`` or the previous ``step``.

        Returns
        -------
        tuple
            ``(params, state)``: new arrays, of the same structures.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class SGDState(NamedTuple):
    """``SGD``'s state.

    Attributes
    ----------
    count : int or 0-d array
        Updates made.
    velocity : pytree or None
        v, shaped like the parameters; None without momentum.
    """

    count: Any
    velocity: Any


class SGD(Optimizer):
    """v <- mu v - lr g;  p <- p + v.  Nesterov: p <- p + mu v - lr g (with the new v).

    Without momentum: p <- p - lr g. The rule of ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float or callable
        The learning rate: a finite float > 0, or a schedule ``step -> lr`` (step 0 is the
        first update; ``nnkit.optim.schedules``).
    momentum : float
        mu, in [0, 1).
    nesterov : bool
        Nesterov's momentum (needs momentum > 0).

    Raises
    ------
    InvalidValueError
        A hyperparameter out of range (the message names it and its range).
    InvalidTypeError
        A hyperparameter that is not a number.
    """

    def __init__(self, lr: LR, momentum: float = 0.0, nesterov: bool = False):
        self.lr = checks.check_lr(lr)
        self.momentum = checks.check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise InvalidValueError("nesterov=True needs momentum > 0, got momentum 0")

    def init(self, params):
        return SGDState(0, _zeros(params) if self.momentum else None)

    def step(self, params, grads, state):
        lr, mu = self.learning_rate(state.count), self.momentum
        if not mu:
            (params,) = map_rule(_sgd, (params, grads), lr=lr)
            return params, SGDState(state.count + 1, None)
        params, v = map_rule(
            _momentum, (params, state.velocity, grads), lr=lr, mu=mu, nesterov=self.nesterov
        )
        return params, SGDState(state.count + 1, v)


def _sgd(p: Any, g: Any, *, lr: Any) -> tuple[Any]:
    """p <- p - lr g."""
    return (p - lr * g,)


def _momentum(p: Any, v: Any, g: Any, *, lr: Any, mu: float, nesterov: bool):
    """v <- mu v - lr g;  p <- p + v  (Nesterov: p <- p + mu v - lr g, with the new v)."""
    v = mu * v - lr * g
    p = p + mu * v - lr * g if nesterov else p + v
    return p, v


class RMSPropState(NamedTuple):
    """``RMSProp``'s state.

    Attributes
    ----------
    count : int or 0-d array
        Updates made.
    square_avg : pytree
        s, the running average of g^2, shaped like the parameters.
    """

    count: Any
    square_avg: Any


class RMSProp(Optimizer):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps).

    The rule of ``torch.optim.RMSprop``.

    Parameters
    ----------
    lr : float or callable
        The learning rate: a finite float > 0, or a schedule ``step -> lr`` (step 0 is the
        first update; ``nnkit.optim.schedules``).
    rho : float
        The decay of the running average, in [0, 1).
    eps : float
        Added to the root, > 0.

    Raises
    ------
    InvalidValueError
        A hyperparameter out of range (the message names it and its range).
    InvalidTypeError
        A hyperparameter that is not a number.
    """

    def __init__(self, lr: LR = 1e-3, rho: float = 0.9, eps: float = 1e-8):
        self.lr = checks.check_lr(lr)
        self.rho = checks.check_unit_interval("rho", rho)
        self.eps = checks.check_positive("eps", eps)

    def init(self, params):
        return RMSPropState(0, _zeros(params))

    def step(self, params, grads, state):
        lr = self.learning_rate(state.count)
        params, s = map_rule(
            _rmsprop, (params, state.square_avg, grads), lr=lr, rho=self.rho, eps=self.eps
        )
        return params, RMSPropState(state.count + 1, s)


def _rmsprop(p: Any, s: Any, g: Any, *, lr: Any, rho: float, eps: float):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)."""
    s = rho * s + (1 - rho) * g**2
    p = p - lr * g / (namespace(s).sqrt(s) + eps)
    return p, s


class AdamState(NamedTuple):
    """``Adam``'s and ``AdamW``'s state.

    Attributes
    ----------
    count : int or 0-d array
        Updates made (t - 1 of the next update).
    m, v : pytree
        The first and second moment estimates, shaped like the parameters.
    """

    count: Any
    m: Any
    v: Any


class Adam(Optimizer):
    """Bias-corrected Adam with eps outside the square root (torch.optim.Adam):

    m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  t = 1, 2, ...

    Parameters
    ----------
    lr : float or callable
        The learning rate: a finite float > 0, or a schedule ``step -> lr`` (step 0 is the
        first update; ``nnkit.optim.schedules``).
    b1, b2 : float
        The decays of the first and second moment estimates, in [0, 1).
    eps : float
        Added to the root, > 0.

    Raises
    ------
    InvalidValueError
        A hyperparameter out of range (the message names it and its range).
    InvalidTypeError
        A hyperparameter that is not a number.
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

    def step(self, params, grads, state):
        step_size, bc2_sqrt, decay = self._scalars(state.count)
        params, m, v = map_rule(
            _adam, (params, state.m, state.v, grads), b1=self.b1, b2=self.b2, eps=self.eps,
            step_size=step_size, bc2_sqrt=bc2_sqrt, decay=decay,
        )  # fmt: skip
        return params, AdamState(state.count + 1, m, v)


def _adam(p: Any, m: Any, v: Any, g: Any, *, b1: float, b2: float, eps: float,
          step_size: Any, bc2_sqrt: Any, decay: Any):  # fmt: skip
    """m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2;  p <- p * decay (if not None);
    p <- p - step_size m / (sqrt(v) / bc2_sqrt + eps)."""
    m = m + (1 - b1) * (g - m)
    v = b2 * v + (1 - b2) * g**2
    if decay is not None:
        p = p * decay
    p = p - step_size * m / (namespace(v).sqrt(v) / bc2_sqrt + eps)
    return p, m, v


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): p <- p (1 - lr wd), then Adam.

    Parameters
    ----------
    lr : float or callable
        The learning rate: a finite float > 0, or a schedule ``step -> lr`` (step 0 is the
        first update; ``nnkit.optim.schedules``).
    b1, b2 : float
        The decays of the first and second moment estimates, in [0, 1).
    eps : float
        Added to the root, > 0.
    weight_decay : float
        wd, >= 0.

    Raises
    ------
    InvalidValueError
        A hyperparameter out of range (the message names it and its range).
    InvalidTypeError
        A hyperparameter that is not a number.
    """

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
