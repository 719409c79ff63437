"""Shared fixtures: the backends available here, and JAX's strict broadcasting."""

import pytest

from nnkit import backends

AVAILABLE = backends.available()

if "jax" in AVAILABLE:
    import jax

    # silent rank promotion (e.g. (n, k) + (k,)) is a bug in shared code: make it an error
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_enable_x64", True)


@pytest.fixture(params=AVAILABLE)
def backend(request):
    """Every backend that runs on this machine."""
    return backends.get(request.param)


def pytest_collection_modifyitems(config, items):
    """GPU tests skip cleanly where no CUDA backend answers."""
    if "cupy" in AVAILABLE:
        return
    skip = pytest.mark.skip(reason="no CUDA device: cupy backend unavailable")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
