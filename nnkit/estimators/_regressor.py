"""MLPRegressor: scikit-learn's ``MLPRegressor``, trained by nnkit."""

from __future__ import annotations

from typing import Any

import numpy as np  # host side: scikit-learn's targets and scores
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from .. import backends
from . import _arrays as arrays
from ._base import BaseMLP, stochastic_only


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by nnkit.

    The same parameters, defaults, fitted attributes and methods as
    ``sklearn.neural_network.MLPRegressor``, and the same maths: the same initial weights
    for the same ``random_state``, an identity output and half squared error (or an exp
    output and half Poisson deviance), the same L2 penalty, optimizers and per-epoch rules.
    nnkit's ``Trainer`` runs the training, on any nnkit backend, on one device or
    data-parallel over several (``backend``, ``strategy``, ``dtype``, ``devices``).

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss: 'squared_error' (identity output, half the mean squared error) or
        'poisson' (exp output, half the Poisson deviance; y must be >= 0).
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers: 'identity' f(x) = x, 'logistic'
        f(x) = 1 / (1 + exp(-x)), 'tanh' f(x) = tanh(x), 'relu' f(x) = max(0, x).
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The weight optimizer: 'lbfgs' (SciPy's L-BFGS-B on the whole data set, good for
        small data sets), 'sgd' (stochastic gradient descent) or 'adam' (Kingma and Ba's
        stochastic optimizer, good for larger ones).
    alpha : float, default=0.0001
        Strength of the L2 penalty: each minibatch of n rows adds
        ``0.5 * alpha * sum(W**2) / n`` over the weights (not the biases) to its loss.
    batch_size : int or 'auto', default='auto'
        Rows per minibatch of the stochastic solvers; 'auto' is ``min(200, n_samples)``.
        With ``devices``, 'auto' is rounded down to a multiple of the device count. Not
        used by 'lbfgs'.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the step size ('sgd' only): 'constant' keeps ``learning_rate_init``;
        'invscaling' steps epoch e with ``learning_rate_init / (t + 1) ** power_t``, t the
        samples seen before it; 'adaptive' keeps it while the training loss (or validation
        score) improves and divides it by 5 after ``n_iter_no_change`` epochs without
        improvement by ``tol``, stopping once it falls below 1e-6.
    learning_rate_init : float, default=0.001
        The initial step size ('sgd' and 'adam').
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule ('sgd' only).
    max_iter : int, default=200
        Most epochs (stochastic solvers) or iterations ('lbfgs').
    shuffle : bool, default=True
        Whether each epoch visits the samples in a new random order (stochastic solvers).
        The orders are drawn by nnkit's generator from ``random_state``, not scikit-learn's.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the early-stopping split and the minibatch orders; an
        int makes fits repeatable.
    tol : float, default=1e-4
        Tolerance of the stopping rule: training stops (or 'adaptive' lowers the rate)
        after ``n_iter_no_change`` epochs in which the training loss did not fall, or the
        validation score did not rise, by at least ``tol``. For 'lbfgs', the gradient
        tolerance ``gtol``.
    verbose : bool or int, default=False
        Print the loss (and validation score) after each epoch, as scikit-learn does.
    warm_start : bool, default=False
        Whether ``fit`` starts from the weights of the previous fit instead of new ones.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1) (scikit-learn also takes 1.0).
    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum (where ``momentum`` > 0).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its R^2 score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; the weights of the best epoch
        are kept. Stochastic solvers only; not with ``partial_fit``.
    validation_fraction : float, default=0.1
        The share of the data held out for early stopping, in [0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's first-moment estimates, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's second-moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical stability term.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping (stochastic solvers).
    max_fun : int, default=15000
        Most loss evaluations of 'lbfgs'.
    backend : str, Backend or None, default=None
        Where to train: an nnkit backend name ("numpy", "jax", "torch", "cupy", ...) or
        ``Backend``. None: the backend that owns X (under scikit-learn's array API
        dispatch), else the default (``NNKIT_BACKEND``, or NumPy).
    strategy : {'batched', 'per_sample'}, default='batched'
        How the Trainer computes a minibatch's gradients: 'batched' (one forward and
        backward pass of the whole minibatch) or 'per_sample' (one row at a time, then
        averaged: the same gradients, slower).
    dtype : {None, 'float32', 'float64', 'bfloat16'}, default=None
        The training precision. None follows scikit-learn: X's float dtype (float32 X
        trains in float32, float64 X in float64), float64 for other X. 'float32' is the
        fast choice on GPUs; it refuses finite X values beyond float32's range instead of
        making them inf. 'bfloat16' is mixed precision (float32 weights; JAX). On JAX,
        float64 switches on JAX's x64 mode for the process.
    devices : int, sequence of devices or None, default=None
        Train data-parallel over several devices (JAX; see ``nnkit.Trainer``): each
        minibatch split over them, the gradients summed. None: one device.

    Attributes
    ----------
    loss_ : float
        The loss after the last epoch (or 'lbfgs' iteration), L2 penalty included.
    best_loss_ : float or None
        The lowest training loss of the stochastic solvers; None with early stopping.
    loss_curve_ : list of float
        The mean training loss of each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        The validation R^2 score after each epoch with early stopping (NaN where the
        predictions are not finite); else None.
    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without early stopping.
    t_ : int
        Training samples seen by the stochastic solvers over all epochs.
    coefs_ : list of ndarray of shape (n_in, n_out)
        The weights of each layer (NumPy, in the training dtype; float32 for 'bfloat16').
    intercepts_ : list of ndarray of shape (n_out,)
        The biases of each layer.
    n_features_in_ : int
        The number of features seen by ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The feature names seen by ``fit``, where X had string column names.
    n_iter_ : int
        Epochs run by the last ``fit`` (stochastic) or iterations of 'lbfgs'.
    n_layers_ : int
        The number of layers, input and output included.
    n_outputs_ : int
        The number of outputs.
    out_activation_ : str
        The output activation: 'identity' (squared error) or 'exp' (Poisson).

    See Also
    --------
    MLPClassifier : the classifier.
    sklearn.neural_network.MLPRegressor : scikit-learn's estimator, which this one mirrors.

    Notes
    -----
    Where a step's loss or weights overflow, training goes on as in scikit-learn: the
    losses and validation scores from then on are NaN (or inf), early stopping keeps the
    best weights seen, and ``fit`` raises ValueError only where the final weights are not
    finite. docs/guide/estimators.md lists the differences from scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from nnkit.estimators import MLPRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, X.ravel() ** 2).predict([[0.5]]).round(1)
    array([0.2])
    """

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
        dtype=None,
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train the network on X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (sparse matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (>= 0 for ``loss='poisson'``).
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Weights of the samples: each minibatch's loss (and L2 penalty) is their
            weighted mean, and early stopping's validation score is weighted too. Finite,
            >= 0 and not all 0; None weighs every sample 1.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            A parameter or input is invalid, or the solver produced non-finite weights.
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(stochastic_only)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train one epoch on X and y, continuing the solver's state of the previous call.

        Only for the stochastic solvers ('sgd', 'adam'), without early stopping.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Weights of the samples: each minibatch's loss (and L2 penalty) is their
            weighted mean. Finite, >= 0 and not all 0; None weighs every sample 1.

        Returns
        -------
        self : MLPRegressor
            The updated estimator.
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=True)

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

    def _score_output(self, out: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
        """The validation score of early stopping: R^2 of the outputs ``out`` weighted by
        ``w`` (or None), NaN where they are not finite (as scikit-learn scores them)."""
        pred = self._decode(out)
        if not np.isfinite(pred).all():
            return np.nan
        return float(r2_score(y, pred, sample_weight=w))

    def predict(self, X: Any) -> Any:
        """Predict the targets of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : array of shape (n_samples,) or (n_samples, n_outputs)
            The predictions, in X's dtype (and, under array API dispatch, namespace and
            device).
        """
        out, X = self._forward(X, "predict")
        if out.shape[1] == 1:
            out = out[:, 0]
        return arrays.to_caller(out, X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R^2 of ``predict(X)`` against y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The true targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        score : float
            R^2 (1 is a perfect fit; it can be negative).
        """
        pred = backends.to_host(self.predict(X))
        weight = None if sample_weight is None else backends.to_host(sample_weight)
        return float(r2_score(backends.to_host(y), pred, sample_weight=weight))
