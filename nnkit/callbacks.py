"""The callbacks of ``Trainer.fit`` (early stopping, checkpoints, a CSV log, hooks), importable as
``nnkit.callbacks``; they are defined with the rest of training, in
``nnkit.training.callbacks``."""

from .training.callbacks import (
    Callback,
    Checkpoint,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    as_callback,
)

__all__ = ["Callback", "Checkpoint", "CSVLogger", "EarlyStopping", "LambdaCallback", "as_callback"]
