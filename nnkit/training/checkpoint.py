"""A Trainer to and from one safetensors file (through ``nnkit.io``): the model, params,
optimizer and its state, plus the trainer's settings and the rest of its TrainState as JSON
metadata under "trainer" (loss, strategy, seed, dtype, steps done and the data position),
so that a loaded trainer's ``fit`` continues exactly where the saved one stopped."""

from __future__ import annotations

import os
from typing import Any

from .. import backends
from ..errors import InvalidTypeError, InvalidValueError
from ..io import Checkpoint, CorruptFileError, load_checkpoint, save
from ..losses import LOSSES
from .state import TrainState


def trainer_state(trainer: Any) -> dict[str, Any]:
    """The JSON-ready state of ``trainer`` beyond its model, params and optimizer."""
    names = {cls: name for name, cls in LOSSES.items()}
    state = trainer.state
    if type(trainer.loss) not in names:
        raise InvalidTypeError(
            f"cannot save loss {type(trainer.loss).__name__}; nnkit saves {sorted(LOSSES)}"
        )
    return {
        "loss": {"type": names[type(trainer.loss)], "config": trainer.loss.config()},
        "strategy": trainer.strategy,
        "seed": trainer.seed,
        "dtype": trainer.dtype,
        "l2": trainer.l2,
        "steps_done": state.steps_done,
        "position": list(state.position),
    }


def save_trainer(
    path: str | os.PathLike, trainer: Any, extra: dict[str, Any] | None = None
) -> None:
    """Save ``trainer`` whole to ``path`` (atomically); ``extra``: more JSON metadata."""
    state = trainer.state
    save(
        path,
        trainer.model,
        state.params,
        optimizer=trainer.optimizer,
        opt_state=state.opt_state,
        extra={**(extra or {}), "trainer": trainer_state(trainer)},
    )


def from_checkpoint(cls: type, ckpt: Checkpoint, path: Any, backend: Any = None) -> Any:
    """The trainer (of class ``cls``) that a loaded Checkpoint describes, on ``backend``,
    restored to the saved TrainState; ``path`` names the file in errors."""
    try:
        state = ckpt.extra["trainer"]
        loss = LOSSES[state["loss"]["type"]](**state["loss"]["config"])
        trainer = cls(
            ckpt.model,
            loss,
            ckpt.optimizer,
            backend=backend,
            strategy=state["strategy"],
            seed=state["seed"],
            dtype=state["dtype"],
            l2=state.get("l2", 0.0),  # files written before the penalty existed have none
        )
        epoch, offset = state["position"]
        saved = TrainState(ckpt.params, ckpt.opt_state, state["steps_done"], (epoch, offset))
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptFileError(f"{path}: no complete trainer state ({e!r})") from None
    if ckpt.opt_state is None:
        raise CorruptFileError(f"{path}: the trainer's optimizer state is missing")
    try:
        trainer.restore(saved)
    except (InvalidTypeError, InvalidValueError) as e:
        raise CorruptFileError(f"{path}: the saved trainer state does not fit ({e})") from None
    return trainer


def load_trainer(
    cls: type, path: str | os.PathLike, backend: str | backends.Backend | None = None
) -> Any:
    """The trainer (of class ``cls``) saved at ``path`` by :func:`save_trainer`."""
    return from_checkpoint(cls, load_checkpoint(path, backend), path, backend)
