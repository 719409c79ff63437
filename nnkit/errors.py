"""nnkit's own exception types: every bad input raises one of these (or BackendUnavailable)."""

from .backends import BackendUnavailable


class NNKitError(Exception):
    """Base class of nnkit's errors."""


class InvalidValueError(NNKitError, ValueError):
    """A value has the wrong shape, range or content; the message says what was expected."""


class InvalidTypeError(NNKitError, TypeError):
    """A value has the wrong type or dtype; the message says what was expected."""


__all__ = ["BackendUnavailable", "InvalidTypeError", "InvalidValueError", "NNKitError"]
