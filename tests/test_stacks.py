"""Stacks of K models in the core: stacked init, stack/unstack, forward/backward/predict,
losses and optimizer steps equal K separate single-model calls (float64, every backend),
finite differences of a stack, and bad stacks refused with clear errors."""

import numpy as np
import pytest
from helpers import host, numeric_grad, rel_error

import nnkit
from nnkit import errors, losses, optim
from nnkit.model import mlp
from nnkit.optim import schedules
from nnkit.tree import tree_leaves, tree_map

SEEDS = (0, 3, 7)
K = len(SEEDS)
IN, HIDDEN, OUT, BATCH = 5, 6, 3, 4


def model():
    return mlp([IN, HIDDEN, OUT], "tanh")


def take(a, k):
    return a[k, ...]


def close(a, b, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(host(a), host(b), rtol=rtol, atol=atol)


def data(backend, rng):
    """Shared rows (batch, in) and per-model rows (K, batch, in), float64."""
    X = backend.asarray(rng.normal(size=(BATCH, IN)), dtype="float64")
    Xk = backend.asarray(rng.normal(size=(K, BATCH, IN)), dtype="float64")
    return X, Xk


# -- init, stack, unstack -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.x64)])
def test_init_with_seeds_stacks_the_single_inits_bitwise(backend, dtype):
    net = model()
    stacked = net.init(seed=list(SEEDS), backend=backend, dtype=dtype)
    for k, seed in enumerate(SEEDS):
        alone = net.init(seed=seed, backend=backend, dtype=dtype)
        for a, b in zip(tree_leaves(stacked), tree_leaves(alone), strict=True):
            assert host(a).shape == (K, *host(b).shape)
            assert host(take(a, k)).tobytes() == host(b).tobytes()
    assert net.stack_size(stacked) == K
    assert net.stack_size(net.init(seed=1, backend=backend)) is None


def test_stack_and_unstack_round_trip(backend):
    net = model()
    singles = [net.init(seed=s, backend=backend) for s in SEEDS]
    stacked = nnkit.stack(singles)
    for a, b in zip(tree_leaves(stacked), tree_leaves(net.init(seed=list(SEEDS), backend=backend)),
                    strict=True):  # fmt: skip
        assert host(a).tobytes() == host(b).tobytes()
    back = nnkit.unstack(stacked)
    assert len(back) == K
    for got, want in zip(back, singles, strict=True):
        for a, b in zip(tree_leaves(got), tree_leaves(want), strict=True):
            assert host(a).tobytes() == host(b).tobytes()


def test_unstack_gives_copies():
    stacked = model().init(seed=list(SEEDS))
    first = nnkit.unstack(stacked)[0]
    before = first[0]["W"].copy()
    stacked[0]["W"][...] = 0.0
    np.testing.assert_array_equal(first[0]["W"], before)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda net: nnkit.stack([]), r"non-empty list"),
        (lambda net: nnkit.stack(net.init()), r"another structure.*one model's params"),
        (lambda net: nnkit.stack([net.init(), net.init()[:1]]), r"params\[1\].*another structure"),
        (lambda net: nnkit.stack([net.init(), mlp([IN, 2, OUT], "tanh").init()]),
         r"leaf 0 of params\[1\] has shape \(5, 2\).*\(5, 6\)"),
        (lambda net: nnkit.unstack(net.init()), r"leading axes \[\(3,\), \(5,\), \(6,\)\]"),
        (lambda net: net.init(seed=[]), r"seed: an empty sequence"),
        (lambda net: net.init(seed=[0, -1]), r"seed\[1\] must be an int >= 0, got -1"),
    ],
)  # fmt: skip
def test_bad_stacks_are_refused(call, match):
    with pytest.raises(errors.InvalidValueError, match=match):
        call(model())


# -- forward, backward, predict -----------------------------------------------------------


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("rows", ["shared", "per_model"])
def test_forward_backward_predict_equal_separate_models(backend, rows):
    rng = np.random.default_rng(0)
    net = model()
    params = net.init(seed=list(SEEDS), backend=backend, dtype="float64")
    X, Xk = data(backend, rng)
    Xs = X if rows == "shared" else Xk
    Y, cache = net.forward(params, Xs)
    assert tuple(Y.shape) == (K, BATCH, OUT)
    dY = backend.asarray(rng.normal(size=(K, BATCH, OUT)), dtype="float64")
    dX, grads = net.backward(params, cache, dY)
    assert tuple(dX.shape) == (K, BATCH, IN)
    _, grads_no_dx = net.backward(params, cache, dY, input_grad=False)
    pred = net.predict(params, Xs)
    for k, seed in enumerate(SEEDS):
        alone = net.init(seed=seed, backend=backend, dtype="float64")
        Xa = X if rows == "shared" else take(Xk, k)
        Ya, cache_a = net.forward(alone, Xa)
        dXa, grads_a = net.backward(alone, cache_a, take(dY, k))
        close(take(Y, k), Ya)
        close(take(pred, k), Ya)
        close(take(dX, k), dXa)
        for a, b, c in zip(tree_leaves(grads), tree_leaves(grads_no_dx), tree_leaves(grads_a),
                           strict=True):  # fmt: skip
            close(take(a, k), c)
            close(take(b, k), c)


@pytest.mark.usefixtures("x64")
def test_stacked_gradients_match_finite_differences():
    """The gradient of sum_k loss_k (each model's own loss of its own rows) with respect to
    the stacked parameters, against central differences."""
    rng = np.random.default_rng(2)
    net = mlp([3, 4, 2], "sigmoid")
    params = net.init(seed=[1, 2], dtype="float64")
    Xk = rng.normal(size=(2, 5, 3))
    T = rng.normal(size=(5, 2))  # one target for both models
    w = rng.uniform(0.5, 2.0, size=(2, 5))
    loss = losses.MSE()

    def total(p):
        return float(np.sum(loss(net.predict(p, Xk), T, w)))

    Y, cache = net.forward(params, Xk)
    _, grads = net.backward(params, cache, loss.grad(Y, T, w))
    for i, layer_params in enumerate(params):
        for name, value in layer_params.items():

            def f(v, i=i, name=name):
                changed = [dict(p) for p in params]
                changed[i][name] = v
                return total(changed)

            assert rel_error(grads[i][name], numeric_grad(f, value)) < 1e-6


def test_forward_refuses_mismatched_stacks(backend):
    net = model()
    params = net.init(seed=list(SEEDS), backend=backend)
    wrong = backend.asarray(np.zeros((K + 1, BATCH, IN)), dtype="float32")
    for call in (net.forward, net.predict):
        with pytest.raises(errors.ShapeError, match=r"rows for 4 models, but the params stack 3"):
            call(params, wrong)
    one = net.init(backend=backend)
    with pytest.raises(errors.ShapeError, match=r"must be 2-D.*\(4, 4, 5\)"):
        net.forward(one, wrong)
    with pytest.raises(errors.InvalidValueError, match=r"layer 0.*expects \(5, 6\)"):
        net.forward([{"W": one[2]["W"], "b": one[0]["b"]}, {}, one[2]], wrong)


# -- losses -------------------------------------------------------------------------------

LOSSES = [
    losses.MSE(),
    losses.BinaryCrossEntropy(from_logits=True),
    losses.BinaryCrossEntropy(from_logits=False),
    losses.CrossEntropy(),
    losses.CrossEntropy(from_logits=False),
]


def loss_inputs(loss, rng, shape):
    """Host (pred, target) of ``shape`` for ``loss``: probabilities where it takes them."""
    pred = rng.normal(size=shape)
    if not getattr(loss, "from_logits", True):
        pred = rng.uniform(0.05, 0.95, size=shape)
    if isinstance(loss, losses.CrossEntropy):
        target = rng.integers(0, shape[-1], size=shape[:-1])
    elif isinstance(loss, losses.BinaryCrossEntropy):
        target = rng.uniform(0, 1, size=shape)
    else:
        target = rng.normal(size=shape)
    return pred, target


LOSS_TARGETS = [(loss, kind) for loss in LOSSES for kind in ("shared", "per_model")] + [
    (loss, "one_hot_shared") for loss in LOSSES if isinstance(loss, losses.CrossEntropy)
]


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("loss, target_kind", LOSS_TARGETS, ids=lambda v: repr(v))
@pytest.mark.parametrize("weight_kind", [None, "shared", "per_model"])
def test_stacked_losses_equal_separate_losses(backend, loss, target_kind, weight_kind):
    rng = np.random.default_rng(3)
    pred_h, target_h = loss_inputs(loss, rng, (K, BATCH, OUT))
    if target_kind == "one_hot_shared":  # the cross-entropy's second target form
        target_h = np.eye(OUT)[target_h[0]]
    elif target_kind == "shared":
        target_h = target_h[0]
    weight_h = {None: None, "shared": rng.uniform(0, 2, size=BATCH),
                "per_model": rng.uniform(0, 2, size=(K, BATCH))}[weight_kind]  # fmt: skip
    dtype = None if target_h.dtype.kind == "i" else "float64"
    pred = backend.asarray(pred_h, dtype="float64")
    target = backend.asarray(target_h, dtype=dtype)
    weight = None if weight_h is None else backend.asarray(weight_h, dtype="float64")
    value, grad = loss(pred, target, weight), loss.grad(pred, target, weight)
    assert tuple(value.shape) == (K,)
    assert tuple(grad.shape) == (K, BATCH, OUT)
    for k in range(K):
        stacked_target = target_kind == "per_model"
        t = backend.asarray(target_h[k] if stacked_target else target_h, dtype=dtype)
        w = None if weight_h is None else backend.asarray(
            weight_h[k] if weight_kind == "per_model" else weight_h, dtype="float64"
        )  # fmt: skip
        p = take(pred, k)
        close(take(value, k), loss(p, t, w))
        close(take(grad, k), loss.grad(p, t, w))


def test_losses_refuse_mismatched_stacks(backend):
    pred = backend.asarray(np.full((K, BATCH, OUT), 0.5))
    for loss, target, match in (
        (losses.MSE(), np.zeros((K + 1, BATCH, OUT)), r"target shape \(4, 4, 3\).*\(3, 4, 3\)"),
        (losses.MSE(), np.zeros((BATCH + 1, OUT)), r"target shape \(3, 5, 3\)"),
        (losses.CrossEntropy(), np.zeros((K + 1, BATCH), dtype=int), r"labels of shape \(4, 4\)"),
    ):
        t = backend.asarray(target)
        for call in (loss, loss.grad):
            with pytest.raises(errors.ShapeError, match=match):
                call(pred, t)
    t = backend.asarray(np.zeros((K, BATCH, OUT)))
    for weight, match in ((np.ones((K + 1, BATCH)), r"\(4, 4\) for predictions of shape \(3, 4\)"),
                          (np.ones(BATCH + 1), r"\(3, 5\)")):  # fmt: skip
        with pytest.raises(errors.ShapeError, match=match):
            losses.MSE()(pred, t, backend.asarray(weight))


def test_stacked_weights_need_a_positive_weight_per_model():
    pred, target = np.full((2, 3, 1), 0.5), np.zeros((2, 3, 1))
    weight = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(errors.ValueRangeError, match=r"all 0 for a model of the stack"):
        losses.MSE()(pred, target, weight)


# -- optimizers ---------------------------------------------------------------------------


def per_model_optimizers():
    """(stacked optimizer, optimizer of model k) pairs: every per-model hyperparameter."""
    lrs, moms = (0.1, 0.02, 0.3), (0.9, 0.0, 0.5)
    return [
        (optim.SGD(lrs), lambda k: optim.SGD(lrs[k])),
        (optim.SGD(0.1, momentum=moms), lambda k: optim.SGD(0.1, momentum=moms[k])),
        (optim.SGD(lrs, momentum=(0.9, 0.5, 0.1), nesterov=True),
         lambda k: optim.SGD(lrs[k], momentum=(0.9, 0.5, 0.1)[k], nesterov=True)),
        (optim.RMSProp(lrs, rho=(0.9, 0.5, 0.0), eps=(1e-8, 1e-3, 0.1)),
         lambda k: optim.RMSProp(lrs[k], rho=(0.9, 0.5, 0.0)[k], eps=(1e-8, 1e-3, 0.1)[k])),
        (optim.Adam(lrs, b1=(0.9, 0.5, 0.0), b2=(0.999, 0.9, 0.5), eps=(1e-8, 1e-3, 0.1)),
         lambda k: optim.Adam(lrs[k], b1=(0.9, 0.5, 0.0)[k], b2=(0.999, 0.9, 0.5)[k],
                              eps=(1e-8, 1e-3, 0.1)[k])),
        (optim.AdamW(lrs, weight_decay=(0.1, 0.0, 0.5)),
         lambda k: optim.AdamW(lrs[k], weight_decay=(0.1, 0.0, 0.5)[k])),
        (optim.Adam(schedules.inverse_time(lrs, 0.5)),
         lambda k: optim.Adam(schedules.inverse_time(lrs[k], 0.5))),
        (optim.SGD(schedules.exponential(lrs, 0.5, 2), momentum=0.9),
         lambda k: optim.SGD(schedules.exponential(lrs[k], 0.5, 2), momentum=0.9)),
        (optim.SGD(schedules.step(lrs, 0.5, 2)),
         lambda k: optim.SGD(schedules.step(lrs[k], 0.5, 2))),
        (optim.RMSProp(schedules.cosine(lrs, 3, final=0.01)),
         lambda k: optim.RMSProp(schedules.cosine(lrs[k], 3, final=0.01))),
        (optim.Adam(0.01), lambda k: optim.Adam(0.01)),  # one value for every model
    ]  # fmt: skip


def run_steps(opt, params, backend, steps=4, jit=False):
    """``steps`` updates of ``params`` with gradients drawn from a fixed generator."""
    rng = np.random.default_rng(5)
    step = backend.jit(opt.step) if jit else opt.step
    state = opt.init(params)
    grads = [tree_map(lambda a: backend.asarray(rng.normal(size=tuple(a.shape)), dtype=a.dtype),
                      params) for _ in range(steps)]  # fmt: skip
    for g in grads:
        params, state = step(params, g, state)
    return params, grads


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("pair", per_model_optimizers(), ids=lambda p: repr(p[0]))
def test_per_model_hyperparameters_equal_separate_optimizers(backend, pair):
    stacked_opt, single = pair
    net = model()
    params, grads = run_steps(stacked_opt, net.init(seed=list(SEEDS), backend=backend,
                                                    dtype="float64"), backend)  # fmt: skip
    for k, seed in enumerate(SEEDS):
        alone = net.init(seed=seed, backend=backend, dtype="float64")
        opt, state = single(k), single(k).init(alone)
        for g in grads:
            alone, state = opt.step(alone, tree_map(lambda a, k=k: take(a, k), g), state)
        for a, b in zip(tree_leaves(params), tree_leaves(alone), strict=True):
            close(take(a, k), b, rtol=1e-13, atol=1e-15)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("pair", per_model_optimizers()[:7], ids=lambda p: repr(p[0]))
def test_compiled_per_model_step_is_the_plain_one(backend, pair):
    """Per-model hyperparameters under the backend's jit (NumPy: the replay, the bias
    corrections of the step count included) give the plain step's numbers."""
    net = model()
    plain, _ = run_steps(pair[0], net.init(seed=list(SEEDS), backend=backend, dtype="float64"),
                         backend)  # fmt: skip
    compiled, _ = run_steps(pair[0], net.init(seed=list(SEEDS), backend=backend, dtype="float64"),
                            backend, jit=True)  # fmt: skip
    for a, b in zip(tree_leaves(plain), tree_leaves(compiled), strict=True):
        close(a, b)


def test_per_model_hyperparameters_of_another_length_are_refused(backend):
    params = model().init(seed=list(SEEDS), backend=backend)
    for opt, name in ((optim.SGD((0.1, 0.2)), "lr"), (optim.Adam(0.1, b1=(0.9,) * 4), "b1"),
                      (optim.SGD(schedules.inverse_time((0.1, 0.2), 1.0)), "lr")):  # fmt: skip
        grads = tree_map(lambda a: a, params)
        with pytest.raises(errors.InvalidValueError, match=rf"{name} has \d values, one per model, "
                           r"but the params stack 3 models"):  # fmt: skip
            opt.step(params, grads, opt.init(params))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optim.SGD([0.1, -0.1]), r"lr\[1\] must be a finite number > 0, got -0.1"),
        (lambda: optim.SGD([]), r"lr: an empty sequence"),
        (lambda: optim.SGD(0.1, momentum=(0.5, 1.0)), r"momentum\[1\] must be in \[0, 1\)"),
        (lambda: optim.SGD(0.1, momentum=(0.5, 0.0), nesterov=True), r"nesterov.*momentum > 0"),
        (lambda: optim.Adam(b2=(0.9, "x")), r"b2\[1\] must be a real number"),
        (lambda: optim.AdamW(weight_decay=(0.1, -1.0)), r"weight_decay\[1\].*>= 0"),
        (lambda: schedules.cosine((0.1, 0.0), 10), r"lr0\[1\] must be a finite number > 0"),
    ],
)
def test_bad_per_model_hyperparameters_are_refused(make, match):
    with pytest.raises((errors.InvalidValueError, errors.InvalidTypeError), match=match):
        make()
