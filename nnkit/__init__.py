"""nnkit: neural networks with hand-written forward and backward passes, written once
against the Python array API and run on NumPy, CuPy or JAX."""

from . import backends, callbacks, data, datasets, layers, losses, metrics, optim
from .backends import BackendUnavailable
from .errors import InvalidTypeError, InvalidValueError, NNKitError
from .guard import NonFiniteLossError
from .history import History
from .io import CorruptFileError, load, save
from .model import Sequential
from .trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "CorruptFileError",
    "History",
    "InvalidTypeError",
    "InvalidValueError",
    "NNKitError",
    "NonFiniteLossError",
    "Sequential",
    "Trainer",
    "backends",
    "callbacks",
    "data",
    "datasets",
    "layers",
    "load",
    "losses",
    "metrics",
    "optim",
    "save",
]
