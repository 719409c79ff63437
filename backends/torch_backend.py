"""torch through ``array_api_compat.torch``, on ``cuda:0`` where torch sees a GPU, else the CPU.

Eager: ``jit`` is the identity. ``compile_step`` compiles a whole training step with
``torch.compile`` on request (``Trainer.fit(fused=True)``; see ``torch_compile``). Host
(NumPy) data on the CPU becomes a tensor that shares its memory where it can (as on the
NumPy backend); on CUDA it is copied to the device. Arrays are mutable and the optimizer
updates are functional (no in-place ops).

Precision: torch computes float32 matmuls in full float32 by default; ``NNKIT_TF32=1`` calls
``torch.set_float32_matmul_precision("high")`` (TF32 tensor cores on CUDA) when the backend
is loaded. bfloat16 (mixed precision) is not offered on this backend.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Backend, require, tf32_requested
from .torch_compile import compile_step

INSTALL = "pip install 'nnkit[torch]'"


class TorchBackend(Backend):
    name = "torch"
    install = INSTALL
    can_compile_step = True

    def __init__(self, torch: Any, xp: Any, device: Any):
        super().__init__(xp, device)
        self._torch = torch

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        dtype = None if dtype is None else self.dtype(dtype)
        if isinstance(x, np.ndarray) and (
            not x.flags.writeable or any(s < 0 for s in x.strides)
        ):  # torch cannot wrap these (negative strides) or warns (read-only): copy on the host
            x = np.array(x)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    def to_numpy(self, x: Any) -> Any:
        if isinstance(x, self._torch.Tensor):  # off the graph, off the GPU: then a view
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def exportable(self, x: Any) -> Any:
        return x.detach()  # a tensor that requires grad refuses __dlpack__; strides are >= 0

    def compile_step(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        return compile_step(self._torch, self.device, fn)  # new arrays: nothing donated

    def sync(self, x: Any = None) -> Any:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)
        return x

    def device_name(self) -> str:
        if self.device.type == "cuda":
            return self._torch.cuda.get_device_name(self.device)
        return f"cpu ({platform.processor() or platform.machine()})"

    def memory_bytes(self) -> int | None:
        if self.device.type != "cuda":
            return None
        return int(self._torch.cuda.get_device_properties(self.device).total_memory)


def load() -> TorchBackend:
    torch = require("torch", "torch", INSTALL)
    xp = require("array_api_compat.torch", "torch", INSTALL)
    if tf32_requested():
        torch.set_float32_matmul_precision("high")
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    return TorchBackend(torch, xp, device)
