"""Optimizers (pure ``init``/``step`` over pytrees) and learning-rate schedules."""

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
)

OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}

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
    "schedules",
]
