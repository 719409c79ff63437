"""What ``nnkit train`` uses unless told otherwise, per built-in dataset and for a data file.
The command reads these tables, and its help text states them from the same tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

# a data file's loss when --loss is not given, by the task of its targets
TASK_LOSS = {"classification": "cross_entropy", "regression": "mse"}
TEST_FRACTION = 0.2  # a data file's share held out for the test metrics
# optimizers that take the sgd learning rate of Defaults.lr divided by this
SGD_LR_DIVISOR = {"sgd": 1, "momentum": 10, "nesterov": 10}


@dataclasses.dataclass(frozen=True)
class Defaults:
    """A network and its training: hidden widths, activation between them, loss (None: by
    the task, TASK_LOSS), optimizer, learning rate ``lr`` = (for the SGD family, for the
    adaptive optimizers), steps of ``batch_size`` samples (at most ``epochs`` epochs where
    that is fewer), and whether features are standardized."""

    layers: tuple[int, ...]
    activation: str
    loss: str | None
    optimizer: str
    lr: tuple[float, float]
    steps: int
    batch_size: int
    epochs: int | None = None
    standardize: bool = False

    def lr_for(self, optimizer: str) -> float:
        """The learning rate of ``optimizer``: the SGD rate divided as SGD_LR_DIVISOR says,
        else the adaptive rate."""
        sgd, adaptive = self.lr
        return sgd / SGD_LR_DIVISOR[optimizer] if optimizer in SGD_LR_DIVISOR else adaptive

    @property
    def hidden(self) -> str:
        """The hidden widths as --layers spells them: 128,64."""
        return ",".join(map(str, self.layers))

    @property
    def length(self) -> str:
        """The run's length: ``2000 steps`` or ``200 epochs (at most 5000 steps)``."""
        if self.epochs is None:
            return f"{self.steps} steps"
        return f"{self.epochs} epochs (at most {self.steps} steps)"

    def summary(self) -> str:
        """One line for the help text: network, loss, optimizer and run length."""
        loss = self.loss or " or ".join(f"{v} ({k})" for k, v in TASK_LOSS.items())
        return (
            f"hidden {self.hidden} {self.activation}, loss {loss}, {self.optimizer} "
            f"lr {self.lr_for(self.optimizer):g}, {self.length} of {self.batch_size}"
            + (", standardized features" if self.standardize else "")
        )


DATASETS = {
    "digits": Defaults((128, 64), "sigmoid", "mse", "sgd", (0.5, 1e-3), 20_000, 64),
    "xor": Defaults((8,), "tanh", "bce", "sgd", (0.5, 0.01), 2_000, 4),
    "sine": Defaults((32, 32), "tanh", "mse", "adam", (0.05, 0.01), 3_000, 32),
}
FILE = Defaults((64, 64), "relu", None, "adam", (0.1, 1e-3), 5_000, 64, 200, standardize=True)


def per_dataset(show: Callable[[Defaults], str]) -> str:
    """``show`` of each built-in dataset's defaults and a data file's, as help text lists
    them: ``digits 128,64, xor 8, sine 32,32, a data file 64,64``."""
    shown = [f"{name} {show(d)}" for name, d in DATASETS.items()] + [f"a data file {show(FILE)}"]
    return "; ".join(shown)
