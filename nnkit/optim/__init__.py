"""Optimizers (pure ``init``/``step`` over pytrees) and learning-rate schedules."""

from .. import checks
from . import schedules
from .optimizers import (
    SGD,
    Adam,
    AdamState,
    AdamW,
    Optimizer,
    RMSProp,
    RMSPropState,
    SGDState,
    stacked,
)

OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def optimizer(name: str, **kwargs) -> Optimizer:
    """The optimizer called ``name`` (a key of OPTIMIZERS), built with ``kwargs``."""
    return checks.lookup("optimizer", name, OPTIMIZERS)(**kwargs)


__all__ = [
    "SGD",
    "Adam",
    "AdamState",
    "AdamW",
    "OPTIMIZERS",
    "Optimizer",
    "RMSProp",
    "RMSPropState",
    "SGDState",
    "optimizer",
    "schedules",
    "stacked",
]
