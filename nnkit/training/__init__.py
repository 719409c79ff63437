"""Training: the Trainer facade and the pieces of a fit, one idea per module.

``trainer`` (the facade, the one writer of its state), ``state`` (``TrainState``: params,
optimizer state, steps done, data position), ``steps`` (the pure step maths per strategy),
``inputs`` (data checked and moved), ``loop`` (epochs, fused runs, data position),
``guard`` (NaN/inf checks, snapshots, replay), ``checkpoint`` (trainer files),
``precision``, ``fused``, ``callbacks``, ``history`` and ``progress``.
"""

from .guard import NonFiniteLossError
from .history import History
from .state import TrainState
from .steps import STRATEGIES
from .trainer import Trainer

__all__ = ["STRATEGIES", "History", "NonFiniteLossError", "TrainState", "Trainer"]
