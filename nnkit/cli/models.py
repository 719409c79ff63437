"""The network, optimizer and learning-rate schedule of ``nnkit train``, from names."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidValueError
from ..model import Sequential, mlp
from ..optim import OPTIMIZERS, SGD, Optimizer
from ..optim.schedules import SCHEDULES

# optimizers beyond the registry's: SGD with momentum 0.9, plain or Nesterov
PRESETS = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}
# per schedule: its arguments after lr0, from the run's total steps (see build_schedule)
SCHEDULE_ARGS = {
    "inverse_time": lambda total: (9 / total,),
    "exponential": lambda total: (0.1, total),
    "step": lambda total: (0.5, max(1, total // 4)),
    "cosine": lambda total: (total,),
}


def build_model(
    n_in: int,
    n_out: int,
    hidden: tuple[int, ...],
    activation: str,
    loss: str,
    classes: int | None,
) -> Sequential:
    """``nnkit.model.mlp`` with hidden widths ``hidden`` and an output layer that fits
    ``loss``: sigmoid for mse on classes and for bce, identity (logits) for cross_entropy
    and for a regression."""
    if loss == "cross_entropy" and (classes is None or n_out < 2):
        raise InvalidValueError("loss cross_entropy needs a dataset with several classes")
    if loss == "bce" and classes is None:
        raise InvalidValueError("loss bce needs 0/1 targets; this dataset is a regression")
    sigmoid_out = loss == "bce" or (loss == "mse" and classes is not None)
    return mlp([n_in, *hidden, n_out], activation, "sigmoid" if sigmoid_out else "identity")


def build_optimizer(name: str, lr: Any, momentum: float | None = None) -> Optimizer:
    """The optimizer ``name`` (a key of ``nnkit.optim.OPTIMIZERS`` or of PRESETS) at ``lr``;
    ``momentum``: SGD's (and the presets'), None: the optimizer's own."""
    given = {} if momentum is None else {"momentum": momentum}
    if name in PRESETS:
        return SGD(lr, **{**PRESETS[name], **given})
    return OPTIMIZERS[name](lr, **given)


def build_schedule(name: str, lr: float, total_steps: int) -> Any:
    """``lr`` itself for "constant"; otherwise a schedule over ``total_steps``: inverse_time
    and exponential end at lr/10, step halves lr every quarter of the run, cosine ends at 0."""
    if name == "constant":
        return lr
    return SCHEDULES[name](lr, *SCHEDULE_ARGS[name](total_steps))
