"""nnkit: neural networks with hand-written forward and backward passes, written once
against the Python array API and run on NumPy, CuPy or JAX."""

from . import backends, data, datasets, layers, losses, metrics, optim
from .backends import BackendUnavailable
from .errors import InvalidTypeError, InvalidValueError, NNKitError
from .history import History
from .model import Sequential
from .trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "History",
    "InvalidTypeError",
    "InvalidValueError",
    "NNKitError",
    "Sequential",
    "Trainer",
    "backends",
    "data",
    "datasets",
    "layers",
    "losses",
    "metrics",
    "optim",
]
