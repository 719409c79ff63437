"""What MLPClassifier and MLPRegressor share: ``fit``'s and ``partial_fit``'s core (the
solvers behind them), the training dtype, the forward pass of ``predict``.

The maths follow ``sklearn.neural_network``: the same initial weights for the same
``random_state``, the same losses, L2 penalty (``Trainer(l2=alpha)``), optimizers and
per-epoch rules. Fitted attributes are host NumPy arrays; the solver's state between calls
is one ``SolverState``.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np  # host side: scikit-learn's fitted attributes are NumPy arrays
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import backends
from ..losses import CrossEntropy, Loss
from ..training import Trainer
from . import _arrays as arrays
from . import _lbfgs as lbfgs
from . import _network as net
from . import _params as params
from . import _stochastic as stochastic
from ._epochs import EpochRules, Outcome
from ._losses import HalfPoissonDeviance, HalfSquaredError, SummedBinaryCrossEntropy
from ._solver_state import SolverState
from ._weights import check_sample_weight

STOCHASTIC = ("sgd", "adam")
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


class BaseMLP(BaseEstimator):
    """The shared core; the subclasses add target handling, ``predict`` and ``score``."""

    def _check_params(self) -> None:
        """Every constructor parameter against ``_params.CONSTRAINTS`` (InvalidParameterError,
        a ValueError and a TypeError, naming the first bad one)."""
        params.validate(type(self).__name__, self.get_params(deep=False))

    def _prepare(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Prepared:
        """What every fit starts from: X and y validated (y encoded), the sample weights
        checked, the training dtype, the layout, the random state and the backend; on a
        first pass the fitted state made afresh (``_initialize``: the initial weights)."""
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        X = arrays.densify(X)
        weights = check_sample_weight(sample_weight, X.shape[0])
        dtype = self._training_dtype(X, first_pass)
        self.n_outputs_ = Y.shape[1]
        units = (X.shape[1], *hidden, self.n_outputs_)
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, units, rng, dtype)
            self._fit_space = arrays.space(X) if arrays.dispatching() else None
        backend = arrays.training_backend(self.backend, X)
        return Prepared(X, Y, weights, dtype, units, rng, backend)

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> BaseMLP:
        fit = self._prepare(X, y, sample_weight, incremental)
        backend, units, dtype, rng = fit.backend, fit.units, fit.dtype, fit.rng
        Xb = self._data(backend, fit.X, dtype, "X")
        if self.solver == "lbfgs":
            trainer = self._new_trainer(backend, units, dtype, _seed(rng), 1.0)
            self.coefs_, self.intercepts_, self.n_iter_, self.loss_ = lbfgs.minimize(
                trainer, Xb, self._data(backend, self._targets(fit.Y), dtype, "y"),
                self._weights(backend, fit.weights, dtype), self.coefs_, self.intercepts_,
                max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol,
            )  # fmt: skip
        else:
            self._fit_stochastic(fit, Xb, incremental)
        self._check_finite()
        return self

    def _check_finite(self) -> None:
        """scikit-learn's ValueError where the fitted weights are not all finite."""
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError(NON_FINITE)

    def _training_dtype(self, X: Any, first_pass: bool) -> str:
        """``dtype``, or where it is None scikit-learn's rule: X's float dtype (validated X is
        float32 or float64), kept by later ``partial_fit`` and warm-started calls."""
        if self.dtype is not None:
            return self.dtype
        if first_pass:
            return arrays.float_name(X)
        return np.dtype(self.coefs_[0].dtype).name

    def _data(self, backend: backends.Backend, x: Any, dtype: str, name: str) -> Any:
        """Training data for a Trainer of ``dtype`` on ``backend`` (float data cast to its
        parameter dtype; finite values it cannot hold are refused): moved there once (its
        fits reuse it), or, data-parallel (``devices``), host data that the Trainer spreads
        itself."""
        cast = None
        if arrays.is_float(x):
            cast = np.dtype(net.host_dtype(dtype)).name
            arrays.check_representable(x, cast, name, self.dtype)
        if self.devices is None:
            return arrays.to_backend(backend, x, cast)
        return np.asarray(backends.to_host(x), dtype=cast)

    def _weights(self, backend: backends.Backend, w: np.ndarray | None, dtype: str) -> Any:
        """Checked sample weights (or None) as the Trainer takes them, as ``_data``."""
        return None if w is None else self._data(backend, w, dtype, "sample_weight")

    def _initialize(self, Y: np.ndarray, units: tuple[int, ...], rng: Any, dtype: str) -> None:
        """Fresh fitted state, as scikit-learn's ``_initialize``."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_, self.n_layers_ = Y.shape[1], len(units)
        self.out_activation_ = self._out_activation()
        self.coefs_, self.intercepts_ = net.init_coefs(
            units, self.activation, rng, net.host_dtype(dtype)
        )
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        self._solver: SolverState | None = None
        if self.solver in STOCHASTIC:
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_, self.validation_scores_, self.best_validation_score_ = (
                    np.inf, None, None,
                )  # fmt: skip

    def _loss(self) -> Loss:
        """The training loss for ``out_activation_`` (all take the last layer's raw z)."""
        if self.out_activation_ == "softmax":
            return CrossEntropy(from_logits=True)
        if self.out_activation_ == "logistic":
            return SummedBinaryCrossEntropy()
        if self.out_activation_ == "exp":
            return HalfPoissonDeviance()
        return HalfSquaredError()

    def _targets(self, Y: np.ndarray) -> np.ndarray:
        """Y (n, outputs) as the loss trains on it: class indices for softmax, else floats
        (cast by ``_data``)."""
        if self.out_activation_ == "softmax":
            return np.argmax(Y, axis=1).astype(np.int64)
        return Y.astype(np.float64)

    def _recipe(self, backend: backends.Backend, units: tuple[int, ...], dtype: str, lr: Any):
        """What a Trainer is built from: a kept one is reused only for the same recipe."""
        names = ("activation", "solver", "alpha", "momentum", "nesterovs_momentum", "beta_1",
                 "beta_2", "epsilon", "strategy", "devices")  # fmt: skip
        return (backend.name, units, dtype, lr, self.out_activation_,
                *(getattr(self, k) for k in names))  # fmt: skip

    def _new_trainer(
        self, backend: backends.Backend, units: tuple[int, ...], dtype: str, seed: int, lr: Any
    ) -> Trainer:
        """A Trainer of this estimator's network, loss, solver (learning rate ``lr``) and L2
        penalty, its parameters ``coefs_`` and ``intercepts_``."""
        kwargs: dict[str, Any] = {}
        if self.devices is not None:
            kwargs["devices"] = self.devices
        trainer = Trainer(
            net.build_model(units, self.activation), self._loss(),
            net.make_optimizer([self], lr), backend=backend, strategy=self.strategy, seed=seed,
            dtype=dtype, l2=float(self.alpha), **kwargs,
        )  # fmt: skip
        trainer.restore(trainer.state.replace(params=self._params(trainer)))
        return trainer

    def _params(self, trainer: Trainer) -> Any:
        """``coefs_`` and ``intercepts_`` as ``trainer``'s parameters."""
        return net.to_params(trainer.backend, self.coefs_, self.intercepts_, trainer.dtype)

    def _fit_stochastic(self, fit: Prepared, Xb: Any, incremental: bool) -> None:
        """Epochs of minibatch steps (``_stochastic.run``) on ``Xb`` (fit.X on the backend)
        with scikit-learn's per-epoch rules (``EpochRules``), from the kept ``SolverState``
        in ``partial_fit``; keeps the new one."""
        backend, units, dtype = fit.backend, fit.units, fit.dtype
        plan = self._plan(fit, incremental)
        X, Y, w, val = Xb, fit.Y, fit.weights, None
        if plan.held is not None:
            val = self._validation(Xb, Y, w, plan.held)
            X, Y, w = arrays.take_rows(Xb, plan.train), Y[plan.train], _rows(w, plan.train)
        trainer, rate = self._stochastic_trainer(backend, units, dtype, plan, incremental)
        forward = net.forward_fn(backend.name, units, self.activation, self.out_activation_, dtype)
        rules = EpochRules(self, plan.n, val, forward, rate)

        def renew(old: Trainer, lr: float) -> Trainer:
            state = SolverState.of(old, lr, ())
            return state.on(self._new_trainer(backend, units, dtype, old.seed, lr), old.params)

        self.n_iter_ = 0
        T = self._data(backend, self._targets(Y), dtype, "y")
        trainer, outcome = stochastic.run(
            trainer, X, T, self._weights(backend, w, dtype), rules=rules, renew=renew,
            epochs=1 if incremental else self.max_iter, batch_size=plan.batch_size,
            shuffle=self.shuffle,
        )  # fmt: skip
        if not incremental:
            self._warn_unconverged(outcome)
        recipe = self._recipe(backend, units, dtype, trainer.optimizer.lr)
        self._solver = SolverState.of(trainer, rules.learning_rate, recipe)
        self._keep_weights(trainer.params)

    def _plan(self, fit: Prepared, incremental: bool) -> Plan:
        """How a stochastic fit of ``fit`` trains (the early-stopping split, then the
        Trainer's seed, drawn from ``fit.rng`` in scikit-learn's order)."""
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        train = held = None
        n = fit.X.shape[0]
        if self.early_stopping:
            train, held = self._split_rows(fit.Y, fit.rng)
            n = train.shape[0]
        batch_size = self._batch_size(fit.backend, n)
        return Plan(train, held, n, batch_size, _seed(fit.rng))

    def _warn_unconverged(self, outcome: Outcome) -> None:
        """scikit-learn's ConvergenceWarning after a ``fit`` that ran ``max_iter`` epochs
        without its stopping rule ending it."""
        if outcome is not Outcome.STOP and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5,
            )  # fmt: skip

    def _keep_weights(self, params: Any) -> None:
        """``coefs_`` and ``intercepts_`` at a stochastic fit's end: the best epoch's with
        early stopping, else those of ``params`` (the last step's)."""
        if self.early_stopping:
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts
        else:
            self.coefs_, self.intercepts_ = net.to_coefs(params)

    def _batch_size(self, backend: backends.Backend, n: int) -> int:
        """scikit-learn's batch size: min(200, n) for "auto" (data-parallel: rounded down to a
        multiple of the device count, as the Trainer needs), else ``batch_size`` clipped to
        [1, n] with its warning."""
        if self.batch_size == "auto":
            batch_size = min(200, n)
            if self.devices is not None:
                count = backend.on(self.devices).device_count
                batch_size = max(count, batch_size - batch_size % count)
            return batch_size
        if self.batch_size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped", stacklevel=5,
            )  # fmt: skip
        return int(np.clip(self.batch_size, 1, n))

    def _schedule(self, n: int, batch_size: int) -> float | net.InvScaling:
        """The learning rate of a ``fit``: ``learning_rate_init``, or for 'sgd' with
        'invscaling' the schedule over its steps (n samples a epoch)."""
        rate = float(self.learning_rate_init)
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            per_epoch = -(-n // batch_size)
            return net.InvScaling(rate, float(self.power_t), self.t_, float(n), per_epoch)
        return rate

    def _stochastic_trainer(self, backend, units, dtype, plan: Plan, incremental: bool):
        """(trainer, the first epoch's learning rate). ``fit``: a new Trainer with a fresh
        optimizer, as scikit-learn makes a new one per fit. ``partial_fit``: the kept
        ``SolverState``'s Trainer where its recipe is unchanged, else a new one that takes
        over its optimizer state and data order (also after unpickling)."""
        state = getattr(self, "_solver", None)
        if not incremental or state is None:
            rate = float(self.learning_rate_init)
            lr = rate if incremental else self._schedule(plan.n, plan.batch_size)
            return self._new_trainer(backend, units, dtype, plan.seed, lr), rate
        rate = state.learning_rate
        trainer = state.live(self._recipe(backend, units, dtype, rate))
        if trainer is None:
            return state.on(self._new_trainer(backend, units, dtype, state.seed, rate)), rate
        trainer.restore(trainer.state.replace(params=self._params(trainer)))
        return trainer, rate

    def _split_rows(self, Y: np.ndarray, rng: Any) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's early-stopping split of the rows of Y (n, outputs), stratified for
        single-output classifiers: (train rows, validation rows), the same rows for the same
        random state."""
        stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
        train, held = train_test_split(
            np.arange(Y.shape[0]), random_state=rng, test_size=self.validation_fraction,
            stratify=stratify,
        )  # fmt: skip
        if held.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        return train, held

    def _validation(self, X: Any, Y: np.ndarray, w: np.ndarray | None, held: np.ndarray):
        """Early stopping's validation data, rows ``held`` of X, Y and the sample weights w
        (or None): (X_val, y_val as ``score`` wants it, w_val)."""
        return arrays.take_rows(X, held), self._decode(Y[held]), _rows(w, held)

    def _forward(self, X: Any, method: str) -> tuple[Any, Any]:
        """(output, X): the network's output (after ``out_activation_``) for validated X, an
        array of the backend that computed it, and X as validated.

        Computed in the training dtype, except float64 X on a host backend (NumPy): then in
        float64, as scikit-learn computes in X's dtype (a row's result then no longer
        depends, by a float32 rounding, on how many rows come with it)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=arrays.float_dtypes(X)
        )
        arrays.check_same_space(X, getattr(self, "_fit_space", None), self, method)
        X = arrays.densify(X)
        backend = arrays.training_backend(self.backend, X)
        trained = self.dtype or np.dtype(self.coefs_[0].dtype).name
        wide = backend.is_host and arrays.owner(X) is None and X.dtype == np.float64
        dtype = "float64" if wide else trained
        cast = np.dtype(net.host_dtype(dtype)).name
        arrays.check_representable(X, cast, "X", self.dtype)
        Xb = arrays.to_backend(backend, X, cast)
        params_ = net.to_params(backend, self.coefs_, self.intercepts_, dtype)
        units = (self.coefs_[0].shape[0], *(c.shape[1] for c in self.coefs_))
        forward = net.forward_fn(backend.name, units, self.activation, self.out_activation_, dtype)
        return forward(params_, Xb), X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags


def _seed(rng: np.random.RandomState) -> int:
    """A Trainer seed (its minibatch orders) drawn from the estimator's random state."""
    return int(rng.randint(np.iinfo(np.int32).max))


def _rows(w: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """Rows ``rows`` of host sample weights w; None stays None."""
    return None if w is None else w[rows]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What ``_prepare`` gives a fit: validated X (dense) and encoded targets Y (n, outputs),
    the checked sample weights (or None), the training dtype, the layer sizes ``units``, the
    estimator's random state (its draws go on from here) and the backend."""

    X: Any
    Y: np.ndarray
    weights: np.ndarray | None
    dtype: str
    units: tuple[int, ...]
    rng: np.random.RandomState
    backend: backends.Backend


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a stochastic fit trains: on rows ``train`` of its data (None: all), early
    stopping's validation rows ``held`` (or None), n training rows a epoch in minibatches of
    ``batch_size``, each epoch's order drawn from ``seed``."""

    train: np.ndarray | None
    held: np.ndarray | None
    n: int
    batch_size: int
    seed: int


def stochastic_only(est: BaseMLP) -> bool:
    """``available_if``'s test of ``partial_fit``: True for the stochastic solvers, else
    AttributeError (scikit-learn's message)."""
    if est.solver not in STOCHASTIC:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
            "stochastic."
        )
    return True
