"""array-api-strict: the standard and nothing else; tests run the core on it to
prove the code above the shim uses only the array API."""

from __future__ import annotations

from .base import Backend, require

INSTALL = "pip install array-api-strict"


class StrictBackend(Backend):
    name = "array_api_strict"
    install = INSTALL

    def to_numpy(self, x):
        import numpy as np

        return np.from_dlpack(x)


def load() -> StrictBackend:
    xp = require("array_api_strict", "array_api_strict", INSTALL)
    return StrictBackend(xp, xp.Device("CPU_DEVICE"))
