"""MLPClassifierCV and MLPRegressorCV: the same search as GridSearchCV over nnkit's MLPs (the
same splits give the same per-split scores, in float64), trained as stacks, their bad input
refused, and scikit-learn's conventions (clone, get_params/set_params, estimator checks)."""

import inspect
import pathlib
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import numpydoc_sections, x64_param

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_dont_overwrite_parameters,
    check_estimator,
    check_fit_check_is_fitted,
    check_get_params_invariance,
    check_n_features_in,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import nnkit  # noqa: E402
from nnkit.errors import InvalidTypeError, InvalidValueError  # noqa: E402
from nnkit.estimators import (  # noqa: E402
    MLPClassifier,
    MLPClassifierCV,
    MLPRegressor,
    MLPRegressorCV,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# 121 rows: folds of 41, 40 and 40 test rows, so 80 or 81 training rows, 4 or 5 minibatches
# of 20 (the stack pads the narrower ones and skips the step a fit does not take)
RNG = np.random.RandomState(0)
X = RNG.randn(121, 4)
Y_CLASSES = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)
Y_VALUES = X[:, 0] - 2 * X[:, 1] + 0.1 * RNG.randn(121)
SMALL = {"hidden_layer_sizes": (5,), "batch_size": 20, "max_iter": 12, "random_state": 0,
         "dtype": "float64"}  # fmt: skip
GRIDS = {
    "adam": {"learning_rate_init": [0.003, 0.03], "alpha": [1e-4, 0.3]},
    "sgd": {"momentum": [0.5, 0.9], "learning_rate_init": [0.01, 0.1]},
}
PAIRS = [(MLPClassifier, MLPClassifierCV, Y_CLASSES), (MLPRegressor, MLPRegressorCV, Y_VALUES)]


def assert_same_search(ours, theirs):
    """cv_results_ (keys in order, values; times aside), best_* and n_splits_ alike."""
    mine, ref = ours.cv_results_, theirs.cv_results_
    assert list(mine) == list(ref)
    for key in ref:
        if key.endswith("_time"):
            assert mine[key].shape == ref[key].shape and np.isfinite(mine[key]).all()
        elif key == "params":
            assert mine[key] == ref[key]
        elif key.startswith("param_"):
            assert mine[key].dtype == ref[key].dtype
            np.testing.assert_array_equal(mine[key].mask, ref[key].mask)
            assert list(mine[key]) == list(ref[key])
        else:
            assert mine[key].dtype == ref[key].dtype, key
            np.testing.assert_allclose(mine[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    assert ours.n_splits_ == theirs.n_splits_
    np.testing.assert_allclose(ours.best_score_, theirs.best_score_, rtol=1e-12)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("mlp, search, y", PAIRS)
def test_split_scores_equal_grid_search_over_nnkits_mlp(mlp, search, y, solver, early_stopping):
    params = {**SMALL, "solver": solver, "early_stopping": early_stopping,
              "validation_fraction": 0.2, "n_iter_no_change": 3}  # fmt: skip
    cv = KFold(3, shuffle=True, random_state=1)
    theirs = GridSearchCV(mlp(**params), GRIDS[solver], cv=cv).fit(X, y)
    ours = search(**params, param_grid=GRIDS[solver], cv=cv).fit(X, y)
    assert_same_search(ours, theirs)
    assert ours.stacks_ == [[(c, s) for c in range(4) for s in range(3)]]
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)
    for name in ("coefs_", "intercepts_"):
        for a, b in zip(getattr(ours, name), getattr(theirs.best_estimator_, name), strict=True):
            np.testing.assert_array_equal(a, b)


def _slow(param):
    """``param`` marked slow: the lone fits to compare with compile (JAX) or dispatch
    (torch) each step on their own."""
    return pytest.param(*param.values, marks=[*param.marks, pytest.mark.slow])


@pytest.mark.parametrize(
    "backend, dtype",
    [_slow(x64_param("jax", "float64")), _slow(x64_param("torch", "float64")),
     x64_param("array_api_strict", "float64")],
)  # fmt: skip
def test_every_backend_searches_as_grid_search_on_it(backend, dtype):
    """The stack on each backend against GridSearchCV over nnkit's MLP on the same backend:
    the same splits scored alike, with fits that stop at different epochs."""
    if backend not in nnkit.backends.available():
        pytest.skip(f"{backend} is not installed")
    params = {**SMALL, "backend": backend, "dtype": dtype, "max_iter": 10}
    grid = {"n_iter_no_change": [1, 10], "learning_rate_init": [0.003, 0.03]}
    cv = KFold(2, shuffle=True, random_state=0)
    theirs = GridSearchCV(MLPClassifier(**params), grid, cv=cv).fit(X, Y_CLASSES)
    ours = MLPClassifierCV(**params, param_grid=grid, cv=cv).fit(X, Y_CLASSES)
    assert_same_search(ours, theirs)


STOPPING = [
    ({}, {"tol": [1e-4, 0.3], "n_iter_no_change": [1, 50], "random_state": [0, 3]}),
    ({"solver": "sgd", "nesterovs_momentum": False, "early_stopping": True},
     {"momentum": [0.0, 0.9], "tol": [1e-4, 0.3], "n_iter_no_change": [1, 4]}),
]  # fmt: skip


@pytest.mark.parametrize("extra, grid", STOPPING)
def test_each_candidate_stops_as_it_would_alone(extra, grid):
    """Candidates whose lone fits stop after different numbers of epochs (tol and
    n_iter_no_change against max_iter, early stopping's patience) share one stack, which
    goes on without those that stopped, and still score as their lone fits."""
    params = {**SMALL, "max_iter": 25, **extra}
    stops = {MLPClassifier(**params, **p).fit(X, Y_CLASSES).n_iter_
             for p in ({"tol": 0.3, "n_iter_no_change": 1}, {"tol": 1e-4})}  # fmt: skip
    assert len(stops) == 2  # the lone fits stop at different epochs
    cv = StratifiedKFold(3)
    theirs = GridSearchCV(MLPClassifier(**params), grid, cv=cv).fit(X, Y_CLASSES)
    ours = MLPClassifierCV(**params, param_grid=grid, cv=cv).fit(X, Y_CLASSES)
    assert_same_search(ours, theirs)
    assert len(ours.stacks_) == 1 and len(ours.stacks_[0]) == 24


def test_structural_parameters_make_one_stack_each_and_lbfgs_runs_alone():
    grid = [{"hidden_layer_sizes": [(3,), (4, 2)], "alpha": [1e-4, 1e-2]},
            {"solver": ["lbfgs"], "alpha": [1e-4, 1e-2]},
            {"solver": ["sgd"], "activation": ["tanh"], "momentum": [0.0, 0.9]}]  # fmt: skip
    cv = KFold(3)
    theirs = GridSearchCV(MLPClassifier(**SMALL), grid, cv=cv).fit(X, Y_CLASSES)
    ours = MLPClassifierCV(**SMALL, param_grid=grid, cv=cv).fit(X, Y_CLASSES)
    assert_same_search(ours, theirs)
    candidates = [sorted({c for c, _ in stack}) for stack in ours.stacks_]
    # 'sgd' with Nesterov momentum 0.9 and plain steps (momentum 0) need two stacks
    assert candidates == [[0, 2], [1, 3], [6], [7]]  # ParameterGrid: alpha, then the sizes
    assert all(len(stack) == 3 * len(c) for stack, c in zip(ours.stacks_, candidates,
                                                             strict=True))  # fmt: skip


@pytest.fixture
def stack_sizes(monkeypatch):
    """A function that, called, makes every later ``Sequential.forward`` note the stack
    size of its parameters in the list it returns."""

    def spy_on_forward():
        seen = []
        forward = nnkit.Sequential.forward

        def spy(self, params, X):
            seen.append(self.stack_size(params))
            return forward(self, params, X)

        monkeypatch.setattr(nnkit.Sequential, "forward", spy)
        return seen

    return spy_on_forward


def test_the_stack_runs_every_fit_through_one_stacked_forward(stack_sizes):
    """Behaviour, not bookkeeping: the network's forward sees parameters stacked over all
    candidates x folds at once (12 = 4 x 3), never one model's alone."""
    seen = stack_sizes()
    MLPClassifierCV(**SMALL, param_grid=GRIDS["adam"], cv=3, refit=False).fit(X, Y_CLASSES)
    assert seen and set(seen) == {12}


@pytest.mark.parametrize("workers", [1, 2])
def test_large_stacks_dealt_into_a_stack_a_worker_search_as_one_stack(monkeypatch, stack_sizes,
                                                                      workers):
    """NumPy runs a large stack as a stack a core at once (``Backend.workers``): 8
    candidates x 3 folds (24 fits x 40 rows x 512 units in float64: 3.9 MB of activations)
    are one stack of 24 fits with one worker, two of 12 with two, and either way the search
    is GridSearchCV's."""
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(type(nnkit.backends.get("numpy")), "workers", workers)
    grid = {**GRIDS["adam"], "beta_1": [0.8, 0.9]}
    params = {**SMALL, "hidden_layer_sizes": (512,), "batch_size": 40, "max_iter": 6,
              "early_stopping": True, "n_iter_no_change": 2}  # fmt: skip
    cv = KFold(3, shuffle=True, random_state=2)
    theirs = GridSearchCV(MLPClassifier(**params), grid, cv=cv).fit(X, Y_CLASSES)
    seen = stack_sizes()
    ours = MLPClassifierCV(**params, param_grid=grid, cv=cv, refit=False).fit(X, Y_CLASSES)
    assert_same_search(ours, theirs)
    assert max(seen) == 24 // workers


def test_small_stacks_stay_whole_with_several_workers(monkeypatch, stack_sizes):
    """24 fits x 20 rows x 5 units: too little work a thread to split."""
    monkeypatch.setattr(type(nnkit.backends.get("numpy")), "workers", 2)
    seen = stack_sizes()
    grid = {**GRIDS["adam"], "beta_1": [0.8, 0.9]}
    MLPClassifierCV(**SMALL, param_grid=grid, cv=3, refit=False).fit(X, Y_CLASSES)
    assert max(seen) == 24


W = RNG.uniform(0.2, 3.0, 121)


@pytest.mark.parametrize("scoring", [None, "balanced_accuracy"])
def test_unequal_folds_weights_and_scoring_as_grid_search(scoring):
    """StratifiedKFold's unequal folds, sample weights (each fit's training rows, and its
    test rows in the score), a scorer by name, and a fit that diverges (NaN scores,
    FitFailedWarning) beside ones that do not."""
    grid = {"learning_rate_init": [0.01, 1e6]}
    params = {**SMALL, "solver": "sgd", "momentum": 0.0}
    cv = StratifiedKFold(4)
    with pytest.warns(FitFailedWarning, match="4 fits failed out of a total of 8"):
        theirs = GridSearchCV(MLPClassifier(**params), grid, cv=cv, scoring=scoring)
        theirs.fit(X, Y_CLASSES, sample_weight=W)
    with pytest.warns(FitFailedWarning, match="4 fits failed out of a total of 8"):
        ours = MLPClassifierCV(**params, param_grid=grid, cv=cv, scoring=scoring)
        ours.fit(X, Y_CLASSES, sample_weight=W)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    assert_same_search(ours, theirs)
    assert ours.score(X, Y_CLASSES) == theirs.score(X, Y_CLASSES)


def test_after_refit_the_search_is_the_best_mlp():
    search = MLPClassifierCV(**SMALL, param_grid=GRIDS["adam"], cv=3).fit(X, Y_CLASSES)
    best = MLPClassifier(**{**SMALL, **search.best_params_}).fit(X, Y_CLASSES)
    np.testing.assert_array_equal(search.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(search.predict_log_proba(X), best.predict_log_proba(X))
    assert search.score(X, Y_CLASSES) == best.score(X, Y_CLASSES)
    for name in ("classes_", "loss_curve_", "n_iter_", "n_layers_", "out_activation_", "t_"):
        np.testing.assert_array_equal(getattr(search, name), getattr(best, name))
    assert search.n_features_in_ == 4 and search.refit_time_ > 0
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))


def test_refit_false_and_a_callable_refit():
    search = MLPRegressorCV(**SMALL, param_grid=GRIDS["adam"], cv=3, refit=False)
    search.fit(X, Y_VALUES)
    assert set(search.best_params_) == {"alpha", "learning_rate_init"}
    with pytest.raises(AttributeError, match="initialized with `refit=False`. predict is"):
        search.predict(X)
    assert not hasattr(search, "coefs_")

    def last(results):
        return len(results["params"]) - 1

    search = MLPRegressorCV(**SMALL, param_grid=GRIDS["adam"], cv=3, refit=last)
    search.fit(X, Y_VALUES)
    assert search.best_index_ == 3 and not hasattr(search, "best_score_")
    assert search.best_params_ == search.cv_results_["params"][3]


def test_without_a_grid_it_cross_validates_its_own_parameters():
    ours = MLPRegressorCV(**SMALL, cv=3).fit(X, Y_VALUES)
    theirs = GridSearchCV(MLPRegressor(**SMALL), {}, cv=3).fit(X, Y_VALUES)
    assert_same_search(ours, theirs)
    assert ours.best_params_ == {}


def test_unfitted_search_has_no_fitted_attributes():
    search = MLPClassifierCV(**SMALL)
    assert not hasattr(search, "coefs_") and not hasattr(search, "classes_")
    with pytest.raises(AttributeError, match="not fitted"):
        search.predict(X)


# ---- bad input: clear errors, parameters left as they were ----

BAD = [
    ({"param_grid": {"alpha": [0.1], "learning_rate_inti": [0.1]}}, InvalidValueError,
     "param_grid names 'learning_rate_inti', which is not a parameter of MLPClassifier"),
    ({"param_grid": {"cv": [3]}}, InvalidValueError, "'cv', which is not a parameter"),
    ({"param_grid": []}, InvalidValueError, "param_grid is an empty list"),
    ({"param_grid": {"alpha": []}}, InvalidValueError, r"param_grid\['alpha'\] is an empty"),
    ({"param_grid": {"alpha": 0.1}}, InvalidTypeError, r"wrap a single value in a list: \[0.1\]"),
    ({"param_grid": "alpha"}, InvalidTypeError, "param_grid must be a dict"),
    ({"param_grid": {"alpha": [0.1, -1.0]}}, ValueError,
     r"param_grid candidate \{'alpha': -1.0\}: The 'alpha' parameter of MLPClassifier must"),
    ({"solver": "newton"}, ValueError, "The 'solver' parameter of MLPClassifierCV must be"),
    ({"cv": 1}, InvalidValueError, "cv must be an int >= 2"),
    ({"cv": "three"}, InvalidTypeError, "cv must be an int >= 2 .* got 'three'"),
    ({"cv": [(np.arange(60), np.array([], dtype=int))]}, InvalidValueError,
     "cv split 0 has test rows"),
    ({"cv": [(np.arange(60), np.arange(100, 130))]}, InvalidValueError,
     r"cv split 0 has test rows outside \[0, 121\)"),
    ({"cv": []}, InvalidValueError, "cv gave no"),
    ({"scoring": "acuracy"}, InvalidValueError, "scoring='acuracy' is not a scorer name"),
    ({"scoring": ["accuracy", "f1_macro"]}, InvalidTypeError, "one metric only"),
    ({"refit": "accuracy"}, InvalidTypeError, "refit must be a bool or a callable"),
]  # fmt: skip


@pytest.mark.parametrize("params, error, match", BAD)
def test_bad_input_is_refused_with_a_clear_error(params, error, match):
    search = MLPClassifierCV(**SMALL, **params)
    before = repr(search.get_params())
    with pytest.raises(error, match=match):
        search.fit(X, Y_CLASSES)
    assert repr(search.get_params()) == before
    assert not hasattr(search, "cv_results_")


def test_bad_targets_and_all_failed_fits():
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifierCV(**SMALL).fit(X, Y_VALUES)
    with pytest.raises(ValueError, match="All the 3 fits failed(.|\n)*validation set is too"):
        MLPClassifierCV(**{**SMALL, "early_stopping": True, "validation_fraction": 0.01},
                        cv=3).fit(X[:30], Y_CLASSES[:30])  # fmt: skip


# ---- scikit-learn's conventions ----


@pytest.mark.parametrize("cls", [MLPClassifierCV, MLPRegressorCV])
def test_every_mlp_parameter_then_the_searchs(cls):
    mlp = MLPClassifier if cls is MLPClassifierCV else MLPRegressor
    ours, theirs = inspect.signature(cls).parameters, inspect.signature(mlp).parameters
    assert list(ours) == [*theirs, "param_grid", "cv", "scoring", "refit"]
    for name, p in theirs.items():
        assert (ours[name].default, ours[name].kind) == (p.default, p.kind)
    assert [ours[n].default for n in ("param_grid", "cv", "scoring", "refit")] == [
        None, 5, None, True,
    ]  # fmt: skip
    positional = [n for n, p in theirs.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    with pytest.raises(TypeError):
        cls(*[ours[n].default for n in positional], "adam")  # keyword-only, as in the MLP


@pytest.mark.parametrize("cls", [MLPClassifierCV, MLPRegressorCV])
def test_clone_and_get_set_params(cls):
    search = cls(hidden_layer_sizes=(3,), param_grid={"alpha": [1e-3]}, cv=KFold(2))
    copy = clone(search)
    assert copy is not search and copy.get_params()["hidden_layer_sizes"] == (3,)
    assert copy.get_params()["param_grid"] == {"alpha": [1e-3]}
    copy.set_params(alpha=0.5, cv=4, refit=False)
    assert (copy.alpha, copy.cv, copy.refit) == (0.5, 4, False)
    assert search.alpha == 1e-4
    with pytest.raises(ValueError, match="Invalid parameter"):
        copy.set_params(no_such=1)
    assert "param_grid={'alpha': [0.001]}" in repr(search)


CHECKS = [check_parameters_default_constructible, check_no_attributes_set_in_init,
          check_get_params_invariance, check_set_params, check_fit_check_is_fitted,
          check_n_features_in, check_dont_overwrite_parameters]  # fmt: skip


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("cls", [MLPClassifierCV, MLPRegressorCV])
def test_sklearn_basic_checks(cls, check):
    check(cls.__name__, cls(hidden_layer_sizes=(4,), max_iter=5, cv=2, random_state=0))


@pytest.mark.slow
@pytest.mark.parametrize("cls", [MLPClassifierCV, MLPRegressorCV])
def test_sklearn_estimator_checks_all_pass(cls):
    est = cls(hidden_layer_sizes=(16,), max_iter=200, random_state=0, cv=2,
              param_grid={"alpha": [1e-4, 1e-2]})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = check_estimator(est, on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []


@pytest.mark.parametrize("cls", [MLPClassifierCV, MLPRegressorCV])
def test_docstrings_document_every_parameter_and_attribute(cls):
    sections = numpydoc_sections(cls.__doc__)
    assert sections["Parameters"] == list(inspect.signature(cls).parameters)
    documented = set(sections["Attributes"])
    search = cls(**SMALL, param_grid={"alpha": [1e-4, 1e-2]}, cv=2)
    search.fit(X, Y_CLASSES if cls is MLPClassifierCV else Y_VALUES)
    public = {n for n in dir(search) if n.endswith("_") and not n.startswith("_")}
    assert {n for n in public if hasattr(search, n)} <= documented
    for name in ("fit", "predict", "score"):
        method = numpydoc_sections(getattr(cls, name).__doc__)
        assert method["Parameters"] == [p for p in inspect.signature(getattr(cls, name)).parameters
                                        if p != "self"]  # fmt: skip


@pytest.mark.slow
def test_the_docs_example_runs_and_prints_what_the_docs_show(tmp_path):
    """docs/guide/estimators.md's cross-validation example, as written, in a fresh interpreter."""
    docs = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide" / "estimators.md"
    section = docs.read_text().split("## Cross-validation in one stack")[1].split("\n## ")[0]
    code, shown = re.search(r"```python\n(.*?)```\s*```text\n(.*?)```", section, re.S).groups()
    run = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.stdout == shown
