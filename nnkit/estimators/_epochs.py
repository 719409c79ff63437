"""scikit-learn's end-of-epoch bookkeeping for the stochastic solvers, as its
``_fit_stochastic`` and ``_update_no_improvement_count`` do it: ``n_iter_``, ``t_``,
``loss_curve_``, the validation score and best weights (early stopping), the
no-improvement count, the learning-rate schedule and the decision to go on, lower the
rate ('adaptive') or stop.

A NaN loss or validation score compares false both ways, as in scikit-learn: it resets the
no-improvement count (so a diverged run goes on to ``max_iter``) and never becomes the best.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np  # host side: validation outputs are scored by scikit-learn's metrics

from .. import backends
from . import _network as net


class Outcome(enum.Enum):
    """What an epoch's end decides."""

    GO_ON = "go on"
    NEW_RATE = "new rate"  # 'adaptive' divided the learning rate by 5
    STOP = "stop"


class EpochRules:
    """The end of each epoch of one ``fit``/``partial_fit`` call of ``est``.

    Parameters
    ----------
    est : the estimator
        Its fitted attributes are updated in place, as scikit-learn's are.
    n : int
        Training samples per epoch (``t_`` counts them).
    val : tuple or None
        (X_val on the backend, y_val as ``score`` takes it, the validation sample weights
        or None) with early stopping; X_val may be None where ``end`` is given the outputs.
    forward : callable or None
        ``(params, X) -> output`` of the network (``net.forward_fn``), to score X_val; None
        where ``end`` is given the outputs.
    learning_rate : float
        The rate of the first epoch; ``learning_rate`` then holds the next epoch's.
    """

    def __init__(
        self,
        est: Any,
        n: int,
        val: tuple[Any, Any, Any] | None,
        forward: Any,
        learning_rate: float,
    ):
        self.est, self.n, self.val, self.forward = est, n, val, forward
        self.learning_rate = learning_rate

    def end(self, params: Any, loss: float, output: np.ndarray | None = None) -> Outcome:
        """Book the epoch that just ended with ``params`` (backend arrays) and mean training
        ``loss``; returns whether to go on, lower the rate or stop. ``output``: the network's
        output on X_val (host) where the caller computed it (a stack does, for all its
        models at once); None: computed here with ``forward``."""
        est = self.est
        est.n_iter_ += 1
        est.loss_ = float(loss)
        est.t_ += self.n
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.val is None:
            self._count_loss()
        else:
            self._count_validation(params, output)
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            self.learning_rate = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count <= est.n_iter_no_change:
            return Outcome.GO_ON
        what = "Validation score" if self.val is not None else "Training loss"
        msg = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
               "consecutive epochs.")  # fmt: skip
        adaptive = est.solver == "sgd" and est.learning_rate == "adaptive"
        if adaptive and self.learning_rate > 1e-6:
            self.learning_rate /= 5.0
            est._no_improvement_count = 0
            if est.verbose:
                print(f"{msg} Setting learning rate to {self.learning_rate:f}")
            return Outcome.NEW_RATE
        if est.verbose:
            print(msg + (" Learning rate too small." if adaptive else "") + " Stopping.")
        return Outcome.STOP

    def _count_loss(self) -> None:
        est, loss = self.est, self.est.loss_curve_[-1]
        if loss > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if loss < est.best_loss_:
            est.best_loss_ = loss

    def _count_validation(self, params: Any, out: np.ndarray | None) -> None:
        est = self.est
        X_val, y_val, w_val = self.val
        if out is None:
            out = np.asarray(backends.to_host(self.forward(params, X_val)))
        score = est._score_output(out, y_val, w_val)
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_coefs, est._best_intercepts = net.to_coefs(params)
