"""Classification metrics on any backend's arrays."""

from __future__ import annotations

from typing import Any

import numpy as np  # the confusion matrix is a small host array

from . import backends
from ._ns import namespace


def labels_of(y: Any, ndim: int = 2) -> Any:
    """Class labels (n,) from scores or one-hot rows (n, K), or labels (n,) as they are;
    ``ndim=3``: a stack's scores or one-hot rows (stack, n, K) give (stack, n)."""
    if not hasattr(y, "ndim"):
        y = np.asarray(y)
    return namespace(y).argmax(y, axis=-1) if y.ndim == ndim else y


def accuracy(pred: Any, target: Any) -> float:
    """Fraction of rows whose predicted class equals the target class.

    ``pred``: scores (n, K) or labels (n,); ``target``: labels (n,) or one-hot (n, K).
    """
    p, t = labels_of(pred), labels_of(target)
    if p.shape != t.shape:
        raise ValueError(
            "accuracy needs as many predictions as targets, "
            f"got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    return float(hit_rate(p, t))


def hit_rate(pred: Any, target: Any, weight: Any = None) -> Any:
    """``accuracy`` as a 0-d float32 array, without checks or a host read (compiles
    under jit): ``pred`` and ``target`` as ``accuracy`` takes them, of matching rows;
    ``weight`` (n,): the weighted fraction ``sum_i w_i hit_i / sum_i w_i``.

    A stack's scores (K, n, C), with labels (K, n) or one-hot rows (K, n, C) and weights
    (K, n): each model's accuracy, shape (K,)."""
    ndim = max(pred.ndim, 2)
    p, t = labels_of(pred, ndim), labels_of(target, ndim)
    xp = namespace(p)
    hits = xp.astype(p == xp.astype(t, p.dtype), xp.float32)
    if weight is None:
        return xp.mean(hits, axis=-1)
    w = xp.astype(weight, xp.float32)
    return xp.sum(w * hits, axis=-1) / xp.sum(w, axis=-1)


def is_classification(target: Any, k: int) -> bool:
    """True when ``target`` holds class labels for a (n, k) prediction: integer labels (n,),
    or one-hot rows (n, k) of 0/1 summing to 1 with k > 1."""
    xp = namespace(target)
    if target.ndim == 1:
        return xp.isdtype(target.dtype, "integral")
    if target.shape[1] < 2 or k != target.shape[1]:
        return False
    one_hot_rows = xp.all((target == 0) | (target == 1)) & xp.all(xp.sum(target, axis=1) == 1)
    return bool(one_hot_rows)


def confusion_matrix(pred: Any, target: Any, k: int | None = None) -> np.ndarray:
    """(k, k) host int64 counts: row = true class, column = predicted class."""
    p = np.asarray(backends.to_host(labels_of(pred)), dtype=np.int64)
    t = np.asarray(backends.to_host(labels_of(target)), dtype=np.int64)
    k = int(max(p.max(initial=0), t.max(initial=0)) + 1) if k is None else k
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def format_confusion_matrix(counts: Any, labels: Any = None) -> str:
    """A printable table of a (k, k) confusion matrix: rows are true classes, columns
    predicted ones, per-class recall on the right, overall accuracy on the last line."""
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
