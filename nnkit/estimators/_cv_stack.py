"""Many stochastic fits of one network layout trained together as one stack of K models.

Each ``Member`` is one fit (a candidate's parameters on one fold's training rows) prepared as
its lone ``fit`` would start: the same validation, initial weights, early-stopping split,
seed of its minibatch orders and per-epoch rules (``EpochRules``), all from the estimator's
own code. ``train`` then runs them as one stack (``nnkit.stack``'s layout: every parameter
with a leading model axis): each step takes one minibatch per model, model k's rows of its
own epoch order, padded with zero-weight rows to the widest minibatch, through one stacked
forward, backward and optimizer update with per-model hyperparameters (learning rate,
momentum, Adam's betas and epsilon, the L2 penalty ``alpha``) and per-model step counts
(``_cv_steps``). At each epoch's end every member books its epoch as its lone fit would
(loss, validation score on its own held-out rows, stopping rules); one that stops takes its
weights, and the others go on; once the running fits fill no more than ``SHRINK_AT`` of the
stack, it is made anew with theirs alone (a new compiled step: not at every fit's end).
On NumPy a large stack is split into a stack a core, whose epochs run at once in threads
(``Backend.concurrently``): each model's numbers are those of one stack, to rounding.

A model whose epoch loss is NaN gets NaN weights everywhere, as the lone fit's do from its
first NaN step on (see ``_stochastic``): a step made with a NaN weight has NaN outputs, so
the later steps of that epoch had NaN losses and gradients in both. Its later losses are NaN
too, until its rules stop it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np  # host side: the members' rows and initial weights

from .. import backends
from . import _network as net
from ._base import BaseMLP, Plan
from ._cv_steps import Shared, Stack
from ._epochs import EpochRules

# a stack is made anew once its running fits fill no more than this share of its slots
SHRINK_AT = 0.75
# where the backend runs jobs at once (NumPy: a thread a core), a stack is split into parts
# that each hold at least this many bytes in a layer's activations (models x rows x widest
# layer): NumPy's threads then work in its ufunc loops and BLAS calls, outside the GIL, far
# longer than they wait for it. Measured on digits (12 candidates x 3 folds, 64 hidden units,
# 2 cores): float64 at batch 200 (3.7 MB) ran 1.3x faster in two parts, float32 (1.8 MB) as
# fast, float64 and float32 at batch 64 (1.2 and 0.6 MB) 1.1x and 1.8x slower
MIN_PART_BYTES = 3 << 19  # 1.5 MiB


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
    the sample weights w (host, or None) as its lone ``fit`` would: (the Member, the targets
    of those rows as the loss takes them, (rows, outputs) floats)."""
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
    # the targets as rows of the output, one-hot for softmax: the dense form that the loss
    # makes of the class labels a lone fit trains on (the same numbers, made once here)
    targets = fit.Y.astype(np.float64)
    return Member(est, train[own], weights, held, plan, rules, schedule, layout), targets


def train(members: Sequence[Member], X: Any, T: np.ndarray) -> None:
    """Fit every member as one stack (see the module's docstring) on X (host, the whole
    data set) and T (host, its targets as the loss takes them); afterwards each member's
    estimator is fitted as its lone ``fit`` leaves it (``coefs_``, ``loss_curve_``,
    ``n_iter_``, ...). The members share one network layout, solver, minibatch rule and
    target encoding. Where the backend runs several jobs at once (``Backend.workers``: NumPy,
    a thread a core) and the stack is large enough (``MIN_PART_BYTES``), the members are
    dealt round into a stack a worker, whose epochs run at once."""
    first = members[0]
    est, (backend, units, dtype) = first.est, first.layout
    shared = Shared(
        backend, units, dtype, net.build_model(units, est.activation), est._loss(),
        net.forward_fn(backend.name, units, est.activation, est.out_activation_, dtype),
        est._data(backend, X, dtype, "X"), est._data(backend, T, dtype, "y"),
    )  # fmt: skip
    n = _parts(members, shared)
    stacks = [_stack(shared, list(members[i::n])) for i in range(n)]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            backend.concurrently() as run:  # fmt: skip
        while stacks:
            stacks = [s for s in run([functools.partial(_epoch, s) for s in stacks]) if s]


def _parts(members: Sequence[Member], shared: Shared) -> int:
    """How many stacks to deal ``members`` into: one a worker of the backend, while each
    holds ``MIN_PART_BYTES`` in its widest activations."""
    rows = max(m.plan.batch_size for m in members)
    activations = len(members) * rows * max(shared.units) * np.dtype(shared.param).itemsize
    return max(1, min(shared.backend.workers, activations // MIN_PART_BYTES))


def _stack(shared: Shared, members: list[Member]) -> Stack:
    """A stack of ``members`` starting from their estimators' initial weights."""
    layers = range(len(shared.units) - 1)
    coefs, intercepts = (
        [np.stack([getattr(m.est, name)[i] for m in members]) for i in layers]
        for name in ("coefs_", "intercepts_")
    )
    return Stack(shared, members, net.to_params(shared.backend, coefs, intercepts, shared.dtype))


def _epoch(stack: Stack) -> Stack | None:
    """One epoch of ``stack``, booked; returns the stack to go on with (``shrink``). Its
    overflows are quiet in this thread too, as the lone fit's are."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        stack.book(*stack.epoch())
        return shrink(stack.shared, stack)


def shrink(shared: Shared, stack: Stack) -> Stack | None:
    """The stack to go on with: None once every fit ended; made anew of the running fits
    once they fill no more than ``SHRINK_AT`` of its slots; else ``stack``."""
    running = stack.running
    if not running:
        return None
    if len(running) > SHRINK_AT * len(stack.members):
        return stack
    members, params, moments, counts = stack.slots(running)
    return Stack(shared, members, params, (moments, counts))
