"""Reproducibility: the same seed gives the same parameters.

- NumPy, same seed: bitwise identical after N steps, run to run (in process and in a fresh
  interpreter), for both strategies and both dtypes.
- ``per_sample`` and ``batched`` do the same maths but sum in a different order
  (a loop of per-row outer products vs one ``X.T @ dY``): bitwise identical at
  ``batch_size=1``, where there is nothing to sum; within the documented tolerance otherwise.
- Across backends (JAX's XLA kernels round differently): within the documented tolerance.
- Different seeds give different parameters.

Documented tolerance after N = 40 SGD-momentum steps: max |a - b| <= RTOL * max |a| per
parameter array, with RTOL = 1e-14 in float64 and 1e-5 in float32, about 50 and 80 units
of roundoff (measured worst over 5 seeds, NumPy vs per_sample, JAX and array-api-strict:
8.3e-16 and 5.6e-7). The float32 figure is for CPU devices: GPUs may run float32
matmuls in TF32 (10-bit mantissa) unless told otherwise.
"""

from __future__ import annotations

import hashlib
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import x64_param

import nnkit
from nnkit import backends, losses, optim
from nnkit.layers import Dense, Tanh

RTOL = {"float64": 1e-14, "float32": 1e-5}
STEPS, BATCH = 40, 32


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(123)
    X = rng.normal(size=(128, 8))
    y = np.argmax(X @ rng.normal(size=(8, 4)), axis=1)
    return X, y


def train(backend="numpy", strategy="batched", dtype="float64", seed=0, batch_size=BATCH):
    """Host copies of the parameters after STEPS steps."""
    model = nnkit.Sequential([Dense(8, 16), Tanh(), Dense(16, 4)])
    tr = nnkit.Trainer(
        model,
        losses.CrossEntropy(),
        optim.SGD(0.1, momentum=0.9),
        backend=backend,
        strategy=strategy,
        dtype=dtype,
        seed=seed,
    )
    tr.fit(*data(), steps=STEPS, batch_size=batch_size)
    return [tr.backend.to_numpy(a) for p in tr.params for a in p.values()]


def digest(params) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in params)).hexdigest()


def assert_within_tolerance(a, b, dtype):
    for x, y in zip(a, b, strict=True):
        assert np.max(np.abs(x - y)) <= RTOL[dtype] * np.max(np.abs(x))


CONFIGS = [(s, d) for s in ("batched", "per_sample") for d in ("float64", "float32")]


@pytest.mark.parametrize("strategy, dtype", CONFIGS)
def test_numpy_same_seed_is_bitwise_identical(strategy, dtype):
    assert digest(train(strategy=strategy, dtype=dtype)) == digest(
        train(strategy=strategy, dtype=dtype)
    )


def test_numpy_same_seed_is_bitwise_identical_in_a_fresh_process():
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})
        from test_reproducibility import CONFIGS, digest, train
        for strategy, dtype in CONFIGS:
            print(digest(train(strategy=strategy, dtype=dtype)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [digest(train(strategy=s, dtype=d)) for s, d in CONFIGS]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_strategies_bitwise_identical_at_batch_size_1(dtype):
    """One row per minibatch: the per-sample loop has nothing to sum, so the maths is identical."""
    a = train(strategy="batched", dtype=dtype, batch_size=1)
    b = train(strategy="per_sample", dtype=dtype, batch_size=1)
    assert digest(a) == digest(b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_strategies_within_tolerance(dtype):
    assert_within_tolerance(
        train(strategy="batched", dtype=dtype), train(strategy="per_sample", dtype=dtype), dtype
    )


@pytest.mark.parametrize("other", [b for b in backends.available() if b != "numpy"])
@pytest.mark.parametrize("strategy, dtype", [x64_param(s, d) for s, d in CONFIGS])
def test_backends_within_tolerance(other, strategy, dtype):
    if dtype == "float32" and "cpu" not in backends.get(other).device_name().lower():
        pytest.skip("float32 matmuls on a GPU may run in TF32: the tolerance is for CPU devices")
    reference = train(strategy="batched", dtype=dtype)
    assert_within_tolerance(reference, train(other, strategy=strategy, dtype=dtype), dtype)


@pytest.mark.parametrize("backend_name", backends.available())
def test_different_seeds_differ(backend_name, x64):
    a, b = train(backend_name, seed=0), train(backend_name, seed=1)
    for x, y in zip(a, b, strict=True):
        assert np.max(np.abs(x - y)) > 1e-3 * np.max(np.abs(x))
