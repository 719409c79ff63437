"""Fitter: the machinery that the Trainer (one model) and the Sweep (a stack of K models)
share, so that both train through one loop: the state and its one writer, ``fit``'s
argument checks and the Run it hands to ``loop.Loop``, the compiled runs of many steps,
``predict`` and the metrics of checked data."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .. import backends, checks
from ..errors import InvalidValueError
from ..losses import Loss
from ..model import Sequential
from ..optim import Optimizer
from . import precision
from . import steps as step_fns
from .callbacks import as_callback
from .fused import FusedEpoch, FusedFit, check_fusable
from .guard import Guard
from .history import History
from .inputs import Inputs, Prepared
from .loop import Loop, Run, per_row
from .state import TrainState, conforming


class Fitter:
    """A model (one, or a stack) with its loss, optimizer and state, trained by ``_fit``.

    Subclasses check their own arguments, then call ``_setup``; they may override
    ``_opt_state`` (the initial optimizer state of the parameters), ``_update`` (what a
    step does after the gradients, ``steps.Update``; None: the optimizer's step) and
    ``guard_type`` (the NaN guard).
    """

    guard_type: type[Guard] = Guard

    def _setup(
        self,
        model: Sequential,
        loss: Loss,
        optimizer: Optimizer,
        *,
        backend: str | backends.Backend | None,
        strategy: str,
        seed: Any,
        dtype: str,
        devices: Any,
        l2: Any,
    ) -> None:
        """The backend, parameters (``model.init(seed=seed)``), state and compiled steps."""
        self.model, self.loss, self.optimizer, self.l2 = model, loss, optimizer, l2
        self.backend = backends.get(backend).on(devices)
        if self.backend.device_count > 1 and strategy != "batched":
            raise InvalidValueError(
                f"devices={devices!r} trains the 'batched' strategy data-parallel; got "
                f"strategy {strategy!r}"
            )
        self.policy = precision.policy(dtype, self.backend)
        self.strategy, self.seed, self.dtype = strategy, seed, dtype
        params = model.init(seed=seed, backend=self.backend, dtype=self.policy.param)
        self._state = TrainState(params, self.backend.place(self._opt_state(params)))
        self._history = History()
        self._stop_training = False
        self._steps = step_fns.build(
            model, loss, optimizer, self.policy, self.backend, strategy, l2, self._update()
        )
        self._inputs = Inputs(self.backend, model, loss, self.policy.param)
        self._guard = self.guard_type(self.backend)
        self._fused: tuple[FusedEpoch, FusedFit] | None = None  # built by the first fused fit
        self._compiled: step_fns.Step | None = None  # compile_step's, made by the first use

    def _opt_state(self, params: Any) -> Any:
        """The optimizer state a new model starts from."""
        return self.optimizer.init(params)

    def _update(self) -> Callable | None:
        """What a step does after the gradients (``steps.Update``); None: the optimizer's."""
        return None

    def _fit(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int | None,
        steps: int | None,
        batch_size: int,
        shuffle: bool,
        validation_data: tuple[Any, ...] | None,
        progress: bool | None,
        callbacks: Sequence[Any],
        check_every: int | None,
        fused: bool | None,
        sample_weight: Any,
    ) -> History:
        """``fit`` (see ``Trainer.fit``): the arguments checked, then the loop."""
        if epochs is not None and steps is not None:
            raise InvalidValueError("give epochs or steps, not both")
        batch_size = checks.check_positive_int("batch_size", batch_size)
        if batch_size % self.backend.device_count:
            n = self.backend.device_count
            raise InvalidValueError(
                f"batch_size {batch_size} does not split evenly over the {n} devices; expected "
                f"a multiple of {n} (e.g. {batch_size - batch_size % n or n} or "
                f"{batch_size + n - batch_size % n})"
            )
        if check_every is not None:
            check_every = checks.check_positive_int("check_every", check_every)
        hooks = [as_callback(c) for c in callbacks]
        X, T, _, w = self._inputs.pair(X, Y, sample_weight)
        validate = val = None
        if validation_data is not None:
            val = self._inputs.pair(*self._validation(validation_data))
            validate = lambda: self._metrics(val)  # noqa: E731
        if steps is None:
            steps = checks.check_positive_int("epochs", 1 if epochs is None else epochs)
            steps *= math.ceil(X.shape[0] / batch_size)
        steps = checks.check_positive_int("steps", steps)
        if fused is None:
            fused = self.backend.can_scan and self.strategy == "batched"
        step, (fused_epoch, program) = self._steps.step, (None, None)
        if fused:
            check_fusable(self.backend, self.strategy)
            if self.backend.can_scan:
                fused_epoch, program = self._scans()
            else:
                step = self._compiled_step()
        run = Run(
            X=X, T=T, w=w, batch_size=batch_size, shuffle=shuffle, step=step,
            steps=steps, check_every=check_every, callbacks=hooks, validate=validate,
            fused=fused_epoch, program=program, val=val,
        )  # fmt: skip
        self._history, self._stop_training = History(), False
        return Loop(self, run, self._guard, self._commit)(progress)

    def _scans(self) -> tuple[FusedEpoch, FusedFit]:
        """The compiled runs of many steps (``can_scan``), built once per trainer."""
        if self._fused is None:
            predict = step_fns.predict_fn(self.model, self.policy)
            self._fused = (
                FusedEpoch(self._steps.batched, self.backend),
                FusedFit(self._steps.batched, predict, self.loss, self.backend, self._guard.test),
            )
        return self._fused

    def _compiled_step(self) -> step_fns.Step:
        """The batched step compiled whole (``can_compile_step``), built once per trainer:
        a later fit reuses its compilations."""
        if self._compiled is None:
            self._compiled = self.backend.compile_step(self._steps.batched, donate_argnums=(0, 1))
        return self._compiled

    @property
    def state(self) -> TrainState:
        """The current TrainState (params, opt_state, steps_done, position)."""
        return self._state

    @property
    def params(self) -> list[dict[str, Any]]:
        """The model's parameters: one dict per layer (see ``TrainState``)."""
        return self._state.params

    @property
    def opt_state(self) -> Any:
        """The optimizer's state for ``params``."""
        return self._state.opt_state

    @property
    def steps_done(self) -> int:
        """Optimizer steps taken over the trainer's life."""
        return self._state.steps_done

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, sample offset) where the next ``fit`` step starts."""
        return self._state.position

    @property
    def history(self) -> History:
        """The last ``fit``'s History (during a fit: the epochs done so far)."""
        return self._history

    @property
    def stop_training(self) -> bool:
        """Set to True (e.g. from a callback) to end ``fit`` after the current step (Keras's
        convention); every ``fit`` starts with it False."""
        return self._stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._stop_training = bool(value)

    def restore(self, state: TrainState) -> None:
        """Make ``state`` the trainer's state, its arrays placed on the trainer's backend and
        devices: to continue from saved parameters, optimizer state or data position.

        Call it between fits, or from a callback at an epoch's end (``on_epoch_end``,
        ``on_fit_end``); the next step starts from ``state``.

        Parameters
        ----------
        state : TrainState
            Usually a kept ``trainer.state`` or one changed with ``replace``, e.g.
            ``trainer.state.replace(position=(0, 0))`` to go through the data again from
            the first epoch's order.

        Raises
        ------
        InvalidTypeError
            ``state`` is not a TrainState.
        InvalidValueError
            Its params or opt_state differ from the model's or optimizer's in structure or
            a leaf's shape, or ``steps_done`` or ``position`` are not ints >= 0.
            In both cases the trainer is unchanged.
        """
        state = conforming(state, self._state)
        params, opt_state = self.backend.place((state.params, state.opt_state))
        self._commit(state.replace(params=params, opt_state=opt_state))

    def _commit(self, state: TrainState) -> None:
        """Install ``state``, as built by this trainer's fit (unchecked): the one writer."""
        self._state = state

    def predict(self, X: Any) -> Any:
        """Model output for X (batch, in) as an array of the trainer's backend; (K, batch,
        out) for a stack of K models."""
        return self._steps.predict(self.params, self._inputs.features(X))

    def _metrics(self, data: Prepared) -> dict[str, Any]:
        """Loss (and accuracy for classes) of checked data: one compiled call, one read; a
        float each, or a list of one per model for a stack."""
        values = self._steps.metrics[data.classes](self.params, *data.rows)
        loss, acc = (per_row(self.backend.to_numpy(v)) for v in values)
        return {"loss": loss, "accuracy": acc} if data.classes else {"loss": loss}

    @staticmethod
    def _validation(data: Any) -> tuple[Any, ...]:
        """``validation_data`` as (X_val, Y_val) or (X_val, Y_val, w_val), else an error."""
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            got = f"a {type(data).__name__}" + (
                f" of {len(data)} items" if isinstance(data, (tuple, list)) else ""
            )
            raise InvalidValueError(
                f"validation_data must be (X_val, Y_val) or (X_val, Y_val, sample_weight_val), "
                f"got {got}"
            )
        return tuple(data)
