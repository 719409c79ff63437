"""A stack's models stepped together: their stacked parameters (every leaf with a leading
model axis), optimizer state and compiled step, and each epoch's minibatches.

Each step gives model k its j-th minibatch of its own epoch order, padded with row 0 at
weight 0 to the widest minibatch; a model with fewer steps in an epoch sits that step out
(the masked step keeps its parameters and optimizer state); a model whose fit has ended
keeps its slot, fed nothing (its weights are already with its estimator), until the stack
is made anew without it (``slots``). The hyperparameters (learning rate, momentum, Adam's
betas and epsilon, the L2 penalty) are each model's own; the step counts (Adam's bias
correction, 'invscaling') are kept per model on the host.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np  # host side: minibatch orders, losses and step counts

from .. import backends
from .._ns import namespace
from ..data import epoch_order
from ..training import precision
from ..training import steps as step_fns
from ..tree import tree_map
from . import _network as net
from ._epochs import Outcome


@dataclasses.dataclass(frozen=True)
class Shared:
    """What a stack's models share: the layout (backend, units, dtype), the network, loss
    and output function, and the whole data set on the backend (X, and T as the loss takes
    it)."""

    backend: backends.Backend
    units: tuple[int, ...]
    dtype: str
    model: Any
    loss: Any
    forward: Any
    X: Any
    T: Any

    @property
    def param(self) -> str:
        return precision.policy(self.dtype, self.backend).param

    def rows(self, data: Any, rows: np.ndarray) -> Any:
        """Rows ``rows`` (host ints (K, m)) of ``data`` on the backend: shape (K, m, ...)."""
        xp = self.backend.xp
        taken = xp.take(data, self.backend.asarray(rows.reshape(-1)), axis=0)
        return xp.reshape(taken, (*rows.shape, *data.shape[1:]))


class Stack:
    """Members stepped together: ``members[k]`` is slot k of ``params`` and ``opt_state``;
    ``live[k]`` whether its fit goes on."""

    def __init__(self, shared: Shared, members: list[Any], params: Any, state: Any = None):
        """``state``: (optimizer state fields but the step count, step counts) of the
        members, as ``slots`` gives them; None: a fresh optimizer's."""
        self.shared, self.members, self.params = shared, members, params
        self.live = [True] * len(members)
        self._build()
        fresh = self.optimizer.init(params)
        if state is None:
            self.opt_state = fresh._replace(count=np.zeros(len(members), dtype=np.int64))
        else:
            moments, counts = state
            self.opt_state = fresh._replace(count=counts, **moments)
        self.X_val = None
        if members[0].held is not None:
            self.X_val = shared.rows(shared.X, _padded([m.held for m in members]))

    def _build(self) -> None:
        """The optimizer and compiled steps of the members' hyperparameters and rates."""
        shared, ests = self.shared, [m.est for m in self.members]
        self.optimizer = net.make_optimizer(ests, _stacked([m.lr for m in self.members]))
        grads = step_fns.grads_fn(
            shared.model, shared.loss, precision.policy(shared.dtype, shared.backend),
            l2=_stacked([float(e.alpha) for e in ests]),
        )  # fmt: skip
        jit = shared.backend.jit
        self.steps = {masked: jit(stack_step(grads, self.optimizer.step, masked), (0, 1))
                      for masked in (False, True)}  # fmt: skip

    @property
    def running(self) -> list[int]:
        """The slots whose fits go on."""
        return [k for k, on in enumerate(self.live) if on]

    def epoch(self) -> tuple[np.ndarray, np.ndarray | None]:
        """One epoch of every running member; returns (each slot's mean training loss, the
        outputs on the validation rows (K, m, outputs) or None)."""
        shared, xp = self.shared, self.shared.backend.xp
        running = [self.members[k] for k in self.running]
        rows, weights, counts = batches(self.members, self.live, running[0].est.n_iter_,
                                        running[0].est.shuffle)  # fmt: skip
        weights = shared.backend.asarray(weights, dtype=shared.param)
        sizes = shared.backend.asarray(counts, dtype=shared.param)
        active = shared.backend.asarray(counts > 0)
        total = xp.zeros(len(self.members), dtype=getattr(xp, shared.param))
        for j in range(rows.shape[0]):
            X, T = shared.rows(shared.X, rows[j]), shared.rows(shared.T, rows[j])
            masked = any(on and not c for on, c in zip(self.live, counts[j], strict=True))
            mask = (active[j, ...],) if masked else ()
            self.params, state, loss = self.steps[masked](
                self.params, self.opt_state, X, T, weights[j, ...], *mask
            )
            self.opt_state = state._replace(count=self.opt_state.count + (counts[j] > 0))
            total = total + loss * sizes[j, ...]
        n = np.array([m.plan.n for m in self.members])
        losses = np.asarray(backends.to_host(total), dtype=np.float64) / n
        bad = np.isnan(losses) & np.array(self.live)
        if bad.any():
            self._spread_nan(bad)
        outputs = None
        if self.X_val is not None:
            outputs = np.asarray(backends.to_host(shared.forward(self.params, self.X_val)))
        return losses, outputs

    def _spread_nan(self, bad: np.ndarray) -> None:
        """Every weight NaN for the models whose epoch loss was NaN: the lone fit's rule
        after a NaN step (their later steps, made with NaN weights, had NaN losses)."""
        mask, xp = self.shared.backend.asarray(bad), self.shared.backend.xp
        self.params = tree_map(lambda a: xp.where(_lead(mask, a), a * math.nan, a), self.params)

    def book(self, losses: np.ndarray, outputs: np.ndarray | None) -> None:
        """Each running member's rules on the epoch that ended; a member whose fit ends
        takes its weights; a new learning rate ('adaptive') rebuilds the step."""
        changed = False
        for k in self.running:
            m = self.members[k]
            params = tree_map(lambda a, k=k: a[k, ...], self.params)
            out = None if outputs is None else outputs[k, : m.held.shape[0], ...]
            outcome = m.rules.end(params, float(losses[k]), out)
            changed = changed or outcome is Outcome.NEW_RATE
            if outcome is Outcome.STOP or m.est.n_iter_ >= m.est.max_iter:
                m.est._keep_weights(params)
                m.est._warn_unconverged(outcome)
                self.live[k] = False
        if changed and any(self.live):
            self._build()

    def slots(self, keep: Sequence[int]) -> tuple[list[Any], Any, dict[str, Any], np.ndarray]:
        """(members, params, optimizer state fields but the step count, step counts) of
        slots ``keep``."""
        xp, index = self.shared.backend.xp, self.shared.backend.asarray(np.asarray(keep, int))

        def take(a: Any) -> Any:
            return xp.take(a, index, axis=0)

        moments = {f: tree_map(lambda a: None if a is None else take(a), getattr(self.opt_state, f))
                   for f in _moments(self.opt_state)}  # fmt: skip
        params = tree_map(take, self.params)
        counts = self.opt_state.count[list(keep)]
        return [self.members[k] for k in keep], params, moments, counts


def stack_step(grads: Any, update: Any, masked: bool) -> Any:
    """The step ``(params, opt_state, X, T, w[, active]) -> (params, opt_state, loss)``:
    ``grads`` and the optimizer's ``update`` of every model; ``masked``: a model not
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


def batches(members: Sequence[Any], live: Sequence[bool], epoch: int, shuffle: bool):
    """The minibatches of epoch ``epoch`` of the ``live`` members: (rows (S, K, B), weights
    (S, K, B), counts (S, K)), host arrays. Step j gives member k rows ``rows[j, k]`` of the
    whole data set, its j-th minibatch of its lone fit's order for that epoch, padded with
    row 0 at weight 0 to the widest minibatch B; ``counts`` holds its real rows (0 where it
    has fewer than S steps, and for members that are not live)."""
    steps = [-(-m.plan.n // m.plan.batch_size) if on else 0
             for m, on in zip(members, live, strict=True)]  # fmt: skip
    widest = max(m.plan.batch_size for m in members)
    shape = (max(steps), len(members), widest)
    rows, weights = np.zeros(shape, dtype=np.int64), np.zeros(shape)
    counts = np.zeros(shape[:2], dtype=np.int64)
    orders: dict[tuple[int, int], np.ndarray] = {}  # fits of one fold and seed share theirs
    for k, (m, s) in enumerate(zip(members, steps, strict=True)):
        if not s:
            continue
        key = (m.plan.seed, m.plan.n)
        if key not in orders:
            orders[key] = epoch_order(m.plan.seed, epoch, m.plan.n, shuffle)
        b = m.plan.batch_size
        grid = np.full(s * b, -1, dtype=np.int64)
        grid[: m.plan.n] = orders[key]
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
