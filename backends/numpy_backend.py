"""NumPy on the CPU: eager, no compiler."""

from __future__ import annotations

import platform

import array_api_compat.numpy as xp
import numpy as np

from .base import Backend
from .inplace import InplaceOps


class NumpyBackend(Backend):
    name = "numpy"
    install = "pip install numpy"
    is_host = True
    inplace = True

    def inplace_ops(self) -> InplaceOps:
        return InplaceOps(np)

    def device_name(self) -> str:
        return f"cpu ({platform.processor() or platform.machine()})"


def load() -> NumpyBackend:
    return NumpyBackend(xp, "cpu")
