"""The torch backend: nnkit's hand-written gradients on torch tensors against torch.autograd
on the same network, its device and flags, data in and out, and agreement with NumPy."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nnkit
from nnkit import backends, layers, losses
from nnkit.optim import SGD

pytestmark = pytest.mark.skipif("torch" not in backends.available(), reason="needs torch")

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, dim=1),
    "identity": lambda z: z,
}
NNKIT_ACTIVATIONS = {
    "sigmoid": layers.Sigmoid,
    "tanh": layers.Tanh,
    "relu": layers.ReLU,
    "leaky_relu": lambda: layers.LeakyReLU(0.01),
    "softmax": layers.Softmax,
    "identity": layers.Identity,
}
# loss name -> (nnkit loss, torch's own function of (prediction, target))
LOSSES = {
    "mse": (losses.MSE, F.mse_loss),
    "bce_logits": (
        lambda: losses.BinaryCrossEntropy(from_logits=True),
        F.binary_cross_entropy_with_logits,
    ),
    "bce": (losses.BinaryCrossEntropy, F.binary_cross_entropy),
    "ce_labels": (losses.CrossEntropy, F.cross_entropy),
    "ce_onehot": (losses.CrossEntropy, F.cross_entropy),
}
# (hidden activations, output activation or None, loss)
CASES = [
    (["sigmoid"], None, "mse"),
    (["tanh", "relu"], None, "bce_logits"),
    (["leaky_relu"], "sigmoid", "bce"),
    (["relu", "tanh"], None, "ce_labels"),
    (["softmax"], None, "ce_onehot"),
    (["identity", "sigmoid"], "tanh", "mse"),
]
N, IN, HIDDEN, OUT = 6, 5, 7, 4


def build(hidden, output):
    """Dense-act per hidden activation, then Dense(., OUT) and the output activation."""
    widths = [IN] + [HIDDEN] * len(hidden) + [OUT]
    stack = []
    for i, name in enumerate(hidden):
        stack += [layers.Dense(widths[i], widths[i + 1]), NNKIT_ACTIVATIONS[name]()]
    stack.append(layers.Dense(widths[-2], OUT))
    if output is not None:
        stack.append(NNKIT_ACTIVATIONS[output]())
    return nnkit.Sequential(stack)


def data(loss_name, seed=0):
    """Host X (N, IN) and the target of ``loss_name``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, IN))
    if loss_name == "ce_labels":
        return X, rng.integers(0, OUT, size=N)
    if loss_name == "ce_onehot":
        return X, np.eye(OUT)[rng.integers(0, OUT, size=N)]
    if loss_name.startswith("bce"):
        return X, rng.uniform(size=(N, OUT))
    return X, rng.normal(size=(N, OUT))


def autograd_reference(params, hidden, output, loss_name, X, T):
    """dLoss/dparams and dLoss/dX of the same network written in plain torch, by autograd."""
    leaves = [{k: v.detach().clone().requires_grad_(True) for k, v in p.items()} for p in params]
    x = torch.asarray(X, dtype=torch.float64).requires_grad_(True)
    dense = [p for p in leaves if p]
    names = [*hidden, output or "identity"]
    h = x
    for p, name in zip(dense, names, strict=True):
        h = TORCH_ACTIVATIONS[name](h @ p["W"] + p["b"])
    target = torch.asarray(T)
    if loss_name != "ce_labels":
        target = target.to(torch.float64)
    loss = LOSSES[loss_name][1](h, target)
    loss.backward()
    return [{k: v.grad for k, v in p.items()} for p in leaves], x.grad, loss.detach()


@pytest.mark.parametrize("hidden, output, loss_name", CASES)
def test_hand_written_gradients_match_torch_autograd(hidden, output, loss_name):
    be = backends.get("torch")
    model = build(hidden, output)
    params = model.init(seed=3, backend="torch", dtype="float64")
    X, T = data(loss_name)
    loss = LOSSES[loss_name][0]()
    x, t = be.asarray(X, dtype="float64"), be.asarray(T)
    if loss_name != "ce_labels":
        t = be.asarray(T, dtype="float64")
    Y, cache = model.forward(params, x)
    dX, grads = model.backward(params, cache, loss.grad(Y, t))
    ref_grads, ref_dX, ref_loss = autograd_reference(params, hidden, output, loss_name, X, T)

    assert backends.name_of(dX) == "torch" and dX.dtype == torch.float64
    torch.testing.assert_close(loss(Y, t), ref_loss, rtol=1e-12, atol=0)
    torch.testing.assert_close(dX, ref_dX, rtol=1e-10, atol=1e-14)
    assert [sorted(g) for g in grads] == [sorted(g) for g in ref_grads]
    for g, r in zip(grads, ref_grads, strict=True):
        for k in r:
            assert g[k].shape == r[k].shape
            torch.testing.assert_close(g[k], r[k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_trainer_gradients_match_torch_autograd(strategy):
    hidden, output, loss_name = ["tanh"], "sigmoid", "mse"
    trainer = nnkit.Trainer(build(hidden, output), losses.MSE(), SGD(0.1), backend="torch",
                            strategy=strategy, seed=5, dtype="float64")  # fmt: skip
    X, T = data(loss_name, seed=1)
    grads, value = trainer.gradients(X, T)
    ref_grads, _, ref_loss = autograd_reference(trainer.params, hidden, output, loss_name, X, T)
    torch.testing.assert_close(torch.asarray(value), ref_loss, rtol=1e-12, atol=0)
    for g, r in zip(grads, ref_grads, strict=True):
        for k in r:
            torch.testing.assert_close(g[k], r[k], rtol=1e-10, atol=1e-14)


def test_the_reference_catches_a_wrong_gradient():
    """The comparison above can fail: a gradient off by one part in 1e6 is caught."""
    model = build(["sigmoid"], None)
    params = model.init(seed=3, backend="torch", dtype="float64")
    X, T = data("mse")
    be = backends.get("torch")
    Y, cache = model.forward(params, be.asarray(X, dtype="float64"))
    _, grads = model.backward(params, cache, losses.MSE().grad(Y, be.asarray(T, "float64")))
    ref, _, _ = autograd_reference(params, ["sigmoid"], None, "mse", X, T)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(grads[0]["W"] * (1 + 1e-6), ref[0]["W"], rtol=1e-10, atol=0)


def test_device_is_cuda0_where_torch_sees_a_gpu_else_cpu():
    be = backends.get("torch")
    expected = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    assert be.device == expected
    params = nnkit.Sequential([layers.Dense(3, 2)]).init(backend="torch")
    assert params[0]["W"].device == expected and params[0]["W"].dtype == torch.float32
    assert backends.name_of(params[0]["W"]) == "torch"
    assert backends.infer(params[0]["W"], params[0]["b"]) is be
    import array_api_compat.torch as xp

    assert be.xp is xp


def test_flags_are_honest():
    be = backends.get("torch")
    assert (be.is_host, be.can_scan, be.bfloat16, be.immutable) == (False, False, False, False)
    f = lambda a: a + 1  # noqa: E731
    assert be.jit(f) is f
    with pytest.raises(NotImplementedError):
        be.scan(f, 0, [])
    with pytest.raises(ValueError, match="bfloat16.*'torch'"):
        nnkit.Trainer(build(["tanh"], None), losses.MSE(), SGD(0.1), backend="torch",
                      dtype="bfloat16")  # fmt: skip


def test_dtype_names_map_to_torch_dtypes():
    be = backends.get("torch")
    assert be.dtype("float32") is torch.float32 and be.dtype("float64") is torch.float64
    assert be.asarray([1, 2], dtype="float64").dtype == torch.float64
    with pytest.raises(ValueError, match="'float8' is not supported by backend 'torch'"):
        be.dtype("float8")


def test_to_numpy_detaches_and_copies_off_the_device():
    be = backends.get("torch")
    w = torch.ones(2, 3, dtype=torch.float64, device=be.device, requires_grad=True)
    out = be.to_numpy(w * 2)  # part of an autograd graph (and on the GPU where there is one)
    assert type(out) is np.ndarray and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(backends.to_host(w), np.ones((2, 3)))
    assert be.sync(w) is w


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch with a CUDA device")
def test_cuda_tensors_come_back_to_the_host():
    be = backends.get("torch")
    x = be.asarray(np.arange(6.0).reshape(2, 3))
    assert x.device.type == "cuda"
    assert be.sync(x * 2) is not None
    out = be.to_numpy(x)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3))
    assert be.memory_bytes() > 0 and be.device_name() == torch.cuda.get_device_name(0)


def test_read_only_and_reversed_numpy_arrays_are_accepted():
    be = backends.get("torch")
    a = np.arange(6.0).reshape(2, 3)
    a.flags.writeable = False
    flipped = np.arange(6.0)[::-1]
    np.testing.assert_array_equal(be.to_numpy(be.asarray(a)), a)
    np.testing.assert_array_equal(be.to_numpy(be.asarray(flipped)), flipped)
    trainer = nnkit.Trainer(nnkit.Sequential([layers.Dense(3, 1)]), losses.MSE(), SGD(0.1),
                            backend="torch")  # fmt: skip
    assert tuple(trainer.predict(a).shape) == (2, 1)


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-10)])
def test_short_fit_agrees_with_numpy(strategy, dtype, rtol):
    if dtype == "float32" and backends.get("torch").device.type != "cpu":
        pytest.skip("the float32 tolerance is for CPU devices")
    X, y, _, _ = nnkit.datasets.digits()
    X, y = X[:96], y[:96]
    results = {}
    for name in ("numpy", "torch"):
        model = nnkit.Sequential(
            [layers.Dense(64, 32), layers.Sigmoid(), layers.Dense(32, 10), layers.Sigmoid()]
        )
        tr = nnkit.Trainer(model, losses.MSE(), SGD(0.5), backend=name, dtype=dtype,
                           strategy=strategy)  # fmt: skip
        history = tr.fit(X, y, steps=12 if strategy == "batched" else 4, batch_size=16)
        results[name] = (history["loss"], [{k: backends.to_host(v) for k, v in p.items()}
                                           for p in tr.params])  # fmt: skip
    (ref_loss, ref_params), (loss, params) = results["numpy"], results["torch"]
    assert loss == pytest.approx(ref_loss, rel=rtol)
    for p, r in zip(params, ref_params, strict=True):
        for k in r:
            np.testing.assert_allclose(p[k], r[k], rtol=rtol, atol=rtol * 1e-2)


def test_torch_is_imported_only_when_its_backend_is_asked_for():
    code = (
        "import sys, numpy as np, nnkit;"
        "nnkit.backends.get('numpy'); nnkit.backends.name_of(np.ones(1));"
        "nnkit.Sequential([nnkit.layers.Dense(2, 1)]).init();"
        "assert 'torch' not in sys.modules;"
        "nnkit.backends.get('torch'); assert 'torch' in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if k != "NNKIT_BACKEND"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


@pytest.mark.parametrize("tf32, expected", [("", "highest"), ("1", "high")])
def test_tf32_only_when_asked(tf32, expected):
    code = (
        "import torch; from nnkit import backends; backends.get('torch');"
        "print(torch.get_float32_matmul_precision())"
    )
    env = {**os.environ, backends.TF32_ENV: tf32}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout  # fmt: skip
    assert out.split() == [expected]
