"""Trainer: minibatch training with the per-sample or the batched (design-matrix) strategy."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np  # host-side: minibatch order comes from NumPy's generator

from . import backends, validation
from . import fused as fused_module
from ._ns import namespace
from .data import batch_order, one_hot
from .history import History
from .losses import CrossEntropy, Loss
from .metrics import accuracy
from .model import Sequential
from .optim import Optimizer
from .tree import tree_map


class Trainer:
    """Trains ``model`` on ``loss`` with ``optimizer``; owns ``params`` and ``opt_state``.

    ``strategy="batched"``: one forward/backward of the whole minibatch (Y = X @ W + b).
    ``strategy="per_sample"``: the lecture's loop, one row at a time, gradients
    averaged over the minibatch before the step. Both give the same gradients.
    """

    def __init__(
        self,
        model: Sequential,
        loss: Loss,
        optimizer: Optimizer,
        *,
        backend: str | backends.Backend | None = None,
        strategy: str = "batched",
        seed: int = 0,
        dtype: str = "float32",
    ):
        validation.check_choice("strategy", strategy, validation.STRATEGIES)
        validation.check_choice("dtype", dtype, backends.FLOAT_DTYPES)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.backend = backends.get(backend)
        self.strategy, self.seed, self.dtype = strategy, seed, dtype
        self.params = model.init(seed=seed, backend=self.backend, dtype=dtype)
        self.opt_state = optimizer.init(self.params)
        self.steps_done = 0
        self._rng = np.random.default_rng([seed, 1])  # minibatch order, apart from the weights'
        jit = self.backend.jit
        self._batched_step = jit(self._batched_step_fn, donate_argnums=(0, 1))
        self._sample_grads = jit(self._sample_grads_fn)
        self._apply = jit(self.optimizer.step, donate_argnums=(0, 2))
        self._predict = jit(self.model.predict)
        self._fused_epoch = None  # built on the first fit(fused=True)
        self._copy = jit(
            lambda tree: tree_map(lambda a: self.backend.xp.asarray(a, copy=True), tree)
        )

    # -- the maths of one step ------------------------------------------------

    def _batched_step_fn(self, params, opt_state, X, T):
        Y, cache = self.model.forward(params, X)
        _, grads = self.model.backward(params, cache, self.loss.grad(Y, T))
        params, opt_state = self.optimizer.step(params, grads, opt_state)
        return params, opt_state, self.loss(Y, T)

    def _sample_grads_fn(self, params, x, t):
        y, cache = self.model.forward(params, x)
        _, grads = self.model.backward(params, cache, self.loss.grad(y, t))
        return grads, self.loss(y, t)

    def _per_sample_grads(self, params, X, T):
        """The lecture's loop: one row at a time, gradients summed, then averaged."""
        n = X.shape[0]
        grads, total = self._sample_grads(params, X[0:1, ...], T[0:1, ...])
        for i in range(1, n):
            g, loss = self._sample_grads(params, X[i : i + 1, ...], T[i : i + 1, ...])
            grads = tree_map(lambda a, b: a + b, grads, g)
            total = total + loss
        return tree_map(lambda a: a / n, grads), total / n

    def _per_sample_step(self, params, opt_state, X, T):
        grads, loss = self._per_sample_grads(params, X, T)
        params, opt_state = self._apply(params, grads, opt_state)
        return params, opt_state, loss

    def gradients(self, X: Any, Y: Any) -> tuple[list[dict], Any]:
        """(grads, loss) of one minibatch with this trainer's strategy; parameters unchanged."""
        X, T = self._inputs(X, Y)
        if self.strategy == "batched":
            return self._sample_grads(self.params, X, T)
        return self._per_sample_grads(self.params, X, T)

    # -- data -------------------------------------------------------------------

    def _inputs(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """X (n, in) in the trainer's dtype, and Y as the loss wants it, both on the backend."""
        X = validation.to_backend(self.backend, X, "X", dtype=self.dtype)
        validation.check_features(X, self.model.in_features)
        T = validation.to_backend(self.backend, Y, "Y")
        validation.check_same_length(X, T)
        k = self.model.out_features
        if T.ndim == 1 and not isinstance(self.loss, CrossEntropy):
            if _is_integer(T) and k is not None and k > 1:
                T = one_hot(T, k, dtype=X.dtype)  # MSE/BCE against one-hot targets
            else:
                T = T[:, None]
        if (T.ndim == 2 or not _is_integer(T)) and T.dtype != X.dtype:
            T = self.backend.xp.astype(T, X.dtype)
        return X, T

    # -- public API ---------------------------------------------------------------

    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        batch_size: int = 64,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        progress: bool | None = None,
        fused: bool = False,
    ) -> History:
        """Train for ``epochs`` passes or ``steps`` minibatches (default: one epoch).

        Each epoch visits the samples in an order drawn on the host from ``seed``;
        the last minibatch of an epoch may be smaller. Returns one History record per epoch.
        ``fused=True`` (strategy "batched" on a backend with ``can_scan``, i.e. JAX) runs the
        full minibatches of each epoch in one compiled ``scan`` and the smaller last one as
        usual: the same updates in the same order, one dispatch per epoch.
        """
        if epochs is not None and steps is not None:
            raise validation.InvalidValueError("give epochs or steps, not both")
        batch_size = validation.check_positive_int("batch_size", batch_size)
        X, T = self._inputs(X, Y)
        n = X.shape[0]
        if steps is None:
            steps = validation.check_positive_int("epochs", 1 if epochs is None else epochs)
            steps *= math.ceil(n / batch_size)
        steps = validation.check_positive_int("steps", steps)
        if fused:
            fused_module.check_fusable(self.backend, self.strategy)
            self._fused_epoch = self._fused_epoch or fused_module.FusedEpoch(
                self._batched_step_fn, self.backend
            )
        step_fn = self._batched_step if self.strategy == "batched" else self._per_sample_step
        xp, history, remaining = self.backend.xp, History(), steps
        # fit works on its own copy: the jitted step may donate (consume) its inputs
        params = self._copy(self.params)  # one compiled call on JAX
        opt_state = self.opt_state
        while remaining:
            start_time = time.perf_counter()
            Xe, Te = X, T  # shuffle=False: the data order itself, no copy
            if shuffle:
                order = self.backend.asarray(batch_order(self._rng, n, shuffle))
                Xe, Te = xp.take(X, order, axis=0), xp.take(T, order, axis=0)
            loss_sum, seen = 0.0, 0
            k = min(remaining, n // batch_size) if fused else 0  # full minibatches to fuse
            if k:
                params, opt_state, loss_sum = self._fused_epoch(
                    params, opt_state, Xe, Te, batch_size, k
                )
                self.params, self.opt_state = params, opt_state
                seen, remaining = k * batch_size, remaining - k
                self.steps_done += k
            for start in range(seen, n, batch_size):
                if not remaining:
                    break
                xb, tb = Xe[start : start + batch_size, ...], Te[start : start + batch_size, ...]
                params, opt_state, loss = step_fn(params, opt_state, xb, tb)
                loss_sum = loss_sum + loss * xb.shape[0]
                seen += xb.shape[0]
                self.params, self.opt_state = params, opt_state
                self.steps_done += 1
                remaining -= 1
            loss_value = float(self.backend.to_numpy(self.backend.sync(loss_sum))) / seen
            elapsed = time.perf_counter() - start_time
            record = {
                "epoch": len(history) + 1,
                "step": self.steps_done,
                "loss": loss_value,
                "samples_per_s": seen / elapsed,
                "time_s": elapsed,
            }
            if validation_data is not None:
                metrics = self.evaluate(*validation_data)
                record.update({f"val_{k}": v for k, v in metrics.items()})
            history.append(record)
        return history

    def predict(self, X: Any) -> Any:
        """Model output for X (batch, in) as an array of the trainer's backend."""
        X = validation.to_backend(self.backend, X, "X", dtype=self.dtype)
        validation.check_features(X, self.model.in_features)
        return self._predict(self.params, X)

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """``{"loss": ...}``, plus ``"accuracy"`` when Y holds class labels or one-hot rows."""
        Xb, T = self._inputs(X, Y)
        pred = self._predict(self.params, Xb)
        result = {"loss": float(self.backend.to_numpy(self.loss(pred, T)))}
        if _is_classification(T, pred):
            result["accuracy"] = accuracy(pred, T)
        return result


def _is_integer(x: Any) -> bool:
    return namespace(x).isdtype(x.dtype, "integral")


def _is_classification(T: Any, pred: Any) -> bool:
    """Integer labels, or one-hot rows (0/1, summing to 1) with more than one class."""
    if T.ndim == 1:
        return _is_integer(T)
    if T.shape[1] < 2 or pred.shape[1] != T.shape[1]:
        return False
    xp = namespace(T)
    one_hot_rows = xp.all((T == 0) | (T == 1)) & xp.all(xp.sum(T, axis=1) == 1)
    return bool(one_hot_rows)
