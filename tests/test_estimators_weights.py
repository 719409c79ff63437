"""nnkit.estimators with ``sample_weight``: scikit-learn's weighted fits step for step
(float64, shuffle=False) for every solver, output type, loss and with early stopping,
``partial_fit`` and ``score``; scikit-learn's checks of the weights, and nnkit's refusal of
negative ones."""

import itertools
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data,
)

from nnkit.estimators import MLPClassifier, MLPRegressor  # noqa: E402

RNG = np.random.RandomState(0)
X = RNG.randn(60, 5)
WEIGHTS = RNG.uniform(0.0, 3.0, 60)
WEIGHTS[::7] = 0.0  # some samples weigh nothing
TARGETS = {
    "multiclass": RNG.randint(0, 3, 60),
    "binary": np.array(["no", "yes"])[RNG.randint(0, 2, 60)],
    "multilabel": RNG.randint(0, 2, (60, 3)),
    "squared_error": RNG.randn(60),
    "poisson": RNG.poisson(2.0, 60).astype(float),
}
CASES = [
    (target, solver, early)
    for target, solver, early in itertools.product(TARGETS, ["adam", "sgd", "lbfgs"], [0, 1])
    if not (solver == "lbfgs" and early)
]


def _pair(target):
    if target in ("squared_error", "poisson"):
        return MLPRegressor, sk.MLPRegressor, {"loss": target}
    return MLPClassifier, sk.MLPClassifier, {}


def _output(est, regress):
    return est.predict(X) if regress else est.predict_proba(X)


@pytest.mark.parametrize("target, solver, early_stopping", CASES)
def test_weighted_training_matches_sklearn_step_for_step(target, solver, early_stopping):
    """Same random_state and weights: the same initial weights, validation split (its
    weights with it), weighted losses, L2 penalty over each minibatch's weight sum, steps
    and weighted validation scores."""
    ours, theirs, extra = _pair(target)
    params = {"hidden_layer_sizes": (7, 4), "max_iter": 8, "shuffle": False, "random_state": 1,
              "solver": solver, "batch_size": 16, "alpha": 0.01, "validation_fraction": 0.2,
              "early_stopping": bool(early_stopping), **extra}  # fmt: skip
    y = TARGETS[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = ours(dtype="float64", **params).fit(X, y, sample_weight=WEIGHTS)
        b = theirs(**params).fit(X, y, sample_weight=WEIGHTS)
    for mine, ref in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)
    assert (a.n_iter_, a.t_) == (b.n_iter_, b.t_)
    np.testing.assert_allclose(a.loss_, b.loss_, rtol=1e-12)
    if solver != "lbfgs":
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    if early_stopping:
        np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=1e-12)
    regress = ours is MLPRegressor
    np.testing.assert_allclose(_output(a, regress), _output(b, regress), rtol=0, atol=1e-12)
    # and the weights count: the unweighted fit is another one
    plain = ours(dtype="float64", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(X, y)
    assert not np.allclose(plain.coefs_[0], a.coefs_[0])


@pytest.mark.parametrize("target", ["multiclass", "squared_error"])
def test_weighted_partial_fit_matches_sklearn(target):
    ours, theirs, extra = _pair(target)
    params = {"hidden_layer_sizes": (6,), "shuffle": False, "random_state": 0,
              "batch_size": 16, **extra}  # fmt: skip
    classes = {"classes": [0, 1, 2]} if ours is MLPClassifier else {}
    a, b = ours(dtype="float64", **params), theirs(**params)
    for i in range(3):
        w = WEIGHTS if i % 2 else np.ones(60)
        for est in (a, b):
            est.partial_fit(X, TARGETS[target], sample_weight=w, **(classes if i == 0 else {}))
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    for mine, ref in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)


def test_score_weighs_the_samples_as_sklearns_metrics():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=5, random_state=0).fit(X, TARGETS["multiclass"])
        reg = MLPRegressor(max_iter=5, random_state=0).fit(X, TARGETS["squared_error"])
    y = TARGETS["multiclass"]
    assert clf.score(X, y, sample_weight=WEIGHTS) == accuracy_score(
        y, clf.predict(X), sample_weight=WEIGHTS
    )
    y = TARGETS["squared_error"]
    assert reg.score(X, y, sample_weight=WEIGHTS) == r2_score(
        y, reg.predict(X), sample_weight=WEIGHTS
    )


def test_a_number_weighs_every_sample_alike_as_in_sklearn():
    """A number c is every sample's weight: the loss is unchanged, the L2 penalty divided by
    c times the minibatch's rows."""
    params = {"hidden_layer_sizes": (5,), "max_iter": 4, "random_state": 0, "shuffle": False,
              "alpha": 0.5}  # fmt: skip
    y = TARGETS["squared_error"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPRegressor(**params).fit(X, y, sample_weight=2.5)
        b = MLPRegressor(**params).fit(X, y, sample_weight=np.full(60, 2.5))
        c = sk.MLPRegressor(**params).fit(X, y, sample_weight=2.5)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    np.testing.assert_allclose(a.coefs_[0], c.coefs_[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.loss_curve_, c.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize(
    "weights, message",
    [
        (-WEIGHTS, r"sample_weight must be >= 0: got 51 negative weight\(s\), the first "
                   r"-1\.195\d+ at index 1\. nnkit's Trainer"),
        (np.zeros(60), "Sample weights must contain at least one non-zero number"),
        (0.0, "Sample weights must contain at least one non-zero number"),
        (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)!"),
        (np.ones((60, 1)), "Sample weights must be 1D array or scalar, got 2D array"),
        (np.r_[np.nan, np.ones(59)], "Input sample_weight contains NaN"),
        (np.r_[np.inf, np.ones(59)], "Input sample_weight contains infinity"),
    ],
)  # fmt: skip
def test_bad_weights_are_refused_before_training(weights, message):
    for est, y in ((MLPClassifier(), TARGETS["multiclass"]),
                   (MLPRegressor(solver="lbfgs"), TARGETS["squared_error"])):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            est.fit(X, y, sample_weight=weights)
        assert not hasattr(est, "coefs_")


@pytest.mark.parametrize(
    "est",
    [MLPClassifier(solver="lbfgs"), MLPRegressor(solver="sgd", tol=1e-2, random_state=42)],
    ids=["classifier-lbfgs", "regressor-sgd"],
)
def test_integer_weights_equal_repeated_samples_as_sklearn_checks_them(est):
    """scikit-learn runs this check on its MLPs with these parameters (its test suite's
    PER_ESTIMATOR_CHECK_PARAMS); the default ones pass in parametrize_with_checks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_sample_weight_equivalence_on_dense_data(type(est).__name__, est)
