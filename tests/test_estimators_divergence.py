"""nnkit.estimators where training diverges: the same user-visible course as scikit-learn's
(since its fix for issue 29504): training goes on past a non-finite loss, NaN validation
scores reset the no-improvement count, early stopping restores the best weights, and
``fit`` raises only where the final weights are not finite."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from nnkit.estimators import MLPClassifier, MLPRegressor  # noqa: E402

X, Y = load_iris(return_X_y=True)
NON_FINITE = "Solver produced non-finite parameter weights"
# the issue's example: a linear network whose SGD steps blow up on the raw iris features
EXAMPLE = {"solver": "sgd", "learning_rate_init": 1, "early_stopping": True, "max_iter": 20,
           "activation": "identity"}  # fmt: skip


def _fit(cls, y, **params):
    """(fitted estimator, the ValueError it raised or None, its ConvergenceWarnings)."""
    est = cls(**params)
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
            error = None
        except ValueError as e:
            error = e
    return est, error, [w for w in caught if w.category is ConvergenceWarning]


def _same(mine, theirs):
    """The same values: NaN where theirs are NaN, inf where theirs are inf (same sign), the
    finite ones to rounding (float64, shuffle=False: the same steps)."""
    mine, theirs = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    assert mine.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(mine), np.isposinf(theirs))
    np.testing.assert_array_equal(np.isneginf(mine), np.isneginf(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(mine[finite], theirs[finite], rtol=1e-9, atol=1e-12)


def _compare(ours, theirs, y, losses=True, **params):
    """Fit both on iris (float64, shuffle=False, random_state=0) and compare what a user
    sees; returns both fits."""
    params = {"random_state": 0, "shuffle": False, **params}
    a, a_error, a_warned = _fit(ours, y, dtype="float64", **params)
    b, b_error, b_warned = _fit(theirs, y, **params)
    assert (a_error is None) == (b_error is None), (a_error, b_error)
    if b_error is not None:
        assert str(a_error) == str(b_error)
    assert len(a_warned) == len(b_warned)
    assert (a.n_iter_, a.t_) == (b.n_iter_, b.t_)
    if losses:
        _same(a.loss_curve_, b.loss_curve_)
    if b.validation_scores_ is None:
        assert a.validation_scores_ is None
    else:
        _same(a.validation_scores_, b.validation_scores_)
        _same(a.best_validation_score_, b.best_validation_score_)
    for mine, ref in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        _same(mine, ref)
    return a, b


def test_the_issues_example_goes_on_and_restores_the_best_weights():
    a, b = _compare(MLPRegressor, sk.MLPRegressor, Y, **EXAMPLE)
    assert a.n_iter_ == 20  # NaN scores reset the no-improvement count: to max_iter
    assert np.isnan(a.loss_curve_[-1]) and np.isnan(a.validation_scores_[-1])
    assert all(np.isfinite(c).all() for c in a.coefs_ + a.intercepts_)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-9)


def test_the_issues_example_as_given_fits_without_an_error():
    """Shuffled, no random_state: no error, every epoch run, the best (finite) weights."""
    est, error, warned = _fit(MLPRegressor, Y, **EXAMPLE)
    assert error is None and len(warned) == 1
    assert est.n_iter_ == 20 and np.isnan(est.validation_scores_).any()
    assert np.isfinite(est.predict(X)).all()


def test_without_early_stopping_it_raises_sklearns_error_at_the_end():
    params = {**EXAMPLE, "early_stopping": False}
    a, _ = _compare(MLPRegressor, sk.MLPRegressor, Y, **params)
    assert a.n_iter_ == 20 and np.isnan(a.coefs_[0]).all()
    with pytest.raises(ValueError, match=NON_FINITE), np.errstate(all="ignore"):
        with pytest.warns(ConvergenceWarning):  # shuffled, no random_state: as reported
            MLPRegressor(**params).fit(X, Y)


def test_an_overflowing_epoch_reads_inf_then_nan_as_in_sklearn():
    """tanh saturates: the loss overflows to inf for an epoch before the weights turn NaN."""
    a, _ = _compare(MLPRegressor, sk.MLPRegressor, Y, solver="sgd", learning_rate_init=1,
                    activation="tanh", batch_size=16, max_iter=20)  # fmt: skip
    assert np.isinf(a.loss_curve_).any() and np.isnan(a.loss_curve_[-1])


def test_an_infinite_loss_with_finite_weights_keeps_training():
    """Targets near 1e160: the squared error overflows while Adam's bounded steps keep the
    weights finite; scikit-learn trains on (losses inf) and so does nnkit, without error."""
    a, _ = _compare(MLPRegressor, sk.MLPRegressor, Y * 1e160, solver="adam",
                    learning_rate_init=10, batch_size=50, max_iter=20)  # fmt: skip
    assert np.isinf(a.loss_curve_).all() and a.n_iter_ == 20


@pytest.mark.parametrize("early_stopping", [True, False])
def test_a_diverging_classifier_follows_sklearn(early_stopping):
    """Its weights turn NaN; the validation accuracy (of the labels NaN outputs decode to)
    still counts, so early stopping stops as scikit-learn's does. scikit-learn's log-loss
    clips probabilities to [eps, 1 - eps] where nnkit's is exact, so the finite losses of
    such a run differ (the weights do not): only where they are NaN is compared."""
    a, b = _compare(MLPClassifier, sk.MLPClassifier, Y, losses=False, solver="sgd",
                    learning_rate_init=1e3, activation="identity", batch_size=16,
                    early_stopping=early_stopping, max_iter=20)  # fmt: skip
    np.testing.assert_array_equal(np.isnan(a.loss_curve_), np.isnan(b.loss_curve_))
    assert np.isnan(a.loss_curve_).any()
    if early_stopping:
        assert a.n_iter_ < 20 and np.isfinite(a.predict_proba(X)).all()


def test_partial_fit_raises_from_the_divergence_on_as_sklearn():
    outcomes, curves = [], []
    for est in (MLPRegressor(dtype="float64"), sk.MLPRegressor()):
        est.set_params(solver="sgd", learning_rate_init=1, activation="identity",
                       random_state=0, shuffle=False)  # fmt: skip
        calls = []
        for _ in range(8):
            try:
                with np.errstate(all="ignore"):
                    est.partial_fit(X, Y)
                calls.append("ok")
            except ValueError as e:
                calls.append(str(e))
        outcomes.append(calls)
        curves.append(est.loss_curve_)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:5] == ["ok"] * 5 and all(NON_FINITE in c for c in outcomes[0][5:])
    _same(*curves)
