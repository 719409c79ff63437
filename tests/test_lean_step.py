"""The lean NumPy training step (layers, losses and optimizers in the backend's in-place ops,
intermediates in buffers reused across steps) is bitwise equal to the pure path, allocates
no per-step arrays, and never overwrites an array handed to the user."""

import copy
import tracemalloc

import numpy as np
import pytest

from nnkit import Sequential, Trainer, backends
from nnkit import functional as F
from nnkit.layers import Dense, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from nnkit.losses import MSE, BinaryCrossEntropy, CrossEntropy
from nnkit.optim import SGD, Adam
from nnkit.tree import tree_leaves


def numpy_functional():
    """The NumPy backend with its in-place path switched off: the pure reference."""
    backend = copy.copy(backends.get("numpy"))
    backend.inplace = False
    return backend


def assert_bitwise(got, expected):
    got = [a for a in tree_leaves(got) if hasattr(a, "shape")]
    expected = [a for a in tree_leaves(expected) if hasattr(a, "shape")]
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def fit_both(layers, loss, optimizer, X, Y, *, strategy="batched", dtype="float32", **kw):
    """The same fits (37 rows, minibatches of 8: a last partial one; two fit calls) on the
    lean and the pure path: params, optimizer state and History losses bitwise equal."""
    model = Sequential(layers)
    lean = Trainer(model, loss, optimizer(), strategy=strategy, dtype=dtype, backend="numpy")
    pure = Trainer(model, loss, optimizer(), strategy=strategy, dtype=dtype,
                   backend=numpy_functional())  # fmt: skip
    assert lean.backend.inplace and not pure.backend.inplace
    for epochs in (2, 1):
        a = lean.fit(X, Y, epochs=epochs, batch_size=8, **kw)
        b = pure.fit(X, Y, epochs=epochs, batch_size=8, **kw)
        assert np.asarray(a["loss"]).tobytes() == np.asarray(b["loss"]).tobytes()
        assert_bitwise(lean.params, pure.params)
        assert_bitwise(lean.opt_state, pure.opt_state)
    return lean


def regression(rng, n=37, k=3):
    return rng.normal(size=(n, 6)) * 2, rng.normal(size=(n, k))


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.1),
    "softmax": Softmax,
    "identity": Identity,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activation_bitwise(name, dtype):
    X, Y = regression(np.random.default_rng(0))
    act = ACTIVATIONS[name]
    layers = [Dense(6, 8), act(), Dense(8, 5, bias=False), act(), Dense(5, 3), act()]
    fit_both(layers, MSE(), lambda: SGD(0.05, momentum=0.5), X, Y, dtype=dtype)


LOSSES = {
    "mse": (MSE, "regression"),
    "bce_logits": (lambda: BinaryCrossEntropy(from_logits=True), "binary"),
    "bce_probabilities": (BinaryCrossEntropy, "binary"),
    "cross_entropy_labels": (CrossEntropy, "labels"),
    "cross_entropy_one_hot": (CrossEntropy, "one_hot"),
    "cross_entropy_probabilities": (lambda: CrossEntropy(from_logits=False), "labels"),
}


def targets(kind, rng, n=37, k=3):
    labels = rng.integers(0, k, size=n)
    return {
        "regression": lambda: rng.normal(size=(n, k)),
        "binary": lambda: rng.integers(0, 2, size=(n, k)).astype(float),
        "labels": lambda: labels,
        "one_hot": lambda: np.eye(k)[labels],
    }[kind]()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_each_loss_bitwise(name, dtype):
    rng = np.random.default_rng(1)
    loss, kind = LOSSES[name]
    X, Y = rng.normal(size=(37, 6)), targets(kind, rng)
    last = [Sigmoid()] if kind == "binary" and name != "bce_logits" else []
    if name == "cross_entropy_probabilities":
        last = [Softmax()]
    layers = [Dense(6, 8), Tanh(), Dense(8, 3), *last]
    fit_both(layers, loss(), lambda: Adam(1e-2), X, Y, dtype=dtype)


OPTIMIZERS = {
    "sgd": lambda: SGD(0.5),
    "momentum": lambda: SGD(0.1, momentum=0.9),
    "nesterov": lambda: SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: Adam(1e-2),
}


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_and_strategy_bitwise(name, strategy):
    X, Y = regression(np.random.default_rng(2))
    layers = [Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()]
    X_val, Y_val = regression(np.random.default_rng(3), n=9)
    fit_both(layers, MSE(), OPTIMIZERS[name], X, Y, strategy=strategy,
             validation_data=(X_val, Y_val), check_every=3)  # fmt: skip


SPECIAL = [0.0, -0.0, 1e-9, -1e-9, 1e-45, -1e-45, 5.0, -5.0, 88.0, -88.0, 104.0, -104.0,
           800.0, -800.0, np.inf, -np.inf, np.nan, -np.nan]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_same_bits_as_the_masked_select_form(dtype):
    """The sigmoid numerator max(e, [z >= 0]) has the bits of where(z >= 0, 1, e) (the
    earlier form), also at +-0, subnormals, saturation, infinities and NaN."""
    rng = np.random.default_rng(4)
    z = np.concatenate([np.asarray(SPECIAL), rng.normal(size=200) * 30]).astype(dtype)
    z = z.reshape(-1, 2)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        reference = np.where(z >= 0, 1, e) / (1 + e)
        pure = F.sigmoid(np, z)
        ops = backends.get("numpy").inplace_ops()
        lean = [F.sigmoid(np, z, ops).copy() for _ in range(2)]  # cold, then warm buffers
    for got in (pure, *lean):
        assert got.dtype == reference.dtype and got.tobytes() == reference.tobytes()


def test_warm_lean_step_allocates_no_arrays():
    """After the first step of a minibatch shape, a step allocates no array of that shape:
    every intermediate and gradient is a reused buffer (the pure path allocates many)."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(256, 64)), rng.normal(size=(256, 10))
    layers = [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    peaks = {}
    for backend in ("numpy", numpy_functional()):
        t = Trainer(Sequential(layers), MSE(), SGD(0.1), backend=backend)
        Xb, Tb = (t.backend.asarray(a, dtype="float32") for a in (X, Y))
        step, p, o = t._steps.step, t.params, t.opt_state
        p, o, _ = step(p, o, Xb, Tb)
        tracemalloc.start()
        p, o, _ = step(p, o, Xb, Tb)
        peaks[backend if isinstance(backend, str) else "pure"] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    hidden = 256 * 128 * 4  # bytes of one hidden activation
    # views, scalars and NumPy's fixed-size casting buffer (8192 elements) only
    assert peaks["numpy"][1] < hidden / 2
    assert peaks["pure"][1] > 4 * hidden


def test_arrays_handed_out_are_never_overwritten():
    """gradients, predict and model.forward return new arrays: a later fit (whose steps
    reuse their buffers) or call leaves them as they were."""
    rng = np.random.default_rng(6)
    X, Y = regression(rng)
    model = Sequential([Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()])
    t = Trainer(model, MSE(), SGD(0.1, momentum=0.9), backend="numpy")
    held = [t.gradients(X[:8], Y[:8]), t.predict(X), model.forward(t.params, t.backend.asarray(X))]
    copies = copy.deepcopy(held)
    t.fit(X, Y, epochs=2, batch_size=8)
    held.append(t.gradients(X[:8], Y[:8]))
    copies.append(copy.deepcopy(held[-1]))
    t.fit(X, Y, epochs=1, batch_size=8)
    t.gradients(X[:8], Y[:8])
    t.predict(X)
    for a, b in zip(tree_leaves(held), tree_leaves(copies), strict=True):
        if hasattr(a, "shape"):
            assert a.tobytes() == b.tobytes()


def test_inplace_ops_keep_one_buffer_per_role_and_scope():
    ops = backends.get("numpy").inplace_ops()
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    first = ops.scope(0).mul(x, 2.0, out="y")
    again = ops.scope(0).mul(x, 3.0, out="y")
    other = ops.scope(1).mul(x, 2.0, out="y")
    assert again is first and other is not first
    assert np.array_equal(first, x * 3) and np.array_equal(other, x * 2)
    kept = [ops.scope(("batch", i), keep=2) for i in range(3)]
    assert ops.scope(("batch", 2), keep=2) is kept[2] and ops.scope(("batch", 1)) is kept[1]
    assert ops.scope(("batch", 0), keep=2) is not kept[0]  # forgotten, made anew
    given = np.empty_like(x)
    assert ops.add(x, 1, out=given) is given and np.array_equal(given, x + 1)
    with pytest.raises(ValueError, match="overwrite x"):
        ops.where(x > 0, x, 0.0, out=x)


def test_layers_without_ops_still_train():
    """A Layer subclass written before ``ops`` (forward(p, X), backward(p, cache, dY)) runs
    as it is, on both paths, between layers that use the in-place ops."""
    from nnkit.layers import Layer

    class Square(Layer):
        def forward(self, p, X):
            return X * X, X

        def backward(self, p, X, dY):
            return 2 * X * dY, {}

    X, Y = regression(np.random.default_rng(7))
    layers = [Dense(6, 8), Square(), Dense(8, 3), Sigmoid()]
    fit_both(layers, MSE(), lambda: SGD(0.01), X, Y)


def test_losses_without_ops_still_train_with_their_own_gradient():
    """A Loss subclass whose unchecked_grad has no ``ops`` is called as it is (its
    override used, not bypassed), on both paths."""

    class HalfMSE(MSE):
        def unchecked_grad(self, pred, target):
            return super().unchecked_grad(pred, target) / 2

    X, Y = regression(np.random.default_rng(8))
    layers = [Dense(6, 8), Sigmoid(), Dense(8, 3)]
    half = fit_both(layers, HalfMSE(), lambda: SGD(0.2), X, Y)
    full = fit_both(layers, MSE(), lambda: SGD(0.1), X, Y)
    assert_bitwise(half.params, full.params)  # lr * g / 2 == (lr / 2) * g: exact halvings


def _affine(ops, calls, scale=lambda: 1.0):
    """(params, X) -> (X @ W + b, sum of it) in ``ops``, counting its Python runs in
    ``calls``; ``scale()`` a number it multiplies by."""

    def f(params, X):
        calls.append(1)
        s = ops.scope(X.shape)  # a role's buffer has one shape
        y = s.add(s.matmul(X, params["W"], out="y"), params["b"], out="y")
        y = s.mul(y, scale(), out=y)
        total = s.sum(s.matmul(X.T, y, out="xty"), axis=None, out="total")  # a view of X
        return {"y": y}, total

    return f


def _pure_affine(params, X, scale=1.0):
    y = (X @ params["W"] + params["b"]) * scale
    return y, np.sum(X.T @ y)


def test_replayed_function_runs_its_python_twice_and_stays_exact():
    """Once warm, a function of the in-place ops runs as the calls it recorded: its
    Python no more, its results bitwise those of the pure maths for every new X and for
    parameters updated in place; the arrays passed in are left as they were."""
    rng = np.random.default_rng(11)
    ops = backends.get("numpy").inplace_ops()
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    calls: list = []
    f = ops.replayed(_affine(ops, calls), tree_leaves, copied=(1,))
    for _ in range(8):
        X = rng.normal(size=(5, 4))
        before = X.copy()
        got, total = f(params, X)
        y, expected_total = _pure_affine(params, X)
        assert got["y"].tobytes() == y.tobytes() and total.tobytes() == expected_total.tobytes()
        assert X.tobytes() == before.tobytes()
        params["W"] += 0.5  # in place: the replay reads the new values
    assert len(calls) == 2  # two recordings that agreed
    # other parameter arrays, or another shape of X: recorded anew, still exact
    fresh = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    for p, X in [(fresh, rng.normal(size=(5, 4))), (fresh, rng.normal(size=(2, 4)))]:
        got, total = f(p, X)
        assert got["y"].tobytes() == _pure_affine(p, X)[0].tobytes()
    assert len(calls) == 4


@pytest.mark.parametrize("kind", ["allocates", "changing number"])
def test_functions_that_cannot_be_replayed_are_called_every_time(kind):
    """A function that makes a new array, or takes a number that changes between calls,
    is not replayed: it runs every time, and every result is right."""
    rng = np.random.default_rng(12)
    ops = backends.get("numpy").inplace_ops()
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    calls: list = []
    if kind == "allocates":
        inner = _affine(ops, calls)

        def f(params, X):
            out, total = inner(params, X)
            return out, np.mean(out["y"])  # a new array each call

        def expected(params, X, i):
            y, _ = _pure_affine(params, X)
            return y, np.mean(y)
    else:
        f = _affine(ops, calls, scale=lambda: float(len(calls)))

        def expected(params, X, i):
            return _pure_affine(params, X, float(i + 1))

    replayed = ops.replayed(f, tree_leaves, copied=(1,))
    for i in range(7):
        X = rng.normal(size=(5, 4))
        got, value = replayed(params, X)
        y, total = expected(params, X, i)
        assert got["y"].tobytes() == y.tobytes() and np.asarray(value).tobytes() == total.tobytes()
    assert len(calls) == 7


def test_blas_one_thread_then_restore():
    """``one_thread`` puts every BLAS library NumPy loaded on one thread; ``restore`` puts
    the counts back. A replayed step (small matmuls: one thread) leaves them as they were."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from nnkit.backends import blas

    def counts():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]  # fmt: skip

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = counts()
        assert before and all(n == 2 for n in before)
        saved = blas.one_thread()
        assert all(n == 1 for n in counts())
        blas.restore(saved)
        assert counts() == before
        ops = backends.get("numpy").inplace_ops()
        rng = np.random.default_rng(13)
        params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
        f = ops.replayed(_affine(ops, []), tree_leaves, copied=(1,))
        for _ in range(5):
            f(params, rng.normal(size=(5, 4)))
        assert counts() == before


def test_a_parameter_replaced_in_its_dict_is_read_by_the_next_replay():
    """The same dict with a new weight array in it: the replay records again and uses it."""
    rng = np.random.default_rng(14)
    ops = backends.get("numpy").inplace_ops()
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    f = ops.replayed(_affine(ops, []), tree_leaves, copied=(1,))
    for _ in range(4):
        f(params, rng.normal(size=(5, 4)))
    params["W"] = rng.normal(size=(4, 3))
    for _ in range(4):
        X = rng.normal(size=(5, 4))
        got, _total = f(params, X)
        assert got["y"].tobytes() == _pure_affine(params, X)[0].tobytes()
