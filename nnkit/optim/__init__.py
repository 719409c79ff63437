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
"""The optimizers by name; files hold only these."""


def optimizer(name: str, **kwargs) -> Optimizer:
    """The optimizer called ``name``.

    Parameters
    ----------
    name : str
        A key of ``OPTIMIZERS``: "sgd", "rmsprop", "adam" or "adamw".
    **kwargs
        The optimizer's constructor arguments (``lr``, ``momentum`` ...).

    Returns
    -------
    Optimizer
        The optimizer.

    Raises
    ------
    InvalidValueError
        An unknown name (the message lists the known ones), or a hyperparameter out of
        range.
    """
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
