"""array-api-strict: the standard and nothing else; tests run the core on it to
prove the code above the shim uses only the array API."""

from __future__ import annotations

from .base import Backend, require

INSTALL = "pip install array-api-strict"


class StrictBackend(Backend):
    name = "array_api_strict"
    install = INSTALL
    reference_only = True

    def to_numpy(self, x):
        import numpy as np

        return np.from_dlpack(x)

    def exportable(self, x):
        if any(s < 0 for s in self.to_numpy(x).strides):  # the NumPy array inside, a view
            return self.xp.asarray(x, copy=True)
        return x

    def writeable(self, x):
        return bool(self.to_numpy(x).flags.writeable)


def load() -> StrictBackend:
    xp = require("array_api_strict", "array_api_strict", INSTALL)
    return StrictBackend(xp, xp.Device("CPU_DEVICE"))
