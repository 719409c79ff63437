"""JAX on its default device (GPU when jax[cuda] is installed, else CPU).

float64 needs JAX's x64 mode, which is process-wide: asking this backend for
float64 turns it on (``jax_enable_x64``). float32 arrays are unaffected.

Matmul precision is pinned: every function compiled by ``jit`` is traced under
``jax.default_matmul_precision(matmul_precision)``, "highest" (true float32, no TF32 on
GPUs) unless ``NNKIT_TF32=1`` asks for "tensorfloat32". Eager (uncompiled) JAX calls
outside ``jit`` keep JAX's own default.
"""

from __future__ import annotations

import functools

import numpy

from .base import Backend, require, tf32_requested

INSTALL = "pip install 'nnkit[jax]'  (CUDA: 'nnkit[cuda12]' or 'nnkit[cuda13]')"


class JaxBackend(Backend):
    name = "jax"
    install = INSTALL
    can_scan = True
    immutable = True
    bfloat16 = True

    def __init__(self, jax, xp, device):
        super().__init__(xp, device)
        self._jax = jax
        self.matmul_precision = "tensorfloat32" if tf32_requested() else "highest"

    def dtype(self, dtype):
        if dtype == "float64" or getattr(dtype, "name", None) == "float64":
            self._jax.config.update("jax_enable_x64", True)
        return super().dtype(dtype)

    def asarray(self, x, dtype=None):
        dtype = None if dtype is None else self.dtype(dtype)
        if (
            isinstance(x, self._jax.Array)
            and (dtype is None or x.dtype == dtype)
            and x.devices() == {self.device}
        ):
            return x  # already here, as asked: no dispatch (fit calls this every time)
        if not isinstance(x, self._jax.Array):  # host data: converted on the host and put
            # on the device as it is (jnp.asarray would compile a staging or a conversion
            # program for each new shape)
            return self._jax.device_put(numpy.asarray(x, dtype=dtype), self.device)
        return self._jax.device_put(self.xp.asarray(x, dtype=dtype), self.device)

    def place(self, tree):
        return self._jax.device_put(tree, self.device)

    def sync(self, x=None):
        if x is not None:
            self._jax.block_until_ready(x)
        return x

    def jit(self, fn, donate_argnums=()):
        jax = self._jax

        @functools.wraps(fn)
        def pinned(*args, **kwargs):
            with jax.default_matmul_precision(self.matmul_precision):
                return fn(*args, **kwargs)

        return jax.jit(pinned, donate_argnums=donate_argnums)

    def scan(self, fn, carry, xs):
        return self._jax.lax.scan(fn, carry, xs)

    def device_name(self) -> str:
        return f"{self.device.platform}:{self.device.id} ({self.device.device_kind})"

    def memory_bytes(self) -> int | None:
        if self.device.platform == "cpu":
            return None
        stats = self.device.memory_stats() or {}
        return stats.get("bytes_limit")


def load() -> JaxBackend:
    jax = require("jax", "jax", INSTALL)
    jnp = require("jax.numpy", "jax", INSTALL)
    return JaxBackend(jax, jnp, jax.devices()[0])
