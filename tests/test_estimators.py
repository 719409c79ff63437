"""nnkit.estimators: scikit-learn's own estimator checks, step-for-step agreement with
scikit-learn's MLPs, array API inputs (JAX), pickling, and the Trainer's L2 penalty behind
``alpha``."""

import os

# scikit-learn's array API checks need SciPy's array API support, switched on before SciPy
# is first imported (where another test module imported it first, sklearn only checks that
# the variable is set)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pickle
import pickletools
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnkit  # noqa: E402
from nnkit import backends, layers, losses, optim  # noqa: E402
from nnkit.estimators import MLPClassifier, MLPRegressor, expected_failed_checks  # noqa: E402

HAS_JAX = "jax" in backends.available()


@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor()], expected_failed_checks=expected_failed_checks
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_few_and_explained():
    for est in (MLPClassifier(), MLPRegressor()):
        failures = expected_failed_checks(est)
        assert len(failures) <= 3
        assert all(name.startswith("check_") and reason for name, reason in failures.items())


# ---- the same training as scikit-learn's, step for step (float64, fixed minibatch order) ----

RNG = np.random.RandomState(0)
X = RNG.randn(60, 5)
TARGETS = {
    "multiclass": RNG.randint(0, 3, 60),
    "binary": np.array(["no", "yes"])[RNG.randint(0, 2, 60)],
    "multilabel": RNG.randint(0, 2, (60, 3)),
    "regression": RNG.randn(60),
    "two outputs": RNG.randn(60, 2),
    "counts": RNG.poisson(2.0, 60).astype(float),
}
CASES = [
    ("multiclass", {}),
    ("binary", {"batch_size": 16}),
    ("multilabel", {"solver": "sgd", "batch_size": 16}),
    ("multiclass", {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.5,
                    "batch_size": 16}),
    ("multiclass", {"solver": "sgd", "learning_rate": "adaptive", "batch_size": 16,
                    "n_iter_no_change": 2, "tol": 0.5, "max_iter": 30}),
    ("multiclass", {"early_stopping": True, "max_iter": 20, "validation_fraction": 0.2}),
    ("binary", {"solver": "sgd", "early_stopping": True, "max_iter": 20,
                "validation_fraction": 0.2, "nesterovs_momentum": False}),
    ("regression", {"batch_size": 16, "alpha": 0.1}),
    ("two outputs", {"solver": "sgd", "batch_size": 16, "activation": "tanh", "momentum": 0.0}),
    ("counts", {"loss": "poisson"}),
    ("regression", {"solver": "lbfgs", "max_iter": 30}),
]  # fmt: skip


@pytest.mark.parametrize("target, params", CASES)
def test_training_matches_sklearn_step_for_step(target, params):
    """Same random_state: the same initial weights, validation split, losses, penalty,
    optimizer and per-epoch rules; in float64 with shuffle=False, the same numbers."""
    y = TARGETS[target]
    regress = target in ("regression", "two outputs", "counts")
    ours, theirs = (MLPRegressor, sk.MLPRegressor) if regress else (MLPClassifier, sk.MLPClassifier)
    params = {"hidden_layer_sizes": (7, 4), "max_iter": 5, "shuffle": False, "random_state": 1,
              **params}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = ours(dtype="float64", **params).fit(X, y)
        b = theirs(**params).fit(X, y)
    for mine, ref in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)
    assert (a.n_iter_, a.t_, a.n_layers_, a.n_outputs_, a.out_activation_) == (
        b.n_iter_, b.t_, b.n_layers_, b.n_outputs_, b.out_activation_
    )  # fmt: skip
    np.testing.assert_allclose(a.loss_, b.loss_, rtol=1e-9)
    if params.get("solver") != "lbfgs":
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
        if b.best_loss_ is None:
            assert a.best_loss_ is None
        else:
            assert a.best_loss_ == pytest.approx(b.best_loss_, rel=1e-9)
        assert a.validation_scores_ == b.validation_scores_
    np.testing.assert_allclose(
        a.predict(X) if regress else a.predict_proba(X),
        b.predict(X) if regress else b.predict_proba(X),
        rtol=1e-8,
    )


def test_digits_accuracy_close_to_sklearn():
    """Identical parameters on standardized digits: test accuracy within two points."""
    X_train, y_train, X_test, y_test = nnkit.datasets.digits()
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    params = {"hidden_layer_sizes": (64,), "max_iter": 60, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
        theirs = sk.MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    assert ours > 0.95
    assert abs(ours - theirs) <= 0.02


def test_pipeline_and_grid_search_on_string_labels():
    X_train, y_train, X_test, y_test = nnkit.datasets.digits(test_size=0.5)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])  # fmt: skip
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0)),
        {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)]}, cv=2,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, names[y_train])
    assert set(search.best_estimator_.classes_) == set(names)
    assert search.predict(X_test).dtype.kind == "U"
    assert search.score(X_test, names[y_test]) > 0.9


# ---- fit, partial_fit, warm_start ----


def test_partial_fit_counts_one_epoch_per_call_and_keeps_the_optimizer():
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, TARGETS["multiclass"])
    for _ in range(3):
        est.partial_fit(X, TARGETS["multiclass"], classes=[0, 1, 2])
    assert (est.n_iter_, est.t_, len(est.loss_curve_)) == (1, 180, 3)
    # three calls are three epochs of one Adam run: as one fit of three epochs
    whole = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=3, dtype="float64",
                          shuffle=False)  # fmt: skip
    parts = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, dtype="float64",
                          shuffle=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X, TARGETS["multiclass"])
    for _ in range(3):
        parts.partial_fit(X, TARGETS["multiclass"], classes=[0, 1, 2])
    np.testing.assert_allclose(parts.loss_curve_, whole.loss_curve_, rtol=1e-12)
    for a, b in zip(parts.coefs_, whole.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_partial_fit_refuses_early_stopping_and_lbfgs():
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, TARGETS["regression"])
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")


def test_warm_start_continues_from_the_fitted_weights():
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, TARGETS["regression"])
        first = [c.copy() for c in est.coefs_]
        est.fit(X, TARGETS["regression"])
    assert len(est.loss_curve_) == 6 and est.n_iter_ == 3 and est.t_ == 360
    assert not np.allclose(first[0], est.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used"):
        MLPClassifier(max_iter=2, warm_start=True).fit(X, TARGETS["multiclass"]).fit(
            X, TARGETS["binary"]
        )


def test_bad_parameters_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, TARGETS["multiclass"])
    with pytest.raises(ValueError, match="'solver' parameter"):
        MLPClassifier(solver="newton").fit(X, TARGETS["multiclass"])
    with pytest.raises(ValueError, match="strategy"):
        MLPClassifier(strategy="sideways", max_iter=1).fit(X, TARGETS["multiclass"])
    with pytest.raises(ValueError, match="y >= 0"):
        MLPRegressor(loss="poisson").fit(X, -np.ones(60))
    with pytest.raises(ValueError, match="non-finite"), np.errstate(all="ignore"):
        MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=50, random_state=0).fit(
            X, 1e6 * TARGETS["regression"]
        )


def test_per_sample_strategy_trains_as_batched():
    kwargs = {"hidden_layer_sizes": (6,), "max_iter": 3, "random_state": 0, "dtype": "float64",
              "batch_size": 8, "alpha": 0.5}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPRegressor(strategy="per_sample", **kwargs).fit(X, TARGETS["regression"])
        b = MLPRegressor(**kwargs).fit(X, TARGETS["regression"])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-9, atol=1e-12)


def test_verbose_prints_sklearns_progress_lines(capsys):
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0,
                       early_stopping=True, n_iter_no_change=1, tol=1e9)  # fmt: skip
    est.fit(X, TARGETS["regression"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert lines[1].startswith("Validation score: ")
    assert lines[-1].endswith("for 1 consecutive epochs. Stopping.")


def test_without_sklearn_the_import_error_names_the_extra():
    code = "import sys; sys.modules['sklearn'] = None; import nnkit.estimators"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "pip install 'nnkit[sklearn]'" in run.stderr


def test_import_nnkit_does_not_import_sklearn():
    code = "import sys, nnkit; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout  # fmt: skip
    assert out.strip() == "False"


# ---- backends: JAX training, array API inputs, pickling ----


def _globals(data: bytes) -> set[str]:
    """The modules a pickle refers to (GLOBAL / STACK_GLOBAL opcodes, and the strings pushed
    just before a STACK_GLOBAL)."""
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            found.add(strings[-2])
        elif op.name == "GLOBAL":
            found.add(arg.split()[0])
    return found


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_pickle_on_jax_holds_host_arrays_and_resumes_partial_fit():
    X32 = X.astype(np.float32)  # float32 X trains in float32: JAX's x64 mode stays off
    est = MLPClassifier(hidden_layer_sizes=(8,), backend="jax", random_state=0)
    for _ in range(2):
        est.partial_fit(X32, TARGETS["multiclass"], classes=[0, 1, 2])
    data = pickle.dumps(est)
    modules = _globals(data)
    assert not any(m.split(".")[0] in ("jax", "jaxlib") for m in modules), modules
    assert "nnkit.training.trainer" not in modules, modules
    copy = pickle.loads(data)
    assert all(type(c) is np.ndarray for c in copy.coefs_ + copy.intercepts_)
    np.testing.assert_array_equal(copy.predict_proba(X32), est.predict_proba(X32))
    est.partial_fit(X32, TARGETS["multiclass"])
    copy.partial_fit(X32, TARGETS["multiclass"])
    for a, b in zip(est.coefs_, copy.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "params",
    [{"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.1},
     {"solver": "sgd", "learning_rate": "adaptive", "n_iter_no_change": 1, "tol": 1e3},
     {"solver": "adam", "batch_size": 16}],
)  # fmt: skip
def test_partial_fit_continues_the_same_across_pickles_and_rate_changes(params):
    """The solver state (optimizer state, rate, data position, steps) is one object: kept
    live between calls, pickled as host arrays, taken over by a new Trainer where the
    learning rate changes; all three continue the same run."""
    kwargs = {"hidden_layer_sizes": (6,), "random_state": 0, **params}
    live, thawed = MLPRegressor(**kwargs), MLPRegressor(**kwargs)
    y = TARGETS["regression"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(4):
            live.partial_fit(X, y)
            thawed = pickle.loads(pickle.dumps(thawed.partial_fit(X, y)))
    assert "nnkit.training.trainer" not in _globals(pickle.dumps(live))
    np.testing.assert_array_equal(live.loss_curve_, thawed.loss_curve_)
    for a, b in zip(live.coefs_ + live.intercepts_, thawed.coefs_ + thawed.intercepts_):
        np.testing.assert_array_equal(a, b)


JAX_CHILD = textwrap.dedent(
    """
    import os, warnings
    os.environ["SCIPY_ARRAY_API"] = "1"
    import numpy as np, jax.numpy as jnp, sklearn
    from nnkit.training import Trainer
    from nnkit.estimators import MLPClassifier, MLPRegressor

    seen = []
    fit = Trainer.fit
    Trainer.fit = lambda self, *a, **k: seen.append(self.backend.name) or fit(self, *a, **k)
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = jnp.asarray(rng.randn(50, 4), dtype=jnp.float32)
    y = jnp.asarray(rng.randint(0, 3, 50))
    sklearn.set_config(array_api_dispatch=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, X[:, 0])
    outs = [clf.predict(X), clf.predict_proba(X), clf.predict_log_proba(X), reg.predict(X)]
    print([type(o).__module__.split(".")[0] for o in outs], [str(o.dtype) for o in outs])
    print(sorted(set(seen)), type(clf.coefs_[0]).__module__, type(clf.score(X, y)).__name__)
    try:
        clf.predict(np.asarray(X))
    except ValueError as e:
        print("refused:", "same namespace" in str(e))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_inputs_under_array_api_dispatch_train_on_jax():
    out = subprocess.run([sys.executable, "-c", JAX_CHILD], capture_output=True, text=True,
                         timeout=600, check=True).stdout.splitlines()  # fmt: skip
    assert out[-3] == "['jaxlib', 'jaxlib', 'jaxlib', 'jaxlib'] ['int32', 'float32', 'float32', " \
        "'float32']"  # fmt: skip
    assert out[-2] == "['jax'] numpy float"
    assert out[-1] == "refused: True"


# ---- the Trainer's L2 penalty (alpha) ----


def _net():
    return nnkit.Sequential([layers.Dense(3, 4), layers.Tanh(), layers.Dense(4, 2)])


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_trainer_l2_adds_sklearns_penalty_to_weights_only(backend, strategy, x64):
    rng = np.random.default_rng(0)
    Xs, Ys = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    kwargs = {"backend": backend, "strategy": strategy, "dtype": "float64"}
    plain = nnkit.Trainer(_net(), losses.MSE(), optim.SGD(0.1), **kwargs)
    l2 = nnkit.Trainer(_net(), losses.MSE(), optim.SGD(0.1), l2=0.3, **kwargs)
    (g0, v0), (g1, v1) = plain.gradients(Xs, Ys), l2.gradients(Xs, Ys)
    host = [{k: backend.to_numpy(a) for k, a in p.items()} for p in plain.params]
    squares = sum(float((p["W"] ** 2).sum()) for p in host if p)
    assert float(backend.to_numpy(v1)) == pytest.approx(
        float(backend.to_numpy(v0)) + 0.5 * 0.3 * squares / 7, rel=1e-12
    )
    for a, b, p in zip(g0, g1, host, strict=True):
        for name in a:
            extra = 0.3 * p[name] / 7 if name == "W" else 0.0
            np.testing.assert_allclose(
                backend.to_numpy(b[name]), backend.to_numpy(a[name]) + extra, rtol=1e-12
            )


def test_trainer_l2_zero_changes_nothing_and_negative_is_refused():
    rng = np.random.default_rng(1)
    Xs, Ys = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    runs = []
    for kwargs in ({}, {"l2": 0.0}):
        trainer = nnkit.Trainer(_net(), losses.MSE(), optim.Adam(), **kwargs)
        trainer.fit(Xs, Ys, epochs=3, batch_size=4, progress=False)
        runs.append(trainer.params)
    for a, b in zip(*runs, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    with pytest.raises(ValueError, match="l2"):
        nnkit.Trainer(_net(), losses.MSE(), optim.Adam(), l2=-1.0)


DEVICES_CHILD = textwrap.dedent(
    """
    import warnings
    import numpy as np
    from nnkit.estimators import MLPClassifier

    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X, y, w = rng.randn(101, 4), rng.randint(0, 3, 101), rng.uniform(0, 2, 101)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, backend="jax")
    two = MLPClassifier(devices=2, **kwargs).fit(X, y, sample_weight=w)  # "auto": 100
    one = MLPClassifier(batch_size=100, **kwargs).fit(X, y, sample_weight=w)
    print(max(float(np.abs(a - b).max()) for a, b in zip(two.coefs_, one.coefs_)))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_devices_train_data_parallel_as_on_one_device():
    """Sample weights too: they follow their rows onto the devices."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", DEVICES_CHILD], capture_output=True, text=True,
                         timeout=600, check=True, env=env).stdout  # fmt: skip
    assert float(out.splitlines()[-1]) < 1e-6


def test_ctrl_c_keeps_what_was_trained_with_sklearns_warning(monkeypatch):
    """Ctrl-C during training (here: after the second epoch) ends fit with scikit-learn's
    warning and the weights of the steps taken."""
    fit = nnkit.Trainer.fit

    def interrupted(self, *args, epochs=1, **kwargs):
        fit(self, *args, epochs=2, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(nnkit.Trainer, "fit", interrupted)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=10, random_state=0).fit(
            X, TARGETS["regression"]
        )
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    monkeypatch.setattr(nnkit.Trainer, "fit", fit)
    with pytest.warns(ConvergenceWarning):
        two = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(
            X, TARGETS["regression"]
        )
    for a, b in zip(est.coefs_ + est.intercepts_, two.coefs_ + two.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
