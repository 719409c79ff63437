"""Classification metrics on any backend's arrays."""

from __future__ import annotations

from typing import Any

import numpy as np  # the confusion matrix is a small host array

from . import backends
from ._ns import namespace


def labels_of(y: Any, ndim: int = 2) -> Any:
    """Class labels from scores, probabilities or one-hot rows.

    Parameters
    ----------
    y : array_like of shape (n, K) or (n,)
        Rows (the label is the argmax) or labels; any backend, or a list. With
        ``ndim=3``: a stack's rows (stack, n, K) or labels (stack, n).
    ndim : int
        The number of dimensions of rows: 2, or 3 for a stack of models.

    Returns
    -------
    array of shape (n,), or (stack, n)
        The labels, on ``y``'s backend.
    """
    if not hasattr(y, "ndim"):
        y = np.asarray(y)
    return namespace(y).argmax(y, axis=-1) if y.ndim == ndim else y


def accuracy(pred: Any, target: Any) -> float:
    """The fraction of rows whose predicted class is the target class.

    Parameters
    ----------
    pred : array_like of shape (n, K) or (n,)
        Scores or probabilities, or labels; any backend.
    target : array_like of shape (n,) or (n, K)
        Labels or one-hot rows.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        Different numbers of predictions and targets.
    """
    p, t = labels_of(pred), labels_of(target)
    if p.shape != t.shape:
        raise ValueError(
            "accuracy needs as many predictions as targets, "
            f"got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    return float(hit_rate(p, t))


def hit_rate(pred: Any, target: Any, weight: Any = None) -> Any:
    """``accuracy`` without checks or a host read (it compiles under ``jit``).

    Parameters
    ----------
    pred, target
        As ``accuracy`` takes them, of matching rows; a stack's scores (K, n, C) with
        labels (K, n) or one-hot rows (K, n, C).
    weight : array of shape (n,) or (K, n), optional
        Per-sample weights: the weighted fraction ``sum_i w_i hit_i / sum_i w_i``.

    Returns
    -------
    array
        0-d, float32, on the arrays' backend; for a stack, shape (K,): each model's.
    """
    ndim = max(pred.ndim, 2)
    p, t = labels_of(pred, ndim), labels_of(target, ndim)
    xp = namespace(p)
    hits = xp.astype(p == xp.astype(t, p.dtype), xp.float32)
    if weight is None:
        return xp.mean(hits, axis=-1)
    w = xp.astype(weight, xp.float32)
    return xp.sum(w * hits, axis=-1) / xp.sum(w, axis=-1)


def is_classification(target: Any, k: int) -> bool:
    """Whether ``target`` holds class labels for a prediction of k outputs.

    Parameters
    ----------
    target : array of shape (n,) or (n, k)
        Targets, read eagerly.
    k : int
        The prediction's number of outputs.

    Returns
    -------
    bool
        True for integer labels (n,), or one-hot rows (n, k) of 0/1 summing to 1 with
        k > 1.
    """
    xp = namespace(target)
    if target.ndim == 1:
        return xp.isdtype(target.dtype, "integral")
    if target.shape[1] < 2 or k != target.shape[1]:
        return False
    one_hot_rows = xp.all((target == 0) | (target == 1)) & xp.all(xp.sum(target, axis=1) == 1)
    return bool(one_hot_rows)


def confusion_matrix(pred: Any, target: Any, k: int | None = None) -> np.ndarray:
    """The counts of each (true class, predicted class) pair.

    Parameters
    ----------
    pred : array_like of shape (n, K) or (n,)
        Scores or labels; any backend.
    target : array_like of shape (n,) or (n, K)
        Labels or one-hot rows.
    k : int, optional
        The number of classes (default: the largest label seen, plus one).

    Returns
    -------
    numpy.ndarray of shape (k, k)
        Host int64 counts: row = true class, column = predicted class.
    """
    p = np.asarray(backends.to_host(labels_of(pred)), dtype=np.int64)
    t = np.asarray(backends.to_host(labels_of(target)), dtype=np.int64)
    k = int(max(p.max(initial=0), t.max(initial=0)) + 1) if k is None else k
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def format_confusion_matrix(counts: Any, labels: Any = None) -> str:
    """A printable table of a confusion matrix.

    Parameters
    ----------
    counts : array_like of shape (k, k)
        As ``confusion_matrix`` gives them.
    labels : sequence, optional
        The class names (default: 0 .. k - 1).

    Returns
    -------
    str
        Rows are true classes, columns predicted ones, per-class recall on the right,
        overall accuracy on the last line.

    Raises
    ------
    ValueError
        ``counts`` is not square.
    """
    counts = np.asarray(counts, dtype=np.int64)
    k = counts.shape[0]
    if counts.ndim != 2 or counts.shape != (k, k):
        raise ValueError(f"counts must be square (k, k), got shape {counts.shape}")
    names = [str(c) for c in (range(k) if labels is None else labels)]
    corner = "true\\pred"
    width = max(len(str(counts.max(initial=0))), *(len(s) for s in names))
    head = max(len(corner), *(len(s) for s in names))
    lines = [f"{corner:>{head}} " + " ".join(f"{s:>{width}}" for s in names) + "  recall"]
    for i, (name, row) in enumerate(zip(names, counts, strict=True)):
        recall = f"{row[i] / row.sum():.3f}" if row.sum() else "-"
        lines.append(f"{name:>{head}} " + " ".join(f"{c:>{width}}" for c in row) + f"  {recall}")
    hits, total = int(np.trace(counts)), int(counts.sum())
    if total:
        lines.append(f"accuracy {hits / total:.4f} ({hits}/{total})")
    return "\n".join(lines)
