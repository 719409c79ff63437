"""Many stochastic fits of one network layout trained together as one stack of K models.

Each ``Member`` is one fit (a candidate's parameters on one fold's training rows) prepared as
its lone ``fit`` would start: the same validation, initial weights, early-stopping split,
seed of its minibatch orders and per-epoch rules (``EpochRules``), all from the estimator's
own code. ``train`` then runs them as one stack (``nnkit.stack``'s layout: every parameter
with a leading model axis K): each step takes one minibatch per model, model k's rows of
its own epoch order, padded with zero-weight rows to the stack's widest minibatch, through
one stacked forward, backward and optimizer update with per-model hyperparameters
(learning rate, momentum, Adam's betas and epsilon, the L2 penalty ``alpha``) and per-model
step counts. A model with fewer steps in an epoch sits out the others (its parameters and
optimizer state kept as they are). At each epoch's end every member books its epoch as its
lone fit would (loss, validation score on its own held-out rows, stopping rules); one that
stops leaves the stack with its weights, and the others go on in a smaller stack.

A model whose epoch loss is NaN gets NaN weights everywhere, as the lone fit's do from its
first NaN step on (see ``_stochastic``): a step made with a NaN weight has NaN outputs, so
the later steps of that epoch had NaN losses and gradients in both. Its later losses are NaN
too, until its rules stop it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np  # host side: minibatch orders, losses and the fitted attributes

from .. import backends
from .._ns import namespace
from ..data import epoch_order
from ..training import precision
from ..training import steps as step_fns
from ..tree import tree_map
from . import _network as net
from ._base import BaseMLP, Plan
from ._epochs import EpochRules, Outcome


@dataclasses.dataclass
class Member:
    """One fit of a stack: an estimator prepared for it and the rows it trains on.

    Attributes
    ----------
    est : BaseMLP
        The estimator, its fitted state made afresh (initial weights, rules' bookkeeping);
        fitted when ``train`` returns.
    rows : ndarray of shape (n,)
        The rows of the whole data set it trains on, in its lone fit's order.
    weights : ndarray of shape (n,) or None
        Their sample weights (None: every row weighs 1).
    held : ndarray of shape (n_val,) or None
        Early stopping's validation rows of the whole data set.
    plan : Plan
        Rows a epoch, minibatch size and seed of the lone fit.
    rules : EpochRules
        Its per-epoch rules, given the validation outputs by ``train``.
    schedule : float or InvScaling
        The learning rate of its lone fit's optimizer.
    layout : tuple
        (backend, units, dtype) of its network.
    """

    est: BaseMLP
    rows: np.ndarray
    weights: np.ndarray | None
    held: np.ndarray | None
    plan: Plan
    rules: EpochRules
    schedule: float | net.InvScaling
    layout: tuple[backends.Backend, tuple[int, ...], str]

    @property
    def lr(self) -> float | net.InvScaling:
        """The learning rate its optimizer steps with now ('adaptive' lowers it)."""
        if isinstance(self.schedule, net.InvScaling):
            return self.schedule
        return self.rules.learning_rate


def member(est: BaseMLP, X: Any, y: Any, w: np.ndarray | None, train: np.ndarray):
    """``est`` (unfitted, a stochastic solver) prepared to fit rows ``train`` of X, y and
    the sample weights w (host, or None) as its lone ``fit`` would: (the Member, its encoded
    targets of those rows, as the loss takes them)."""
    fit = est._prepare(X[train], y[train], None if w is None else w[train], incremental=False)
    plan = est._plan(fit, incremental=False)
    own = np.arange(train.shape[0]) if plan.train is None else plan.train
    val, held = None, None
    if plan.held is not None:
        held = train[plan.held]
        weights = None if fit.weights is None else fit.weights[plan.held]
        val = (None, est._decode(fit.Y[plan.held]), weights)
    rules = EpochRules(est, plan.n, val, None, float(est.learning_rate_init))
    est.n_iter_ = 0
    weights = None if fit.weights is None else fit.weights[own]
    layout = (fit.backend, fit.units, fit.dtype)
    schedule = est._schedule(plan.n, plan.batch_size)
    return Member(est, train[own], weights, held, plan, rules, schedule, layout), est._targets(
        fit.Y
    )


def train(members: Sequence[Member], X: Any, T: np.ndarray) -> None:
    """Fit every member as one stack (see the module's docstring) on X (host, the whole
    data set) and T (host, its targets as the loss takes them); afterwards each member's
    estimator is fitted as its lone ``fit`` leaves it (``coefs_``, ``loss_curve_``,
    ``n_iter_``, ...). The members share one network layout, solver, minibatch rule and
    target encoding."""
    run = _Stack(list(members), X, T)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while run.members:
            run.book(*run.epoch())


class _Stack:
    """The models still training: their stacked parameters and optimizer state, and the
    compiled step for their hyperparameters."""

    def __init__(self, members: list[Member], X: Any, T: np.ndarray):
        self.members = members
        est = members[0].est
        self.backend, self.units, self.dtype = members[0].layout
        self.xp = self.backend.xp
        self.param = precision.policy(self.dtype, self.backend).param
        self.model, self.loss = net.build_model(self.units, est.activation), est._loss()
        self.X = est._data(self.backend, X, self.dtype, "X")
        self.T = est._data(self.backend, T, self.dtype, "y")
        self.forward = net.forward_fn(
            self.backend.name, self.units, est.activation, est.out_activation_, self.dtype
        )
        layers = range(len(self.units) - 1)
        coefs, intercepts = (
            [np.stack([getattr(m.est, name)[i] for m in members]) for i in layers]
            for name in ("coefs_", "intercepts_")
        )
        self.params = net.to_params(self.backend, coefs, intercepts, self.dtype)
        self._build()
        state = self.optimizer.init(self.params)
        self.opt_state = state._replace(count=np.zeros(len(members), dtype=np.int64))

    def _build(self) -> None:
        """The optimizer, compiled step and validation data of the current members."""
        ests = [m.est for m in self.members]
        lr = _stacked([m.lr for m in self.members])
        self.optimizer = net.make_optimizer(ests, lr)
        l2 = _stacked([float(e.alpha) for e in ests])
        grads = step_fns.grads_fn(
            self.model, self.loss, precision.policy(self.dtype, self.backend), l2=l2
        )
        jit = self.backend.jit
        self.steps = {masked: jit(stack_step(grads, self.optimizer.step, masked), (0, 1))
                      for masked in (False, True)}  # fmt: skip
        self.X_val = None
        if self.members[0].held is not None:
            self.X_val = self._rows(self.X, _padded([m.held for m in self.members]))

    def _rows(self, data: Any, rows: np.ndarray) -> Any:
        """Rows ``rows`` (host ints (K, m)) of ``data`` on the backend: shape (K, m, ...)."""
        taken = self.xp.take(data, self.backend.asarray(rows.reshape(-1)), axis=0)
        return self.xp.reshape(taken, (*rows.shape, *data.shape[1:]))

    def epoch(self) -> tuple[np.ndarray, np.ndarray | None]:
        """One epoch of every member; returns (each one's mean training loss, the stack's
        outputs on the validation rows (K, m, outputs) or None)."""
        xp, backend = self.xp, self.backend
        shuffle = self.members[0].est.shuffle
        rows, weights, counts = batches(self.members, self.members[0].est.n_iter_, shuffle)
        weights = backend.asarray(weights, dtype=self.param)
        sizes = backend.asarray(counts, dtype=self.param)
        active = backend.asarray(counts > 0)
        total = xp.zeros(len(self.members), dtype=getattr(xp, self.param))
        for j in range(rows.shape[0]):
            X, T = self._rows(self.X, rows[j]), self._rows(self.T, rows[j])
            everyone = bool(counts[j].all())
            mask = () if everyone else (active[j, ...],)
            self.params, state, loss = self.steps[not everyone](
                self.params, self.opt_state, X, T, weights[j, ...], *mask
            )
            self.opt_state = state._replace(count=self.opt_state.count + (counts[j] > 0))
            total = total + loss * sizes[j, ...]
        losses = np.asarray(backends.to_host(total), dtype=np.float64)
        losses = losses / np.array([m.plan.n for m in self.members])
        if np.isnan(losses).any():
            self._spread_nan(np.isnan(losses))
        outputs = None
        if self.X_val is not None:
            outputs = np.asarray(backends.to_host(self.forward(self.params, self.X_val)))
        return losses, outputs

    def _spread_nan(self, bad: np.ndarray) -> None:
        """Every weight NaN for the models whose epoch loss was NaN: the lone fit's rule
        after a NaN step (their later steps, made with NaN weights, had NaN losses)."""
        mask = self.backend.asarray(bad)
        xp = self.xp
        self.params = tree_map(lambda a: xp.where(_lead(mask, a), a * math.nan, a), self.params)

    def book(self, losses: np.ndarray, outputs: np.ndarray | None) -> None:
        """Each member's rules on the epoch that ended; members that are done take their
        weights and leave the stack."""
        staying, changed = [], False
        for k, m in enumerate(self.members):
            params = tree_map(lambda a, k=k: a[k, ...], self.params)
            out = None if outputs is None else outputs[k, : m.held.shape[0], ...]
            outcome = m.rules.end(params, float(losses[k]), out)
            changed = changed or outcome is Outcome.NEW_RATE
            if outcome is Outcome.STOP or m.est.n_iter_ >= m.est.max_iter:
                m.est._keep_weights(params)
                m.est._warn_unconverged(outcome)
            else:
                staying.append(k)
        if len(staying) < len(self.members):
            self._keep(staying)
        if self.members and (changed or len(staying) < len(losses)):
            self._build()

    def _keep(self, staying: list[int]) -> None:
        """Only the members at positions ``staying`` go on: their slices of the stack."""
        index = self.backend.asarray(np.asarray(staying, dtype=np.int64))

        def take(a: Any) -> Any:
            return None if a is None else self.xp.take(a, index, axis=0)

        self.members = [self.members[k] for k in staying]
        self.params = tree_map(take, self.params)
        state = self.opt_state
        moments = {f: tree_map(take, getattr(state, f)) for f in state._fields if f != "count"}
        self.opt_state = state._replace(count=state.count[staying], **moments)


def stack_step(grads: Any, update: Any, masked: bool) -> Any:
    """The stack's step ``(params, opt_state, X, T, w[, active]) -> (params, opt_state,
    loss)``: ``grads`` and the optimizer's ``update`` of every model; ``masked``: a model not
    ``active`` (K,) keeps its parameters and optimizer state. The step count
    ``opt_state.count`` (host, one per model) is returned as given: the caller advances the
    models that stepped."""

    def step(params: Any, opt_state: Any, X: Any, T: Any, w: Any, active: Any = None):
        g, loss = grads(params, X, T, w)
        new_params, new_state = update(params, g, opt_state)
        if masked:
            new_params = tree_map(partial(_keep, active), new_params, params)
            moments = {f: tree_map(partial(_keep, active), getattr(new_state, f),
                                   getattr(opt_state, f)) for f in _moments(opt_state)}  # fmt: skip
        else:
            moments = {f: getattr(new_state, f) for f in _moments(opt_state)}
        return new_params, opt_state._replace(**moments), loss

    return step


def _moments(state: Any) -> list[str]:
    """The fields of an optimizer state but its step count."""
    return [f for f in state._fields if f != "count"]


def _keep(active: Any, new: Any, old: Any) -> Any:
    """``new`` for the active models, ``old`` for the others; None stays None."""
    return None if new is None else namespace(new).where(_lead(active, new), new, old)


def _lead(mask: Any, a: Any) -> Any:
    """A mask (K,) shaped to broadcast along the leading model axis of ``a``."""
    return namespace(a).reshape(mask, (mask.shape[0],) + (1,) * (a.ndim - 1))


def batches(members: Sequence[Member], epoch: int, shuffle: bool):
    """The minibatches of epoch ``epoch`` of every member: (rows (S, K, B), weights
    (S, K, B), counts (S, K)), host arrays. Step j gives member k rows ``rows[j, k]`` of the
    whole data set, its j-th minibatch of its lone fit's order for that epoch, padded with
    row 0 at weight 0 to the widest minibatch B; ``counts`` holds its real rows (0 where it
    has fewer than S steps)."""
    steps = [-(-m.plan.n // m.plan.batch_size) for m in members]
    widest = max(m.plan.batch_size for m in members)
    shape = (max(steps), len(members), widest)
    rows, weights = np.zeros(shape, dtype=np.int64), np.zeros(shape)
    counts = np.zeros(shape[:2], dtype=np.int64)
    orders: dict[tuple[int, int], np.ndarray] = {}  # fits of one fold and seed share theirs
    for k, (m, s) in enumerate(zip(members, steps, strict=True)):
        key = (m.plan.seed, m.plan.n)
        if key not in orders:
            orders[key] = epoch_order(m.plan.seed, epoch, m.plan.n, shuffle)
        order = orders[key]
        b = m.plan.batch_size
        grid = np.full(s * b, -1, dtype=np.int64)
        grid[: m.plan.n] = order
        grid = grid.reshape(s, b)
        real, at = grid >= 0, np.maximum(grid, 0)
        rows[:s, k, :b] = np.where(real, m.rows[at], 0)
        own = 1.0 if m.weights is None else m.weights[at]
        weights[:s, k, :b] = np.where(real, own, 0.0)
        counts[:s, k] = real.sum(axis=1)
    return rows, weights, counts


def _padded(groups: Sequence[np.ndarray]) -> np.ndarray:
    """Row lists of different lengths as one array (K, longest), padded with row 0."""
    out = np.zeros((len(groups), max(g.shape[0] for g in groups)), dtype=np.int64)
    for k, g in enumerate(groups):
        out[k, : g.shape[0]] = g
    return out


def _stacked(values: Sequence[Any]) -> Any:
    """One value for every model where they are all equal, else per model: a tuple of
    numbers, or one InvScaling whose fields hold each model's (host arrays)."""
    first = values[0]
    if isinstance(first, net.InvScaling):
        fields = [f.name for f in dataclasses.fields(net.InvScaling)]
        return net.InvScaling(*(np.array([getattr(v, f) for v in values]) for f in fields))
    return first if all(v == first for v in values) else tuple(values)
