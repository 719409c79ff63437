"""nnkit.estimators' own API: the docstrings ``help()`` shows, parameter validation without
scikit-learn's private helpers, ``partial_fit``'s classes, and no private scikit-learn name
anywhere in the package."""

import ast
import doctest
import inspect
import pathlib
import pydoc
import re
import warnings

import numpy as np
import pytest
from helpers import numpydoc_sections

pytest.importorskip("sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import nnkit.estimators  # noqa: E402
from nnkit.estimators import (  # noqa: E402
    MLPClassifier,
    MLPClassifierCV,
    MLPRegressor,
    MLPRegressorCV,
)

PACKAGE = pathlib.Path(nnkit.estimators.__file__).parent
RNG = np.random.RandomState(0)
X, Y_CLASSES, Y_VALUES = RNG.randn(40, 3), RNG.randint(0, 3, 40), RNG.randn(40)
METHODS = ["fit", "partial_fit", "predict", "predict_proba", "predict_log_proba", "score"]


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_the_class_docstring_documents_every_parameter_in_order(cls):
    documented = numpydoc_sections(cls.__doc__)["Parameters"]
    assert documented == list(inspect.signature(cls).parameters)
    text = pydoc.render_doc(cls)
    for name in ("dtype : {None, 'float32', 'float64', 'bfloat16'}", "backend :", "devices :"):
        assert name in text


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor, MLPClassifierCV, MLPRegressorCV])
def test_the_docstring_examples_run(cls):
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for test in doctest.DocTestFinder().find(cls, globs={}):
            runner.run(test)
    assert runner.tries >= 3 and runner.failures == 0


FITS = [
    {"solver": "adam", "early_stopping": True},
    {"solver": "sgd"},
    {"solver": "lbfgs"},
]


@pytest.mark.parametrize("cls, y", [(MLPClassifier, Y_CLASSES), (MLPRegressor, Y_VALUES)])
def test_the_class_docstring_documents_every_fitted_attribute(cls, y):
    documented = set(numpydoc_sections(cls.__doc__)["Attributes"])
    seen = set()
    for params in FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0, **params).fit(X, y)
        seen |= {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}
    assert seen <= documented, seen - documented
    # feature_names_in_ needs a data frame with string column names
    assert documented - seen == {"feature_names_in_"}


@pytest.mark.parametrize(
    "cls, method",
    [(cls, m) for cls in (MLPClassifier, MLPRegressor) for m in METHODS if hasattr(cls, m)],
)
def test_every_method_documents_its_parameters_and_what_it_returns(cls, method):
    fn = getattr(cls, method)
    sections = numpydoc_sections(fn.__doc__)
    expected = [p for p in inspect.signature(fn).parameters if p != "self"]
    assert sections["Parameters"] == expected
    assert len(sections["Returns"]) == 1


# ---- parameter validation: scikit-learn's messages, nnkit's own table ----

BAD_TYPE = type("BadType", (), {})()
BAD_VALUES = {
    "hidden_layer_sizes": 0,
    "activation": "softplus",
    "solver": "newton",
    "alpha": -1.0,
    "batch_size": 0,
    "learning_rate": "cyclic",
    "learning_rate_init": 0.0,
    "power_t": -0.5,
    "max_iter": 0,
    "shuffle": 1,
    "random_state": -1,
    "tol": -1e-4,
    "verbose": -1,
    "warm_start": "yes",
    "momentum": 1.0,
    "nesterovs_momentum": None,
    "early_stopping": 0,
    "validation_fraction": 1.0,
    "beta_1": 1.0,
    "beta_2": -0.1,
    "epsilon": 0.0,
    "n_iter_no_change": 0,
    "max_fun": 0,
    "loss": "huber",
    "backend": 3,
    "strategy": "sideways",
    "dtype": "float16",
}


def _params(cls):
    return [p for p in inspect.signature(cls).parameters if p != "devices"]


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_every_parameter_but_devices_is_validated_with_sklearns_message(cls):
    """As scikit-learn's check_param_validation: an object of no valid type, then a valid
    type's invalid value, each raising an error that is a ValueError and a TypeError and
    says what the parameter got and what it accepts. ``devices`` is the Trainer's to
    check (a count or a list of devices)."""
    y = Y_CLASSES if cls is MLPClassifier else Y_VALUES
    for name in _params(cls):
        for bad in (BAD_TYPE, BAD_VALUES[name]):
            with pytest.raises(ValueError) as raised:
                cls(**{name: bad}).fit(X, y)
            assert isinstance(raised.value, TypeError)
            pattern = rf"The '{name}' parameter of {cls.__name__} must be .* Got .* instead\."
            assert re.fullmatch(pattern, str(raised.value)), str(raised.value)


def test_the_message_lists_what_is_accepted():
    with pytest.raises(ValueError) as raised:
        MLPClassifier(solver="newton").fit(X, Y_CLASSES)
    assert str(raised.value) == (
        "The 'solver' parameter of MLPClassifier must be a str among {'adam', 'lbfgs', "
        "'sgd'}. Got 'newton' instead."
    )
    with pytest.raises(ValueError) as raised:
        MLPRegressor(n_iter_no_change=0.5).fit(X, Y_VALUES)
    assert str(raised.value) == (
        "The 'n_iter_no_change' parameter of MLPRegressor must be an int in the range "
        "[1, inf) or a float among {inf}. Got 0.5 instead."
    )
    with pytest.raises(TypeError, match="'dtype' parameter .* a str among {'bfloat16', "
                       "'float32', 'float64'} or None. Got 'float16'"):  # fmt: skip
        MLPRegressor(dtype="float16").fit(X, Y_VALUES)


def test_valid_values_of_other_types_pass():
    params = {"n_iter_no_change": np.inf, "max_iter": np.int64(2), "shuffle": np.bool_(False),
              "random_state": np.random.RandomState(0), "hidden_layer_sizes": np.array([3]),
              "alpha": 1, "verbose": 0, "momentum": 0.0}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(solver="sgd", **params).fit(X, Y_CLASSES)


def test_partial_fit_validates_before_it_looks_at_classes():
    with pytest.raises(ValueError, match="'max_iter' parameter"):
        MLPClassifier(max_iter=0).partial_fit(X, Y_CLASSES)


def test_partial_fit_needs_the_same_classes_on_every_call():
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, Y_CLASSES)
    est.partial_fit(X, Y_CLASSES, classes=[2, 0, 1])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    est.partial_fit(X, Y_CLASSES)
    est.partial_fit(X, Y_CLASSES, classes=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"classes=array\(\[0, 1, 2, 3\]\)` is not the same"):
        est.partial_fit(X, Y_CLASSES, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        est.partial_fit(X, Y_CLASSES + 1)


# ---- no private scikit-learn API ----


def _private_sklearn_uses(source):
    """(line, what) of every private scikit-learn name a module imports or reads: a module
    or name starting with "_" imported from sklearn, or an attribute starting with "_"
    (dunders aside) read from a name bound to something imported from sklearn."""
    tree, found, bound = ast.parse(source), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sklearn":
            for part in node.module.split("."):
                if part.startswith("_"):
                    found.append((node.lineno, node.module))
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append((node.lineno, alias.name))
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sklearn":
                    found += [(node.lineno, alias.name) for p in alias.name.split(".")
                              if p.startswith("_")]  # fmt: skip
                    bound.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            root, chain = node, []
            while isinstance(root, ast.Attribute):
                chain.append(root.attr)
                root = root.value
            private = [a for a in chain if a.startswith("_") and not a.endswith("__")]
            if isinstance(root, ast.Name) and root.id in bound and private:
                found.append((node.lineno, ".".join([root.id, *reversed(chain)])))
    return found


SKLEARN_PRIVATE_METHODS = {
    name
    for base in (BaseEstimator, ClassifierMixin, RegressorMixin)
    for name in dir(base)
    if name.startswith("_") and not name.endswith("__")
}


def test_the_checker_sees_private_uses():
    source = (
        "from sklearn.utils._param_validation import Interval\n"
        "from sklearn.utils.multiclass import _check_partial_fit_first_call\n"
        "import sklearn.utils._testing\n"
        "from sklearn.neural_network import MLPClassifier as Sk\n"
        "c = Sk._parameter_constraints\n"
    )
    assert [line for line, _ in _private_sklearn_uses(source)] == [1, 2, 3, 5]


def test_no_private_sklearn_name_in_the_package():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        source = path.read_text()
        assert _private_sklearn_uses(source) == [], path.name
        # nor a private method inherited from scikit-learn's base classes
        attributes = {n.attr for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)}
        assert not attributes & SKLEARN_PRIVATE_METHODS, (
            path.name,
            attributes & SKLEARN_PRIVATE_METHODS,
        )
