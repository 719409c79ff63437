"""The scikit-learn estimator checks expected to fail, with the reason for each."""

from __future__ import annotations

from typing import Any

_EXPECTED: dict[str, dict[str, str]] = {
    "MLPClassifier": {},
    "MLPRegressor": {},
}


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The scikit-learn estimator checks expected to fail, for
    ``parametrize_with_checks(..., expected_failed_checks=...)``.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        An nnkit estimator.

    Returns
    -------
    dict
        ``{check name: one-line reason}``; empty for both classes today.
    """
    return dict(_EXPECTED.get(type(estimator).__name__, {}))
