"""array-api-strict: the standard and nothing else; tests run the core on it to
prove the code above the shim uses only the array API."""

from __future__ import annotations

from .base import Backend, BackendUnavailable

INSTALL = "pip install array-api-strict"


class StrictBackend(Backend):
    name = "array_api_strict"
    install = INSTALL

    def to_numpy(self, x):
        import numpy as np

        return np.from_dlpack(x)


def load() -> StrictBackend:
    try:
        import array_api_strict as xp
    except ImportError as e:
        raise BackendUnavailable("array_api_strict", f"it is not installed ({e})", INSTALL) from e
    return StrictBackend(xp, xp.Device("CPU_DEVICE"))
