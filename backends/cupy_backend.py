"""CuPy on CUDA device 0; available only when a CUDA device answers.

Precision: CuPy computes float32 matmuls in full float32 unless ``CUPY_TF32=1``, which
CuPy reads when it is first imported; ``NNKIT_TF32=1`` sets it then. CuPy has no bfloat16
dtype, so ``Trainer(dtype="bfloat16")`` is refused on this backend.
"""

from __future__ import annotations

import os

from .base import Backend, BackendUnavailable, require, tf32_requested

INSTALL = "pip install 'nnkit[cuda12]'  (or 'nnkit[cuda13]' for CUDA 13 drivers)"


class CupyBackend(Backend):
    name = "cupy"
    install = INSTALL

    def __init__(self, cupy, xp, device):
        super().__init__(xp, device)
        self._cupy = cupy

    def asarray(self, x, dtype=None):
        dtype = None if dtype is None else self.dtype(dtype)
        with self.device:
            return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return self._cupy.asnumpy(x)

    def sync(self, x=None):
        self._cupy.cuda.get_current_stream().synchronize()
        return x

    def device_name(self) -> str:
        props = self._cupy.cuda.runtime.getDeviceProperties(self.device.id)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    def memory_bytes(self) -> int | None:
        return int(self._cupy.cuda.runtime.getDeviceProperties(self.device.id)["totalGlobalMem"])


def load() -> CupyBackend:
    if tf32_requested():
        os.environ.setdefault("CUPY_TF32", "1")
    cupy = require("cupy", "cupy", INSTALL)
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device found")
        cupy.zeros(1).sum().item()  # a device that answers, not just a driver
    except Exception as e:  # CUDARuntimeError, missing driver or libraries
        raise BackendUnavailable("cupy", f"no usable CUDA device ({e})", INSTALL) from e
    import array_api_compat.cupy as xp

    return CupyBackend(cupy, xp, cupy.cuda.Device(0))
