"""Optimizers as pure functions over any pytree of arrays (nested list / tuple / dict).

``state = opt.init(params)``; ``params, state = opt.step(params, grads, state)``.
Nothing is updated in place and the optimizer object holds no state, so a
step runs unchanged under a backend's ``jit``. The update rules follow ``torch.optim``.

Each rule is written once, per leaf, as plain array expressions (``p - lr * g``); the
learning rate and the bias corrections are Python arithmetic on the step count (a traced
number under ``jit``).

Stacks of K models (params whose leaves have a leading model axis K, see ``nnkit.stack``):
a hyperparameter given as a sequence of K numbers (``lr``, ``momentum``, ``rho``, ``b1``,
``b2``, ``eps``, ``weight_decay``, a schedule's ``lr0``) applies model k's value to slice k
of every leaf (``nnkit.stacks.per_model``); the same rules, the same state. Its arithmetic
on the step count is NumPy's in float64 (as Python's on one number).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .. import checks
from .._ns import namespace
from ..errors import InvalidTypeError, InvalidValueError
from ..stacks import host_values, is_per_model, per_model
from ..tree import tree_leaves, tree_map, tree_unflatten

LR = float | Callable[[Any], Any]


def _zeros(params: Any) -> Any:
    return tree_map(lambda p: namespace(p).zeros_like(p), params)


def map_rule(rule: Callable, trees: tuple[Any, ...], **scalars: Any) -> list[Any]:
    """``rule(*leaves, **scalars) -> new leaves`` over the leaves of ``trees`` (params, the
    state parts, grads last); returns the updated trees, every one but the gradients, each
    shaped like ``trees[0]``. A scalar holding one value per model (stacked params) reaches
    each leaf as an array shaped to broadcast along its model axis."""
    leaves = [tree_leaves(t) for t in trees]
    stacked = {k: v for k, v in scalars.items() if is_per_model(v)}
    apply = rule
    if stacked:
        scalars = {k: v for k, v in scalars.items() if k not in stacked}
        shaped: dict[tuple, dict[str, Any]] = {}  # converted once per (leaf rank, dtype)

        def apply(*column: Any, **fixed: Any) -> Any:
            key = (column[0].ndim, column[0].dtype)
            if key not in shaped:
                shaped[key] = {k: per_model(v, column[0], k) for k, v in stacked.items()}
            return rule(*column, **fixed, **shaped[key])

    results = [apply(*column, **scalars) for column in zip(*leaves, strict=True)]
    return [tree_unflatten(trees[0], [r[i] for r in results]) for i in range(len(trees) - 1)]


class Optimizer:
    lr: LR

    def learning_rate(self, count: Any) -> Any:
        """The learning rate of update number ``count`` (0 for the first); per model: an
        array of K."""
        return self.lr(count) if callable(self.lr) else host_values(self.lr)

    def init(self, params: Any) -> Any:
        raise NotImplementedError

    def step(self, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        """One update: new ``(params, state)``; the arguments are left as they are."""
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
        self.momentum = checks.per_model(checks.check_unit_interval, "momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and 0 in (self.momentum if is_per_model(momentum) else (momentum,)):
            raise InvalidValueError(f"nesterov=True needs momentum > 0, got momentum {momentum}")

    def init(self, params):
        return SGDState(0, _zeros(params) if self.momentum else None)

    def step(self, params, grads, state):
        lr, mu = self.learning_rate(state.count), host_values(self.momentum)
        if not is_per_model(mu) and not mu:
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
    count: Any
    square_avg: Any


class RMSProp(Optimizer):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)."""

    def __init__(self, lr: LR = 1e-3, rho: float = 0.9, eps: float = 1e-8):
        self.lr = checks.check_lr(lr)
        self.rho = checks.per_model(checks.check_unit_interval, "rho", rho)
        self.eps = checks.per_model(checks.check_positive, "eps", eps)

    def init(self, params):
        return RMSPropState(0, _zeros(params))

    def step(self, params, grads, state):
        lr = self.learning_rate(state.count)
        params, s = map_rule(
            _rmsprop, (params, state.square_avg, grads), lr=lr, rho=host_values(self.rho),
            eps=host_values(self.eps),
        )
        return params, RMSPropState(state.count + 1, s)


def _rmsprop(p: Any, s: Any, g: Any, *, lr: Any, rho: float, eps: float):
    """s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)."""
    s = rho * s + (1 - rho) * g**2
    p = p - lr * g / (namespace(s).sqrt(s) + eps)
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
        self.b1 = checks.per_model(checks.check_unit_interval, "b1", b1)
        self.b2 = checks.per_model(checks.check_unit_interval, "b2", b2)
        self.eps = checks.per_model(checks.check_positive, "eps", eps)

    def init(self, params):
        return AdamState(0, _zeros(params), _zeros(params))

    def _scalars(self, count: Any) -> tuple[Any, Any, Any]:
        """(step_size, bc2_sqrt, decay) of update number ``count``; decay None without
        weight decay."""
        lr, t = self.learning_rate(count), count + 1
        b1, b2, wd = host_values(self.b1), host_values(self.b2), host_values(self.weight_decay)
        decay = 1 - lr * wd if is_per_model(wd) or wd else None
        return lr / (1 - b1**t), (1 - b2**t) ** 0.5, decay

    def step(self, params, grads, state):
        step_size, bc2_sqrt, decay = self._scalars(state.count)
        params, m, v = map_rule(
            _adam, (params, state.m, state.v, grads), b1=host_values(self.b1),
            b2=host_values(self.b2), eps=host_values(self.eps), step_size=step_size,
            bc2_sqrt=bc2_sqrt, decay=decay,
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
        self.weight_decay = checks.per_model(checks.check_nonnegative, "weight_decay", weight_decay)


def stacked(optimizers: Sequence[Optimizer]) -> Optimizer:
    """One optimizer for a stack of K models whose model k follows ``optimizers[k]``.

    Parameters
    ----------
    optimizers : sequence of Optimizer
        K >= 1 optimizers of one class; their numeric hyperparameters (``lr``, ``momentum``,
        ``rho``, ``b1``, ``b2``, ``eps``, ``weight_decay``) and the ``lr0`` of learning-rate
        schedules of one kind may differ, everything else must be equal.

    Returns
    -------
    Optimizer
        Of their class: each hyperparameter the common value, or one per model (a tuple).

    Raises
    ------
    InvalidTypeError
        Optimizers of different classes.
    InvalidValueError
        A hyperparameter that cannot differ between the models of a stack does (the message
        names it), or an optimizer that already holds one value per model.
    """
    optimizers = list(optimizers)
    if not optimizers:
        raise InvalidValueError("stacked needs at least one optimizer, got none")
    kinds = sorted({type(o).__name__ for o in optimizers})
    if len(kinds) > 1:
        raise InvalidTypeError(
            f"the optimizers of a stack must be of one class (their hyperparameters may "
            f"differ), got {', '.join(kinds)}"
        )
    first = optimizers[0]
    merged = {name: _merged(name, [vars(o)[name] for o in optimizers]) for name in vars(first)}
    return type(first)(**merged)


def _merged(name: str, values: list[Any]) -> Any:
    """K values of hyperparameter ``name``: the one value, or one per model (a tuple)."""
    if any(is_per_model(v) for v in values):
        raise InvalidValueError(
            f"{name}: an optimizer of the list holds one value per model already ({values}); "
            "give each model its own optimizer with one value each"
        )
    if all(v == values[0] for v in values):
        return values[0]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return tuple(float(v) for v in values)
    schedule = values[0]
    if dataclasses.is_dataclass(schedule) and all(type(v) is type(schedule) for v in values):
        rest = [dataclasses.replace(v, lr0=schedule.lr0) for v in values if hasattr(v, "lr0")]
        if len(rest) == len(values) and all(r == schedule for r in rest):
            return dataclasses.replace(schedule, lr0=tuple(float(v.lr0) for v in values))
    raise InvalidValueError(
        f"the optimizers differ in {name} ({', '.join(map(repr, values))}), which cannot vary "
        "between the models of a stack; only numbers (lr, momentum, rho, b1, b2, eps, "
        "weight_decay) and a schedule's lr0 can"
    )
