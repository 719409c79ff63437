"""nnkit's own exception types: every bad input raises one of these (or BackendUnavailable).

Each is also a ``ValueError``, ``TypeError`` or ``ImportError``, so ``except ValueError`` (or
``except ImportError`` for a missing optional package) keeps working.
"""

from .backends import BackendUnavailable


class NNKitError(Exception):
    """Base class of nnkit's errors."""


class InvalidValueError(NNKitError, ValueError):
    """A value has the wrong shape, range or content; the message says what was expected."""


class InvalidTypeError(NNKitError, TypeError):
    """A value has the wrong type or dtype; the message says what was expected."""


class MissingDependencyError(NNKitError, ImportError):
    """An optional package that a feature needs is not installed; the message says how to
    install it."""


class ShapeError(InvalidValueError):
    """An array has the wrong number of dimensions, features or samples."""


class ValueRangeError(InvalidValueError):
    """An array holds NaN/inf, or values outside the range its role allows."""


class BackendMismatchError(InvalidTypeError):
    """An array belongs to another backend or device than the trainer's."""


__all__ = [
    "BackendMismatchError",
    "BackendUnavailable",
    "InvalidTypeError",
    "InvalidValueError",
    "MissingDependencyError",
    "NNKitError",
    "ShapeError",
    "ValueRangeError",
]
