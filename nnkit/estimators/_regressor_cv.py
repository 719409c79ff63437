"""MLPRegressorCV: MLPRegressor with a cross-validated search over its parameters, the
candidates x folds trained as stacks."""

from __future__ import annotations

from sklearn.base import RegressorMixin

from ._cv import MLP_ATTRIBUTES, BaseMLPCV, delegated, delegated_method, search_init, search_score
from ._cv_docs import search_doc
from ._regressor import MLPRegressor


class MLPRegressorCV(RegressorMixin, BaseMLPCV):
    """MLPRegressor with built-in cross-validation over a grid of its parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from nnkit.estimators import MLPRegressorCV
    >>> X = np.random.RandomState(0).uniform(-1, 1, (100, 1))
    >>> search = MLPRegressorCV(hidden_layer_sizes=(16,), solver="sgd", random_state=0,
    ...                         param_grid={"learning_rate_init": [0.01, 0.1]},
    ...                         cv=3).fit(X, X.ravel() ** 2)
    >>> search.best_params_, round(float(search.best_score_), 2)
    ({'learning_rate_init': 0.1}, 0.94)
    >>> search.predict([[0.5]]).round(1)
    array([0.3])
    """

    _mlp = MLPRegressor
    __init__ = search_init(MLPRegressor)
    predict = delegated_method(MLPRegressor, "predict")
    score = search_score(MLPRegressor)


for _name in MLP_ATTRIBUTES:
    setattr(MLPRegressorCV, _name, delegated(_name))
MLPRegressorCV.__doc__ = search_doc(
    MLPRegressorCV.__doc__, MLPRegressor, like="LassoCV",
    methods="``predict``, ``score``, ``coefs_``, ``loss_curve_``", folds="``KFold``",
    score="R^2", kind="regressor", other="MLPClassifierCV", other_kind="classifier",
)  # fmt: skip
