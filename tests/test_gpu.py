"""GPU correctness: CuPy and JAX-on-GPU against NumPy, gradient checks on the device, and
bfloat16 mixed precision on the GPU. Every test is marked ``gpu``: ``pytest -m gpu`` runs
them; conftest skips them all where no CUDA device answers, and each test skips where its
own library (CuPy, or JAX with a GPU device) is missing."""

import re

import numpy as np
import pytest
from conftest import AVAILABLE, JAX_GPU
from helpers import host, numeric_grad, rel_error, x64_param

import nnkit
from nnkit.errors import InvalidValueError
from nnkit.layers import Dense, ReLU, Sigmoid, Tanh
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD

pytestmark = pytest.mark.gpu

GPU_BACKENDS = [
    pytest.param("cupy", marks=pytest.mark.skipif("cupy" not in AVAILABLE, reason="no cupy")),
    pytest.param("jax", marks=pytest.mark.skipif(not JAX_GPU, reason="jax has no GPU device")),
]
RTOL = {"float64": 1e-10, "float32": 1e-5}
ATOL = {"float64": 1e-12, "float32": 1e-6}  # for entries near zero, at the dtype's scale


def lecture_model():
    return nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )


def wide_model():
    return nnkit.Sequential([Dense(64, 256), ReLU(), Dense(256, 128), Tanh(), Dense(128, 10)])


def _fit(backend, dtype, make_model, loss, optimizer, steps):
    X, y, X_test, _ = nnkit.datasets.digits(normalize=True)
    trainer = nnkit.Trainer(make_model(), loss, optimizer, backend=backend, dtype=dtype)
    history = trainer.fit(X, y, steps=steps, batch_size=64)
    return trainer, history, host(trainer.predict(X_test))


@pytest.mark.parametrize("backend", GPU_BACKENDS)
@pytest.mark.parametrize("dtype", [x64_param("float64"), x64_param("float32")])
@pytest.mark.parametrize(
    "make_model, loss, optimizer",
    [(lecture_model, MSE(), SGD(0.5)), (wide_model, CrossEntropy(), SGD(0.1, momentum=0.9))],
)
def test_short_fit_agrees_with_numpy(backend, dtype, make_model, loss, optimizer):
    """10 steps on digits: parameters, losses and predictions as NumPy computes them.
    (Not Adam: its first steps move each weight by about lr * sign(g), so a gradient within
    rounding of 0 may move either way on two devices; tests/test_optim.py checks Adam.)"""
    ref, ref_hist, ref_pred = _fit("numpy", dtype, make_model, loss, optimizer, 10)
    gpu, gpu_hist, gpu_pred = _fit(backend, dtype, make_model, loss, optimizer, 10)
    tol = {"rtol": RTOL[dtype], "atol": ATOL[dtype]}
    for a, b in zip(nnkit.tree.tree_leaves(ref.params), nnkit.tree.tree_leaves(gpu.params)):
        assert str(b.dtype) == dtype
        np.testing.assert_allclose(host(b), host(a), **tol)
    np.testing.assert_allclose(gpu_hist["loss"], ref_hist["loss"], rtol=RTOL[dtype])
    np.testing.assert_allclose(gpu_pred, ref_pred, **tol)


@pytest.mark.parametrize("backend", GPU_BACKENDS)
@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_gradients_on_the_device_match_finite_differences(backend, strategy, x64):
    """float64 grads of one minibatch computed on the GPU vs central differences of the
    loss computed on the host."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    model = nnkit.Sequential([Dense(5, 7), Tanh(), Dense(7, 3)])
    trainer = nnkit.Trainer(model, CrossEntropy(), SGD(0.1), backend=backend,
                            strategy=strategy, dtype="float64")  # fmt: skip
    grads, _ = trainer.gradients(X, y)
    params = [{k: host(v) for k, v in p.items()} for p in trainer.params]
    for i, p in enumerate(params):
        for key, value in p.items():

            def f(v, i=i, key=key):
                trial = [dict(q) for q in params]
                trial[i][key] = v
                pred = model.predict(trial, X)
                return float(CrossEntropy()(pred, y))

            assert rel_error(host(grads[i][key]), numeric_grad(f, value)) < 1e-7


@pytest.mark.parametrize(
    "backend",
    [pytest.param("jax", marks=pytest.mark.skipif(not JAX_GPU, reason="jax has no GPU device"))],
)
@pytest.mark.parametrize("fused", [False, True])
def test_jax_gpu_fused_epoch_equals_stepwise(backend, fused):
    X, y, _, _ = nnkit.datasets.digits()
    runs = []
    for f in (False, fused):
        trainer = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend=backend)
        trainer.fit(X, y, epochs=2, batch_size=64, fused=f)
        runs.append(nnkit.tree.tree_leaves(trainer.params))
    for a, b in zip(*runs):
        np.testing.assert_allclose(host(b), host(a), rtol=RTOL["float32"], atol=ATOL["float32"])


@pytest.mark.skipif(not JAX_GPU, reason="jax has no GPU device")
def test_bfloat16_on_jax_gpu_trains_digits_with_float32_master_weights():
    """Same figure as the CPU test (tests/test_precision.py): 0.975 after 6000 steps."""
    X, y, X_test, y_test = nnkit.datasets.digits()
    accuracy = {}
    for dtype in ("float32", "bfloat16"):
        trainer = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax", dtype=dtype)
        trainer.fit(X, y, steps=6000, batch_size=64, fused=True)
        accuracy[dtype] = trainer.evaluate(X_test, y_test)["accuracy"]
        assert {str(a.dtype) for a in nnkit.tree.tree_leaves(trainer.params)} == {"float32"}
    assert accuracy["float32"] >= 0.97, accuracy
    assert accuracy["bfloat16"] >= accuracy["float32"] - 0.01, accuracy


DOT = re.compile(r"stablehlo\.dot_general .*")
PRECISION = re.compile(r"precision = \[(\w+), (\w+)\]")


@pytest.mark.skipif(not JAX_GPU, reason="jax has no GPU device")
def test_jax_gpu_step_is_pinned_to_highest_precision(tmp_path):
    """The step fit compiles for the GPU (read from JAX's IR dump of each compilation, as in
    tests/test_precision.py): 8 matmuls, every one HIGHEST (no TF32 tensor cores); an op
    with JAX's default precision would carry no precision attribute."""
    import jax

    X, y, _, _ = nnkit.datasets.digits()
    trainer = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax")
    flags = {"jax_dump_ir_to": str(tmp_path), "jax_dump_ir_modes": "stablehlo"}
    old = {name: jax.config.read(name) for name in flags}
    for name, value in flags.items():
        jax.config.update(name, value)
    try:
        trainer.fit(X[:64], y[:64], steps=1, batch_size=64, fused=False)
    finally:
        for name, value in old.items():
            jax.config.update(name, value)
    programs = [f.read_text() for f in sorted(tmp_path.glob("*.mlir"))]
    [step] = [p for p in programs if DOT.search(p)]  # the rest of fit has no matmul
    dots = DOT.findall(step)
    precisions = [m.groups() if (m := PRECISION.search(d)) else ("DEFAULT",) for d in dots]
    assert len(dots) == 8  # 3 forward, 3 weight grads, 2 input grads
    assert precisions == [("HIGHEST", "HIGHEST")] * 8


@pytest.mark.skipif("cupy" not in AVAILABLE, reason="no cupy")
def test_cupy_refuses_bfloat16_by_name():
    with pytest.raises(InvalidValueError, match="got backend 'cupy'"):
        nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="cupy", dtype="bfloat16")
