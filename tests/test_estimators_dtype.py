"""nnkit.estimators' training dtype: scikit-learn's rule by default (X's float dtype, float64
for anything else), "float32" on request with a clear refusal of values it cannot hold, and
float64 on JAX (x64 mode)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from nnkit import backends  # noqa: E402
from nnkit.estimators import MLPClassifier, MLPRegressor  # noqa: E402

RNG = np.random.RandomState(0)
X = RNG.randn(40, 3)
Y_CLASSES, Y_VALUES = RNG.randint(0, 3, 40), RNG.randn(40)
NON_FINITE = "Solver produced non-finite parameter weights"
SMALL = {"hidden_layer_sizes": (5,), "max_iter": 3, "random_state": 0}


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32, np.int64])
def test_the_default_trains_in_sklearns_dtype(x_dtype):
    Xd = (X * 3).astype(x_dtype)
    for ours, theirs, y in [(MLPRegressor, sk.MLPRegressor, Y_VALUES),
                            (MLPClassifier, sk.MLPClassifier, Y_CLASSES)]:  # fmt: skip
        a = _quiet_fit(ours(**SMALL), Xd, y)
        b = _quiet_fit(theirs(**SMALL), Xd, y)
        dtypes = [c.dtype for c in a.coefs_ + a.intercepts_]
        assert dtypes == [c.dtype for c in b.coefs_ + b.intercepts_]
        assert set(dtypes) == {np.dtype(np.float32 if x_dtype == np.float32 else np.float64)}
        out = a.predict(Xd) if ours is MLPRegressor else a.predict_proba(Xd)
        ref = b.predict(Xd) if ours is MLPRegressor else b.predict_proba(Xd)
        assert out.dtype == ref.dtype


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32])
def test_lbfgs_keeps_xs_dtype_too(x_dtype):
    """scikit-learn's lbfgs hands back SciPy's float64 vector whatever X's dtype (float64
    coefs_ for float32 X); nnkit's keeps the training dtype, X's."""
    est = _quiet_fit(MLPRegressor(solver="lbfgs", **SMALL), X.astype(x_dtype), Y_VALUES)
    assert {c.dtype for c in est.coefs_ + est.intercepts_} == {np.dtype(x_dtype)}
    assert est.predict(X.astype(x_dtype)).dtype == x_dtype


def test_float32_on_request_keeps_float32_weights():
    est = _quiet_fit(MLPRegressor(dtype="float32", **SMALL), X, Y_VALUES)
    assert {c.dtype for c in est.coefs_ + est.intercepts_} == {np.dtype(np.float32)}
    assert est.predict(X).dtype == np.float64  # predictions come in X's dtype


def test_float32_refuses_finite_values_beyond_its_range():
    big = X.copy()
    big[7, 2] = -2e300
    with pytest.raises(ValueError) as raised:
        MLPRegressor(dtype="float32").fit(big, Y_VALUES)
    message = str(raised.value)
    assert "X holds 1 finite value(s) too large for float32" in message
    assert "largest magnitude 2e+300, in row 7" in message
    assert "dtype='float32'" in message and "dtype=None" in message
    assert "NaN" not in message
    with pytest.raises(ValueError, match="y holds 40 finite value"):
        MLPRegressor(dtype="float32").fit(X, Y_VALUES * 1e300)
    # float32's largest value itself, and anything that rounds to it, is kept
    edge = X.copy()
    edge[0, 0] = 2.0**128 - 2.0**103 - 2.0**75
    with np.errstate(over="ignore"):
        _quiet_fit(MLPRegressor(dtype="float32", solver="lbfgs", **SMALL), edge, Y_VALUES)


def test_a_fitted_float32_estimator_refuses_them_in_predict_on_device_backends():
    if "torch" not in backends.available():
        pytest.skip("torch is not installed")
    est = _quiet_fit(MLPRegressor(backend="torch", **SMALL), X.astype(np.float32), Y_VALUES)
    big = X.copy()
    big[1, 1] = 1e39
    with pytest.raises(ValueError, match="Fit it on float64 X, or set dtype='float64'"):
        est.predict(big)
    assert est.predict(X).dtype == np.float64


def test_float64_values_near_its_maximum_give_sklearns_error():
    big = X.copy()
    big[5, 1] = 1.5e308
    for cls in (MLPRegressor, sk.MLPRegressor):
        with pytest.raises(ValueError, match=NON_FINITE), np.errstate(all="ignore"):
            _quiet_fit(cls(**SMALL), big, Y_VALUES)


@pytest.mark.skipif("jax" not in backends.available(), reason="jax is not installed")
def test_jax_trains_float32_x_in_float32_without_x64():
    est = _quiet_fit(MLPRegressor(backend="jax", **SMALL), X.astype(np.float32), Y_VALUES)
    assert est.coefs_[0].dtype == np.float32


@pytest.mark.x64
@pytest.mark.skipif("jax" not in backends.available(), reason="jax is not installed")
def test_jax_trains_float64_x_in_float64():
    params = {**SMALL, "shuffle": False, "batch_size": 16}
    on_jax = _quiet_fit(MLPRegressor(backend="jax", **params), X, Y_VALUES)
    on_numpy = _quiet_fit(MLPRegressor(**params), X, Y_VALUES)
    assert on_jax.coefs_[0].dtype == np.float64
    for a, b in zip(on_jax.coefs_ + on_jax.intercepts_, on_numpy.coefs_ + on_numpy.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_jax.predict(X), on_numpy.predict(X), rtol=1e-12)
