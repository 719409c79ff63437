"""What MLPClassifierCV and MLPRegressorCV share: the constructor (every parameter of the MLP,
then the search's), ``fit`` (candidates x folds, stacked, scored, ranked, the best refitted)
and the refitted MLP's attributes and methods, read from ``best_estimator_``.

The constructor is made from the MLP's own signature (``search_init``), so that the two
stay one list of parameters: scikit-learn reads an estimator's parameters from its
``__init__`` signature, which ``search_init`` sets. The docstrings take the MLP's entries
the same way (``_cv_docs``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .. import backends
from . import _arrays as arrays
from . import _cv_grid as cv_grid
from . import _cv_search as cv_search
from . import _params as params
from ._base import BaseMLP
from ._cv_docs import method_doc, section
from ._cv_results import best_index, cv_results
from ._weights import check_sample_weight

# the search's own parameters and their defaults, after the MLP's
SEARCH_PARAMETERS = {"param_grid": None, "cv": 5, "scoring": None, "refit": True}

# the fitted MLP's attributes that a refitted search reads from best_estimator_
MLP_ATTRIBUTES = ("loss_", "best_loss_", "loss_curve_", "validation_scores_",
                  "best_validation_score_", "t_", "coefs_", "intercepts_", "n_iter_",
                  "n_layers_", "n_outputs_", "out_activation_")  # fmt: skip


def search_init(mlp: type[BaseMLP]) -> Callable[..., None]:
    """An ``__init__`` that takes every parameter of ``mlp``, in its order and kinds, then
    ``SEARCH_PARAMETERS`` (keyword-only), and stores each as the attribute of its name
    (scikit-learn's rule: nothing else happens in ``__init__``). Its ``__signature__`` is
    what ``get_params``, ``clone`` and ``help`` read."""
    own = inspect.signature(mlp.__init__)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
             for name, default in SEARCH_PARAMETERS.items()]  # fmt: skip
    signature = own.replace(parameters=[*own.parameters.values(), *extra])

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


def delegated(name: str) -> property:
    """The refitted MLP's fitted attribute ``name``, read from ``best_estimator_``."""

    def get(self: BaseMLPCV) -> Any:
        return getattr(self._refitted(name), name)

    return property(get, doc=f"``best_estimator_.{name}``: see the MLP's attribute.")


def delegated_method(mlp: type[BaseMLP], name: str) -> Callable[[Any, Any], Any]:
    """The MLP's method ``name`` (of X alone) called on ``best_estimator_``."""

    def method(self: BaseMLPCV, X: Any) -> Any:
        return getattr(self._refitted(name), name)(X)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = method_doc(mlp, name)
    return method


def search_score(mlp: type[BaseMLP]) -> Callable[..., float]:
    """A search's ``score``: GridSearchCV's, with ``scoring`` (None: the MLP's ``score``)."""

    def score(self: BaseMLPCV, X: Any, y: Any, sample_weight: Any = None) -> float:
        best = self._refitted("score")
        extra = {} if sample_weight is None else {"sample_weight": sample_weight}
        if self.scoring is None:
            return best.score(X, y, **extra)
        return self.scorer_(best, X, y, **extra)

    parameters = section(inspect.cleandoc(mlp.score.__doc__), "Parameters")
    score.__doc__ = (
        "Score the refitted best candidate on X, y with ``scoring`` (None: the MLP's\n"
        "``score``), as GridSearchCV's ``score``.\n\nParameters\n----------\n"
        f"{parameters}\nReturns\n-------\nscore : float\n    The score of "
        "``best_estimator_``.\n"
    )
    return score


class BaseMLPCV(BaseEstimator):
    """The shared core; the subclasses name the MLP (``_mlp``), check the targets and take
    the MLP's methods (``delegated_method``, ``search_score``)."""

    _mlp: type[BaseMLP]

    def fit(self, X: Any, y: Any, sample_weight: Any = None, groups: Any = None) -> BaseMLPCV:
        """Cross-validate every candidate of ``param_grid``, then refit the best on X, y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets (class labels for the classifier).
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Weights of the training samples of each fit (and of the refit), and of each
            fit's test rows in its score where the scorer takes them, as GridSearchCV
            weighs them.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a ``cv`` splitter that takes them (e.g. ``GroupKFold``).

        Returns
        -------
        self : BaseMLPCV
            The fitted search.

        Raises
        ------
        ValueError
            A parameter, the grid or the input is invalid, or every fit failed.
        """
        mlp_params = {name: getattr(self, name) for name in inspect.signature(self._mlp).parameters}
        params.validate(type(self).__name__, mlp_params)
        candidates = cv_grid.candidates(self.param_grid, mlp_params, self._mlp.__name__)
        cv_grid.check_search(self.cv, self.scoring, self.refit)
        Xv, yv = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=arrays.float_dtypes(X), y_numeric=is_regressor(self),
        )  # fmt: skip
        yv = backends.to_host(yv)
        yv = column_or_1d(yv, warn=True) if yv.ndim == 2 and yv.shape[1] == 1 else yv
        self._check_targets(yv)
        weights = check_sample_weight(sample_weight, Xv.shape[0])
        folds = check_cv(self.cv, yv, classifier=is_classifier(self))
        splits = cv_grid.check_splits(list(folds.split(Xv, yv, groups)), Xv.shape[0])
        base = self._mlp(**mlp_params)
        scorer = check_scoring(base, scoring=self.scoring)
        found = cv_search.evaluate(base, candidates, splits, (Xv, yv, weights), scorer)
        results = cv_results(candidates, found.scores, found.fit_times, found.score_times)
        self.n_splits_ = len(splits)
        self.best_index_ = best_index(self.refit, results)
        if not callable(self.refit):
            self.best_score_ = results["mean_test_score"][self.best_index_]
        self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            start = time.perf_counter()
            best = clone(base).set_params(**clone(self.best_params_, safe=False))
            extra = {} if sample_weight is None else {"sample_weight": sample_weight}
            self.best_estimator_ = best.fit(X, y, **extra)
            self.refit_time_ = time.perf_counter() - start
        self.scorer_ = scorer
        self.stacks_ = found.stacks
        self.cv_results_ = results
        return self

    def _check_targets(self, y: Any) -> None:
        """Refuse targets the estimator cannot learn (before any fit)."""

    def _refitted(self, what: str) -> BaseMLP:
        """``best_estimator_``, for ``what`` (a method or attribute of the MLP); NotFittedError
        before ``fit``, AttributeError after one with ``refit=False`` (GridSearchCV's)."""
        check_is_fitted(self)
        best = vars(self).get("best_estimator_")
        if best is None:
            raise AttributeError(
                f"This {type(self).__name__} instance was initialized with `refit=False`. "
                f"{what} is available only after refitting on the best parameters. You can "
                "refit an estimator manually using the `best_params_` attribute"
            )
        return best

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
