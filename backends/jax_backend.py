"""JAX on its default device (GPU when jax[cuda] is installed, else CPU).

64-bit dtypes (float64, int64) need JAX's x64 mode, which is process-wide: asking this
backend for one turns it on (``jax_enable_x64``). float32 arrays are unaffected.

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
X64_DTYPES = ("float64", "int64", "uint64", "complex128")  # 32-bit in JAX without x64 mode


class JaxBackend(Backend):
    name = "jax"
    install = INSTALL
    can_scan = True
    immutable = True
    donates = True  # XLA takes donated buffers over
    bfloat16 = True

    def __init__(self, jax, xp, device):
        super().__init__(xp, device)
        self._jax = jax
        self.matmul_precision = "tensorfloat32" if tf32_requested() else "highest"

    def keep_compiled(self, directory):
        """JAX's persistent compilation cache in ``directory``, every program in it (not
        only those that took a second to compile); a cache the user configured stays."""
        config = self._jax.config
        if config.jax_compilation_cache_dir is None:
            config.update("jax_compilation_cache_dir", directory)
            config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        return True

    def dtype(self, dtype):
        if (dtype if isinstance(dtype, str) else getattr(dtype, "name", None)) in X64_DTYPES:
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
            # program for each new shape); a copy, as device_put on the CPU would share the
            # caller's buffer and the "immutable" array change with it
            return self._jax.device_put(numpy.array(x, dtype=dtype), self.device)
        return self._jax.device_put(self.xp.asarray(x, dtype=dtype), self.device)

    def place(self, tree):
        return self._jax.device_put(tree, self.device)

    def on(self, devices):
        jax = self._jax
        if devices is None:
            return self
        chosen = _choose(jax, devices)
        if len(chosen) == 1 and jax.process_count() == 1:
            return self if chosen[0] == self.device else JaxBackend(jax, self.xp, chosen[0])
        return MeshJaxBackend(jax, self.xp, chosen)

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

    def loop(self, fn, carry, count, length):
        jax, lax = self._jax, self._jax.lax
        shapes = jax.eval_shape(lambda c: fn(c, 0)[1], carry)
        ys = jax.tree.map(lambda s: self.xp.zeros((length, *s.shape), dtype=s.dtype), shapes)

        def body(i, state):
            carry, y = fn(state[0], i)
            ys = jax.tree.map(lambda a, b: lax.dynamic_update_index_in_dim(a, b, i, 0), state[1], y)
            return carry, ys

        return lax.fori_loop(0, count, body, (carry, ys))

    def device_name(self) -> str:
        return f"{self.device.platform}:{self.device.id} ({self.device.device_kind})"

    def device_names(self) -> list[str]:
        return [f"{d.platform}:{d.id} ({d.device_kind})" for d in self._jax.devices()]

    def memory_bytes(self) -> int | None:
        if self.device.platform == "cpu":
            return None
        stats = self.device.memory_stats() or {}
        return stats.get("bytes_limit")


class MeshJaxBackend(JaxBackend):
    """JAX over a 1-D mesh of devices, axis "batch" (every process's devices after
    ``jax.distributed.initialize``): arrays are replicated on every device; inside compiled
    code ``shard_rows`` splits a minibatch's rows over the axis, so that XLA sums the
    gradients of the shards (``X.T @ dY`` contracts over the split rows) with its own
    all-reduce. Axis type Auto: XLA chooses the shardings in between (JAX 0.10's default,
    Explicit, refuses that contraction as ambiguous)."""

    can_shard = True

    def __init__(self, jax, xp, devices):
        super().__init__(jax, xp, devices[0])
        from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

        self.devices = list(devices)
        self.device_count = len(devices)
        self.mesh = Mesh(numpy.array(devices), ("batch",), axis_types=(AxisType.Auto,))
        self._whole = NamedSharding(self.mesh, PartitionSpec())
        self._rows = NamedSharding(self.mesh, PartitionSpec("batch"))

    def __repr__(self) -> str:
        return f"Backend('jax', devices={self.devices!r})"

    def asarray(self, x, dtype=None):
        dtype = None if dtype is None else self.dtype(dtype)
        jax = self._jax
        if isinstance(x, jax.Array):
            if (dtype is None or x.dtype == dtype) and x.sharding == self._whole:
                return x
            x = self.to_numpy(x)
        # every process holds the same host data: each puts a copy on its own devices
        return jax.make_array_from_process_local_data(self._whole, numpy.array(x, dtype=dtype))

    def place(self, tree):
        return self._jax.tree.map(self.asarray, tree)

    def is_here(self, x):
        return set(x.devices()) <= set(self.devices)

    def to_numpy(self, x):
        if isinstance(x, self._jax.Array) and not x.is_fully_addressable:
            if not x.is_fully_replicated:
                raise ValueError("an array split over several processes has no one host copy")
            x = x.addressable_data(0)
        return numpy.asarray(x)

    def shard_rows(self, x):
        spec = self._rows if x.shape[0] % self.device_count == 0 else self._whole
        return self._jax.lax.with_sharding_constraint(x, spec)

    def replicate(self, tree):
        return self._jax.lax.with_sharding_constraint(tree, self._whole)

    def device_name(self) -> str:
        d = self.device
        hosts = self._jax.process_count()
        where = f", {hosts} processes" if hosts > 1 else ""
        return f"{self.device_count} x {d.platform} ({d.device_kind}){where}, mesh axis 'batch'"


def _choose(jax, devices) -> list:
    """The devices ``devices`` names: an int N (the first N of ``jax.devices()``, every
    process's), "all", or a sequence of JAX devices."""
    every = jax.devices()
    if devices == "all":
        return every
    if type(devices) is int:
        if not 1 <= devices <= len(every):
            raise ValueError(
                f"devices={devices}: JAX sees {len(every)} device(s) here "
                f"({every[0].platform}); expected 1 to {len(every)} or 'all'"
            )
        return every[:devices]
    if isinstance(devices, str | bytes) or not hasattr(devices, "__iter__"):
        raise TypeError(
            f"devices must be None, an int, 'all' or a sequence of JAX devices; got {devices!r}"
        )
    chosen = list(devices)
    unknown = [d for d in chosen if d not in every]
    if not chosen or unknown or len(set(chosen)) < len(chosen):
        raise ValueError(
            f"devices={devices!r}: expected a non-empty sequence of distinct devices from "
            f"jax.devices() ({every})"
        )
    return chosen


def load() -> JaxBackend:
    jax = require("jax", "jax", INSTALL)
    jnp = require("jax.numpy", "jax", INSTALL)
    return JaxBackend(jax, jnp, jax.devices()[0])
