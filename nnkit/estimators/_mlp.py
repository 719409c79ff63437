"""MLPClassifier and MLPRegressor: scikit-learn's estimators, trained by nnkit's Trainer.

The maths follow ``sklearn.neural_network``: the same initial weights for the same
``random_state``, the same losses, L2 penalty (``Trainer(l2=alpha)``), optimizers and
per-epoch convergence rules (a Trainer callback). Fitted attributes are host NumPy arrays;
a fitted estimator keeps its Trainer only to continue ``partial_fit`` and pickles without it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np  # host side: scikit-learn's labels, scores and fitted attributes
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .. import backends
from ..losses import CrossEntropy, Loss
from ..training import NonFiniteLossError, Trainer
from ..training.callbacks import Callback
from . import _arrays as arrays
from . import _network as net
from ._losses import HalfPoissonDeviance, HalfSquaredError, SummedBinaryCrossEntropy

_STOCHASTIC = ("sgd", "adam")
_NNKIT_CONSTRAINTS: dict[str, list[Any] | str] = {
    "backend": [None, str, backends.Backend],
    "strategy": [str],
    "dtype": [str],
    "devices": "no_validation",
}


class _BaseMLP(BaseEstimator):
    """What both estimators share: ``fit``, ``partial_fit``'s core, the forward pass."""

    def _fit(self, X: Any, y: Any, incremental: bool) -> _BaseMLP:
        self._validate_params()
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        X = arrays.densify(X)
        self.n_outputs_ = Y.shape[1]
        units = (X.shape[1], *hidden, self.n_outputs_)
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, units, rng)
            self._fit_space = arrays.space(X) if arrays.dispatching() else None
        backend = arrays.training_backend(self.backend, X)
        Xb = self._data(backend, X, np.dtype(net.host_dtype(self.dtype)).name)
        if self.solver == "lbfgs":
            self._fit_lbfgs(backend, units, Xb, self._data(backend, self._targets(Y)), rng)
        else:
            self._fit_stochastic(backend, units, Xb, Y, rng, incremental)
        return self

    def _data(self, backend: backends.Backend, x: Any, dtype: str | None = None) -> Any:
        """Training data for a Trainer on ``backend``: moved there once (its fits reuse it),
        or, data-parallel (``devices``), host data that the Trainer spreads itself."""
        if self.devices is None:
            return arrays.to_backend(backend, x, dtype)
        return np.asarray(backends.to_host(x), dtype=dtype)

    def _initialize(self, Y: np.ndarray, units: tuple[int, ...], rng: Any) -> None:
        """Fresh fitted state, as scikit-learn's ``_initialize``."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_, self.n_layers_ = Y.shape[1], len(units)
        self.out_activation_ = self._out_activation()
        self.coefs_, self.intercepts_ = net.init_coefs(
            units, self.activation, rng, net.host_dtype(self.dtype)
        )
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        self.__dict__.pop("_trainer", None)
        self._solver_state = None
        if self.solver in _STOCHASTIC:
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
        """Y (n, outputs) as the loss trains on it: class indices for softmax, else floats."""
        if self.out_activation_ == "softmax":
            return np.argmax(Y, axis=1).astype(np.int64)
        return Y.astype(net.host_dtype(self.dtype))

    def _new_trainer(self, backend: backends.Backend, units: tuple[int, ...], seed: int, lr: Any):
        """A Trainer of this estimator's network, loss, solver (learning rate ``lr``) and L2
        penalty, its parameters ``coefs_`` and ``intercepts_``."""
        kwargs: dict[str, Any] = {}
        if self.devices is not None:
            kwargs["devices"] = self.devices
        trainer = Trainer(
            net.build_model(units, self.activation), self._loss(),
            net.make_optimizer(self, lr), backend=backend, strategy=self.strategy, seed=seed,
            dtype=self.dtype, l2=float(self.alpha), **kwargs,
        )  # fmt: skip
        self._put_params(trainer, self.coefs_, self.intercepts_)
        return trainer

    def _put_params(self, trainer: Trainer, coefs: list[Any], intercepts: list[Any]) -> None:
        """Make ``coefs`` (n_in, n_out) and ``intercepts`` (n_out,) per layer (host arrays)
        ``trainer``'s parameters, in ``dtype``."""
        params = net.to_params(trainer.backend, coefs, intercepts, self.dtype)
        trainer.restore(trainer.state.replace(params=params))

    def _fit_stochastic(self, backend, units, X, Y, rng, incremental: bool) -> None:
        """Epochs of minibatch steps through ``Trainer.fit``: one call runs them all, a
        callback applies scikit-learn's per-epoch rules (tol, n_iter_no_change, early
        stopping, learning-rate changes); a new learning rate ('adaptive', or 'invscaling'
        across ``partial_fit`` calls) starts a new Trainer that takes over the state."""
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        val = None
        if self.early_stopping:
            X, Y, val = self._split(X, Y, rng)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
            if self.devices is not None:  # a multiple of the device count, as the Trainer needs
                count = backend.on(self.devices).device_count
                batch_size = max(count, batch_size - batch_size % count)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going "
                    "to be clipped", stacklevel=4,
                )  # fmt: skip
            batch_size = int(np.clip(self.batch_size, 1, n))
        seed = int(rng.randint(np.iinfo(np.int32).max))
        trainer, lr = self._stochastic_trainer(backend, units, seed, n, batch_size, incremental)
        T = self._data(backend, self._targets(Y))
        epochs = _Epochs(self, n, val, backend, units)
        self.n_iter_, limit = 0, 1 if incremental else self.max_iter
        try:
            while True:
                epoch, offset = trainer.position  # each fit starts at an epoch's start
                position = (epoch + 1, 0) if offset else (epoch, 0)
                trainer.restore(trainer.state.replace(position=position))
                trainer.fit(X, T, epochs=limit - self.n_iter_, batch_size=batch_size,
                            shuffle=self.shuffle, progress=False, callbacks=[epochs])  # fmt: skip
                if not epochs.new_lr or self.n_iter_ >= limit:
                    break  # done; a new rate after partial_fit's epoch: the next call's
                epochs.new_lr, lr = False, self._learning_rate
                trainer = self._take_over(_resume(trainer), backend, units, lr, trainer.params)
        except NonFiniteLossError as e:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                f"large values and need to be preprocessed. ({e})"
            ) from e
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if not (epochs.stopped or incremental) and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4,
            )  # fmt: skip
        # kept for partial_fit, which continues it while the learning rate stays this float
        self._trainer = ((backend.name, units, lr if isinstance(lr, float) else None), trainer)
        if self.early_stopping:
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts
        else:
            self.coefs_, self.intercepts_ = net.to_coefs(trainer.params)

    def _stochastic_trainer(self, backend, units, seed, n, batch_size, incremental):
        """(trainer, its learning rate). ``fit``: a new Trainer with a fresh optimizer, as
        scikit-learn makes a new one per fit. ``partial_fit``: the last call's Trainer where
        the backend, layout and learning rate are unchanged, else a new one that takes over
        its optimizer state and data order (also after unpickling)."""
        cached = self.__dict__.get("_trainer")
        resume = _resume(cached[1]) if cached is not None else self._solver_state
        if not (incremental and resume is not None):
            self._learning_rate = float(self.learning_rate_init)
            lr: Any = self._learning_rate
            if self.solver == "sgd" and self.learning_rate == "invscaling" and not incremental:
                per_epoch = -(-n // batch_size)
                lr = net.InvScaling(lr, float(self.power_t), self.t_, n, per_epoch)
            return self._new_trainer(backend, units, seed, lr), lr
        lr = self._learning_rate
        if cached is not None and cached[0] == (backend.name, units, lr):
            self._put_params(cached[1], self.coefs_, self.intercepts_)
            return cached[1], lr
        return self._take_over(resume, backend, units, lr), lr

    def _take_over(
        self, resume: dict[str, Any], backend, units, lr: float, params: Any = None
    ) -> Trainer:
        """A Trainer with learning rate ``lr`` that continues from ``resume`` (``_resume``'s
        dict: optimizer state, seed, data position, steps) with ``params`` (the old
        Trainer's; None: ``coefs_`` and ``intercepts_``)."""
        trainer = self._new_trainer(backend, units, resume["seed"], lr)
        opt_state = resume["opt_state"]
        if resume["backend"] != backend.name:
            opt_state = net.to_host_tree(opt_state)
        state = trainer.state.replace(
            params=trainer.params if params is None else params,
            opt_state=net.to_backend_tree(trainer.backend, opt_state),
            steps_done=resume["steps_done"], position=tuple(resume["position"]),
        )  # fmt: skip
        trainer.restore(state)
        return trainer

    def _split(self, X: Any, Y: np.ndarray, rng: Any) -> tuple[Any, np.ndarray, tuple]:
        """scikit-learn's early-stopping split (the same rows for the same random state):
        (X_train, Y_train, (X_val, y_val)) with y_val as ``score`` wants it."""
        stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
        train, held = train_test_split(
            np.arange(X.shape[0]), random_state=rng, test_size=self.validation_fraction,
            stratify=stratify,
        )  # fmt: skip
        if held.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        y_val = self._decode(Y[held])
        return arrays.take_rows(X, train), Y[train], (arrays.take_rows(X, held), y_val)

    def _fit_lbfgs(self, backend, units, X, T, rng) -> None:
        """scipy's L-BFGS-B on the whole data: each evaluation is ``Trainer.gradients`` (loss
        and gradients, L2 penalty included) at the candidate parameters."""
        trainer = self._new_trainer(backend, units, int(rng.randint(np.iinfo(np.int32).max)), 1.0)
        shapes = [c.shape for c in self.coefs_] + [b.shape for b in self.intercepts_]
        sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

        def unpack(x: np.ndarray) -> list[np.ndarray]:
            return [
                x[a:b].reshape(s) for a, b, s in zip(sizes[:-1], sizes[1:], shapes, strict=True)
            ]

        def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            parts = unpack(x)
            half = len(self.coefs_)
            self._put_params(trainer, parts[:half], parts[half:])
            grads, loss = trainer.gradients(X, T)
            gc, gi = net.to_coefs(grads)
            return float(backends.to_host(loss)), np.concatenate(
                [g.ravel() for g in gc + gi]
            ).astype(np.float64)

        x0 = np.concatenate([a.ravel() for a in self.coefs_ + self.intercepts_])
        result = scipy.optimize.minimize(
            loss_and_grad, x0.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )  # fmt: skip
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iteration(s) "
                f"(status={result.status}): {result.message}. Increase the number of "
                "iterations (max_iter) or scale the data.", ConvergenceWarning, stacklevel=4,
            )  # fmt: skip
        self.n_iter_, self.loss_ = min(int(result.nit), self.max_iter), float(result.fun)
        parts = [p.astype(net.host_dtype(self.dtype)) for p in unpack(result.x)]
        if not all(np.isfinite(p).all() for p in parts):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )
        self.coefs_, self.intercepts_ = parts[: len(self.coefs_)], parts[len(self.coefs_) :]

    def _forward(self, X: Any, method: str) -> tuple[Any, Any]:
        """(output, X): the network's output (after ``out_activation_``) for validated X, an
        array of the backend that computed it, and X as validated.

        Computed in ``dtype``, except float64 X on a host backend (NumPy): then in float64,
        as scikit-learn computes in X's dtype (a row's result then no longer depends, by a
        float32 rounding, on how many rows come with it). Device backends keep ``dtype``
        (JAX would have to switch float64 on for the whole process)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=arrays.float_dtypes(X)
        )
        arrays.check_same_space(X, getattr(self, "_fit_space", None), self, method)
        X = arrays.densify(X)
        backend = arrays.training_backend(self.backend, X)
        wide = backend.is_host and arrays.owner(X) is None and X.dtype == np.float64
        dtype = "float64" if wide else self.dtype
        Xb = arrays.to_backend(backend, X, np.dtype(net.host_dtype(dtype)).name)
        params = net.to_params(backend, self.coefs_, self.intercepts_, dtype)
        units = (self.coefs_[0].shape[0], *(c.shape[1] for c in self.coefs_))
        forward = net.forward_fn(backend.name, units, self.activation, self.out_activation_, dtype)
        return forward(params, Xb), X

    def __getstate__(self) -> dict[str, Any]:
        """The pickled state: host NumPy arrays only. A kept Trainer (device arrays, compiled
        steps) is left out; its optimizer state goes as host arrays for ``partial_fit``."""
        state = dict(super().__getstate__())  # a copy: Python's is the live __dict__
        cached = state.pop("_trainer", None)
        if cached is not None:
            resume = _resume(cached[1])
            state["_solver_state"] = {
                **resume,
                "opt_state": net.to_host_tree(resume["opt_state"]),
                "backend": None,
            }
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags


def _resume(trainer: Trainer) -> dict[str, Any]:
    """What a new Trainer needs to continue ``trainer``'s optimizer and data order: its
    TrainState but the params (the estimator's ``coefs_`` hold those), seed and backend."""
    state = trainer.state
    return {
        "opt_state": state.opt_state, "backend": trainer.backend.name, "seed": trainer.seed,
        "position": state.position, "steps_done": state.steps_done,
    }  # fmt: skip


class _Epochs(Callback):
    """scikit-learn's end-of-epoch bookkeeping as a Trainer callback: ``n_iter_``, ``t_``,
    ``loss_curve_``, the no-improvement count (training loss, or validation score with early
    stopping), the learning-rate schedule, and the stop."""

    def __init__(self, est: _BaseMLP, n: int, val: tuple | None, backend, units):
        self.est, self.n, self.val, self.backend = est, n, val, backend
        self.forward = net.forward_fn(
            backend.name, units, est.activation, est.out_activation_, est.dtype
        )
        self.stopped = self.new_lr = False

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        est = self.est
        est.n_iter_ += 1
        est.loss_ = float(record["loss"])
        est.t_ += self.n
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count_no_improvement(trainer)
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            est._learning_rate = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if est.early_stopping else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")  # fmt: skip
            if (
                est.solver == "sgd"
                and est.learning_rate == "adaptive"
                and (est._learning_rate > 1e-6)
            ):
                est._learning_rate /= 5.0
                est._no_improvement_count = 0
                self.new_lr = trainer.stop_training = True
                if est.verbose:
                    print(f"{msg} Setting learning rate to {est._learning_rate:f}")
            else:
                self.stopped = trainer.stop_training = True
                if est.verbose:
                    small = est.solver == "sgd" and est.learning_rate == "adaptive"
                    print(msg + (" Learning rate too small." if small else "") + " Stopping.")

    def _count_no_improvement(self, trainer: Trainer) -> None:
        est = self.est
        if self.val is None:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
            return
        X_val, y_val = self.val
        out = self.backend.to_numpy(self.forward(trainer.params, X_val))
        score = est._score_output(out, y_val)
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_coefs, est._best_intercepts = net.to_coefs(trainer.params)


def _solver_is_stochastic(est: _BaseMLP) -> bool:
    if est.solver not in _STOCHASTIC:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
            "stochastic."
        )
    return True


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` trained by nnkit.

    Softmax cross-entropy for multiclass targets, logistic outputs and binary cross-entropy
    (summed over labels) for binary and multilabel ones. Parameters, attributes and methods
    are scikit-learn's (see its documentation); nnkit adds ``backend`` (None: the backend
    that owns X, else the default), ``strategy`` ("batched" or "per_sample"), ``dtype``
    ("float32", "float64", "bfloat16") and ``devices`` (data-parallel, see ``Trainer``).
    ``coefs_[i]`` is (n_in, n_out), ``intercepts_[i]`` (n_out,), NumPy, in ``dtype``.
    """

    _parameter_constraints: dict = {**_SkMLPClassifier._parameter_constraints, **_NNKIT_CONSTRAINTS}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        backend=None,
        strategy="batched",
        dtype="float32",
        devices=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.strategy = strategy
        self.dtype = dtype
        self.devices = devices

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on X (n_samples, n_features) and labels y (n_samples,), or a label indicator
        matrix (n_samples, n_labels) for multilabel; returns self."""
        return self._fit(X, y, incremental=False)

    @available_if(_solver_is_stochastic)
    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over X, y; ``classes`` (all labels) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(backends.to_host(y)).startswith("multilabel"):
                self._label_binarizer.fit(backends.to_host(y))
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=arrays.float_dtypes(X), reset=reset,
        )  # fmt: skip
        y = backends.to_host(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _out_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _decode(self, Y: np.ndarray) -> np.ndarray:
        """Labels of host outputs or indicator rows Y (n, n_outputs_)."""
        return self._label_binarizer.inverse_transform(Y.ravel() if self.n_outputs_ == 1 else Y)

    def _score_output(self, out: np.ndarray, y: np.ndarray) -> float:
        return float(accuracy_score(y, self._decode(out)))

    def predict(self, X: Any) -> Any:
        """Labels (n_samples,), or an indicator matrix (n_samples, n_labels) for multilabel."""
        out, X = self._forward(X, "predict")
        return arrays.labels_to_caller(self._decode(backends.to_host(out)), X)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (n_samples, n_classes), in the order of ``classes_``."""
        return self._proba(X, "predict_proba", log=False)

    def predict_log_proba(self, X: Any) -> Any:
        """log of ``predict_proba``: (n_samples, n_classes)."""
        return self._proba(X, "predict_log_proba", log=True)

    def _proba(self, X: Any, method: str, log: bool) -> Any:
        out, X = self._forward(X, method)
        xp = backends.get(backends.name_of(out)).xp
        if self.n_outputs_ == 1:
            out = xp.concat([1 - out, out], axis=1)
        return arrays.to_caller(xp.log(out) if log else out, X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against y (subset accuracy for multilabel)."""
        pred = backends.to_host(self.predict(X))
        weight = None if sample_weight is None else backends.to_host(sample_weight)
        return float(accuracy_score(backends.to_host(y), pred, sample_weight=weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` trained by nnkit.

    ``loss="squared_error"``: identity output, half squared error; ``"poisson"``: exp output,
    half Poisson deviance (y >= 0). Parameters, attributes and methods are scikit-learn's;
    nnkit adds ``backend``, ``strategy``, ``dtype`` and ``devices`` (see MLPClassifier).
    """

    _parameter_constraints: dict = {**_SkMLPRegressor._parameter_constraints, **_NNKIT_CONSTRAINTS}

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        backend=None,
        strategy="batched",
        dtype="float32",
        devices=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.strategy = strategy
        self.dtype = dtype
        self.devices = devices

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on X (n_samples, n_features) and targets y (n_samples,) or (n_samples,
        n_outputs); returns self."""
        return self._fit(X, y, incremental=False)

    @available_if(_solver_is_stochastic)
    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over X, y."""
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=arrays.float_dtypes(X), reset=reset,
        )  # fmt: skip
        y = backends.to_host(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs targets y >= 0.")
        return X, (y[:, None] if y.ndim == 1 else y).astype(np.float64)

    def _out_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _decode(self, Y: np.ndarray) -> np.ndarray:
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _score_output(self, out: np.ndarray, y: np.ndarray) -> float:
        pred = self._decode(out)
        if not np.isfinite(pred).all():
            return np.nan
        return float(r2_score(y, pred))

    def predict(self, X: Any) -> Any:
        """Predictions (n_samples,), or (n_samples, n_outputs) for several outputs."""
        out, X = self._forward(X, "predict")
        if out.shape[1] == 1:
            out = out[:, 0]
        return arrays.to_caller(out, X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of ``predict(X)`` against y."""
        pred = backends.to_host(self.predict(X))
        weight = None if sample_weight is None else backends.to_host(sample_weight)
        return float(r2_score(backends.to_host(y), pred, sample_weight=weight))
