"""The search's own parameters (``param_grid``, ``cv``, ``scoring``, ``refit``), checked when
``fit`` starts, and which candidates can share a stack.

A stack trains many fits of one network through one optimizer (see ``_cv_stack``): the
parameters in ``PER_MODEL`` may differ from model to model inside it; every other
parameter (the layout, solver, minibatch rule, schedule kind, early stopping, ``max_iter``,
dtype, backend, ...) is one per stack, so candidates that differ in them train in separate
stacks. 'lbfgs', ``strategy="per_sample"`` and data-parallel (``devices``) fits run alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np  # host side: fold indices
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import ParameterGrid

from ..errors import InvalidTypeError, InvalidValueError
from ._params import InvalidParameterError, validate

# the parameters that may differ between the models of one stack
PER_MODEL = ("learning_rate_init", "alpha", "momentum", "beta_1", "beta_2", "epsilon",
             "random_state", "tol", "n_iter_no_change", "power_t")  # fmt: skip

GRID_HELP = "a dict of parameter name -> list of values to try, a list of such dicts, or None"


def candidates(param_grid: Any, base: Mapping[str, Any], owner: str) -> list[dict[str, Any]]:
    """The candidates of ``param_grid`` (``ParameterGrid``'s order; None: one candidate, the
    base parameters), each checked with the ``base`` parameters it overrides (those of the
    estimator class named ``owner``).

    Raises
    ------
    InvalidTypeError, InvalidValueError
        ``param_grid`` is not a dict or a non-empty list of dicts, names a parameter that
        ``base`` does not have, or gives a parameter no list of values (or an empty one).
    InvalidParameterError
        A candidate's value is not one its parameter accepts (the message names both).
    """
    if param_grid is None:
        return [{}]
    grids = [param_grid] if isinstance(param_grid, Mapping) else param_grid
    if not isinstance(grids, (list, tuple)) or not all(isinstance(g, Mapping) for g in grids):
        raise InvalidTypeError(f"param_grid must be {GRID_HELP}; got {param_grid!r}")
    if not grids:
        raise InvalidValueError(
            f"param_grid is an empty list: no candidate to try; expected {GRID_HELP}"
        )
    for grid in grids:
        for name, values in grid.items():
            _check_entry(name, values, base, owner)
    found = [dict(c) for c in ParameterGrid(list(grids))]
    for candidate in found:
        try:
            validate(owner, {**base, **candidate})
        except InvalidParameterError as e:
            raise InvalidParameterError(f"param_grid candidate {candidate!r}: {e}") from e
    return found


def _check_entry(name: Any, values: Any, base: Mapping[str, Any], owner: str) -> None:
    if name not in base:
        raise InvalidValueError(
            f"param_grid names {name!r}, which is not a parameter of {owner}; expected one "
            f"of: {', '.join(sorted(base))}"
        )
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise InvalidTypeError(
            f"param_grid[{name!r}] must be a list of values to try, got {values!r}; wrap a "
            f"single value in a list: [{values!r}]"
        )
    if len(values) == 0:
        raise InvalidValueError(
            f"param_grid[{name!r}] is an empty list: expected at least one value to try"
        )


def check_search(cv: Any, scoring: Any, refit: Any) -> None:
    """``cv``: an int >= 2, a splitter or an iterable of (train, test) index pairs;
    ``scoring``: None, a scorer name or a callable; ``refit``: a bool or a callable.

    Raises
    ------
    InvalidTypeError, InvalidValueError
        Naming the parameter, what it got and what it accepts.
    """
    if isinstance(cv, (bool, str, bytes)) or not (
        isinstance(cv, Integral) or hasattr(cv, "split") or _iterable(cv)
    ):
        raise InvalidTypeError(
            f"cv must be an int >= 2 (the number of folds), a cross-validation splitter or "
            f"an iterable of (train, test) index arrays; got {cv!r}"
        )
    if isinstance(cv, Integral) and cv < 2:
        raise InvalidValueError(f"cv must be an int >= 2 (the number of folds); got {cv!r}")
    if isinstance(scoring, str):
        if scoring not in get_scorer_names():
            raise InvalidValueError(
                f"scoring={scoring!r} is not a scorer name: expected one of "
                "sklearn.metrics.get_scorer_names(), a callable scorer(estimator, X, y) or None"
            )
    elif scoring is not None and not callable(scoring):
        raise InvalidTypeError(
            f"scoring must be None (the estimator's score), a scorer name or a callable "
            f"scorer(estimator, X, y); got {scoring!r} (one metric only: lists and dicts of "
            "scorers are not supported)"
        )
    if not isinstance(refit, (bool, np.bool_)) and not callable(refit):
        raise InvalidTypeError(
            f"refit must be a bool or a callable cv_results_ -> best index; got {refit!r}"
        )


def _iterable(x: Any) -> bool:
    return isinstance(x, Iterable) and not isinstance(x, (str, bytes, Mapping))


def check_splits(splits: list[Any], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds of ``cv.split`` as (train, test) int arrays of rows of n samples.

    Raises
    ------
    InvalidValueError
        No fold, a fold that is not a (train, test) pair, an empty train or test set, or
        rows outside [0, n).
    """
    if not splits:
        raise InvalidValueError("cv gave no (train, test) split; expected at least one")
    checked = []
    for i, split in enumerate(splits):
        if not isinstance(split, (tuple, list)) or len(split) != 2:
            raise InvalidValueError(f"cv split {i} is {split!r}; expected a (train, test) pair")
        train, test = (np.asarray(rows) for rows in split)
        for name, rows in (("train", train), ("test", test)):
            if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
                raise InvalidValueError(
                    f"cv split {i} has {name} rows {rows!r}; expected a non-empty 1-d array "
                    "of row indices"
                )
            if rows.min() < 0 or rows.max() >= n:
                raise InvalidValueError(
                    f"cv split {i} has {name} rows outside [0, {n}): min {rows.min()}, max "
                    f"{rows.max()}; expected indices of the {n} samples"
                )
        checked.append((train, test))
    return checked


def stack_key(params: Mapping[str, Any]) -> tuple | None:
    """What the fits of a stack must share, for an estimator of ``params``
    (``get_params(deep=False)``): every parameter but ``PER_MODEL``, and for 'sgd' whether
    it takes Nesterov steps; None for a fit that runs alone ('lbfgs', 'per_sample',
    ``devices``)."""
    if params["solver"] == "lbfgs" or params["strategy"] != "batched":
        return None
    if params["devices"] is not None:
        return None
    shared = {k: v for k, v in params.items() if k not in PER_MODEL}
    sizes = shared["hidden_layer_sizes"]
    shared["hidden_layer_sizes"] = tuple(
        int(s) for s in (sizes if hasattr(sizes, "__iter__") else [sizes])
    )
    nesterov = params["solver"] == "sgd" and params["nesterovs_momentum"] and params["momentum"] > 0
    return (repr(sorted(shared.items())), bool(nesterov))
