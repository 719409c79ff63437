"""Losses: ``loss(pred, target) -> 0-d array`` and ``loss.grad(pred, target) -> dLoss/dpred``.

Every loss here is a mean over the batch of a per-sample loss, so the gradient
of a batch equals the average of its per-sample gradients (the per-sample and
batched training strategies rely on this).

``loss(pred, target)`` and ``loss.grad(pred, target)`` check their inputs first
(see ``nnkit.shapes`` and ``nnkit.values``): shapes always (free under ``jax.jit``), values
(label range, BCE targets in [0, 1]) only on eagerly readable arrays.
``loss.unchecked(...)`` and ``loss.unchecked_grad(...)`` are the bare maths, plain array
expressions, for training steps whose data the Trainer has already checked once per ``fit``.
"""

from __future__ import annotations

import math
from typing import Any

from . import functional as F
from . import shapes, values
from ._ns import namespace
from .configurable import Configurable
from .data import one_hot


class Loss(Configurable):
    def __call__(self, pred: Any, target: Any) -> Any:
        """The loss, a 0-d array, after checking ``target`` against ``pred``."""
        self.check(pred, target)
        return self.unchecked(pred, target)

    def grad(self, pred: Any, target: Any) -> Any:
        """dLoss/dpred, shaped like ``pred``, after checking ``target`` against ``pred``."""
        self.check(pred, target)
        return self.unchecked_grad(pred, target)

    def check(self, pred: Any, target: Any) -> None:
        """Shapes always; values only where ``values.readable`` (no host read under jit)."""
        shapes.check_nonempty(tuple(pred.shape), type(self).__name__)
        self.check_shapes(tuple(pred.shape), target)
        if values.readable(target):
            self.check_values(tuple(pred.shape), target)

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

    def unchecked(self, pred: Any, target: Any) -> Any:
        raise NotImplementedError

    def unchecked_grad(self, pred: Any, target: Any) -> Any:
        raise NotImplementedError


def _size(x: Any) -> int:
    return math.prod(x.shape)


def _is_integer(x: Any) -> bool:
    return namespace(x).isdtype(x.dtype, "integral")


class MSE(Loss):
    """mean((pred - target)**2) over all elements; grad = 2 (pred - target) / size."""

    def unchecked(self, pred, target):
        return namespace(pred).mean((pred - target) ** 2)

    def unchecked_grad(self, pred, target):
        return 2 * (pred - target) / _size(pred)


class BinaryCrossEntropy(Loss):
    """-mean(t log p + (1 - t) log(1 - p)) over all elements.

    ``from_logits=True``: pred are logits z, loss = mean(max(z, 0) - z t + log1p(exp(-|z|))),
    grad = (sigmoid(z) - t) / size: finite for any finite z.

    ``from_logits=False``: pred are probabilities, clipped to [eps, 1 - eps] with
    eps = finfo(dtype).eps (2.2e-16 in float64, 1.2e-7 in float32) before the logs,
    so a saturated sigmoid (p exactly 0 or 1) gives a finite loss of at most
    -log(eps) per element (36.0 in float64, 15.9 in float32) and a finite gradient;
    beyond the clip the loss no longer grows, so prefer ``from_logits=True``.
    Targets must lie in [0, 1].
    """

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def check_values(self, pred_shape, target):
        values.check_range(target, 0, 1, "BinaryCrossEntropy target", closed_high=True)

    def unchecked(self, pred, target):
        xp = namespace(pred)
        if self.from_logits:
            z = pred
            return xp.mean(xp.where(z > 0, z, 0) - z * target + xp.log1p(xp.exp(-xp.abs(z))))
        p = _clip_probabilities(pred)
        return -xp.mean(target * xp.log(p) + (1 - target) * xp.log(1 - p))

    def unchecked_grad(self, pred, target):
        if self.from_logits:
            return (F.sigmoid(pred) - target) / _size(pred)
        p = _clip_probabilities(pred)
        return (p - target) / (p * (1 - p)) / _size(pred)

    def config(self):
        return {"from_logits": self.from_logits}


class CrossEntropy(Loss):
    """mean over the batch of -sum_k t_k log softmax(z)_k (log-sum-exp form).

    ``target`` is one-hot (batch, K) or integer labels (batch,). With
    ``from_logits=False`` pred are probabilities, clipped below at finfo(dtype).eps.
    The logits gradient is (softmax(z) - onehot) / batch.
    """

    def __init__(self, from_logits: bool = True):
        self.from_logits = bool(from_logits)

    def check_shapes(self, pred_shape, target):
        if target.ndim == 1:
            shapes.check_labels_shape(pred_shape, target, "CrossEntropy")
        else:
            shapes.check_same_shape(pred_shape, target, "CrossEntropy")

    def prepare_target(self, target, pred_shape, dtype):
        """Integer labels (n,) stay labels; one-hot or probability rows take ``dtype``."""
        return self._checked_target(target, pred_shape, dtype)

    def check_values(self, pred_shape, target):
        if target.ndim == 1:
            values.check_range(
                target, 0, pred_shape[1], "CrossEntropy labels", closed_high=False
            )

    def unchecked(self, pred, target):
        xp = namespace(pred)
        t = dense_target(pred, target)
        logp = F.log_softmax(pred) if self.from_logits else xp.log(_clip_probabilities(pred))
        return -xp.sum(t * logp) / pred.shape[0]

    def unchecked_grad(self, pred, target):
        t = dense_target(pred, target)
        if self.from_logits:
            return (F.softmax(pred) - t) / pred.shape[0]
        return -t / _clip_probabilities(pred) / pred.shape[0]

    def config(self):
        return {"from_logits": self.from_logits}


def dense_target(pred: Any, target: Any) -> Any:
    """``target`` as a (batch, K) array: one-hot rows of pred's dtype for integer labels."""
    return target if target.ndim == 2 else one_hot(target, pred.shape[-1], dtype=pred.dtype)


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
