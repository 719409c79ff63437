"""The 'lbfgs' solver: SciPy's L-BFGS-B on the whole data set, as scikit-learn runs it, each
evaluation a ``Trainer.gradients`` call (loss and gradients, L2 penalty included) at the
candidate weights."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np  # host side: SciPy optimizes a flat float64 vector
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from .. import backends
from ..training import Trainer
from . import _network as net


def minimize(
    trainer: Trainer,
    X: Any,
    T: Any,
    sample_weight: Any,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    *,
    max_iter: int,
    max_fun: int,
    tol: float,
) -> tuple[list[np.ndarray], list[np.ndarray], int, float]:
    """L-BFGS-B from ``coefs`` and ``intercepts`` (host arrays) on X, T and the sample
    weights (``trainer``'s backend; None: unweighted), the loss their weighted mean, with
    scikit-learn's options (``maxiter``, ``maxfun``, ``gtol``) and its ConvergenceWarning.
    Returns (coefs, intercepts, iterations, final loss), the weights in the dtype of the
    ones given."""
    shapes = [a.shape for a in coefs + intercepts]
    sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    half, dtype = len(coefs), coefs[0].dtype

    def unpack(x: np.ndarray) -> list[np.ndarray]:
        return [x[a:b].reshape(s) for a, b, s in zip(sizes[:-1], sizes[1:], shapes, strict=True)]

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        parts = unpack(x)
        params = net.to_params(trainer.backend, parts[:half], parts[half:], trainer.dtype)
        trainer.restore(trainer.state.replace(params=params))
        grads, loss = trainer.gradients(X, T, sample_weight=sample_weight)
        gc, gi = net.to_coefs(grads)
        flat = np.concatenate([g.ravel() for g in gc + gi]).astype(np.float64)
        return float(backends.to_host(loss)), flat

    x0 = np.concatenate([a.ravel() for a in coefs + intercepts]).astype(np.float64)
    result = scipy.optimize.minimize(
        loss_and_grad, x0, method="L-BFGS-B", jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )  # fmt: skip
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}): {result.message}. Increase the number of "
            "iterations (max_iter) or scale the data.", ConvergenceWarning, stacklevel=4,
        )  # fmt: skip
    parts = [p.astype(dtype) for p in unpack(result.x)]
    return parts[:half], parts[half:], min(int(result.nit), max_iter), float(result.fun)
