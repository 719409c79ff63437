"""``cv_results_`` and the best candidate, as ``sklearn.model_selection.GridSearchCV`` gives
them for one metric: the same keys in the same order, the same masked ``param_<name>``
arrays, means and standard deviations over the splits, and ranks (failed candidates, whose
mean is NaN, tie for last)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy as np  # host side: scores and times
from numpy.ma import MaskedArray
from scipy.stats import rankdata


def cv_results(
    candidates: Sequence[dict[str, Any]],
    scores: np.ndarray,
    fit_times: np.ndarray,
    score_times: np.ndarray,
) -> dict[str, Any]:
    """GridSearchCV's ``cv_results_`` of ``candidates`` from arrays (n_candidates,
    n_splits) of test scores (NaN where a fit failed), fit times and score times (s)."""
    results: dict[str, Any] = {}
    _store(results, "fit_time", fit_times)
    _store(results, "score_time", score_times)
    results.update(_param_arrays(candidates))
    results["params"] = list(candidates)
    _store(results, "test_score", scores, splits=True, rank=True)
    return results


def _store(
    results: dict[str, Any], key: str, array: np.ndarray, splits: bool = False, rank: bool = False
) -> None:
    array = np.asarray(array, dtype=np.float64)
    if splits:
        for i in range(array.shape[1]):
            results[f"split{i}_{key}"] = array[:, i]
    means = np.average(array, axis=1)
    results[f"mean_{key}"] = means
    if key.startswith("test_") and not np.isfinite(means).all():
        warnings.warn(f"One or more of the test scores are non-finite: {means}", UserWarning,
                      stacklevel=4)  # fmt: skip
    results[f"std_{key}"] = np.sqrt(np.average((array - means[:, np.newaxis]) ** 2, axis=1))
    if rank:
        if np.isnan(means).all():
            ranks = np.ones_like(means, dtype=np.int32)
        else:
            filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
            ranks = rankdata(-filled, method="min").astype(np.int32, copy=False)
        results[f"rank_{key}"] = ranks


def _param_arrays(candidates: Sequence[dict[str, Any]]) -> dict[str, MaskedArray]:
    """``param_<name>``: per parameter a masked array over the candidates (masked where a
    candidate does not set it), of the values' own dtype where NumPy gives them one flat
    non-string dtype, else of objects."""
    found: dict[str, dict[int, Any]] = {}
    for i, params in enumerate(candidates):
        for name, value in params.items():
            found.setdefault(f"param_{name}", {})[i] = value
    arrays = {}
    for key, values in found.items():
        try:
            probe = np.array(list(values.values()))
        except ValueError:  # sequences of different lengths
            dtype = np.dtype(object)
        else:
            flat = probe.dtype.kind != "U" and probe.ndim == 1
            dtype = probe.dtype if flat else np.dtype(object)
        column = MaskedArray(np.empty(len(candidates), dtype=dtype), mask=True)
        for i, value in values.items():
            column[i] = value
        arrays[key] = column
    return arrays


def best_index(refit: bool | Callable[[dict], Any], results: dict[str, Any]) -> Any:
    """The index of the best candidate (an integer, as GridSearchCV gives it):
    ``refit(results)`` where ``refit`` is callable, else the first of rank 1.

    Raises
    ------
    TypeError, IndexError
        A callable ``refit`` returned no integer, or one out of range (GridSearchCV's).
    """
    if not callable(refit):
        return results["rank_test_score"].argmin()
    index = refit(results)
    if not isinstance(index, Integral):
        raise TypeError(f"best_index_ returned is not an integer: refit gave {index!r}")
    if index < 0 or index >= len(results["params"]):
        raise IndexError(
            f"best_index_ index out of bound: refit gave {index} for "
            f"{len(results['params'])} candidates"
        )
    return index
