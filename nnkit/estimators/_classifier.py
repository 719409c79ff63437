"""MLPClassifier: scikit-learn's ``MLPClassifier``, trained by nnkit."""

from __future__ import annotations

from typing import Any

import numpy as np  # host side: scikit-learn's labels and scores
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from .. import backends
from . import _arrays as arrays
from ._base import BaseMLP, stochastic_only


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by nnkit.

    The same parameters, defaults, fitted attributes and methods as
    ``sklearn.neural_network.MLPClassifier``, and the same maths: the same initial weights
    for the same ``random_state``, softmax and cross-entropy for multiclass targets,
    logistic outputs and binary cross-entropy (summed over the labels) for binary and
    multilabel ones, the same L2 penalty, optimizers and per-epoch rules. nnkit's
    ``Trainer`` runs the training, on any nnkit backend, on one device or data-parallel
    over several (``backend``, ``strategy``, ``dtype``, ``devices``).

    Parameters
    ----------
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
        Hold out ``validation_fraction`` of the data (stratified) and stop when its
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs; the weights
        of the best epoch are kept. Stochastic solvers only; not with ``partial_fit``.
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
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        The class labels.
    loss_ : float
        The loss after the last epoch (or 'lbfgs' iteration), L2 penalty included.
    best_loss_ : float or None
        The lowest training loss of the stochastic solvers; None with early stopping.
    loss_curve_ : list of float
        The mean training loss of each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        The validation accuracy after each epoch with early stopping; else None.
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
        The output activation: 'softmax' (multiclass) or 'logistic'.

    See Also
    --------
    MLPRegressor : the regressor.
    sklearn.neural_network.MLPClassifier : scikit-learn's estimator, which this one mirrors.

    Notes
    -----
    Where a step's loss or weights overflow, training goes on as in scikit-learn: the
    losses and validation scores from then on are NaN (or inf), early stopping keeps the
    best weights seen, and ``fit`` raises ValueError only where the final weights are not
    finite. docs/guide/estimators.md lists the differences from scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from nnkit.estimators import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=1000,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict(X[:3]), round(clf.score(X, y), 2)
    (array([0, 0, 0]), 0.99)
    """

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
        dtype=None,
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train the network on X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (sparse matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The class labels, or a label indicator matrix for multilabel classification.
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Weights of the samples: each minibatch's loss (and L2 penalty) is their
            weighted mean, and early stopping's validation score is weighted too. Finite,
            >= 0 and not all 0; None weighs every sample 1.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            A parameter or input is invalid, or the solver produced non-finite weights.
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(stochastic_only)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """Train one epoch on X and y, continuing the solver's state of the previous call.

        Only for the stochastic solvers ('sgd', 'adam'), without early stopping.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The class labels, or a label indicator matrix.
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Weights of the samples: each minibatch's loss (and L2 penalty) is their
            weighted mean. Finite, >= 0 and not all 0; None weighs every sample 1.
        classes : array-like of shape (n_classes,), default=None
            Every class of all calls, e.g. ``np.unique(y_all)``: required on the first call,
            may be left out afterwards; y need not hold them all.

        Returns
        -------
        self : MLPClassifier
            The updated estimator.
        """
        self._check_params()
        if _first_partial_fit(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(backends.to_host(y)).startswith("multilabel"):
                self._label_binarizer.fit(backends.to_host(y))
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

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

    def _score_output(self, out: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
        """The validation score of early stopping: accuracy of the outputs ``out``, weighted
        by ``w`` (or None)."""
        return float(accuracy_score(y, self._decode(out), sample_weight=w))

    def predict(self, X: Any) -> Any:
        """Predict the class labels of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The predicted labels, or a label indicator matrix for multilabel; under array
            API dispatch, numeric labels come in X's namespace and device.
        """
        out, X = self._forward(X, "predict")
        return arrays.labels_to_caller(self._decode(backends.to_host(out)), X)

    def predict_proba(self, X: Any) -> Any:
        """Probability estimates of each class for X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : array of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``, in X's dtype (and,
            under array API dispatch, namespace and device).
        """
        return self._proba(X, "predict_proba", log=False)

    def predict_log_proba(self, X: Any) -> Any:
        """Log of the probability estimates of each class for X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : array of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        return self._proba(X, "predict_log_proba", log=True)

    def _proba(self, X: Any, method: str, log: bool) -> Any:
        out, X = self._forward(X, method)
        xp = backends.get(backends.name_of(out)).xp
        if self.n_outputs_ == 1:
            out = xp.concat([1 - out, out], axis=1)
        return arrays.to_caller(xp.log(out) if log else out, X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against y (subset accuracy for multilabel).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The true labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            The (weighted) mean accuracy.
        """
        pred = backends.to_host(self.predict(X))
        weight = None if sample_weight is None else backends.to_host(sample_weight)
        return float(accuracy_score(backends.to_host(y), pred, sample_weight=weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _first_partial_fit(est: MLPClassifier, classes: Any) -> bool:
    """Whether this is the first ``partial_fit`` call (scikit-learn's rule): ``classes`` is
    required then, and sets ``classes_``; later it may be left out or must name the same
    classes. Raises ValueError otherwise."""
    fitted = getattr(est, "classes_", None)
    if classes is None:
        if fitted is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return False
    classes = unique_labels(backends.to_host(classes))
    if fitted is None:
        est.classes_ = classes
        return True
    if not np.array_equal(fitted, classes):
        raise ValueError(
            f"`classes={classes!r}` is not the same as on the last call to partial_fit, was: "
            f"{fitted!r}"
        )
    return False
