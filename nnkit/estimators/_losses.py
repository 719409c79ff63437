"""scikit-learn's MLP losses as nnkit losses: the value its ``loss_curve_`` reports and the
output-layer gradient its backprop steps with (``delta = output - target``, over the rows).

Every loss here takes the raw output z of the last Dense layer (the logits, or the log-mean
for Poisson); the estimators apply the output activation (softmax, logistic, exp) when they
predict. Multiclass training uses ``nnkit.losses.CrossEntropy`` itself (sklearn's log_loss).
"""

from __future__ import annotations

from .. import functional as F
from .. import values
from .._ns import namespace
from ..losses import BinaryCrossEntropy, Loss, mean_grad, mean_loss


class HalfSquaredError(Loss):
    """0.5 * mean over all elements of (pred - target)**2 (sklearn's ``squared_loss``).

    grad = (pred - target) / n_rows: sklearn's delta. For one output it is this loss's own
    gradient; for K outputs sklearn steps K times it, and so does this loss. Weighted as
    sklearn: ``0.5 * average((pred - target)**2, weights, axis=0).mean()``, grad
    ``w_i (pred_i - target_i) / sum(w)``.
    """

    def unchecked(self, pred, target, weight=None):
        d = pred - target
        return 0.5 * mean_loss(d * d, weight)

    def unchecked_grad(self, pred, target, weight=None):
        return mean_grad(pred - target, weight, rows="sum")


class SummedBinaryCrossEntropy(BinaryCrossEntropy):
    """Binary cross-entropy of logits z (n, K), summed over the K outputs and averaged over
    the rows (sklearn's ``binary_log_loss`` behind a logistic output: binary and multilabel
    classification); grad = (sigmoid(z) - target) / n_rows. Weights weight the rows."""

    def __init__(self):
        super().__init__(from_logits=True)

    def unchecked(self, pred, target, weight=None):
        return super().unchecked(pred, target, weight) * pred.shape[-1]

    def unchecked_grad(self, pred, target, weight=None):
        return mean_grad(F.sigmoid(pred) - target, weight, rows="sum")

    def config(self):
        return {}


class HalfPoissonDeviance(Loss):
    """Half Poisson deviance of log-means z (n, K) (sklearn's ``poisson_loss`` behind an exp
    output): sum over outputs, mean over rows, of ``y log(y / exp(z)) - y + exp(z)``;
    grad = (exp(z) - y) / n_rows. Targets must be >= 0. Weights weight the rows."""

    def check_values(self, pred_shape, target):
        values.check_range(target, 0, float("inf"), "Poisson target", closed_high=True)

    def unchecked(self, pred, target, weight=None):
        xp = namespace(pred)
        positive = target > 0
        ylogy = xp.where(positive, target * xp.log(xp.where(positive, target, 1.0)), 0.0)
        return mean_loss(ylogy - target * pred - target + xp.exp(pred), weight, rows="sum")

    def unchecked_grad(self, pred, target, weight=None):
        return mean_grad(namespace(pred).exp(pred) - target, weight, rows="sum")
