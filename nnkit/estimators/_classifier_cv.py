"""MLPClassifierCV: MLPClassifier with a cross-validated search over its parameters, the
candidates x folds trained as stacks."""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from ._classifier import MLPClassifier
from ._cv import (
    MLP_ATTRIBUTES,
    BaseMLPCV,
    delegated,
    delegated_method,
    search_init,
    search_score,
)
from ._cv_docs import search_doc


class MLPClassifierCV(ClassifierMixin, BaseMLPCV):
    """MLPClassifier with built-in cross-validation over a grid of its parameters.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from nnkit.estimators import MLPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = MLPClassifierCV(hidden_layer_sizes=(16,), max_iter=500, random_state=0,
    ...                          param_grid={"learning_rate_init": [0.01, 0.1],
    ...                                      "alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    >>> search.best_params_, round(float(search.best_score_), 2)
    ({'alpha': 0.0001, 'learning_rate_init': 0.1}, 0.97)
    >>> len(search.stacks_), len(search.stacks_[0])  # 4 candidates x 3 folds, one stack
    (1, 12)
    >>> search.predict(X[:3]), search.coefs_[0].shape
    (array([0, 0, 0]), (4, 16))
    """

    _mlp = MLPClassifier
    __init__ = search_init(MLPClassifier)
    predict = delegated_method(MLPClassifier, "predict")
    predict_proba = delegated_method(MLPClassifier, "predict_proba")
    predict_log_proba = delegated_method(MLPClassifier, "predict_log_proba")
    score = search_score(MLPClassifier)

    def _check_targets(self, y: Any) -> None:
        check_classification_targets(y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


for _name in ("classes_", *MLP_ATTRIBUTES):
    setattr(MLPClassifierCV, _name, delegated(_name))
MLPClassifierCV.__doc__ = search_doc(
    MLPClassifierCV.__doc__, MLPClassifier, like="LogisticRegressionCV",
    methods="``predict``, ``predict_proba``, ``coefs_``, ``classes_``",
    folds="``StratifiedKFold`` for binary and multiclass targets, else ``KFold``",
    score="accuracy", kind="classifier", other="MLPRegressorCV", other_kind="regressor",
)  # fmt: skip
