"""Losses: ``loss(pred, target, weight=None) -> 0-d array`` and ``loss.grad(pred, target,
weight=None) -> dLoss/dpred``.

Every loss here is a mean over the batch of a per-sample loss l_i, so the gradient of a
batch equals the average of its per-sample gradients (the per-sample and batched training
strategies rely on this). ``weight`` (batch,) weights the samples: the loss is then
``sum_i w_i l_i / sum_i w_i``, as ``numpy.average`` with weights; ``None`` gives the plain
mean, bitwise as without the argument.

A loss is written once, as its elementwise terms (``MSE``: ``(pred - target)**2``) and
their derivative; ``mean_loss`` and ``mean_grad`` turn them into the batch's loss and its
gradient, with or without weights. l_i is the mean of row i's terms (``rows="mean"``: MSE,
BCE) or their sum (``rows="sum"``: cross-entropy over classes).

Stacks of K models: predictions (K, batch, out) give a loss of shape (K,), model k's own
(weighted) loss, and its gradient in slice k; targets and weights are model k's in slice k
((K, batch, ...), (K, batch)) or shared by every model ((batch, ...), (batch,)). The same
formulas serve both: they reduce over the last two axes, a model's (batch, out).

``loss(...)`` and ``loss.grad(...)`` check their inputs first (see ``nnkit.shapes`` and
``nnkit.values``): shapes always (free under ``jax.jit``), values (label range, BCE targets
in [0, 1], weights finite, >= 0 and not all 0) only on eagerly readable arrays.
``loss.unchecked(...)`` and ``loss.unchecked_grad(...)`` are the bare maths, plain array
expressions, for training steps whose data the Trainer has already checked once per ``fit``.
"""

from __future__ import annotations

from typing import Any

from . import functional as F
from . import shapes, values
from ._ns import namespace
from .configurable import Configurable
from .data import one_hot
from .stacks import shared


def weight_sum(weight: Any) -> Any:
    """sum_i w_i of weights (..., batch), or 1 where every weight is 0 (such a batch then
    has loss 0 and gradient 0: its rows count for nothing)."""
    xp = namespace(weight)
    total = xp.sum(weight, axis=-1)
    return xp.where(total > 0, total, xp.ones_like(total))


def mean_loss(terms: Any, weight: Any = None, rows: str = "mean") -> Any:
    """The loss of elementwise ``terms`` (batch, out): the mean over rows of l_i, the
    ``rows`` ("mean" or "sum") of row i's terms; with ``weight`` (batch,) the weighted mean
    ``sum_i w_i l_i / sum_i w_i``. Stacked terms (K, batch, out) and weights (K, batch):
    each model's loss, shape (K,)."""
    xp = namespace(terms)
    per_row = terms.shape[-1] if rows == "mean" else 1
    axes = _sample_axes(terms)
    if weight is None:
        if rows == "mean":
            return xp.mean(terms, axis=axes)
        return xp.sum(terms, axis=axes) / terms.shape[-2]
    return xp.sum(weight[..., None] * terms, axis=axes) / (weight_sum(weight) * per_row)


def mean_grad(d: Any, weight: Any = None, rows: str = "mean") -> Any:
    """dLoss/dpred of ``mean_loss(terms, weight, rows)``, given ``d`` = dterms/dpred
    (batch, out) or (K, batch, out): each row's share of its model's mean."""
    per_row = d.shape[-1] if rows == "mean" else 1
    if weight is None:
        return d / (d.shape[-2] * per_row)
    return weight[..., None] * d / (weight_sum(weight)[..., None, None] * per_row)


def _sample_axes(terms: Any) -> tuple[int, ...]:
    """The axes of one model's terms, the last two (batch, out): all of a model's; a
    stack's leading model axis stays."""
    return tuple(range(max(terms.ndim - 2, 0), terms.ndim))


class Loss(Configurable):
    """Base of the losses: the checked calls, target preparation, and the bare maths
    ``unchecked``/``unchecked_grad`` that each loss writes. ``takes_labels``: whether the
    loss takes integer class labels (batch,) for a (batch, K) prediction."""

    takes_labels = False

    def __call__(self, pred: Any, target: Any, weight: Any = None) -> Any:
        """The loss, a 0-d array, after checking ``target`` (and ``weight``) against ``pred``.

        Parameters
        ----------
        pred : array (batch, out), or (K, batch, out) for a stack of K models
        target : array
            As the loss takes it (same shape as ``pred``; class labels (batch,) where the
            loss allows them); for a stack, model k's in slice k ((K, batch, ...)) or one
            target for every model ((batch, ...)).
        weight : array (batch,), optional
            Per-sample weights, finite and >= 0, not all 0; cast to ``pred``'s dtype.
            The loss is then ``sum_i w_i l_i / sum_i w_i``. For a stack: (K, batch) or
            (batch,), shared.

        Returns
        -------
        array
            0-d; for a stack, shape (K,): each model's own loss.
        """
        target, weight = self.check(pred, target, weight)
        return self.unchecked(pred, target, weight)

    def grad(self, pred: Any, target: Any, weight: Any = None) -> Any:
        """dLoss/dpred, shaped like ``pred``, after the checks of ``__call__``; for a stack,
        slice k is model k's gradient of its own loss."""
        target, weight = self.check(pred, target, weight)
        return self.unchecked_grad(pred, target, weight)

    def check(self, pred: Any, target: Any, weight: Any = None) -> tuple[Any, Any]:
        """Shapes always; values only where ``values.readable`` (no host read under jit).
        Returns ``(target, weight)``: for stacked predictions (K, batch, out) a shared
        target and weights broadcast to the stack ((K, batch, ...), (K, batch)), ``weight``
        in ``pred``'s dtype (None stays None)."""
        name = type(self).__name__
        shape = tuple(pred.shape)
        shapes.check_nonempty(shape, name)
        target = _to_stack(target, shape, labels=self.takes_labels and _is_integer(target))
        self.check_shapes(shape, target)
        if values.readable(target):
            self.check_values(shape, target)
        if weight is None:
            return target, None
        weight = _to_stack(weight, shape, labels=True)
        shapes.check_weights_shape(shape[:-1], weight, name)
        if values.readable(weight):
            values.check_weights(weight, f"{name} weights")
        xp = namespace(pred)
        return target, weight if weight.dtype == pred.dtype else xp.astype(weight, pred.dtype)

    def check_shapes(self, pred_shape: tuple[int, ...], target: Any) -> None:
        """``target`` fits a prediction of ``pred_shape``: same shape, never broadcast."""
        shapes.check_same_shape(pred_shape, target, type(self).__name__)

    def check_values(self, pred_shape: tuple[int, ...], target: Any) -> None:
        """Value checks on ``target`` (one reduction on its device); none by default."""

    def prepare_target(self, target: Any, pred_shape: tuple[int, int], dtype: Any) -> Any:
        """``target`` (n,) or (n, K) as this loss trains on it for predictions of
        ``pred_shape`` (n, K) in float ``dtype``, checked once for a whole data set.

        Here (MSE, BCE): integer labels (n,) become one-hot rows when K > 1 (labels in
        [0, K)), other 1-D targets a column (n, 1); float targets take ``dtype``.
        """
        if target.ndim == 1:
            if _is_integer(target) and pred_shape[1] > 1:
                values.check_range(target, 0, pred_shape[1], "Y labels", closed_high=False)
                target = one_hot(target, pred_shape[1], dtype=dtype)
            else:
                target = target[:, None]
        return self._checked_target(target, pred_shape, dtype)

    def _checked_target(self, target: Any, pred_shape: tuple[int, int], dtype: Any) -> Any:
        """``target`` with float targets cast to ``dtype``, shapes and values checked."""
        if (target.ndim == 2 or not _is_integer(target)) and target.dtype != dtype:
            target = namespace(target).astype(target, dtype)
        self.check_shapes(pred_shape, target)
        self.check_values(pred_shape, target)
        return target

    def unchecked(self, pred: Any, target: Any, weight: Any = None) -> Any:
        """The loss of checked inputs (``weight`` in pred's dtype or None)."""
        raise NotImplementedError

    def unchecked_grad(self, pred: Any, target: Any, weight: Any = None) -> Any:
        """dLoss/dpred of checked inputs."""
        raise NotImplementedError


def _is_integer(x: Any) -> bool:
    return namespace(x).isdtype(x.dtype, "integral")


def _to_stack(x: Any, pred_shape: tuple[int, ...], labels: bool) -> Any:
    """``x`` (a target, or weights) of a stacked prediction (K, batch, out) broadcast to the
    stack when it is shared, one for every model: it then lacks the model axis, having fewer
    dimensions than the prediction, or than the prediction's rows for ``labels`` (class
    labels (batch,), weights). Anything else as it is (the shape checks judge it)."""
    stacked = x.ndim >= len(pred_shape) - (1 if labels else 0)
    if len(pred_shape) != 3 or stacked or x.ndim < 1:
        return x
    return shared(x, pred_shape[0])


class MSE(Loss):
    """mean((pred - target)**2) over all elements; grad = 2 (pred - target) / size.

    Weighted: l_i = mean_j (pred_ij - target_ij)**2, loss = sum_i w_i l_i / sum_i w_i."""

    def unchecked(self, pred, target, weight=None):
        return mean_loss((pred - target) ** 2, weight)

    def unchecked_grad(self, pred, target, weight=None):
        return mean_grad(2 * (pred - target), weight)


class BinaryCrossEntropy(Loss):
    """-mean(t log p + (1 - t) log(1 - p)) over all elements.

    ``from_logits=True``: pred are logits z, loss = mean(max(z, 0) - z t + log1p(exp(-|z|))),
    grad = (sigmoid(z) - t) / size: finite for any finite z.

    ``from_logits=False``: pred are probabilities, clipped to [eps, 1 - eps] with
    eps = finfo(dtype).eps (2.2e-16 in float64, 1.2e-7 in float32) before the logs,
    so a saturated sigmoid (p exactly 0 or 1) gives a finite loss of at most
    -log(eps) per element (36.0 in float64, 15.9 in float32) and a finite gradient;
    beyond the clip the loss no longer grows, so prefer ``from_logits=True``.
    Targets must lie in [0, 1]. Weighted: l_i is the mean of row i's terms.
    """

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def check_values(self, pred_shape, target):
        values.check_range(target, 0, 1, "BinaryCrossEntropy target", closed_high=True)

    def unchecked(self, pred, target, weight=None):
        xp = namespace(pred)
        if self.from_logits:
            z = pred
            terms = xp.where(z > 0, z, 0) - z * target + xp.log1p(xp.exp(-xp.abs(z)))
        else:
            p = _clip_probabilities(pred)
            terms = -(target * xp.log(p) + (1 - target) * xp.log(1 - p))
        return mean_loss(terms, weight)

    def unchecked_grad(self, pred, target, weight=None):
        if self.from_logits:
            return mean_grad(F.sigmoid(pred) - target, weight)
        p = _clip_probabilities(pred)
        return mean_grad((p - target) / (p * (1 - p)), weight)

    def config(self):
        return {"from_logits": self.from_logits}


class CrossEntropy(Loss):
    """mean over the batch of -sum_k t_k log softmax(z)_k (log-sum-exp form).

    ``target`` is one-hot (batch, K) or integer labels (batch,). With
    ``from_logits=False`` pred are probabilities, clipped below at finfo(dtype).eps.
    The logits gradient is (softmax(z) - onehot) / batch. Weighted: l_i = -sum_k t_ik
    log softmax(z_i)_k, loss = sum_i w_i l_i / sum_i w_i.
    """

    takes_labels = True

    def __init__(self, from_logits: bool = True):
        self.from_logits = bool(from_logits)

    def check_shapes(self, pred_shape, target):
        if target.ndim == len(pred_shape) - 1:
            shapes.check_labels_shape(pred_shape, target, "CrossEntropy")
        else:
            shapes.check_same_shape(pred_shape, target, "CrossEntropy")

    def prepare_target(self, target, pred_shape, dtype):
        """Integer labels (n,) stay labels; one-hot or probability rows take ``dtype``."""
        return self._checked_target(target, pred_shape, dtype)

    def check_values(self, pred_shape, target):
        if target.ndim == len(pred_shape) - 1:
            values.check_range(target, 0, pred_shape[-1], "CrossEntropy labels", closed_high=False)

    def unchecked(self, pred, target, weight=None):
        xp = namespace(pred)
        t = dense_target(pred, target)
        logp = F.log_softmax(pred) if self.from_logits else xp.log(_clip_probabilities(pred))
        return mean_loss(-(t * logp), weight, rows="sum")

    def unchecked_grad(self, pred, target, weight=None):
        t = dense_target(pred, target)
        if self.from_logits:
            return mean_grad(F.softmax(pred) - t, weight, rows="sum")
        return mean_grad(-t / _clip_probabilities(pred), weight, rows="sum")

    def config(self):
        return {"from_logits": self.from_logits}


def dense_target(pred: Any, target: Any) -> Any:
    """``target`` shaped as ``pred`` (batch, K) or (stack, batch, K): one-hot rows of pred's
    dtype for integer labels ((batch,) or (stack, batch))."""
    if target.ndim == pred.ndim:
        return target
    return one_hot(target, pred.shape[-1], dtype=pred.dtype)


def _clip_probabilities(p: Any) -> Any:
    """``p`` clipped to [eps, 1 - eps], eps = finfo(dtype).eps: finite logs of 0 and 1."""
    xp = namespace(p)
    eps = xp.finfo(p.dtype).eps
    return xp.clip(p, eps, 1 - eps)


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "bce": BinaryCrossEntropy,
    "cross_entropy": CrossEntropy,
}
