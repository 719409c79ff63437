"""Shared fixtures: the backends available here, JAX as users run it (x64 off, float32;
the ``x64`` fixture for tests that need float64) with strict broadcasting, no compiled
programs kept across runs (NNKIT_CACHE_DIR empty), and the hypothesis profiles ("ci": 50
examples, chosen when the CI environment variable is set; "dev": 100 examples, the default
elsewhere; HYPOTHESIS_PROFILE=name picks one explicitly)."""

import contextlib
import os

import pytest
from helpers import jax_x64
from hypothesis import settings

from nnkit import backends

settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# `nnkit train` keeps compiled programs across runs; the suite's runs (and their
# subprocesses) keep none, so that each test compiles what it counts
os.environ["NNKIT_CACHE_DIR"] = ""

AVAILABLE = backends.available()

if "jax" in AVAILABLE:
    import jax

    # silent rank promotion (e.g. (n, k) + (k,)) is a bug in shared code: make it an error
    jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "x64: JAX's x64 mode on for the test (or a pytest.param's), as the x64 fixture"
    )


@pytest.fixture
def x64():
    """JAX's x64 mode on for this test (float64 and int64 arrays on JAX), and back to its
    previous setting after it."""
    with jax_x64():
        yield


@pytest.fixture(autouse=True)
def _jax_as_users_run_it(request):
    """Every test starts with JAX's x64 mode off, as users run JAX, except a test that has the
    x64 fixture (or the x64 mark); a test that leaves it on (asking the JAX backend for
    float64 turns it on for the process) fails, and the mode is turned off again."""
    with jax_x64() if request.node.get_closest_marker("x64") else contextlib.nullcontext():
        yield
    if "jax" in AVAILABLE and jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", False)
        pytest.fail(f"{request.node.nodeid} left JAX's x64 mode on: give it the x64 fixture")


@pytest.fixture(params=AVAILABLE)
def backend(request):
    """Every backend that runs on this machine."""
    return backends.get(request.param)


JAX_GPU = "jax" in AVAILABLE and backends.get("jax").device.platform == "gpu"
TORCH_GPU = "torch" in AVAILABLE and getattr(backends.get("torch").device, "type", "") == "cuda"


def pytest_collection_modifyitems(config, items):
    """GPU tests skip cleanly where no CUDA backend answers (neither CuPy, JAX nor torch on
    a GPU);
    tests/test_gpu.py skips each test whose own library has no GPU."""
    if "cupy" in AVAILABLE or JAX_GPU or TORCH_GPU:
        return
    skip = pytest.mark.skip(reason="no CUDA device: neither cupy, jax nor torch on a GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
