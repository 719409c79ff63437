"""NumPy on the CPU: eager, no compiler."""

from __future__ import annotations

import platform

import array_api_compat.numpy as xp
import numpy as np

from .base import Backend
from .inplace import InplaceUpdates


class NumpyBackend(Backend):
    name = "numpy"
    install = "pip install numpy"
    inplace = True

    def updates(self) -> InplaceUpdates:
        return InplaceUpdates(np)

    def to_numpy(self, x):
        return np.asarray(x)

    def device_name(self) -> str:
        return f"cpu ({platform.processor() or platform.machine()})"


def load() -> NumpyBackend:
    return NumpyBackend(xp, "cpu")
