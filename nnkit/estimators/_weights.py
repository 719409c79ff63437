"""``sample_weight`` as the estimators take it: scikit-learn's checks (a number, or one finite
number per sample; not all 0) with its messages, and the one of nnkit's Trainer that
scikit-learn's MLPs do not make (no negative weight)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np  # host side: weights are checked and split on the host
from sklearn.utils import check_array

from .. import backends


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """``sample_weight`` for n samples as a host float array (n,); None stays None.

    Parameters
    ----------
    sample_weight : None, number or array-like of shape (n,)
        A number weights every sample alike; an array of any backend is brought to the host.
    n : int
        The number of samples.

    Returns
    -------
    ndarray of shape (n,) or None
        float64, or float32 where the weights are float32.

    Raises
    ------
    ValueError
        The weights are not 1-d of length n, hold NaN or inf, are all 0 (scikit-learn's
        messages), or any is negative (nnkit's Trainer trains on weights >= 0).
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n, sample_weight, dtype=np.float64)
    else:
        if not backends.is_host_data(sample_weight):
            sample_weight = backends.to_host(sample_weight)
        w = check_array(
            sample_weight, ensure_2d=False, dtype=[np.float64, np.float32],
            input_name="sample_weight",
        )  # fmt: skip
        if w.ndim != 1:
            raise ValueError(
                f"Sample weights must be 1D array or scalar, got {w.ndim}D array. Expected "
                f"either a scalar value or a 1D array of length {n}."
            )
        if w.shape != (n,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if not np.any(w != 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise ValueError(
            f"sample_weight must be >= 0: got {negative.size} negative weight(s), the first "
            f"{float(w[negative[0]])!r} at index {negative[0]}. nnkit's Trainer trains on "
            "non-negative weights only (scikit-learn's MLPs also take negative ones)."
        )
    return w
