"""Target encoding, train/validation splits and minibatch order (all drawn on the host)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np  # host-side: splits and batch order are drawn with NumPy's generator
from array_api_compat import device

from ._ns import namespace
from .checks import check_positive_int
from .errors import InvalidValueError


def one_hot(labels: Any, k: int, dtype: Any = None) -> Any:
    """Integer labels of shape (n,) as a (n, k) one-hot array on the labels' backend
    (NumPy for lists); ``dtype`` defaults to that backend's default float dtype. Labels of
    a stack of models (K, n) give (K, n, k)."""
    if not hasattr(labels, "ndim"):
        labels = np.asarray(labels)
    xp = namespace(labels)
    if labels.ndim < 1:
        raise ValueError(f"labels must be 1-D (n,), got shape {tuple(labels.shape)}")
    dev = device(labels)
    if dtype is None:
        dtype = xp.__array_namespace_info__().default_dtypes(device=dev)["real floating"]
    classes = xp.reshape(xp.arange(k, dtype=labels.dtype, device=dev), (1,) * labels.ndim + (k,))
    return xp.astype(labels[..., None] == classes, dtype)


def batch_order(rng: np.random.Generator, n: int, shuffle: bool = True) -> np.ndarray:
    """The order in which one epoch visits ``n`` samples: a permutation drawn from ``rng``."""
    return rng.permutation(n) if shuffle else np.arange(n)


def epoch_order(seed: int | Sequence[int], epoch: int, n: int, shuffle: bool = True) -> np.ndarray:
    """The order of epoch number ``epoch`` (0, 1, ...): a pure function of (seed, epoch),
    so a run stopped mid-way and resumed visits the samples exactly as one that was not.

    ``seed`` a sequence of K seeds (a stack of K models, each with its own order): an array
    (n, K) whose column k is ``epoch_order(seed[k], epoch, n, shuffle)``.
    """
    if isinstance(seed, (list, tuple)):
        return np.stack([epoch_order(s, epoch, n, shuffle) for s in seed], axis=1)
    return batch_order(np.random.default_rng([seed, 1, epoch]), n, shuffle)


def take_rows(a: Any, index: Any) -> Any:
    """Rows ``index`` of ``a`` (n, ...), both arrays of one backend: ``index`` (m,) gives
    (m, ...); ``index`` (m, K), the rows of each of K models, gives (m, K, ...)."""
    xp = namespace(a)
    if index.ndim == 1:
        return xp.take(a, index, axis=0)
    rows = xp.take(a, xp.reshape(index, (-1,)), axis=0)
    return xp.reshape(rows, (*index.shape, *a.shape[1:]))


def next_position(position: tuple[int, int], n: int) -> tuple[int, int]:
    """(epoch, offset) where the next minibatch starts, from ``position``, the (epoch, offset)
    reached so far over ``n`` samples: a finished epoch moves on to the next one's start."""
    epoch, offset = position
    return (epoch + 1, 0) if offset >= n else (epoch, offset)


def _take(x: Any, index: np.ndarray) -> Any:
    """Rows ``index`` (host int array) of ``x`` (NumPy array, list or any backend's array)."""
    if not hasattr(x, "ndim"):
        x = np.asarray(x)
    xp = namespace(x)
    return xp.take(x, xp.asarray(index, device=device(x)), axis=0)


def _length(x: Any) -> int:
    return len(x) if not hasattr(x, "shape") else int(x.shape[0])


def train_val_split(
    X: Any, Y: Any, val_fraction: float = 0.2, seed: int = 0, shuffle: bool = True
) -> tuple[Any, Any, Any, Any]:
    """``(X_train, Y_train, X_val, Y_val)``: ``round(val_fraction * n)`` rows (at least one)
    go to validation, chosen by a permutation drawn from ``seed`` (the last rows if
    ``shuffle=False``). Arrays stay on their backend; lists become NumPy arrays."""
    n = _length(X)
    if _length(Y) != n:
        raise InvalidValueError(f"X and Y have different numbers of samples: {n} and {_length(Y)}")
    if not 0 < val_fraction < 1:
        raise InvalidValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = max(1, round(val_fraction * n))
    if n_val >= n:
        raise InvalidValueError(
            f"val_fraction={val_fraction} leaves no training rows out of {n} samples"
        )
    order = batch_order(np.random.default_rng([seed, 2]), n, shuffle)
    train, val = order[: n - n_val], order[n - n_val :]
    return _take(X, train), _take(Y, train), _take(X, val), _take(Y, val)


def minibatches(
    X: Any, Y: Any, batch_size: int = 64, *, seed: int = 0, epoch: int = 0, shuffle: bool = True,
    sample_weight: Any = None,
) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    """``(X_batch, Y_batch)`` pairs covering one epoch in the order ``epoch_order(seed, epoch)``
    (the order ``Trainer.fit`` uses); the last batch may be smaller. With ``sample_weight``
    (n,): ``(X_batch, Y_batch, w_batch)`` triples, each weight with its row."""
    data = (X, Y) if sample_weight is None else (X, Y, sample_weight)
    n = _length(X)
    if any(_length(a) != n for a in data):
        lengths = ", ".join(str(_length(a)) for a in data)
        raise InvalidValueError(
            f"X, Y{', sample_weight' if len(data) == 3 else ''} have different numbers of "
            f"samples: {lengths}"
        )
    batch_size = check_positive_int("batch_size", batch_size)
    order = epoch_order(seed, epoch, n, shuffle)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield tuple(_take(a, index) for a in data)
