"""scikit-learn estimators trained by nnkit: ``MLPClassifier`` and ``MLPRegressor``, and their
cross-validated searches ``MLPClassifierCV`` and ``MLPRegressorCV``.

Drop-in replacements for ``sklearn.neural_network``'s classes of the same names (the same
parameters, defaults, attributes and methods), plus ``backend``, ``strategy``, ``dtype`` and
``devices``. ``MLPClassifierCV`` and ``MLPRegressorCV`` search a parameter grid as
``GridSearchCV`` does, training its candidates x folds as stacks of models.
``expected_failed_checks(estimator)`` names the scikit-learn estimator checks expected to
fail (see docs/guide/estimators.md). Needs scikit-learn >= 1.6.
"""

from __future__ import annotations

from ..errors import MissingDependencyError

try:
    import sklearn  # noqa: F401  (installed: the estimators need it)
    from sklearn.utils.validation import validate_data  # noqa: F401  (new in 1.6)
except ImportError as e:
    raise MissingDependencyError(
        f"nnkit.estimators needs scikit-learn >= 1.6: pip install 'nnkit[sklearn]' (found: {e})"
    ) from e

from ._checks import expected_failed_checks
from ._classifier import MLPClassifier
from ._classifier_cv import MLPClassifierCV
from ._regressor import MLPRegressor
from ._regressor_cv import MLPRegressorCV

__all__ = [
    "MLPClassifier",
    "MLPClassifierCV",
    "MLPRegressor",
    "MLPRegressorCV",
    "expected_failed_checks",
]
