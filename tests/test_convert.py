"""nnkit.backends.convert: an array of any backend as an array of another, values and dtype
kept, memory shared through DLPack where the two share a device and sharing is sound."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import jax_x64, x64_param

import nnkit
from nnkit import backends

AVAILABLE = backends.available()
PAIRS = [(s, t) for s in AVAILABLE for t in AVAILABLE]
DTYPES = [x64_param(d) for d in ("float32", "float64", "int32", "int64", "bool")]


def host_values(dtype):
    values = np.array([[0.0, 1.5, -2.0], [3.0, 4.25, 1e3]])
    if dtype == "bool":
        return values > 1.0
    return values.astype(dtype)


def on_device(x, backend):
    """True when ``x`` is an array of ``backend`` on that backend's device."""
    if backends.name_of(x) != backend.name:
        return False
    import array_api_compat

    return array_api_compat.device(x) == backend.device


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source, target", PAIRS)
def test_values_shape_and_dtype_are_kept_for_every_pair(source, target, dtype):
    values = host_values(dtype)
    x = backends.get(source).asarray(values)
    out = backends.convert(x, target)
    assert on_device(out, backends.get(target))
    back = backends.to_host(out)
    assert back.dtype == values.dtype and back.shape == values.shape
    np.testing.assert_array_equal(back, values)


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
@pytest.mark.parametrize("dtype", ["float64", "int64"])
@pytest.mark.parametrize("source", [b for b in AVAILABLE if b != "jax"])
def test_a_64_bit_array_stays_64_bit_on_jax_as_users_run_it(source, dtype):
    """With JAX's x64 mode off, as users run JAX, converting a 64-bit array to JAX turns the
    mode on (as asking the JAX backend for float64 does) rather than narrowing the dtype."""
    import jax

    values = host_values(dtype)
    x = backends.get(source).asarray(values)
    with jax_x64(False):  # off, as the test starts; off again after convert turned it on
        out = backends.convert(x, "jax")
        assert jax.config.jax_enable_x64
        back = backends.to_host(out)
    assert back.dtype == values.dtype
    np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize("source, target", PAIRS)
def test_a_backend_object_works_as_the_target_and_0d_arrays_convert(source, target, x64):
    be = backends.get(target)
    out = backends.convert(backends.get(source).asarray(2.5, dtype="float64"), be)
    assert on_device(out, be) and out.shape == ()
    assert float(backends.to_host(out)) == 2.5


@pytest.mark.parametrize("target", AVAILABLE)
def test_reversed_and_read_only_numpy_arrays_convert(target, x64):
    flipped = np.arange(6.0).reshape(2, 3)[::-1, ::-1]
    frozen = np.arange(6.0)
    frozen.flags.writeable = False
    for a in (flipped, frozen):
        out = backends.convert(a, target)
        np.testing.assert_array_equal(backends.to_host(out), a)
    assert not frozen.flags.writeable and frozen.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


needs_torch_cpu = pytest.mark.skipif(
    "torch" not in AVAILABLE or backends.get("torch").device.type != "cpu",
    reason="needs torch on the CPU",
)


@needs_torch_cpu
def test_numpy_to_torch_cpu_shares_memory():
    import torch

    a = np.zeros((2, 3))
    t = backends.convert(a, "torch")
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    a[0, 1] = 42.0  # written into the source, seen in the result: no copy was made
    assert t[0, 1].item() == 42.0
    t[1, 2] = -1.0  # and the other way round
    assert a[1, 2] == -1.0


@needs_torch_cpu
def test_torch_cpu_to_numpy_shares_memory_and_detaches():
    import torch

    t = torch.zeros(4, dtype=torch.float32)
    a = backends.convert(t, "numpy")
    assert type(a) is np.ndarray and a.dtype == np.float32
    t[2] = 7.0
    assert a[2] == 7.0
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)  # refuses a plain __dlpack__
    out = backends.convert(w, "numpy")
    np.testing.assert_array_equal(out, np.ones(3))
    with torch.no_grad():
        w[0] = 5.0
    assert out[0] == 5.0


@needs_torch_cpu
def test_read_only_numpy_never_becomes_a_writable_shared_tensor():
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    t = backends.convert(frozen, "torch")
    t[0] = 9.0  # torch ignores DLPack's read-only flag: the result must be a copy
    assert frozen[0] == 0.0


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
@pytest.mark.parametrize("source", [b for b in AVAILABLE if b != "jax"])
def test_a_jax_result_does_not_change_when_its_source_is_written(source, x64):
    """JAX arrays are immutable: a mutable source must not back them (a copy is made)."""
    x = backends.get(source).asarray(np.arange(1024.0))
    j = backends.convert(x, "jax")
    backends.get(source).to_numpy(x)[3] = -7.0  # a view of the source on the CPU
    assert backends.to_host(j)[3] == 3.0


@pytest.mark.skipif(
    "jax" not in AVAILABLE or "torch" not in AVAILABLE, reason="needs jax and torch"
)
def test_a_jax_array_never_becomes_writable_shared_memory():
    j = backends.get("jax").asarray(np.arange(4.0))
    t = backends.convert(j, "torch")
    t[0] = 9.0
    assert backends.to_host(j)[0] == 0.0
    a = backends.convert(j, "numpy")  # NumPy honours DLPack's read-only flag: shared
    assert not a.flags.writeable
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", AVAILABLE)
def test_the_same_backend_gives_the_array_back_without_a_copy(name):
    be = backends.get(name)
    x = be.asarray(np.arange(6.0).reshape(2, 3))
    out = backends.convert(x, name)
    assert on_device(out, be)
    np.testing.assert_array_equal(be.to_numpy(out), np.arange(6.0).reshape(2, 3))
    if name == "numpy":
        assert out is x


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.5, "abc", None, {"W": 1}])
def test_non_arrays_are_a_type_error_naming_what_was_given(bad):
    with pytest.raises(TypeError, match=rf"needs an array of one of the backends.*got "
                       rf"{type(bad).__name__}; .*asarray") as info:  # fmt: skip
        backends.convert(bad, "numpy")
    assert "numpy" in str(info.value)


def test_an_unknown_target_names_the_known_backends():
    with pytest.raises(nnkit.BackendUnavailable, match="'tensorflow'.*known: numpy"):
        backends.convert(np.ones(2), "tensorflow")


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
def test_a_jax_array_on_another_device_is_moved_to_the_backends_device():
    """A real second device: JAX on a CPU split in two (a fresh process, as XLA needs)."""
    script = textwrap.dedent(
        """
        import jax, numpy as np, nnkit
        x = jax.device_put(np.arange(6.0, dtype=np.float32), jax.devices()[1])
        out = nnkit.backends.convert(x, "jax")
        assert out.devices() == {jax.devices()[0]}, out.devices()
        np.testing.assert_array_equal(np.asarray(out), np.arange(6.0))
        back = nnkit.backends.convert(x, "numpy")
        np.testing.assert_array_equal(back, np.arange(6.0))
        print("OK", out.dtype, type(back).__name__)
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, timeout=300).stdout  # fmt: skip
    assert out.split() == ["OK", "float32", "ndarray"]


@pytest.mark.skipif(
    "torch" not in AVAILABLE
    or "cupy" not in AVAILABLE
    or backends.get("torch").device.type != "cuda",
    reason="needs CuPy and torch on CUDA",
)
def test_cupy_and_torch_cuda_share_memory():
    c = backends.get("cupy").asarray(np.zeros(8, dtype=np.float32))
    t = backends.convert(c, "torch")
    assert t.device.type == "cuda"
    c[3] = 5.0
    backends.get("cupy").sync()
    assert t[3].item() == 5.0
    back = backends.convert(t, "cupy")
    t[4] = -2.0
    backends.get("torch").sync()
    assert float(back[4]) == -2.0


@pytest.mark.skipif(
    "torch" not in AVAILABLE or backends.get("torch").device.type != "cuda",
    reason="needs torch on CUDA",
)
@pytest.mark.parametrize("other", [b for b in AVAILABLE if b != "torch"])
def test_torch_cuda_and_host_backends_convert_both_ways(other):
    values = np.arange(12.0).reshape(3, 4)
    t = backends.convert(backends.get(other).asarray(values), "torch")
    assert t.device == backends.get("torch").device
    out = backends.convert(t, other)
    assert on_device(out, backends.get(other))
    np.testing.assert_array_equal(backends.to_host(out), values)
