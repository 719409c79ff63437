"""The same seed gives the same start on every backend, and short fits agree across backends."""

import numpy as np
import pytest
from helpers import host, x64_param

import nnkit
from nnkit import backends
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD

AVAILABLE = [b for b in ("numpy", "jax", "array_api_strict") if b in backends.available()]


def lecture():
    return nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )


@pytest.mark.parametrize("dtype", [x64_param("float32"), x64_param("float64")])
def test_same_seed_gives_identical_initial_parameters(dtype):
    model = lecture()
    reference = [{k: host(v) for k, v in p.items()} for p in model.init(7, "numpy", dtype)]
    for name in backends.available():
        params = model.init(7, name, dtype)
        for p, r in zip(params, reference, strict=True):
            for k in r:
                assert host(p[k]).dtype == np.dtype(dtype)
                np.testing.assert_array_equal(host(p[k]), r[k])
    other = model.init(8, "numpy", dtype)
    assert not np.array_equal(host(other[0]["W"]), reference[0]["W"])


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="needs two of numpy, jax, array_api_strict")
@pytest.mark.parametrize("dtype,rtol", [x64_param("float32", 1e-5), x64_param("float64", 1e-10)])
@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_short_fit_agrees_across_backends(dtype, rtol, strategy):
    X, y, _, _ = nnkit.datasets.digits()
    X, y = X[:96], y[:96]
    steps = 12 if strategy == "batched" else 4
    results = {}
    for name in AVAILABLE:
        tr = nnkit.Trainer(lecture(), MSE(), SGD(0.5), backend=name, dtype=dtype, strategy=strategy)
        history = tr.fit(X, y, steps=steps, batch_size=16)
        results[name] = (history["loss"], [{k: host(v) for k, v in p.items()} for p in tr.params])
    ref_loss, ref_params = results["numpy"]
    for name, (loss, params) in results.items():
        assert loss == pytest.approx(ref_loss, rel=rtol), name
        for p, r in zip(params, ref_params, strict=True):
            for k in r:
                np.testing.assert_allclose(p[k], r[k], rtol=rtol, atol=rtol * 1e-2, err_msg=name)
