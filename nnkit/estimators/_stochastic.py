"""Epochs of the stochastic solvers ('sgd', 'adam') as scikit-learn runs them.

``Trainer.fit`` runs the epochs (one call for all of them, on JAX one compiled program per
epoch) and ``EpochRules`` books each one. Where a step's loss or weights stop being finite,
the Trainer stops with ``NonFiniteLossError``; scikit-learn has no such guard and goes on.
So does this module, from the start of that epoch: ``unguarded_epoch`` takes the same steps
one at a time without the guard while the weights stay free of NaN (a loss may overflow
to inf while the weights stay finite, and scikit-learn goes on training them), and once a
step's loss or weights hold a NaN, every weight is NaN from then on and every loss NaN:
scikit-learn's NaN spreads to every weight within a step, and no later step undoes it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from .. import backends
from .._ns import namespace
from ..data import epoch_order, next_position
from ..training import NonFiniteLossError, Trainer
from ..training.callbacks import Callback
from ..training.guard import keeper
from ..tree import tree_leaves, tree_map
from . import _arrays as arrays
from ._epochs import EpochRules, Outcome


def run(
    trainer: Trainer,
    X: Any,
    T: Any,
    w: Any,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    rules: EpochRules,
    renew: Callable[[Trainer, float], Trainer],
) -> tuple[Trainer, Outcome]:
    """Up to ``epochs`` epochs of minibatch steps on X, T and the sample weights w (the
    trainer's backend; w None: unweighted), each booked by ``rules``; a lowered learning
    rate continues on ``renew(trainer, rate)``, a new Trainer that takes over the old one's
    state. Returns (the last trainer, the last epoch's outcome: STOP also after Ctrl-C,
    which ends the run with a warning, as in scikit-learn)."""
    done, diverged, outcome = 0, False, Outcome.GO_ON
    snapshot = keeper(trainer.backend)
    try:
        while done < epochs:
            if diverged:
                loss = unguarded_epoch(trainer, X, T, w, batch_size, shuffle)
                outcome = rules.end(trainer.params, loss)
                done += 1
            else:
                watch = _Watch(rules, snapshot)
                try:
                    _fit(trainer, X, T, w, epochs - done, batch_size, shuffle, watch)
                except NonFiniteLossError:
                    trainer.restore(watch.start)  # the epoch again, as scikit-learn steps it
                    diverged = True
                done += watch.epochs
                if diverged:
                    continue
                outcome = watch.outcome
            if outcome is Outcome.STOP or done >= epochs:
                break
            if outcome is Outcome.NEW_RATE:
                trainer = renew(trainer, rules.learning_rate)
    except KeyboardInterrupt:  # Ctrl-C: scikit-learn keeps what was trained, with a warning
        warnings.warn("Training interrupted by user.", stacklevel=5)
        outcome = Outcome.STOP
    return trainer, outcome


def _fit(trainer: Trainer, X: Any, T: Any, w: Any, epochs: int, batch_size: int,
         shuffle: bool, watch: _Watch) -> None:  # fmt: skip
    """``Trainer.fit`` of ``epochs`` epochs from the start of an epoch, watched by ``watch``."""
    epoch, offset = trainer.position
    trainer.restore(trainer.state.replace(position=(epoch + 1, 0) if offset else (epoch, 0)))
    trainer.fit(X, T, epochs=epochs, batch_size=batch_size, shuffle=shuffle, progress=False,
                callbacks=[watch], sample_weight=w)  # fmt: skip


class _Watch(Callback):
    """``rules`` at each epoch's end of a ``Trainer.fit``, which it stops on a new rate or a
    stop; keeps ``start``, the state the current epoch started from (a copy: the steps
    update their state in place), and counts the ``epochs`` booked."""

    def __init__(self, rules: EpochRules, snapshot: Callable[[Any], Any]):
        self.rules, self.snapshot = rules, snapshot
        self.outcome, self.epochs, self.start = Outcome.GO_ON, 0, None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.start = trainer.state  # never changed by the fit (it copies before stepping)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.epochs += 1
        self.outcome = self.rules.end(trainer.params, record["loss"])
        if self.outcome is Outcome.GO_ON:
            state = trainer.state
            params, opt_state = self.snapshot((state.params, state.opt_state))
            self.start = state.replace(params=params, opt_state=opt_state)
        else:
            trainer.stop_training = True


def unguarded_epoch(
    trainer: Trainer, X: Any, T: Any, w: Any, batch_size: int, shuffle: bool
) -> float:
    """One epoch of ``trainer`` on X, T and weights w (or None) from its position (an
    epoch's start), step by step without the NaN guard, as scikit-learn takes its steps;
    returns the epoch's mean loss (of the minibatch losses weighted by their rows).

    ``Trainer.gradients`` and the optimizer's ``step`` make each step. After a step whose
    loss or new weights hold a NaN, every weight is set to NaN and no more maths is done:
    each later loss is NaN, as it is in scikit-learn."""
    n = X.shape[0]
    epoch, offset = next_position(trainer.position, n)
    order = epoch_order(trainer.seed, epoch, n, shuffle)
    total = 0.0
    for start in range(offset, n, batch_size):
        rows = order[start : start + batch_size]
        state = trainer.state
        params, opt_state, loss = state.params, state.opt_state, math.nan
        if not _has_nan(params):
            wb = None if w is None else arrays.take_rows(w, rows)
            xb, tb = arrays.take_rows(X, rows), arrays.take_rows(T, rows)
            grads, value = trainer.gradients(xb, tb, sample_weight=wb)
            params, opt_state = trainer.optimizer.step(params, grads, opt_state)
            loss = float(backends.to_host(value))
            if math.isnan(loss) or _has_nan(params):
                params = tree_map(lambda a: a * math.nan, params)
        total += loss * len(rows)
        position = (epoch, start + len(rows))
        step = {"params": params, "opt_state": opt_state, "steps_done": state.steps_done + 1}
        trainer.restore(state.replace(position=position, **step))
    return total / (n - offset)


def _has_nan(params: Any) -> bool:
    """Whether any weight of ``params`` (backend arrays) is NaN."""
    return any(bool(backends.to_host(namespace(a).any(namespace(a).isnan(a)))) for a in
               tree_leaves(params))  # fmt: skip
