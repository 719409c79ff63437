"""Every candidate on every fold: the fits (as few stacks as their parameters allow, the
others alone), their test scores and times, as GridSearchCV measures them.

The fits are prepared in GridSearchCV's order (candidate by candidate, fold by fold), so
that each one draws its random numbers (initial weights, early-stopping split, minibatch
orders' seed) as its lone fit would, even from the global random state
(``random_state=None``). A fit that raises, or ends with non-finite weights (the lone
``fit``'s ValueError), scores NaN; ``FitFailedWarning`` then says which and why, and a
search whose every fit failed raises ValueError, as GridSearchCV does.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np  # host side: fold rows, scores and times
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning

from . import _cv_stack as cv_stack
from ._base import BaseMLP
from ._cv_grid import stack_key

Pair = tuple[int, int]  # (candidate, split)


@dataclasses.dataclass
class _Group:
    """Fits that train as one stack: their pairs, Members and targets of the whole data."""

    pairs: list[Pair] = dataclasses.field(default_factory=list)
    members: list[cv_stack.Member] = dataclasses.field(default_factory=list)
    targets: np.ndarray | None = None


@dataclasses.dataclass
class Evaluation:
    """What the search measured: arrays (n_candidates, n_splits) of test scores (NaN where
    a fit failed), fit times and score times (s); ``stacks``, the (candidate, split) pairs
    of each stack trained."""

    scores: np.ndarray
    fit_times: np.ndarray
    score_times: np.ndarray
    stacks: list[list[Pair]]


def evaluate(
    base: BaseMLP,
    candidates: Sequence[dict[str, Any]],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    data: tuple[Any, Any, np.ndarray | None],
    scorer: Callable[[Any, Any, Any], float],
) -> Evaluation:
    """Fit a clone of ``base`` with each candidate's parameters on each split's training
    rows of ``data`` (X, y, sample weights or None; X dense or sparse, host) and score it
    with ``scorer(estimator, X_test, y_test)``."""
    X, y, w = data
    shape = (len(candidates), len(splits))
    fit_times, score_times = np.zeros(shape), np.zeros(shape)
    fitted: dict[Pair, BaseMLP] = {}
    failures: dict[Pair, str] = {}
    groups: dict[tuple, _Group] = {}
    for pair in np.ndindex(shape):
        c, s = pair
        est = clone(base).set_params(**clone(candidates[c], safe=False))
        train = splits[s][0]
        start = time.perf_counter()
        try:
            if stack_key(est.get_params(deep=False)) is None:
                fitted[pair] = est.fit(X[train], y[train], **_weights(w, train))
            else:
                made = cv_stack.member(est, X, y, w, train)
                _join(groups, est, pair, made, train, X.shape[0])
        except Exception as e:  # noqa: BLE001  (GridSearchCV's rule: the fit scores NaN)
            failures[pair] = f"{type(e).__name__}: {e}"
        fit_times[pair] = time.perf_counter() - start
    dense = X.toarray() if hasattr(X, "toarray") else X
    for group in groups.values():
        start = time.perf_counter()
        cv_stack.train(group.members, dense, group.targets)
        share = (time.perf_counter() - start) / len(group.pairs)
        for pair, m in zip(group.pairs, group.members, strict=True):
            fit_times[pair] += share
            try:
                m.est._check_finite()
                fitted[pair] = m.est
            except ValueError as e:
                failures[pair] = f"{type(e).__name__}: {e}"
    scores = np.full(shape, np.nan)
    weighted = w is not None
    for pair, est in fitted.items():
        test = splits[pair[1]][1]
        start = time.perf_counter()
        scores[pair], weighted = _score(scorer, est, X[test], y[test], w, test, weighted)
        score_times[pair] = time.perf_counter() - start
    _report(failures, scores.size)
    return Evaluation(scores, fit_times, score_times, [g.pairs for g in groups.values()])


def _score(scorer: Callable, est: BaseMLP, X: Any, y: Any, w: np.ndarray | None,
           rows: np.ndarray, weighted: bool) -> tuple[float, bool]:  # fmt: skip
    """(the score of ``est`` on its test rows, whether the next scores are weighted): the
    rows' sample weights go to the scorer while it takes them (GridSearchCV's rule); one
    that does not is warned of once and called without them from then on."""
    if not weighted:
        return scorer(est, X, y), False
    try:
        return scorer(est, X, y, sample_weight=w[rows]), True
    except TypeError as e:
        if "sample_weight" not in str(e):
            raise
    warnings.warn(
        f"The scoring {scorer} does not support sample_weight, which may lead to "
        "statistically incorrect results when fitting with sample_weight.", UserWarning,
        stacklevel=4,
    )  # fmt: skip
    return scorer(est, X, y), False


def _weights(w: np.ndarray | None, rows: np.ndarray) -> dict[str, Any]:
    return {} if w is None else {"sample_weight": w[rows]}


def _join(groups: dict[tuple, _Group], est: BaseMLP, pair: Pair, made: tuple, train, n: int):
    """Add a prepared fit (``made``: its Member and the targets of its rows ``train`` of the
    n samples) to the group of fits it can share a stack with: the same parameters but
    ``PER_MODEL``'s, network layout, training dtype, backend and target encoding."""
    member, targets = made
    backend, units, dtype = member.layout
    classes = tuple(np.asarray(getattr(est, "classes_", ())).tolist())
    key = (stack_key(est.get_params(deep=False)), backend.name, units, dtype,
           est.out_activation_, classes)  # fmt: skip
    group = groups.setdefault(key, _Group())
    if group.targets is None:  # rows no member trains on are never read
        group.targets = np.zeros((n, *targets.shape[1:]), dtype=targets.dtype)
    group.targets[train] = targets
    group.pairs.append(pair)
    group.members.append(member)


def _report(failures: dict[Pair, str], total: int) -> None:
    """GridSearchCV's ValueError when every fit failed, else its FitFailedWarning."""
    if not failures:
        return
    summary = "\n".join(f"{n} fits failed with the following error:\n{why}"
                        for why, n in Counter(failures.values()).items())  # fmt: skip
    if len(failures) == total:
        raise ValueError(
            f"\nAll the {total} fits failed.\nIt is very likely that your model is "
            f"misconfigured.\n\nBelow are more details about the failures:\n{summary}"
        )
    warnings.warn(
        f"\n{len(failures)} fits failed out of a total of {total}.\nThe score on these "
        "train-test partitions for these parameters will be set to nan.\n\nBelow are more "
        f"details about the failures:\n{summary}", FitFailedWarning, stacklevel=4,
    )  # fmt: skip
