"""Target encoding and minibatch order."""

from __future__ import annotations

from typing import Any

import numpy as np  # host-side: batch order is drawn with NumPy's generator
from array_api_compat import device

from ._ns import namespace


def one_hot(labels: Any, k: int, dtype: Any = None) -> Any:
    """Integer labels of shape (n,) as a (n, k) one-hot array on the labels' backend
    (NumPy for lists); ``dtype`` defaults to that backend's default float dtype."""
    if not hasattr(labels, "ndim"):
        labels = np.asarray(labels)
    xp = namespace(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (n,), got shape {tuple(labels.shape)}")
    dev = device(labels)
    if dtype is None:
        dtype = xp.__array_namespace_info__().default_dtypes(device=dev)["real floating"]
    classes = xp.arange(k, dtype=labels.dtype, device=dev)
    return xp.astype(labels[:, None] == classes[None, :], dtype)


def batch_order(rng: np.random.Generator, n: int, shuffle: bool = True) -> np.ndarray:
    """The order in which one epoch visits ``n`` samples: a permutation drawn from ``rng``."""
    return rng.permutation(n) if shuffle else np.arange(n)
