"""Training: the Trainer facade and the pieces of a fit, one idea per module.

``trainer`` (the facade, the one writer of its state), ``state`` (``TrainState``: params,
optimizer state, steps done, data position), ``steps`` (the pure step maths per strategy),
``inputs`` (data checked and moved), ``loop`` (epochs, fused runs, data position),
``guard`` (NaN/inf checks, snapshots, replay), ``checkpoint`` (trainer files),
``precision``, ``fused``, ``callbacks``, ``history`` and ``progress``; ``fitter`` (what the
Trainer and the Sweep share), ``sweep`` (K models trained as one stack) and ``divergence``
(a stack's models that turn NaN/inf stop alone).
"""

from .guard import NonFiniteLossError
from .history import History
from .state import TrainState
from .steps import STRATEGIES
from .sweep import Sweep
from .trainer import Trainer

__all__ = ["STRATEGIES", "History", "NonFiniteLossError", "Sweep", "TrainState", "Trainer"]
