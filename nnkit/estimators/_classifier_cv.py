"""MLPClassifierCV: MLPClassifier with a cross-validated search over its parameters, the
candidates x folds trained as stacks."""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from ._classifier import MLPClassifier
from ._cv import MLP_ATTRIBUTES, BaseMLPCV, delegated, search_init, with_mlp_entries


class MLPClassifierCV(ClassifierMixin, BaseMLPCV):
    """MLPClassifier with built-in cross-validation over a grid of its parameters.

    The search of ``GridSearchCV(MLPClassifier(...), param_grid, cv=cv, scoring=scoring,
    refit=refit)`` (scikit-learn's conventions, as ``LogisticRegressionCV``): every
    candidate of ``param_grid`` is trained on every fold's training rows and scored on its
    test rows; ``cv_results_``, ``best_params_``, ``best_score_``, ``best_index_`` and
    ``n_splits_`` are GridSearchCV's, and the per-split scores equal its scores for the
    same splits to float rounding. After the refit the search is the best MLPClassifier
    fitted on all the data: ``predict``, ``predict_proba``, ``coefs_``, ``classes_``, ...

    The difference is the speed: the candidates x folds that share every parameter but
    ``learning_rate_init``, ``alpha``, ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``,
    ``random_state``, ``tol``, ``n_iter_no_change`` and ``power_t`` train together as ONE
    stack of K networks (K = candidates x folds), each minibatch step one batched forward,
    backward and update of all K, with each network's own hyperparameters, initial
    weights, minibatch order and stopping rules: each one stops exactly when it would
    alone, and the others go on. Candidates that differ in another parameter (e.g.
    ``hidden_layer_sizes``) train in one stack per value; 'lbfgs', ``strategy="per_sample"``
    and ``devices`` fits run one at a time.

    Parameters
    ----------
    param_grid : dict or list of dicts, default=None
        The candidates: parameter name (of MLPClassifier) -> list of values to try, or a
        list of such grids (``sklearn.model_selection.ParameterGrid``). None: one
        candidate, the parameters above.
    cv : int, cross-validation splitter or iterable, default=5
        The folds: a number of folds >= 2 (``StratifiedKFold`` for binary and multiclass
        targets, else ``KFold``), a splitter (``KFold(3, shuffle=True)``), or an iterable
        of (train, test) index arrays.
    scoring : str, callable or None, default=None
        The score of each fit on its test rows: a scorer name (``get_scorer_names()``), a
        callable ``scorer(estimator, X, y)``, or None for the MLP's ``score`` (accuracy).
    refit : bool or callable, default=True
        Refit the best candidate on all the data, making this search a fitted classifier.
        A callable ``refit(cv_results_) -> index`` picks the best candidate itself.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        GridSearchCV's results: ``params``, ``param_<name>`` (masked arrays),
        ``split<i>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``,
        ``std_score_time``. A fit trained in a stack is timed as its share of the
        stack's time (the stack's time divided by its fits) plus its own preparation.
    best_params_ : dict
        The parameters of the best candidate (from ``param_grid``).
    best_score_ : float
        Its mean test score over the folds (not set with a callable ``refit``).
    best_index_ : int
        Its index in ``cv_results_``'s arrays.
    n_splits_ : int
        The number of folds.
    best_estimator_ : MLPClassifier
        The best candidate refitted on all the data (``refit=True``).
    refit_time_ : float
        Seconds the refit took.
    scorer_ : callable
        The scorer of the test rows.
    stacks_ : list of list of tuple of int
        The (candidate index, split index) pairs of the fits trained together, one list
        per stack; fits that ran alone are in none.
    n_features_in_ : int
        The number of features seen by ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The feature names seen by ``fit``, where X had string column names.

    See Also
    --------
    MLPRegressorCV : the regressor's search.
    MLPClassifier : the classifier searched.
    sklearn.model_selection.GridSearchCV : the search this one reproduces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from nnkit.estimators import MLPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = MLPClassifierCV(hidden_layer_sizes=(16,), max_iter=300, random_state=0,
    ...                          param_grid={"learning_rate_init": [0.001, 0.01],
    ...                                      "alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    >>> search.best_params_, round(float(search.best_score_), 2)
    ({'alpha': 0.0001, 'learning_rate_init': 0.01}, 0.95)
    >>> len(search.stacks_), len(search.stacks_[0])  # 4 candidates x 3 folds, one stack
    (1, 12)
    >>> search.predict(X[:3]), search.coefs_[0].shape
    (array([0, 0, 0]), (4, 16))
    """

    _mlp = MLPClassifier
    __init__ = search_init(MLPClassifier)
    score = BaseMLPCV.score  # the search's, before the mixin's (accuracy or R^2 only)

    def _check_targets(self, y: Any) -> None:
        check_classification_targets(y)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities of the refitted best MLP (``best_estimator_.predict_proba``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        return self._refitted("predict_proba").predict_proba(X)

    def predict_log_proba(self, X: Any) -> Any:
        """Log class probabilities of the refitted best MLP.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        return self._refitted("predict_log_proba").predict_log_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


for _name in ("classes_", *MLP_ATTRIBUTES):
    setattr(MLPClassifierCV, _name, delegated(_name))
MLPClassifierCV.__doc__ = with_mlp_entries(MLPClassifierCV.__doc__, MLPClassifier)
