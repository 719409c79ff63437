"""NumPy's ``jit`` (backends/numpy): a function recorded once and replayed as the array calls
it made is bitwise the plain call: per layer, loss and optimizer in both dtypes, for whole
fits, for changing numbers (step counts, schedules), for donated and held arrays. What it
cannot record it simply calls."""

import copy
import threading
import tracemalloc

import numpy as np
import pytest

from nnkit import Sequential, Trainer, backends
from nnkit import functional as F
from nnkit.callbacks import Callback
from nnkit.layers import Dense, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from nnkit.losses import MSE, BinaryCrossEntropy, CrossEntropy
from nnkit.optim import SGD, Adam, AdamW, RMSProp, schedules
from nnkit.tree import tree_leaves

NUMPY = backends.get("numpy")
PLAIN = NUMPY.without_jit()


def arrays(tree):
    return [a for a in tree_leaves(tree) if hasattr(a, "shape")]


def assert_bitwise(got, expected):
    got, expected = arrays(got), arrays(expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def fit_both(layers, loss, optimizer, X, Y, *, strategy="batched", dtype="float32", **kw):
    """The same fits (37 rows, minibatches of 8: a last partial one; two fit calls) compiled
    and plain: params, optimizer state and History losses bitwise equal."""
    model = Sequential(layers)
    fast = Trainer(model, loss, optimizer(), strategy=strategy, dtype=dtype, backend=NUMPY)
    plain = Trainer(model, loss, optimizer(), strategy=strategy, dtype=dtype, backend=PLAIN)
    for epochs in (2, 1):
        a = fast.fit(X, Y, epochs=epochs, batch_size=8, **kw)
        b = plain.fit(X, Y, epochs=epochs, batch_size=8, **kw)
        assert np.asarray(a["loss"]).tobytes() == np.asarray(b["loss"]).tobytes()
        assert_bitwise(fast.params, plain.params)
        assert_bitwise(fast.opt_state, plain.opt_state)
        assert fast.opt_state.count == plain.opt_state.count
    return fast


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
    "sgd_inverse_time": lambda: SGD(schedules.inverse_time(0.5, 0.3)),
    "momentum": lambda: SGD(0.1, momentum=0.9),
    "nesterov_step": lambda: SGD(schedules.step(0.1, 0.5, 2), momentum=0.9, nesterov=True),
    "rmsprop": lambda: RMSProp(1e-2),
    "adam": lambda: Adam(1e-2),
    "adam_cosine": lambda: Adam(schedules.cosine(1e-2, 7)),
    "adamw_exponential": lambda: AdamW(schedules.exponential(1e-2, 0.7), weight_decay=0.1),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_bitwise(name, dtype):
    """Schedules and bias corrections are Python arithmetic on the step count: replayed with
    the count of each step (the cosine one past its total steps too)."""
    X, Y = regression(np.random.default_rng(2))
    layers = [Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()]
    X_val, Y_val = regression(np.random.default_rng(3), n=9)
    fit_both(layers, MSE(), OPTIMIZERS[name], X, Y, dtype=dtype, validation_data=(X_val, Y_val))


@pytest.mark.parametrize("name", ["sgd", "nesterov_step", "adamw_exponential"])
def test_per_sample_strategy_bitwise(name):
    X, Y = regression(np.random.default_rng(4))
    layers = [Dense(6, 8), Tanh(), Dense(8, 3)]
    fit_both(layers, MSE(), OPTIMIZERS[name], X, Y, strategy="per_sample", check_every=3)


def test_l2_penalty_bitwise():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(37, 6)), rng.integers(0, 3, size=37)
    model = Sequential([Dense(6, 8), ReLU(), Dense(8, 3)])
    fast = Trainer(model, CrossEntropy(), Adam(1e-2), backend=NUMPY, l2=0.3)
    plain = Trainer(model, CrossEntropy(), Adam(1e-2), backend=PLAIN, l2=0.3)
    a, b = fast.fit(X, y, epochs=3, batch_size=8), plain.fit(X, y, epochs=3, batch_size=8)
    assert a["loss"] == b["loss"]
    assert_bitwise(fast.params, plain.params)


SPECIAL = [0.0, -0.0, 1e-9, -1e-9, 1e-45, -1e-45, 5.0, -5.0, 88.0, -88.0, 104.0, -104.0,
           800.0, -800.0, np.inf, -np.inf, np.nan, -np.nan]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_at_special_values(dtype):
    """The stable sigmoid, compiled and plain, against where(z >= 0, 1, e) / (1 + e): also at
    +-0, subnormals, saturation, infinities and NaN."""
    rng = np.random.default_rng(6)
    z = np.concatenate([np.asarray(SPECIAL), rng.normal(size=200) * 30]).astype(dtype)
    z = z.reshape(-1, 2)
    compiled = NUMPY.jit(F.sigmoid)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        reference = np.where(z >= 0, 1, e) / (1 + e)
        results = [F.sigmoid(z), *(compiled(z.copy()) for _ in range(3))]
    for got in results:
        assert got.dtype == reference.dtype and got.tobytes() == reference.tobytes()


class _PeakAfter(Callback):
    """Measures the peak of Python-traced memory from step ``start`` to the end of fit."""

    every = 1

    def __init__(self, start):
        self.start, self.peak = start, None

    def on_step(self, trainer):
        if trainer.steps_done == self.start:
            tracemalloc.start()

    def on_fit_end(self, trainer, history):
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def test_warm_step_allocates_no_activations():
    """After its recordings, a step writes the results of its ufuncs and matmuls into
    buffers it keeps; the calls it copies in (numpy.where) make one temporary at a time."""
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(256, 64)), rng.integers(0, 10, size=256)
    layers = [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    peaks = {}
    for name, backend in (("compiled", NUMPY), ("plain", PLAIN)):
        t = Trainer(Sequential(layers), MSE(), SGD(0.1), backend=backend)
        peak = _PeakAfter(start=3)  # two recordings (the second with X copied in), a replay;
        # each step is checked (every=1), so the NaN guard keeps a copy of the parameters
        t.fit(X, Y, steps=8, batch_size=128, shuffle=False, callbacks=[peak])
        peaks[name] = peak.peak
    hidden = 128 * 128 * 4  # bytes of one hidden activation
    params = (64 * 128 + 128 * 64 + 64 * 10 + 128 + 64 + 10) * 4  # the guard's snapshot
    assert peaks["plain"] > params + 4 * hidden  # the forward's cache, the gradients
    assert peaks["compiled"] < params + 1.5 * hidden  # one temporary of the copied calls


def test_arrays_handed_out_are_never_overwritten():
    """gradients, predict and model.forward return new arrays: a later fit (whose steps
    reuse their buffers) or call leaves them as they were."""
    rng = np.random.default_rng(8)
    X, Y = regression(rng)
    model = Sequential([Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()])
    t = Trainer(model, MSE(), SGD(0.1, momentum=0.9), backend=NUMPY)
    held = [t.gradients(X[:8], Y[:8]), t.predict(X), model.forward(t.params, t.backend.asarray(X))]
    held += [t.predict(X), t.params, t.opt_state]
    copies = copy.deepcopy(held)
    t.fit(X, Y, epochs=2, batch_size=8)
    held += [t.gradients(X[:8], Y[:8]), t.params, t.opt_state]  # the next fit's step replays
    copies += copy.deepcopy(held[-3:])  # the recording of this one on its own copies
    t.fit(X, Y, epochs=1, batch_size=8)
    t.gradients(X[:8], Y[:8])
    t.predict(X)
    assert_bitwise(held, copies)


# -- the recorder and its replays ----------------------------------------------------------


def _affine(calls, scale=lambda: 1.0):
    """(params, X) -> ({"y": X @ W + b times scale()}, sum(X^T y)), counting its Python
    runs in ``calls``."""

    def f(params, X):
        calls.append(1)
        y = (X @ params["W"] + params["b"]) * scale()
        return {"y": y}, np.sum(X.T @ y)

    return f


def test_a_function_runs_its_python_to_record_then_replays_exactly():
    """The first call records; calls with other arrays of the same layout (a new X, new
    parameter arrays) replay the recording on them; a view (a minibatch sliced out of a
    larger array) takes one more recording, after which it is copied in. Every result is
    bitwise the plain call's, for parameters changed in place too; the arrays passed in stay
    as they were, and results are new arrays, never a later call's buffers."""
    rng = np.random.default_rng(11)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    calls: list = []
    f = NUMPY.jit(_affine(calls))
    results = []
    big = rng.normal(size=(40, 4))
    for i in range(8):
        X = rng.normal(size=(5, 4)) if i < 4 else big[5 * i : 5 * i + 5]
        before = X.copy()
        got = f(params, X)
        assert_bitwise(got, _affine([])(params, X))
        assert X.tobytes() == before.tobytes()
        results.append((got, copy.deepcopy(got)))
        params["W"] += 0.5  # in place: the replay reads the new values
    assert len(calls) == 2
    for got, kept in results:
        assert_bitwise(got, kept)
    fresh = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    X = rng.normal(size=(5, 4))
    assert_bitwise(f(fresh, X), _affine([])(fresh, X))  # other parameters: the same recording
    assert len(calls) == 2
    X = rng.normal(size=(2, 4))
    assert_bitwise(f(fresh, X), _affine([])(fresh, X))  # another shape: recorded anew
    assert len(calls) == 3


def test_a_parameter_replaced_in_its_dict_is_read():
    rng = np.random.default_rng(12)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    f = NUMPY.jit(_affine([]))
    for _ in range(4):
        f(params, rng.normal(size=(5, 4)))
    params["W"] = rng.normal(size=(4, 3))
    for _ in range(3):
        X = rng.normal(size=(5, 4))
        assert_bitwise(f(params, X), _affine([])(params, X))


@pytest.mark.parametrize(
    "kind", ["float()", "branch on a value", "numpy.asarray", "tolist", "number compared"]
)
def test_functions_that_read_values_are_called_every_time(kind):
    """A function that reads a value out of its arrays (or compares a traced number) cannot
    be replayed: it is called every time, and every result is right."""
    rng = np.random.default_rng(13)
    calls: list = []

    def f(x, count, calls=calls):
        calls.append(1)
        if kind == "float()":
            return x * float(x[0, 0])
        if kind == "branch on a value":
            return x * 2 if np.sum(x) > 0 else x * 3
        if kind == "numpy.asarray":
            return np.asarray(x) + 1
        if kind == "tolist":
            return x + len(x.tolist())
        return x * (2 if count > 3 else 3)

    compiled = NUMPY.jit(f)
    for count in range(7):
        x = rng.normal(size=(3, 2))
        assert compiled(x, count).tobytes() == f(x, count, []).tobytes()
    assert len(calls) == 8  # the recording that failed, then a plain call each time


def test_traced_numbers_replay_python_arithmetic():
    """Numbers among the arguments (a step count) are read anew each call; arithmetic on
    them (int and float, ** and //, a schedule's cos and clip) runs again as Python does it;
    a number given back comes back as a Python number."""
    rng = np.random.default_rng(14)
    cosine = schedules.cosine(0.1, 5)

    def f(p, count):
        t = count + 1
        lr = cosine(count) / (1 - 0.9**t) + 0.5 ** (t // 3)
        return (p + lr * p**2) / (1 + p**2), t

    compiled = NUMPY.jit(f, donate_argnums=(0,))
    p = rng.normal(size=(4,)).astype(np.float32)
    ref = p.copy()
    for count in range(9):
        p, t = compiled(p, count)
        ref, t_ref = f(ref, count)
        assert p.tobytes() == ref.tobytes()
        assert t == t_ref and type(t) is int
    assert compiled(p, 2.5)[1] == 3.5  # a float count: recorded for floats


def test_donated_arrays_are_written_and_given_back():
    """``donate_argnums`` as in jax.jit: an output of a donated argument's shape and dtype is
    written into it and returned; an argument not donated is never written."""
    rng = np.random.default_rng(15)

    def step(params, state, g):
        v = 0.9 * state - g
        return [p + v for p in params], v, np.sum(v)

    compiled = NUMPY.jit(step, donate_argnums=(0, 1))
    params, state = [rng.normal(size=(3, 2))], np.zeros((3, 2))
    ref_params, ref_state = copy.deepcopy(params), state.copy()
    for _ in range(5):
        g = rng.normal(size=(3, 2))
        g_before = g.copy()
        given = (params[0], state)
        params, state, total = compiled(params, state, g)
        ref_params, ref_state, ref_total = step(ref_params, ref_state, g)
        assert params[0] is given[0] and state is given[1]  # written in place
        assert_bitwise((params, state, total), (ref_params, ref_state, ref_total))
        assert g.tobytes() == g_before.tobytes()


def test_writes_into_traced_arrays_replay_in_order():
    """In-place operators on arrays the function made (x += y) are noted and replayed."""
    rng = np.random.default_rng(16)

    def f(x):
        y = x * 2
        y += x
        y[0] = 7.0
        return y

    compiled = NUMPY.jit(f)
    for _ in range(4):
        x = rng.normal(size=(3, 3))
        assert compiled(x).tobytes() == f(x).tobytes()


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 2.0, -2])
def test_powers_are_numpys_own(exponent):
    """``x ** k`` under a trace is ndarray's ** (which turns x ** 2 into square(x))."""
    rng = np.random.default_rng(17)
    compiled = NUMPY.jit(lambda x: x**exponent)
    for _ in range(3):
        x = np.abs(rng.normal(size=(5, 3))).astype(np.float32) + 0.1
        assert compiled(x).tobytes() == (x**exponent).tobytes()


def test_reductions_where_and_casts_at_special_values():
    """The calls a replay writes into its buffers (reductions with out=, astype as a copy,
    where) give the bits of the plain calls, with NaN and inf among the values."""
    rng = np.random.default_rng(18)

    def f(x, labels):
        xp = backends.get("numpy").xp
        picked = xp.where(x > 0, x, -x) + xp.astype(labels[:, None] == xp.arange(3), x.dtype)
        wide = xp.astype(x, np.float64)
        return (xp.sum(x, axis=0), xp.max(x, axis=-1), xp.mean(x), xp.min(picked),
                xp.astype(x, np.float16), xp.sum(x * x), xp.mean(x, axis=0),
                xp.mean(wide, axis=(0, 1), keepdims=True), xp.mean(wide, axis=-1),
                xp.prod(x, axis=1), np.sum(x, axis=0, dtype=np.float64))  # fmt: skip

    compiled = NUMPY.jit(f)
    with np.errstate(all="ignore"):
        for _ in range(4):
            x = rng.normal(size=(6, 3)).astype(np.float32) * 1e4
            x[rng.integers(0, 6), rng.integers(0, 3)] = rng.choice([np.nan, np.inf, -np.inf])
            labels = rng.integers(0, 3, size=6)
            assert_bitwise(compiled(x, labels), f(x, labels))


def test_a_compiled_function_called_inside_another_is_inlined():
    inner = NUMPY.jit(lambda x: x * 3 + 1)
    outer = NUMPY.jit(lambda x: inner(x) - inner(x * 2))
    rng = np.random.default_rng(19)
    for _ in range(4):
        x = rng.normal(size=(4,))
        assert outer(x).tobytes() == ((x * 3 + 1) - (x * 2 * 3 + 1)).tobytes()


# -- bitwise resume and threads, with the BLAS at its default thread count -----------------


def _digits_trainer(optimizer, seed=0):
    layers = [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    return Trainer(Sequential(layers), MSE(), optimizer, backend=NUMPY, seed=seed)


def _digits_data():
    rng = np.random.default_rng(20)
    return rng.uniform(0, 16, size=(300, 64)), rng.integers(0, 10, size=300)


@pytest.mark.parametrize(
    "optimizer",
    [lambda: SGD(0.5), lambda: SGD(0.1, momentum=0.9),
     lambda: SGD(schedules.inverse_time(0.5, 0.01), momentum=0.5)],
    ids=["sgd", "momentum", "schedule"],
)  # fmt: skip
def test_fit_a_then_fit_b_equals_fit_a_plus_b_bitwise(optimizer):
    """The digits network at batch 64 (matmuls that OpenBLAS splits over its threads): fits
    cut anywhere end bitwise equal to one fit, whatever step each recording falls on."""
    X, y = _digits_data()
    whole, cut = _digits_trainer(optimizer()), _digits_trainer(optimizer())
    whole.fit(X, y, steps=60, batch_size=64)
    for steps in (7, 1, 30, 22):
        cut.fit(X, y, steps=steps, batch_size=64)
    assert_bitwise(cut.params, whole.params)
    assert_bitwise(cut.opt_state, whole.opt_state)


def test_fits_in_threads_are_the_fits_alone():
    """Four fits in four threads each end bitwise equal to the same fit run alone: nothing
    a fit does changes another's numbers (no process-wide setting per step)."""
    X, y = _digits_data()
    alone = []
    for seed in range(4):
        t = _digits_trainer(SGD(0.3, momentum=0.5), seed)
        t.fit(X, y, steps=40, batch_size=64)
        alone.append(t.params)
    trainers = [_digits_trainer(SGD(0.3, momentum=0.5), seed) for seed in range(4)]
    threads = [threading.Thread(target=t.fit, args=(X, y), kwargs={"steps": 40, "batch_size": 64})
               for t in trainers]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for t, params in zip(trainers, alone, strict=True):
        assert t.steps_done == 40
        assert_bitwise(t.params, params)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "float16", "bool"])
def test_where_by_bits_is_numpys_where(dtype):
    """numpy.where is replayed by bits (y ^ ((x ^ y) & mask)): every element exactly x's or
    y's, with NaN payloads, -0.0, infinities and subnormals, scalars, broadcasting and traced
    numbers."""
    rng = np.random.default_rng(21)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-310, 3.5])

    def values(shape):
        if dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        x = rng.normal(size=shape) * 1e3
        if np.dtype(dtype).kind == "f":
            x.flat[: len(special)] = special[: x.size]
            with np.errstate(all="ignore"):
                return x.astype(dtype)
        return x.astype(dtype)

    def f(cond, x, y, k):
        xp = backends.get("numpy").xp
        counts = xp.astype(cond, xp.int64) * 3  # truth values other than bools: 0 and 3
        return (xp.where(cond, x, y), xp.where(cond, 1, y), xp.where(cond[:, :1], x, 0),
                xp.where(cond, x, y[0]), xp.where(cond, k, x), xp.where(counts, x, y))  # fmt: skip

    compiled = NUMPY.jit(f)
    for step in range(4):
        cond = rng.integers(0, 2, size=(5, 4)).astype(bool)
        x, y = values((5, 4)), values((5, 4))
        k = True if dtype == "bool" else step + 2
        assert_bitwise(compiled(cond, x, y, k), f(cond, x, y, k))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_where_by_blocks_of_a_stack_is_numpys_where(dtype):
    """numpy.where whose condition varies along the leading axis alone (which models of a
    stack keep their update) is replayed by block copies: every element exactly x's or y's
    (NaN payloads, -0.0, infinities), all blocks from x, all from y or mixed, the result
    written into a donated input (x's or y's own memory) or into a buffer of its own."""
    rng = np.random.default_rng(23)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.5])

    def values():
        x = rng.normal(size=(4, 3, 2)) * 1e3
        if np.dtype(dtype).kind == "f":
            x.flat[: len(special)] = special
        with np.errstate(all="ignore"):
            return x.astype(dtype)

    def into_y(keep, x, y):  # the result replaces y (a donated input)
        return backends.get("numpy").xp.where(keep, x, y)

    def into_x(keep, x, y):
        return backends.get("numpy").xp.where(keep, y, x)

    def fresh(keep, x, y):
        xp = backends.get("numpy").xp
        return xp.where(keep, x, y), xp.where(keep[:2], x[:2], y[:2]) + 0

    for f, donated in ((into_y, (2,)), (into_x, (1,)), (fresh, ())):
        compiled = NUMPY.jit(f, donate_argnums=donated)
        for keep in ([1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0]):
            cond = np.array(keep, dtype=bool)[:, None, None]
            x, y = values(), values()
            want = f(cond, x.copy(), y.copy())
            assert_bitwise(compiled(cond, x, y), want)


def test_calls_with_several_results_replay_each():
    """A ufunc with two outputs (divmod, frexp) and a function giving views (broadcast_arrays)
    replay their results into their own buffers, their views as views."""
    rng = np.random.default_rng(22)

    def f(x):
        q, r = np.divmod(x, 3.0)
        a, b = np.broadcast_arrays(x, x[:1])
        m, e = np.frexp(x)
        return q + r + a + b + m * e

    compiled = NUMPY.jit(f)
    for _ in range(4):
        x = rng.normal(size=(4, 3)) * 10
        assert compiled(x).tobytes() == f(x).tobytes()
