"""MLPRegressorCV: MLPRegressor with a cross-validated search over its parameters, the
candidates x folds trained as stacks."""

from __future__ import annotations

from sklearn.base import RegressorMixin

from ._cv import MLP_ATTRIBUTES, BaseMLPCV, delegated, search_init, with_mlp_entries
from ._regressor import MLPRegressor


class MLPRegressorCV(RegressorMixin, BaseMLPCV):
    """MLPRegressor with built-in cross-validation over a grid of its parameters.

    The search of ``GridSearchCV(MLPRegressor(...), param_grid, cv=cv, scoring=scoring,
    refit=refit)`` (scikit-learn's conventions, as ``LassoCV``): every candidate of
    ``param_grid`` is trained on every fold's training rows and scored on its test rows;
    ``cv_results_``, ``best_params_``, ``best_score_``, ``best_index_`` and ``n_splits_``
    are GridSearchCV's, and the per-split scores equal its scores for the same splits to
    float rounding. After the refit the search is the best MLPRegressor fitted on all the
    data: ``predict``, ``score``, ``coefs_``, ``loss_curve_``, ...

    The candidates x folds that share every parameter but ``learning_rate_init``,
    ``alpha``, ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``, ``random_state``, ``tol``,
    ``n_iter_no_change`` and ``power_t`` train together as ONE stack of K networks
    (K = candidates x folds), each with its own hyperparameters, initial weights,
    minibatch order and stopping rules (see MLPClassifierCV). Candidates that differ in
    another parameter train in one stack per value; 'lbfgs', ``strategy="per_sample"`` and
    ``devices`` fits run one at a time.

    Parameters
    ----------
    param_grid : dict or list of dicts, default=None
        The candidates: parameter name (of MLPRegressor) -> list of values to try, or a
        list of such grids (``sklearn.model_selection.ParameterGrid``). None: one
        candidate, the parameters above.
    cv : int, cross-validation splitter or iterable, default=5
        The folds: a number of folds >= 2 (``KFold``), a splitter, or an iterable of
        (train, test) index arrays.
    scoring : str, callable or None, default=None
        The score of each fit on its test rows: a scorer name (``get_scorer_names()``), a
        callable ``scorer(estimator, X, y)``, or None for the MLP's ``score`` (R^2).
    refit : bool or callable, default=True
        Refit the best candidate on all the data, making this search a fitted regressor.
        A callable ``refit(cv_results_) -> index`` picks the best candidate itself.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        GridSearchCV's results: ``params``, ``param_<name>`` (masked arrays),
        ``split<i>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``,
        ``std_score_time``. A fit trained in a stack is timed as its share of the
        stack's time plus its own preparation.
    best_params_ : dict
        The parameters of the best candidate (from ``param_grid``).
    best_score_ : float
        Its mean test score over the folds (not set with a callable ``refit``).
    best_index_ : int
        Its index in ``cv_results_``'s arrays.
    n_splits_ : int
        The number of folds.
    best_estimator_ : MLPRegressor
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
    MLPClassifierCV : the classifier's search.
    MLPRegressor : the regressor searched.
    sklearn.model_selection.GridSearchCV : the search this one reproduces.

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
    score = BaseMLPCV.score  # the search's, before the mixin's (accuracy or R^2 only)


for _name in MLP_ATTRIBUTES:
    setattr(MLPRegressorCV, _name, delegated(_name))
MLPRegressorCV.__doc__ = with_mlp_entries(MLPRegressorCV.__doc__, MLPRegressor)
