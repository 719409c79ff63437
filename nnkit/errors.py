"""nnkit's own exception types: every bad input raises one of these (or BackendUnavailable).

All are subclasses of ``ValueError`` or ``TypeError``, so ``except ValueError`` keeps working.
"""

from .backends import BackendUnavailable


class NNKitError(Exception):
    """Base class of nnkit's errors."""


class InvalidValueError(NNKitError, ValueError):
    """A value has the wrong shape, range or content; the message says what was expected."""


class InvalidTypeError(NNKitError, TypeError):
    """A value has the wrong type or dtype; the message says what was expected."""


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
    "NNKitError",
    "ShapeError",
    "ValueRangeError",
]
