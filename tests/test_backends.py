"""The backend registry, lazy imports and the errors it gives."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import host

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
        assert nnkit.Sequential([nnkit.layers.Dense(2, 1)]).init()[0]["W"] is not None
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
    message = str(info.value)
    assert "'cupy'" in message and "pip install" in message and "cuda12" in message
    assert info.value.reason and "cupy" not in backends.available()
    with pytest.raises(nnkit.BackendUnavailable):
        backends.set_default("cupy")


def test_infer_and_name_of(backend):
    x = backend.asarray(np.ones((2, 2)), dtype="float32")
    assert backends.name_of(x) == backend.name
    assert backends.infer(x, x).name == backend.name
    assert backends.name_of([1, 2]) is None
    with pytest.raises(TypeError):
        backends.infer([1.0])
    if backend.name != "numpy":
        with pytest.raises(ValueError, match="different backends"):
            backends.infer(x, np.ones(2))


def test_asarray_to_numpy_round_trip(backend):
    host_x = np.arange(6.0).reshape(2, 3)
    for dtype in ("float32", "float64"):
        x = backend.asarray(host_x, dtype=dtype)
        assert x.dtype == backend.dtype(dtype)
        back = backend.to_numpy(backend.sync(x))
        assert isinstance(back, np.ndarray) and back.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back, host_x)


def test_jit_gives_the_same_result(backend):
    def f(a, b):
        return a @ b + 1.0

    a = backend.asarray(np.arange(6.0).reshape(2, 3), "float64")
    b = backend.asarray(np.arange(3.0).reshape(3, 1), "float64")
    np.testing.assert_array_equal(host(backend.jit(f)(a, b)), host(f(a, b)))


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
