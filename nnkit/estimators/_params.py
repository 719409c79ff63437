"""The estimators' constructor parameters: what each accepts, checked when ``fit`` or
``partial_fit`` starts (scikit-learn's convention: ``__init__`` only stores them).

A table of constraints per parameter and one function, ``validate``, that raises
``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``, as scikit-learn's error of
that name) with scikit-learn's wording: "The 'solver' parameter of MLPClassifier must be a
str among {'adam', 'lbfgs', 'sgd'}. Got 'newton' instead."
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np  # NumPy scalars and RandomState are valid parameter values

from .. import backends
from ..errors import InvalidTypeError, InvalidValueError
from ..training import STRATEGIES, precision


class InvalidParameterError(InvalidValueError, InvalidTypeError):
    """A constructor parameter has a type or value it does not accept; the message names the
    parameter, what it got and what it accepts."""


@dataclasses.dataclass(frozen=True)
class Among:
    """One of ``options`` (strings, or None)."""

    options: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        if value is None:
            return None in self.options
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        strings = sorted(o for o in self.options if isinstance(o, str))
        text = "a str among {" + ", ".join(repr(s) for s in strings) + "}"
        return text + (" or None" if None in self.options else "")


@dataclasses.dataclass(frozen=True)
class Range:
    """A number of ``kind`` (Integral or Real; never a bool) in [low, high], each end
    excluded where ``open_low`` / ``open_high`` say; None: unbounded. ``Real`` takes ints."""

    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        if isinstance(value, Real) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        if self.high is None:
            return True
        return value < self.high if self.open_high else value <= self.high

    def __str__(self) -> str:
        name = "an int" if self.kind is Integral else "a float"
        low = "-inf" if self.low is None else _number(self.low)
        high = "inf" if self.high is None else _number(self.high)
        left = "(" if self.open_low or self.low is None else "["
        right = ")" if self.open_high or self.high is None else "]"
        return f"{name} in the range {left}{low}, {high}{right}"


@dataclasses.dataclass(frozen=True)
class Kind:
    """An instance of one of ``types``, described as ``description``."""

    types: tuple[type, ...]
    description: str

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.description


@dataclasses.dataclass(frozen=True)
class Infinity:
    """math.inf (or numpy.inf): no limit."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Real) and not isinstance(value, bool) and value == math.inf

    def __str__(self) -> str:
        return "a float among {inf}"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """A sequence of layer sizes (list, tuple or 1-d array); their values are checked in
    ``fit``, as scikit-learn does."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) or (
            isinstance(value, np.ndarray) and value.ndim == 1
        )

    def __str__(self) -> str:
        return "an array-like"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


BOOLEAN = Kind((bool, np.bool_), "an instance of 'bool'")
NONE = Among((None,))
UNIT = Range(Real, 0, 1, open_high=True)  # [0, 1)
RANDOM_STATE = Kind((np.random.RandomState,), "an instance of 'numpy.random.RandomState'")

# every parameter of both estimators; "loss" is the regressor's only
CONSTRAINTS: dict[str, tuple[Any, ...]] = {
    "hidden_layer_sizes": (Sizes(), Range(Integral, 1)),
    "activation": (Among(("identity", "logistic", "tanh", "relu")),),
    "solver": (Among(("lbfgs", "sgd", "adam")),),
    "alpha": (Range(Real, 0),),
    "batch_size": (Among(("auto",)), Range(Integral, 1)),
    "learning_rate": (Among(("constant", "invscaling", "adaptive")),),
    "learning_rate_init": (Range(Real, 0, open_low=True),),
    "power_t": (Range(Real, 0),),
    "max_iter": (Range(Integral, 1),),
    "shuffle": (BOOLEAN,),
    "random_state": (NONE, Range(Integral, 0, 2**32 - 1), RANDOM_STATE),
    "tol": (Range(Real, 0),),
    "verbose": (BOOLEAN, Range(Integral, 0)),
    "warm_start": (BOOLEAN,),
    "momentum": (UNIT,),  # scikit-learn takes 1.0 too; nnkit's SGD needs momentum < 1
    "nesterovs_momentum": (BOOLEAN,),
    "early_stopping": (BOOLEAN,),
    "validation_fraction": (UNIT,),
    "beta_1": (UNIT,),
    "beta_2": (UNIT,),
    "epsilon": (Range(Real, 0, open_low=True),),
    "n_iter_no_change": (Range(Integral, 1), Infinity()),
    "max_fun": (Range(Integral, 1),),
    "loss": (Among(("squared_error", "poisson")),),
    "backend": (NONE, Kind((str, backends.Backend), "a backend name (str) or a Backend")),
    "strategy": (Among(tuple(STRATEGIES)),),
    "dtype": (Among((None, *precision.DTYPES)),),
    "devices": (),  # anything the Trainer takes (a count, a list of devices): it checks them
}


def validate(owner: str, params: Mapping[str, Any]) -> None:
    """Check every parameter in ``params`` (``get_params(deep=False)``) of the estimator
    class named ``owner`` against ``CONSTRAINTS``.

    Raises
    ------
    InvalidParameterError
        For the first parameter that no constraint accepts: "The 'name' parameter of owner
        must be <what it accepts>. Got <value> instead."
    """
    for name, value in params.items():
        constraints = CONSTRAINTS[name]
        if not constraints or any(c.accepts(value) for c in constraints):
            continue
        kinds = [str(c) for c in constraints]
        expected = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead."
        )
