"""The NaN/inf guard of ``Trainer.fit``: snapshots of the last state that passed a check,
one device-side finiteness test per check, and the replay that finds the first bad step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends
from ..data import epoch_order, next_position
from ..errors import NNKitError
from ..tree import tree_copy
from ..values import all_finite


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


# (params, opt_state, steps_done, position): the trainer state a replay starts from
Snapshot = tuple[Any, Any, int, tuple[int, int]]


class Guard:
    """Checks and snapshots for one Trainer; its two device functions are compiled once."""

    def __init__(self, backend: backends.Backend):
        self.backend = backend
        self._finite = backend.jit(all_finite)
        self.copy = backend.jit(tree_copy)  # one compiled call on JAX

    def finite(self, loss: Any, params: Any) -> bool:
        """``loss`` and every parameter finite: one reduction on the device, one host read."""
        return bool(self.backend.to_numpy(self._finite(loss, params)))

    def snapshot(self, trainer: Any) -> Snapshot:
        """Copies of the trainer's params and optimizer state, its step count and position."""
        params, opt_state = self.copy((trainer.params, trainer.opt_state))
        return params, opt_state, trainer.steps_done, trainer.position

    def replay(
        self, trainer: Any, good: Snapshot, X: Any, T: Any, batch_size: int, shuffle: bool,
        step: Callable,
    ) -> NonFiniteLossError:
        """Re-run the steps after ``good`` one at a time, checking each, and return the
        NonFiniteLossError of the first bad one with the trainer at the state just before it.
        (Should a nondeterministic device not reproduce the failure, the error names the
        checked step and the replayed, finite state is kept.)"""
        xp, n, failed_at = self.backend.xp, X.shape[0], trainer.steps_done
        params, opt_state, trainer.steps_done, trainer.position = good
        trainer.params, trainer.opt_state = tree_copy(params), tree_copy(opt_state)
        while trainer.steps_done < failed_at:
            epoch, offset = next_position(trainer.position, n)
            index = epoch_order(trainer.seed, epoch, n, shuffle)[offset : offset + batch_size]
            rows = self.backend.asarray(index)
            xb, tb = xp.take(X, rows, axis=0), xp.take(T, rows, axis=0)
            p, o, loss = step(tree_copy(trainer.params), tree_copy(trainer.opt_state), xb, tb)
            if not self.finite(loss, p):
                return NonFiniteLossError(
                    trainer.steps_done + 1, float(self.backend.to_numpy(loss))
                )
            trainer.params, trainer.opt_state = p, o
            trainer.steps_done += 1
            trainer.position = (epoch, offset + len(index))
        return NonFiniteLossError(failed_at, float("nan"))
