"""Sample weights: weighted losses against torch and finite differences (float64), the plain
mean bitwise when ``weight=None``, rows of weight 0 without effect, bad weights refused; and
``Trainer.fit(..., sample_weight=)`` on every backend: the weights follow their rows through
shuffling, minibatches and the last partial one, both strategies agree, the compiled whole fit
(JAX) equals the stepwise one, validation and ``evaluate`` weigh, checkpoints resume exactly,
and four devices train the run of one."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import host, numeric_grad, rel_error

import nnkit
from nnkit import backends, data, losses, optim
from nnkit.layers import Dense, Sigmoid, Tanh

AVAILABLE = backends.available()
RNG = np.random.default_rng(7)
N, K = 12, 3
PRED = RNG.normal(size=(N, K))
PROBS = 1 / (1 + np.exp(-PRED))
LABELS = RNG.integers(0, K, N)
ONE_HOT = np.eye(K)[LABELS]
REAL = RNG.normal(size=(N, K))
BINARY = RNG.integers(0, 2, (N, K)).astype(np.float64)
WEIGHTS = RNG.uniform(0, 3, N)
WEIGHTS[[2, 5]] = 0.0  # rows that count for nothing

# (name, loss, prediction, target, torch's per-element or per-row loss)
CASES = [
    ("mse", losses.MSE(), PRED, REAL, "mse"),
    ("bce_logits", losses.BinaryCrossEntropy(from_logits=True), PRED, BINARY, "bce_logits"),
    ("bce_probs", losses.BinaryCrossEntropy(), PROBS, BINARY, "bce"),
    ("ce_labels", losses.CrossEntropy(), PRED, LABELS, "ce"),
    ("ce_one_hot", losses.CrossEntropy(), PRED, ONE_HOT, "ce"),
    ("ce_probs", losses.CrossEntropy(from_logits=False), PROBS / PROBS.sum(1, keepdims=True),
     LABELS, "nll"),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def _torch_weighted(kind, pred, target, weight):
    """torch's ``reduction="none"`` losses, averaged per row, then the weighted mean; the
    value and its gradient by autograd, float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p = torch.tensor(pred, requires_grad=True)
    t, w = torch.tensor(target), torch.tensor(weight)
    if kind == "mse":
        per_row = F.mse_loss(p, t, reduction="none").mean(dim=1)
    elif kind == "bce_logits":
        per_row = F.binary_cross_entropy_with_logits(p, t, reduction="none").mean(dim=1)
    elif kind == "bce":
        per_row = F.binary_cross_entropy(p, t, reduction="none").mean(dim=1)
    elif kind == "ce":
        per_row = F.cross_entropy(p, t, reduction="none")
    else:  # probabilities in, labels as targets
        per_row = F.nll_loss(torch.log(p), t, reduction="none")
    value = (w * per_row).sum() / w.sum()
    value.backward()
    return value.item(), p.grad.numpy()


@pytest.mark.parametrize("name, loss, pred, target, kind", CASES, ids=IDS)
def test_weighted_losses_equal_torch(name, loss, pred, target, kind):
    want, want_grad = _torch_weighted(kind, pred, target, WEIGHTS)
    assert abs(float(loss(pred, target, WEIGHTS)) - want) < 1e-14 * max(1.0, abs(want))
    np.testing.assert_allclose(loss.grad(pred, target, WEIGHTS), want_grad, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("name, loss, pred, target, kind", CASES, ids=IDS)
def test_weighted_gradients_equal_finite_differences(name, loss, pred, target, kind):
    numeric = numeric_grad(lambda p: float(loss(p, target, WEIGHTS)), pred, h=1e-7)
    assert rel_error(loss.grad(pred, target, WEIGHTS), numeric) < 1e-7


@pytest.mark.parametrize("name, loss, pred, target, kind", CASES, ids=IDS)
def test_rows_of_weight_zero_have_no_effect(name, loss, pred, target, kind):
    keep = WEIGHTS > 0
    sub = loss(pred[keep], target[keep], WEIGHTS[keep])
    np.testing.assert_allclose(loss(pred, target, WEIGHTS), sub, rtol=1e-14)
    grad = loss.grad(pred, target, WEIGHTS)
    assert np.all(grad[~keep] == 0)
    np.testing.assert_allclose(grad[keep], loss.grad(pred[keep], target[keep], WEIGHTS[keep]),
                               rtol=1e-13)  # fmt: skip


def test_weight_none_is_the_plain_mean_bitwise():
    """``weight=None``: the formulas of the unweighted losses, bit for bit."""
    mse, bce, ce = losses.MSE(), losses.BinaryCrossEntropy(from_logits=True), losses.CrossEntropy()
    for dtype in (np.float32, np.float64):
        p, t, b = PRED.astype(dtype), REAL.astype(dtype), BINARY.astype(dtype)
        assert mse(p, t) == np.mean((p - t) ** 2)
        assert np.array_equal(mse.grad(p, t), 2 * (p - t) / p.size)
        terms = np.where(p > 0, p, 0) - p * b + np.log1p(np.exp(-np.abs(p)))
        assert bce(p, b) == np.mean(terms)
        logp = p - p.max(axis=1, keepdims=True)
        logp = logp - np.log(np.sum(np.exp(logp), axis=1, keepdims=True))
        oh = ONE_HOT.astype(dtype)
        assert ce(p, LABELS) == -np.sum(oh * logp) / N
        s = np.exp(p - p.max(axis=1, keepdims=True))
        assert np.array_equal(ce.grad(p, LABELS), (s / s.sum(axis=1, keepdims=True) - oh) / N)


def test_equal_weights_give_the_plain_mean():
    for name, loss, pred, target, _ in CASES:
        np.testing.assert_allclose(loss(pred, target, np.full(N, 2.5)), loss(pred, target),
                                   rtol=1e-14, err_msg=name)  # fmt: skip
        np.testing.assert_allclose(loss.grad(pred, target, np.ones(N)), loss.grad(pred, target),
                                   rtol=1e-14, err_msg=name)  # fmt: skip


def test_weights_take_the_prediction_dtype():
    p, t = PRED.astype(np.float32), REAL.astype(np.float32)
    assert losses.MSE()(p, t, WEIGHTS).dtype == np.float32
    assert losses.MSE().grad(p, t, np.ones(N, dtype=np.int64)).dtype == np.float32


BAD_WEIGHTS = [
    (-WEIGHTS, ValueError, r"must lie in \[0, inf\]"),
    (np.where(np.arange(N) == 3, np.nan, 1.0), ValueError, "NaN or inf"),
    (np.where(np.arange(N) == 3, np.inf, 1.0), ValueError, "NaN or inf"),
    (np.zeros(N), ValueError, "all 0"),
    (np.ones(N - 1), ValueError, rf"shape \({N - 1},\) for {N} samples; expected .* \({N},\)"),
    (np.ones((N, 1)), ValueError, rf"shape \({N}, 1\)"),
    (np.ones(N, dtype=np.complex128), TypeError, "real numbers"),
]


@pytest.mark.parametrize("weight, exc, match", BAD_WEIGHTS)
def test_losses_refuse_bad_weights(weight, exc, match):
    for loss in (losses.MSE(), losses.CrossEntropy()):
        target = REAL if isinstance(loss, losses.MSE) else LABELS
        with pytest.raises(exc, match=match):
            loss(PRED, target, weight)
        with pytest.raises(exc, match=match):
            loss.grad(PRED, target, weight)


# ---- the Trainer -------------------------------------------------------------------------

X = RNG.normal(size=(50, 4)).astype(np.float32)  # 50 rows: 3 minibatches of 16 and one of 2
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
W = RNG.uniform(0, 2, 50).astype(np.float32)
W[::7] = 0.0


def _model():
    return nnkit.Sequential([Dense(4, 8), Tanh(), Dense(8, 2)])


def _trainer(backend="numpy", strategy="batched", optimizer=None, **kwargs):
    return nnkit.Trainer(_model(), losses.CrossEntropy(), optimizer or optim.SGD(0.1, momentum=0.9),
                         backend=backend, strategy=strategy, seed=3, **kwargs)  # fmt: skip


def _leaves(trainer):
    return [host(a) for a in nnkit.tree.tree_leaves(trainer.params)]


def _reference_fit(epochs, batch_size, dtype=np.float64):
    """The weighted run written out: ``data.minibatches`` with the weights, the model's
    forward and backward, the loss's weighted gradient, the optimizer's step."""
    model, loss, opt = _model(), losses.CrossEntropy(), optim.SGD(0.1, momentum=0.9)
    params = model.init(seed=3, dtype=np.dtype(dtype).name)
    state = opt.init(params)
    for epoch in range(epochs):
        for Xb, Yb, wb in data.minibatches(X.astype(dtype), Y, batch_size, seed=3, epoch=epoch,
                                           sample_weight=W.astype(dtype)):  # fmt: skip
            out, cache = model.forward(params, Xb)
            _, grads = model.backward(params, cache, loss.grad(out, Yb, wb))
            params, state = opt.step(params, grads, state)
    return [np.asarray(a) for a in nnkit.tree.tree_leaves(params)]


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_weights_follow_their_rows_through_shuffled_minibatches(strategy):
    """float64, NumPy: the Trainer's weighted fit equals the run written out with
    ``data.minibatches`` (the last minibatch of 2 rows included)."""
    trainer = _trainer(strategy=strategy, dtype="float64")
    trainer.fit(X, Y, epochs=3, batch_size=16, sample_weight=W, progress=False)
    for a, b in zip(_leaves(trainer), _reference_fit(3, 16), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_weights_change_the_run_and_ones_do_not():
    plain, ones, weighted = _trainer(), _trainer(), _trainer()
    plain.fit(X, Y, epochs=2, batch_size=16, progress=False)
    ones.fit(X, Y, epochs=2, batch_size=16, sample_weight=np.ones(50), progress=False)
    weighted.fit(X, Y, epochs=2, batch_size=16, sample_weight=W, progress=False)
    for a, b, c in zip(_leaves(plain), _leaves(ones), _leaves(weighted), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
        assert not np.allclose(a, c, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", AVAILABLE)
def test_strategies_and_backends_agree_with_weights(name):
    """Per-sample and batched give the same weighted gradients and run, on every backend, and
    equal NumPy's; an all-zero minibatch is a step of gradient 0."""
    ref = _trainer(dtype="float32")
    g_ref, v_ref = ref.gradients(X[:16], Y[:16], sample_weight=W[:16])
    ref.fit(X, Y, epochs=2, batch_size=16, sample_weight=W, progress=False)
    for strategy in ("batched", "per_sample"):
        tr = _trainer(name, strategy)
        g, v = tr.gradients(X[:16], Y[:16], sample_weight=W[:16])
        assert abs(float(host(v)) - float(host(v_ref))) < 1e-5
        for a, b in zip(nnkit.tree.tree_leaves(g), nnkit.tree.tree_leaves(g_ref), strict=True):
            np.testing.assert_allclose(host(a), host(b), rtol=1e-4, atol=1e-6)
        tr.fit(X, Y, epochs=2, batch_size=16, sample_weight=W, progress=False)
        for a, b in zip(_leaves(tr), _leaves(ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        sgd, w = _trainer(name, strategy, optim.SGD(0.1)), W.copy()
        w[16:32] = 0  # the second minibatch (in data order) counts for nothing
        sgd.fit(X, Y, steps=1, batch_size=16, shuffle=False, sample_weight=w, progress=False)
        after_one = _leaves(sgd)
        sgd.fit(X, Y, steps=1, batch_size=16, shuffle=False, sample_weight=w, progress=False)
        assert all(np.array_equal(a, b) for a, b in zip(after_one, _leaves(sgd), strict=True))


def test_validation_and_evaluate_weigh_the_rows():
    tr = _trainer()
    h = tr.fit(X, Y, epochs=2, batch_size=16, sample_weight=W, validation_data=(X, Y, W),
               progress=False)  # fmt: skip
    got = tr.evaluate(X, Y, sample_weight=W)
    assert h["val_loss"][-1] == got["loss"] and h["val_accuracy"][-1] == got["accuracy"]
    out = host(tr.predict(X)).astype(np.float64)
    logp = out - np.log(np.exp(out).sum(axis=1, keepdims=True))
    want = np.sum(W * -logp[np.arange(50), Y]) / W.sum()
    assert abs(got["loss"] - want) < 1e-5
    hits = (out.argmax(axis=1) == Y).astype(np.float64)
    assert abs(got["accuracy"] - np.sum(W * hits) / W.sum()) < 1e-6
    assert got != tr.evaluate(X, Y)


def test_epoch_loss_averages_minibatch_losses_by_rows():
    """A record's loss: the minibatch losses (each its weighted mean) averaged with their row
    counts as weights, as scikit-learn's loss_curve_."""
    tr, probe = _trainer(dtype="float64"), _trainer(dtype="float64")
    h = tr.fit(X, Y, epochs=1, batch_size=16, sample_weight=W, progress=False)
    total = 0.0
    for Xb, Yb, wb in data.minibatches(X, Y, 16, seed=3, epoch=0, sample_weight=W):
        _, value = probe.gradients(Xb, Yb, sample_weight=wb)
        total += float(value) * Xb.shape[0]
        probe.fit(Xb, Yb, steps=1, batch_size=16, shuffle=False, sample_weight=wb, progress=False)
    assert abs(h["loss"][0] - total / 50) < 1e-12


@pytest.mark.parametrize("weight, exc, match", [
    (-np.ones(50), ValueError, "sample_weight must lie in"),
    (np.zeros(50), ValueError, "sample_weight are all 0"),
    (np.ones(49), ValueError, r"expected one weight per sample, shape \(50,\)"),
    (np.full(50, np.nan), ValueError, "sample_weight contains NaN"),
    (np.full(50, 1e300), ValueError, r"sample_weight \(in float32\) contains NaN or inf"),
    (["a"] * 50, TypeError, "must hold numbers"),
])  # fmt: skip
def test_fit_refuses_bad_weights_and_keeps_its_parameters(weight, exc, match):
    tr = _trainer()
    before = _leaves(tr)
    for call in (
        lambda: tr.fit(X, Y, epochs=1, sample_weight=weight, progress=False),
        lambda: tr.evaluate(X, Y, sample_weight=weight),
        lambda: tr.fit(X, Y, validation_data=(X, Y, weight), progress=False),
    ):
        with pytest.raises(exc, match=match):
            call()
    assert tr.steps_done == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, _leaves(tr), strict=True))


def test_validation_data_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"\(X_val, Y_val\) or \(X_val, Y_val, sample_weight_val"):
        _trainer().fit(X, Y, validation_data=(X,), progress=False)


@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
def test_jax_whole_fit_program_equals_stepwise_with_weights():
    """The compiled whole fit (validation inside), runs of steps in one scan (check_every)
    and one step at a time give the same weighted run."""
    runs = []
    for kwargs in ({"fused": None}, {"fused": False}, {"check_every": 2}):
        tr = _trainer("jax", optimizer=optim.Adam(1e-2))
        h = tr.fit(X, Y, epochs=3, batch_size=16, sample_weight=W, validation_data=(X, Y, W),
                   progress=False, **kwargs)  # fmt: skip
        runs.append((_leaves(tr), h["loss"], h["val_loss"], h["val_accuracy"]))
    for run in runs[1:]:
        for a, b in zip(runs[0][0], run[0], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(runs[0][1:], run[1:], rtol=1e-5)


@pytest.mark.parametrize("name", AVAILABLE)
def test_a_weighted_checkpoint_resumes_exactly(name, tmp_path):
    """Weights are data, not state: a weighted run saved after 5 steps and loaded goes on as
    the run that was not stopped, bit for bit (on JAX one step at a time: its whole-fit
    programs of other lengths agree to rounding)."""
    kw = {"batch_size": 16, "sample_weight": W, "progress": False}
    if backends.get(name).can_scan:
        kw["fused"] = False
    whole, first = _trainer(name), _trainer(name)
    whole.fit(X, Y, steps=11, **kw)
    first.fit(X, Y, steps=5, **kw)
    first.save(tmp_path / "run.safetensors")
    resumed = nnkit.Trainer.load(tmp_path / "run.safetensors", backend=name)
    resumed.fit(X, Y, steps=6, **kw)
    assert resumed.steps_done == 11
    for a, b in zip(_leaves(whole), _leaves(resumed), strict=True):
        assert np.array_equal(a, b)


FOUR_DEVICES = """
import json, os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np
import nnkit
from nnkit.layers import Dense, Tanh
from nnkit.losses import CrossEntropy
from nnkit.optim import Adam

rng = np.random.default_rng(0)
X = rng.normal(size=(100, 4)).astype(np.float32)  # 6 minibatches of 16 and one of 4
y = (X[:, 0] > 0).astype(np.int64)
w = rng.uniform(0, 2, 100).astype(np.float32)
out = {}
for devices, fused in ((None, None), (4, None), (4, False)):
    t = nnkit.Trainer(nnkit.Sequential([Dense(4, 8), Tanh(), Dense(8, 2)]), CrossEntropy(),
                      Adam(1e-2), backend="jax", devices=devices, seed=1)
    h = t.fit(X, y, epochs=2, batch_size=16, fused=fused, sample_weight=w,
              validation_data=(X, y, w), progress=False)
    leaves = [t.backend.to_numpy(a).tolist() for a in nnkit.tree.tree_leaves(t.params)]
    out[str((devices, fused))] = [leaves, h["loss"], h["val_loss"],
                                  t.evaluate(X, y, sample_weight=w)["loss"]]
print(json.dumps(out))
"""


@pytest.mark.slow  # seconds of compiling: with the end-to-end runs
@pytest.mark.skipif("jax" not in AVAILABLE, reason="needs jax")
def test_four_devices_train_the_weighted_run_of_one():
    proc = subprocess.Popen([sys.executable, "-c", FOUR_DEVICES], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the four-device run took over 240 s")
    assert proc.returncode == 0, err[-3000:]
    runs = json.loads(out)
    one = runs.pop(str((None, None)))
    for key, run in runs.items():
        for a, b in zip(one[0], run[0], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=key)
        for a, b in zip(one[1:], run[1:], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=key)


def test_minibatches_carry_the_weights():
    batches = list(data.minibatches(X, Y, 16, seed=3, epoch=1, sample_weight=W))
    order = data.epoch_order(3, 1, 50)
    assert [len(b) for b in batches] == [3] * 4
    np.testing.assert_array_equal(np.concatenate([b[2] for b in batches]), W[order])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), Y[order])
    with pytest.raises(ValueError, match="X, Y, sample_weight have different numbers"):
        next(data.minibatches(X, Y, 16, sample_weight=W[:3]))


def test_sigmoid_model_per_sample_equals_batched_in_float64():
    """The lecture's per-sample loop with weights: sum_i w_i g_i / sum_i w_i equals the
    batched weighted gradient to rounding."""
    model = nnkit.Sequential([Dense(4, 5), Sigmoid(), Dense(5, 2)])
    kw = {"backend": "numpy", "dtype": "float64", "seed": 0}
    per = nnkit.Trainer(model, losses.MSE(), optim.SGD(0.1), strategy="per_sample", **kw)
    bat = nnkit.Trainer(model, losses.MSE(), optim.SGD(0.1), **kw)
    T = RNG.normal(size=(50, 2))
    (gp, vp), (gb, vb) = (t.gradients(X, T, sample_weight=W) for t in (per, bat))
    assert abs(float(vp) - float(vb)) < 1e-14
    for a, b in zip(nnkit.tree.tree_leaves(gp), nnkit.tree.tree_leaves(gb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
