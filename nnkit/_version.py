"""The version of nnkit: read here by the package, and by setuptools for the wheel."""

__version__ = "0.1.0"
"""nnkit's version, as ``nnkit info`` and saved files record it."""
