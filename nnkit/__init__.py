"""nnkit: neural networks with hand-written forward and backward passes, written once
against the Python array API and run on NumPy, CuPy, JAX or torch."""

from . import backends, callbacks, data, datasets, distributed, layers, losses, metrics, optim
from ._version import __version__
from .backends import BackendUnavailable
from .errors import InvalidTypeError, InvalidValueError, NNKitError
from .io import CorruptFileError, load, save
from .model import Sequential
from .stacks import stack, unstack
from .training import History, NonFiniteLossError, Sweep, Trainer, TrainState

__all__ = [
    "BackendUnavailable",
    "CorruptFileError",
    "History",
    "InvalidTypeError",
    "InvalidValueError",
    "NNKitError",
    "NonFiniteLossError",
    "Sequential",
    "Sweep",
    "TrainState",
    "Trainer",
    "__version__",
    "backends",
    "callbacks",
    "data",
    "datasets",
    "distributed",
    "layers",
    "load",
    "losses",
    "metrics",
    "optim",
    "save",
    "stack",
    "unstack",
]
