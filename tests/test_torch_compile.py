"""``Trainer.fit(fused=True)`` on torch: the batched step compiled whole by ``torch.compile``
(``Backend.compile_step``) gives the eager step's run within float rounding (SGD, momentum,
Adam, a schedule; sample weights, validation, the smaller last minibatch, a checkpoint
resume), compiles each minibatch shape once per trainer, and stays opt-in. The compiling
tests are slow (tens of seconds a compilation on a small CPU)."""

import numpy as np
import pytest

import nnkit
from nnkit import InvalidValueError, Sequential, Trainer, backends
from nnkit.layers import Dense, ReLU, Sigmoid
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD, Adam, schedules

pytestmark = pytest.mark.skipif("torch" not in backends.available(), reason="needs torch")

torch = pytest.importorskip("torch")

# (rtol, atol) of a compiled run against the eager one: inductor fuses and reorders the
# same operations, so float32 agrees to rounding over a few steps, float64 far tighter
TOLERANCE = {"float32": (1e-5, 1e-7), "float64": (1e-11, 1e-14)}
CASES = {
    "sgd-float64": ("float64", MSE(), lambda: SGD(0.5),
                    lambda: [Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()]),
    "nesterov-schedule-float32": ("float32", MSE(),
                                  lambda: SGD(schedules.inverse_time(0.5, 0.1), momentum=0.9,
                                              nesterov=True),
                                  lambda: [Dense(6, 8), Sigmoid(), Dense(8, 3), Sigmoid()]),
    "adam-float32": ("float32", CrossEntropy(), lambda: Adam(1e-2),
                     lambda: [Dense(6, 8), ReLU(), Dense(8, 3)]),
    "adam-float64": ("float64", CrossEntropy(), lambda: Adam(1e-2),
                     lambda: [Dense(6, 8), ReLU(), Dense(8, 3)]),
}  # fmt: skip


def compilations() -> int:
    """Graphs torch.compile has captured in this process so far."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _data(n=50, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n), rng.uniform(0.5, 2.0, size=n)


def _trainer(case, **kw):
    dtype, loss, optimizer, layers = CASES[case]
    return Trainer(Sequential(layers()), loss, optimizer(), backend="torch", dtype=dtype,
                   seed=1, **kw)  # fmt: skip


def _assert_close(compiled, eager, dtype, h_compiled=None, h_eager=None):
    rtol, atol = TOLERANCE[dtype]
    assert compiled.steps_done == eager.steps_done and compiled.position == eager.position
    assert int(compiled.opt_state.count) == int(eager.opt_state.count) == eager.steps_done
    for p, q in zip(compiled.params, eager.params, strict=True):
        for k in p:
            np.testing.assert_allclose(backends.to_host(p[k]), backends.to_host(q[k]),
                                       rtol=rtol, atol=atol)  # fmt: skip
    if h_compiled is not None:
        assert h_compiled["step"] == h_eager["step"]
        for key in ("loss", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(h_compiled[key], h_eager[key], rtol=rtol, atol=atol)


def test_compiling_a_step_is_a_declared_capability():
    assert backends.get("torch").can_compile_step
    for name in backends.available():
        be = backends.get(name)
        assert be.can_compile_step == (name == "torch")
        if not be.can_compile_step:
            with pytest.raises(NotImplementedError, match=repr(name)):
                be.compile_step(lambda *args: args)


def test_the_default_fit_on_torch_stays_eager():
    X, y, w = _data()
    before = compilations()
    trainer = _trainer("adam-float32")
    trainer.fit(X, y, epochs=2, batch_size=8, sample_weight=w)
    trainer.fit(X, y, epochs=1, batch_size=8, fused=False)
    assert compilations() == before and trainer.steps_done == 21
    assert trainer.opt_state.count == 21  # a Python int, as the eager step counts


def test_fused_on_torch_refuses_per_sample_before_compiling():
    X, y, _ = _data()
    trainer = _trainer("adam-float32", strategy="per_sample")
    before = compilations()
    with pytest.raises(InvalidValueError, match="fused=True needs strategy 'batched'.*per_sample"):
        trainer.fit(X, y, fused=True)
    assert compilations() == before and trainer.steps_done == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_fit_equals_the_eager_one(case):
    """Two fits with sample weights and weighted validation, 50 rows in minibatches of 8
    (the last one of 2): the compiled run is the eager run within float rounding, the first
    fit compiles the two minibatch shapes, the second fit reuses them, and the parameters
    held before each fit stay as they were."""
    X, y, w = _data()
    X_val, y_val, w_val = _data(n=11, seed=4)
    kw = dict(batch_size=8, sample_weight=w, validation_data=(X_val, y_val, w_val))
    eager, compiled = _trainer(case), _trainer(case)
    for epochs, expected in ((2, 2), (1, 0)):  # 2 shapes: 8 rows, then 2; then none new
        held = nnkit.tree.tree_leaves(compiled.params)
        copies = [backends.to_host(a).copy() for a in held]
        h_eager = eager.fit(X, y, epochs=epochs, fused=False, **kw)
        before = compilations()
        h_compiled = compiled.fit(X, y, epochs=epochs, fused=True, **kw)
        assert compilations() - before == expected
        _assert_close(compiled, eager, CASES[case][0], h_compiled, h_eager)
        for a, copy in zip(held, copies, strict=True):
            np.testing.assert_array_equal(backends.to_host(a), copy)
        assert not np.array_equal(backends.to_host(compiled.params[0]["W"]), copies[0])


@pytest.mark.slow
def test_compiled_fit_resumes_from_a_checkpoint_mid_epoch(tmp_path):
    """5 compiled steps, saved, loaded and 9 more compiled (the rest of the first epoch, the
    second epoch's first steps): the eager run of 14 steps that never stopped."""
    X, y, w = _data()
    eager, first = _trainer("adam-float64"), _trainer("adam-float64")
    eager.fit(X, y, steps=14, batch_size=8, sample_weight=w, fused=False)
    first.fit(X, y, steps=5, batch_size=8, sample_weight=w, fused=True)
    first.save(tmp_path / "t.safetensors")
    resumed = Trainer.load(tmp_path / "t.safetensors", backend="torch")
    assert resumed.position == (0, 40) and resumed.steps_done == 5
    resumed.fit(X, y, steps=9, batch_size=8, sample_weight=w, fused=True)
    _assert_close(resumed, eager, "float64")


@pytest.mark.slow
def test_each_trainer_compiles_its_own_step():
    """Trainers differing in a hyperparameter share the step's code: each still compiles its
    own step, within dynamo's limit of versions per compiled function (here 1), and trains
    as its eager twin."""
    X, y, _ = _data(n=32)  # 4 minibatches of 8: one shape
    for lr in (0.5, 0.25):
        eager, compiled = (Trainer(Sequential([Dense(6, 3), Sigmoid()]), MSE(), SGD(lr),
                                   backend="torch", seed=1) for _ in range(2))  # fmt: skip
        eager.fit(X, y, epochs=2, batch_size=8, fused=False)
        before = compilations()
        with torch._dynamo.config.patch(recompile_limit=1):
            compiled.fit(X, y, epochs=2, batch_size=8, fused=True)
        assert compilations() - before == 1
        _assert_close(compiled, eager, "float32")
