"""Sweep: many models trained at once, as one stack of K models, one batched matmul per
layer (``(K, batch, in) @ (K, in, out)``), through the Trainer's own loop and steps.

K = optimizers x seeds x l2 values (optimizer slowest). Model k is the training run of
``Trainer(model, loss, optimizer_k, seed=seed_k, l2=l2_k)`` fitted alone with the same
arguments: its own initial weights (``model.init(seed=seed_k)``), its own minibatch order
(``data.epoch_order(seed_k, epoch)``: each model's rows are gathered for it), its own
hyperparameters (``optim.stacked``: one value per model where they differ). A model whose
loss or parameters turn NaN/inf stops updating and keeps its last finite parameters
(``divergence``); the others go on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from .. import backends, checks
from ..errors import InvalidTypeError, InvalidValueError
from ..losses import Loss
from ..model import Sequential
from ..optim import Optimizer, stacked
from ..stacks import unstack
from ..tree import tree_map
from . import precision
from . import steps as step_fns
from .divergence import StackGuard, StackState, frozen
from .fitter import Fitter
from .history import History
from .state import TrainState
from .trainer import Trainer


class Sweep(Fitter):
    """Trains every combination (optimizer, seed, l2) of ``model`` on ``loss`` as one stack.

    Parameters
    ----------
    model : Sequential
    loss : Loss
    optimizers : Optimizer or sequence of Optimizer
        One optimizer, or several of one class whose hyperparameters (numbers, a schedule's
        ``lr0``) differ.
    seeds : sequence of int
        The seeds of the initial weights and of the minibatch orders, as ``Trainer``'s
        ``seed``.
    l2 : float or sequence of float
        L2 penalties, as ``Trainer``'s ``l2``.
    backend, strategy, dtype, devices
        As for ``Trainer``; ``devices`` splits each minibatch's rows over the devices (JAX).

    Attributes
    ----------
    configs : list of dict
        Model k's optimizer (``"optimizer"``: its class name, then its hyperparameters),
        ``"seed"`` and ``"l2"``, in stack order: optimizers slowest, l2 fastest.
    params : list of dict
        The stacked parameters, every leaf (K, ...).
    history : History
        The last fit's records; ``loss``, ``val_loss`` and ``val_accuracy`` are lists of K
        values (NaN for a model from the epoch it diverged in).
    """

    guard_type = StackGuard

    def __init__(
        self,
        model: Sequential,
        loss: Loss,
        optimizers: Optimizer | Sequence[Optimizer],
        *,
        seeds: Sequence[int] = (0,),
        l2: float | Sequence[float] = 0.0,
        backend: str | backends.Backend | None = None,
        strategy: str = "batched",
        dtype: str = "float32",
        devices: Any = None,
    ):
        checks.check_instance("model", model, Sequential)
        checks.check_instance("loss", loss, Loss)
        checks.check_choice("strategy", strategy, step_fns.STRATEGIES)
        checks.check_choice("dtype", dtype, precision.DTYPES)
        self.optimizers = _optimizers(optimizers)
        if not checks.is_sequence(seeds):
            raise InvalidTypeError(
                f"seeds must be a sequence of ints >= 0 (e.g. range({seeds}) or [{seeds}]), "
                f"got {type(seeds).__name__} {seeds!r}"
            )
        seeds = checks.check_seeds(seeds)
        l2s = checks.per_model(checks.check_nonnegative, "l2", l2)
        l2s = l2s if isinstance(l2s, tuple) else (l2s,)
        grid = list(itertools.product(range(len(self.optimizers)), seeds, l2s))
        self._grid = grid  # (optimizer index, seed, l2) of each model
        self.configs = [
            {"optimizer": type(self.optimizers[i]).__name__, **vars(self.optimizers[i]),
             "seed": seed, "l2": penalty}
            for i, seed, penalty in grid
        ]  # fmt: skip
        penalties = tuple(penalty for _, _, penalty in grid)
        self._setup(
            model, loss, stacked([self.optimizers[i] for i, _, _ in grid]), backend=backend,
            strategy=strategy, seed=tuple(seed for _, seed, _ in grid), dtype=dtype,
            devices=devices, l2=penalties[0] if len(set(penalties)) == 1 else penalties,
        )  # fmt: skip

    @property
    def size(self) -> int:
        """K, the number of models in the stack."""
        return len(self._grid)

    def _opt_state(self, params: Any) -> StackState:
        k = self.size
        alive = self.backend.asarray([True] * k)
        steps = self.backend.asarray([0] * k, dtype="int32")
        return StackState(self.optimizer.init(params), alive, steps)

    def _update(self) -> step_fns.Update:
        return frozen(self.optimizer.step)

    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        batch_size: int = 64,
        shuffle: bool = True,
        validation_data: tuple[Any, ...] | None = None,
        progress: bool | None = None,
        callbacks: Sequence[Any] = (),
        sample_weight: Any = None,
    ) -> History:
        """Train every model for ``epochs`` passes or ``steps`` minibatches (default: one
        epoch) of X (n, in) and Y, as ``Trainer.fit`` trains one: model k draws its
        minibatches in its own seed's order. Returns the History, one record per epoch,
        ``loss`` (and ``val_loss``, ``val_accuracy`` with ``validation_data``) lists of K
        values; ``samples_per_s`` counts the rows of one model (times K: model-samples/s).

        A model whose loss or updated parameters turn NaN/inf stops updating from that step
        (its last finite parameters and optimizer state kept, its loss NaN from then on) and
        is marked diverged in ``results()``; the others go on. ``fit`` raises
        ``NonFiniteLossError`` (a ``divergence.DivergedError``) only when every model has
        diverged. ``callbacks`` are called with the Sweep in the Trainer's place; setting
        ``sweep.stop_training`` ends the fit. On JAX the fit runs as one compiled program
        where nothing needs the host in between, as a single fit does.
        """
        return self._fit(
            X, Y, epochs=epochs, steps=steps, batch_size=batch_size, shuffle=shuffle,
            validation_data=validation_data, progress=progress, callbacks=callbacks,
            check_every=None, fused=None, sample_weight=sample_weight,
        )  # fmt: skip

    @property
    def diverged(self) -> list[bool]:
        """Whether each model diverged (stopped updating at a NaN/inf)."""
        alive = self.backend.to_numpy(self.opt_state.alive)
        return [not bool(a) for a in alive]

    def results(self) -> list[dict[str, Any]]:
        """One dict per model, best first: ``"index"`` (k), its config, the last epoch's
        ``loss`` (and ``val_loss``, ``val_accuracy`` where the fit validated) and
        ``diverged``. Ranked by ``val_loss`` where there is one, else ``loss``; diverged
        models last."""
        last = self.history.records[-1] if self.history.records else {}
        diverged = self.diverged
        found = []
        for k, config in enumerate(self.configs):
            row = {"index": k, **config}
            row.update({key: last[key][k] for key in ("loss", "val_loss", "val_accuracy")
                        if key in last})  # fmt: skip
            row["diverged"] = diverged[k]
            found.append(row)
        key = "val_loss" if "val_loss" in last else "loss"

        def rank(row: dict[str, Any]) -> tuple[bool, float]:
            value = row.get(key, math.nan)
            return row["diverged"], value if math.isfinite(value) else math.inf

        return sorted(found, key=rank)

    def trainer(self, k: int) -> Trainer:
        """Model k as an ordinary Trainer (``Trainer(model, loss, optimizer_k, seed=seed_k,
        l2=l2_k)`` on the sweep's backend and devices) holding its parameters, optimizer
        state, step count (its own updates) and data position: predict, evaluate, save or
        go on fitting it."""
        k = checks.check_int("k", k, 0)
        if k >= self.size:
            raise InvalidValueError(f"k must be a model index below {self.size}, got {k}")
        i, seed, penalty = self._grid[k]
        trainer = Trainer(
            self.model, self.loss, self.optimizers[i], backend=self.backend,
            strategy=self.strategy, seed=seed, dtype=self.dtype, l2=penalty,
        )  # fmt: skip
        state = self.state
        steps = int(self.backend.to_numpy(state.opt_state.steps)[k])
        params = unstack(state.params)[k]
        inner = tree_map(lambda a: a[k, ...] if getattr(a, "ndim", 0) else a,
                         state.opt_state.inner)  # fmt: skip
        if hasattr(inner, "count"):  # the stack's count is shared: model k's own updates
            inner = inner._replace(count=steps)
        trainer.restore(TrainState(params, inner, steps, state.position))
        return trainer

    def best(self) -> Trainer:
        """The best model of ``results()`` as a Trainer (``trainer(k)``)."""
        return self.trainer(self.results()[0]["index"])

    def evaluate(self, X: Any, Y: Any, sample_weight: Any = None) -> list[dict[str, float]]:
        """Each model's ``{"loss": ...}`` (and ``"accuracy"`` for class targets) on X, Y, as
        ``Trainer.evaluate`` gives one model's."""
        metrics = self._metrics(self._inputs.pair(X, Y, sample_weight))
        return [{key: values[k] for key, values in metrics.items()} for k in range(self.size)]


def _optimizers(optimizers: Any) -> list[Optimizer]:
    """``optimizers`` as a non-empty list of Optimizers."""
    if isinstance(optimizers, Optimizer):
        return [optimizers]
    if not isinstance(optimizers, (list, tuple)) or not optimizers:
        raise InvalidTypeError(
            f"optimizers must be an nnkit Optimizer or a non-empty list of them, got "
            f"{type(optimizers).__name__} {optimizers!r}"
        )
    for i, opt in enumerate(optimizers):
        checks.check_instance(f"optimizers[{i}]", opt, Optimizer)
    return list(optimizers)
