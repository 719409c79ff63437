"""The backend registry, lazy imports and the errors it gives."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import host, jax_x64, x64_param
from nnkit.backends.cupy_backend import CupyBackend

import nnkit
from nnkit import backends


def test_import_nnkit_imports_neither_cupy_nor_jax():
    code = (
        "import sys, nnkit, nnkit.backends, nnkit.layers, nnkit.losses, nnkit.optim;"
        "nnkit.Sequential([nnkit.layers.Dense(2, 1)]).init();"
        "bad = [m for m in ('cupy', 'jax', 'jaxlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    env = {k: v for k, v in os.environ.items() if k != "NNKIT_BACKEND"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_numpy_is_always_available_and_the_default(monkeypatch):
    monkeypatch.delenv("NNKIT_BACKEND", raising=False)
    assert "numpy" in backends.available()
    assert backends.get().name == "numpy"


def test_environment_variable_picks_the_default(monkeypatch):
    monkeypatch.setenv("NNKIT_BACKEND", "array_api_strict")
    if "array_api_strict" not in backends.available():
        pytest.skip("array-api-strict not installed")
    assert backends.get().name == "array_api_strict"


def test_use_and_set_default(monkeypatch):
    monkeypatch.delenv("NNKIT_BACKEND", raising=False)
    other = next(b for b in backends.available() if b != "numpy")
    with backends.use(other) as be:
        assert be.name == other and backends.get().name == other
        W = nnkit.Sequential([nnkit.layers.Dense(2, 1)]).init()[0]["W"]
        assert backends.name_of(W) == other and host(W).shape == (2, 1)
    assert backends.get().name == "numpy"
    backends.set_default(other)
    try:
        assert backends.get().name == other
    finally:
        backends.set_default(None)
    assert backends.get().name == "numpy"


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(nnkit.BackendUnavailable, match="'tensorflow'.*known: numpy"):
        backends.get("tensorflow")


def test_unavailable_backend_says_why_and_how_to_install():
    if "cupy" in backends.available():
        pytest.skip("cupy is available here")
    with pytest.raises(nnkit.BackendUnavailable) as info:
        backends.get("cupy")
    error, message = info.value, str(info.value)
    assert error.name == "cupy" and "'cupy'" in message
    # why: CuPy missing, or CuPy without a CUDA device that answers
    assert error.reason.startswith(("it is not installed", "no usable CUDA device"))
    assert error.reason in message
    assert "pip install 'nnkit[cuda12]'" in error.install and error.install in message
    assert "cupy" not in backends.available()
    default = backends.get().name
    with pytest.raises(nnkit.BackendUnavailable, match="^backend 'cupy' is unavailable: "):
        backends.set_default("cupy")
    assert backends.get().name == default  # a refused default changes nothing


def test_infer_and_name_of(backend):
    x = backend.asarray(np.ones((2, 2)), dtype="float32")
    assert backends.name_of(x) == backend.name
    assert backends.infer(x, x) is backend
    assert backends.name_of([1, 2]) is None and backends.name_of(1.0) is None
    with pytest.raises(TypeError, match=r"infer\(\) needs arrays of one of .*got \['list'\]"):
        backends.infer([1.0])
    with pytest.raises(ValueError, match=r"infer\(\) needs at least one array"):
        backends.infer()
    if backend.name != "numpy":
        with pytest.raises(ValueError, match="different backends"):
            backends.infer(x, np.ones(2))


def test_asarray_to_numpy_round_trip(backend, x64):
    host_x = np.arange(6.0).reshape(2, 3)
    for dtype in ("float32", "float64"):
        x = backend.asarray(host_x, dtype=dtype)
        assert x.dtype == backend.dtype(dtype)
        back = backend.to_numpy(backend.sync(x))
        assert isinstance(back, np.ndarray) and back.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back, host_x)


def test_jit_gives_the_same_result(backend, x64):
    def f(a, b):
        return a @ b + 1.0

    a = backend.asarray(np.arange(6.0).reshape(2, 3), "float64")
    b = backend.asarray(np.arange(3.0).reshape(3, 1), "float64")
    expected = np.array([[6.0], [15.0]])  # [[0, 1, 2], [3, 4, 5]] @ [[0], [1], [2]] + 1
    np.testing.assert_array_equal(host(f(a, b)), expected)
    np.testing.assert_array_equal(host(backend.jit(f)(a, b)), expected)


needs_jax = pytest.mark.skipif("jax" not in backends.available(), reason="jax not installed")


@needs_jax
def test_a_float64_test_on_jax_has_x64_mode_from_the_x64_fixture(x64):
    import jax

    assert jax.config.jax_enable_x64
    (params,) = nnkit.Sequential([nnkit.layers.Dense(3, 2)]).init(backend="jax", dtype="float64")
    assert str(params["W"].dtype) == "float64"


@needs_jax
def test_the_suite_runs_jax_as_users_do_with_x64_mode_off():
    """Runs after the float64 test above (file order): its fixture turned the mode off again."""
    import jax

    assert not jax.config.jax_enable_x64
    (params,) = nnkit.Sequential([nnkit.layers.Dense(3, 2)]).init(backend="jax")
    assert str(params["W"].dtype) == "float32" and not jax.config.jax_enable_x64


@needs_jax
@pytest.mark.parametrize("previous", [True, False])
def test_jax_x64_restores_the_previous_setting(previous):
    import jax

    with jax_x64(previous):
        with jax_x64():
            backends.get("jax").asarray([1.0], dtype="float64")
            assert jax.config.jax_enable_x64
        assert jax.config.jax_enable_x64 is previous
        with jax_x64(False):
            backends.get("jax").asarray([1.0], dtype="float64")  # turns it on, as documented
        assert jax.config.jax_enable_x64 is previous
    assert not jax.config.jax_enable_x64


def test_jax_float64_is_enabled_on_request():
    if "jax" not in backends.available():
        pytest.skip("jax not installed")
    code = (
        "from nnkit import backends; be = backends.get('jax');"
        "x = be.asarray([1.0, 2.0], dtype='float64'); assert str(x.dtype) == 'float64', x.dtype;"
        "assert (x + 1e-12 != x).all()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_trainer_rejects_arrays_of_another_backend():
    others = [b for b in backends.available() if b != "numpy"]
    if not others:
        pytest.skip("needs a second backend")
    foreign = backends.get(others[0]).asarray(np.ones((4, 2)), "float32")
    trainer = nnkit.Trainer(
        nnkit.Sequential([nnkit.layers.Dense(2, 1)]), nnkit.losses.MSE(), nnkit.optim.SGD(0.1)
    )
    with pytest.raises(TypeError, match=f"{others[0]} array.*'numpy'"):
        trainer.fit(foreign, np.ones((4, 1)), steps=1)


# -- to_host and is_host --------------------------------------------------------------------


def test_to_host_of_host_data():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    out = backends.to_host(a)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, a)
    assert np.shares_memory(out, a)  # NumPy is the host: nothing to copy out
    ints, floats = backends.to_host([[1, 2], [3, 4]]), backends.to_host([0.5, 1.5])
    assert type(ints) is np.ndarray and ints.dtype == np.int64 and ints.shape == (2, 2)
    np.testing.assert_array_equal(ints, [[1, 2], [3, 4]])
    assert type(floats) is np.ndarray and floats.dtype == np.float64
    np.testing.assert_array_equal(floats, [0.5, 1.5])
    scalar = backends.to_host(2.5)
    assert type(scalar) is np.ndarray and scalar.shape == () and scalar == 2.5


@pytest.mark.parametrize(
    "dtype", [x64_param(d) for d in ("float32", "float64", "int32", "bfloat16")]
)
def test_to_host_of_each_backends_arrays(backend, dtype):
    if dtype == "bfloat16" and not backend.bfloat16:
        pytest.skip(f"{backend.name} has no bfloat16")
    values = np.array([[0.0, 1.5, -2.0], [3.0, 4.25, 1e3]])
    if dtype == "int32":
        values = values.astype(np.int64)
    x = backend.asarray(values, dtype=dtype)
    out = backends.to_host(x)
    assert type(out) is np.ndarray and out.shape == (2, 3)
    assert out.dtype.name == dtype  # bfloat16: NumPy's extension dtype of that name
    np.testing.assert_array_equal(out.astype(np.float64), values.astype(np.float64))
    zero_d = backends.to_host(backend.asarray(7.0, dtype="float32"))
    assert type(zero_d) is np.ndarray and zero_d.shape == () and zero_d.dtype == np.float32
    assert float(zero_d) == 7.0


def test_is_host_exactly_for_numpy(backend):
    assert backend.is_host is (backend.name == "numpy")


def test_reference_only_exactly_for_array_api_strict(backend):
    assert backend.reference_only is (backend.name == "array_api_strict")


def test_donates_exactly_where_jit_writes_into_or_consumes_its_arguments(backend):
    """NumPy's replay writes a step's outputs into its donated arrays and XLA takes them
    over; torch, CuPy and array_api_strict return new arrays (no copy is needed to keep a
    caller's arrays), and so does every backend with jit turned off."""
    assert backend.donates is (backend.name in ("numpy", "jax"))
    assert backend.without_jit().donates is False


def test_donated_arrays_are_written_by_numpys_replay():
    """What ``donates`` declares for NumPy: a compiled step writes into its argument."""
    be = backends.get("numpy")
    step = be.jit(lambda a: a * 2 + 1, donate_argnums=(0,))
    first = np.ones(3)
    step(first)  # the call that records
    given = np.ones(3)
    out = step(given)
    np.testing.assert_array_equal(out, [3.0, 3.0, 3.0])
    assert np.shares_memory(out, given)


def test_cupy_is_not_host():
    assert CupyBackend.is_host is False  # a GPU backend, even where CuPy is not installed


def test_an_immutable_backends_arrays_never_share_host_memory(backend):
    """JAX arrays never change once made: one made from a NumPy array (device_put on the
    CPU would share its buffer) keeps its values when the NumPy array is written to."""
    if not backend.immutable:
        pytest.skip(f"{backend.name} arrays are mutable")
    for dtype in ("float32", None):
        x = np.arange(4, dtype=np.float32)
        a = backend.asarray(x, dtype=dtype)
        x[0] = 7
        np.testing.assert_array_equal(backend.to_numpy(a), [0, 1, 2, 3])
