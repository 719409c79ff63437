"""The NaN/inf guard of ``Trainer.fit``: snapshots of the last state that passed a check,
one device-side finiteness test per check, and the replay that finds the first bad step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from ..data import epoch_order, next_position, take_rows
from ..errors import NNKitError
from ..tree import tree_copy
from ..values import all_finite
from .state import TrainState


class NonFiniteLossError(NNKitError, FloatingPointError):
    """Training produced a NaN or inf; ``step`` is the 1-based number of the step whose loss
    (or updated parameters) was not finite. The trainer keeps the parameters before it."""

    def __init__(self, step: int, loss: float):
        self.step, self.loss = step, loss
        super().__init__(
            f"non-finite loss {loss} at step {step}: training stopped and the parameters of "
            f"step {step - 1} (the last finite one) were kept; lower the learning rate or "
            "check the data for NaN/inf"
        )


class Guard:
    """Checks and snapshots for one Trainer; its two device functions are compiled once.
    ``test(loss, params)``: the pure check (a 0-d bool array), for compiled fits to run."""

    test: Callable[[Any, Any], Any] = staticmethod(all_finite)

    def __init__(self, backend: backends.Backend):
        self.backend = backend
        self._finite = backend.jit(self.test)
        self.copy = backend.jit(tree_copy)  # one compiled call on JAX

    def finite(self, loss: Any, params: Any) -> bool:
        """``loss`` and every parameter finite: one reduction on the device, one host read."""
        return bool(self.backend.to_numpy(self._finite(loss, params)))

    def snapshot(self, state: TrainState) -> TrainState:
        """``state`` with copies of its params and optimizer state (kept apart from steps
        that update in place or consume their inputs)."""
        params, opt_state = self.copy((state.params, state.opt_state))
        return state.replace(params=params, opt_state=opt_state)

    def replay(
        self, good: TrainState, *, failed_at: int, rows: tuple[Any, ...], batch_size: int,
        shuffle: bool, seed: int, step: Callable, current: TrainState | None = None,
    ) -> tuple[TrainState, NonFiniteLossError]:  # fmt: skip
        """Re-run the steps after ``good`` (a snapshot that passed a check) up to step
        ``failed_at`` one at a time on ``rows`` (X (n, in), T (n, ...)[, w (n,)]), minibatches of
        ``batch_size`` rows in the order of ``data.epoch_order(seed, epoch, n, shuffle)``,
        checking each (``current``, the state the failed check saw, is not needed here).
        Returns the state just before the first bad step and its NonFiniteLossError.
        (Should a nondeterministic device not reproduce the failure, the error names step
        ``failed_at`` and the state is the replayed, finite one.)"""
        n = rows[0].shape[0]
        state = self.snapshot(good)
        while state.steps_done < failed_at:
            epoch, offset = next_position(state.position, n)
            index = epoch_order(seed, epoch, n, shuffle)[offset : offset + batch_size]
            taken = self.backend.asarray(index)
            batch = tuple(take_rows(a, taken) for a in rows)
            p, o, loss = step(tree_copy(state.params), tree_copy(state.opt_state), *batch)
            if not self.finite(loss, p):
                loss = float(self.backend.to_numpy(loss))
                return state, NonFiniteLossError(state.steps_done + 1, loss)
            state = TrainState(p, o, state.steps_done + 1, (epoch, offset + len(index)))
        return state, NonFiniteLossError(failed_at, float("nan"))
