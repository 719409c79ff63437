"""Trainer.fit conveniences: History, validation, progress bar, NaN guard, interrupts."""

import copy
import os
import signal

import numpy as np
import pytest

import nnkit
from nnkit.datasets import sine
from nnkit.layers import Dense, Tanh
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD, Adam


def _model():
    return nnkit.Sequential([Dense(1, 8), Tanh(), Dense(8, 1)])


def _trainer(backend="numpy", lr=0.05, optimizer=None, strategy="batched"):
    opt = optimizer or SGD(lr, momentum=0.9)
    return nnkit.Trainer(_model(), MSE(), opt, backend=backend, strategy=strategy)


def _host(trainer):
    return [trainer.backend.to_numpy(v).copy() for p in trainer.params for v in p.values()]


def _assert_bitwise(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()


DATA = sine(40, seed=0)
VAL = sine(16, seed=1)


def test_history_has_one_record_per_epoch(backend):
    trainer = _trainer(backend)
    history = trainer.fit(*DATA, epochs=3, batch_size=16, validation_data=VAL, progress=False)
    assert len(history) == 3 and trainer.history is history
    assert history["epoch"] == [1, 2, 3]
    assert history["step"] == [3, 6, 9]  # ceil(40 / 16) steps per epoch
    for key in ("loss", "val_loss", "samples_per_s", "time_s", "elapsed_s"):
        assert all(np.isfinite(history[key])) and min(history[key]) > 0
    assert history["elapsed_s"] == sorted(history["elapsed_s"])
    assert history.wall_time == history["elapsed_s"][-1]
    # the last validation loss is the trained model's loss on the validation set
    assert history["val_loss"][-1] == pytest.approx(trainer.evaluate(*VAL)["loss"], rel=1e-6)
    with pytest.raises(KeyError, match="val_accuracy"):
        history["val_accuracy"]


def test_epoch_loss_is_the_mean_over_the_epoch_samples():
    X, Y = DATA
    trainer = _trainer()
    before = trainer.params
    history = trainer.fit(X, Y, epochs=1, batch_size=40, shuffle=False, progress=False)
    # one full-batch step: the recorded loss is the loss of the initial parameters
    pred = trainer.model.predict(before, trainer.backend.asarray(X, dtype="float32"))
    assert history["loss"][0] == pytest.approx(float(MSE()(pred, Y.astype(np.float32))))


def test_validation_accuracy_for_classification():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    model = nnkit.Sequential([Dense(2, 2)])
    trainer = nnkit.Trainer(model, CrossEntropy(), SGD(0.5))
    history = trainer.fit(X, y, epochs=5, batch_size=20, validation_data=(X, y), progress=False)
    assert history["val_accuracy"][-1] == trainer.evaluate(X, y)["accuracy"]
    assert history["val_accuracy"][-1] > 0.8


def test_steps_mode_ends_mid_epoch_with_a_partial_record():
    history = _trainer().fit(*DATA, steps=5, batch_size=16, progress=False)
    assert history["step"] == [3, 5]
    assert [r.get("partial", False) for r in history.records] == [False, True]


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_fit_continues_mid_epoch_exactly(strategy):
    whole = _trainer(strategy=strategy)
    whole.fit(*DATA, steps=12, batch_size=16, progress=False)
    split = _trainer(strategy=strategy)
    split.fit(*DATA, steps=5, batch_size=16, progress=False)
    split.fit(*DATA, steps=7, batch_size=16, progress=False)
    assert split.steps_done == 12
    _assert_bitwise(_host(whole), _host(split))


def test_progress_bar_off_when_not_a_terminal(capsys):
    _trainer().fit(*DATA, epochs=2, batch_size=16)  # progress=None; pytest's stdout is no TTY
    assert capsys.readouterr().out == ""


def test_progress_bar_shows_steps_loss_and_validation(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _trainer().fit(*DATA, epochs=2, batch_size=16, validation_data=VAL, progress=True)
    out = capsys.readouterr().out
    assert "6/6" in out and "loss" in out and "val_loss" in out and "samples/s" in out
    _trainer().fit(*DATA, epochs=2, batch_size=16, progress=False)
    assert capsys.readouterr().out == ""


# -- NaN / inf guard ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on purpose
def test_nan_guard_names_the_step_and_keeps_finite_params(backend):
    trainer = _trainer(backend, lr=50.0)
    with pytest.raises(nnkit.NonFiniteLossError, match=r"at step \d+") as info:
        trainer.fit(*DATA, epochs=20, batch_size=8, progress=False)
    step = info.value.step
    assert trainer.steps_done == step - 1
    assert all(np.isfinite(p).all() for p in _host(trainer))
    assert len(trainer.history) == (step - 1) // 5  # epochs completed before the bad one


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on purpose
def test_nan_guard_keeps_the_params_of_the_last_good_step():
    trainer = _trainer(lr=50.0)
    with pytest.raises(nnkit.NonFiniteLossError) as info:
        trainer.fit(*DATA, epochs=20, batch_size=8, progress=False)
    step = info.value.step
    # the same run stopped by hand one step before the bad one
    ref = _trainer(lr=50.0)
    ref.fit(*DATA, steps=step - 1, batch_size=8, progress=False)
    _assert_bitwise(_host(trainer), _host(ref))
    # checking every step finds the same step
    per_step = _trainer(lr=50.0)
    with pytest.raises(nnkit.NonFiniteLossError) as again:
        per_step.fit(*DATA, epochs=20, batch_size=8, progress=False, check_every=1)
    assert again.value.step == step
    # and one step more does give a non-finite loss
    X, Y = DATA
    order = nnkit.data.epoch_order(0, (step - 1) // 5, 40)[((step - 1) % 5) * 8 :][:8]
    _, loss = ref.gradients(X[order], Y[order])
    assert not np.isfinite(loss)


class _CountingBackend:
    """The NumPy backend, counting its host reads (``to_numpy``): the guard's checks are the
    only reads inside an epoch."""

    def __new__(cls, reads):
        backend = copy.copy(nnkit.backends.get("numpy"))
        real = backend.to_numpy
        backend.to_numpy = lambda x: reads.append(1) or real(x)
        return backend


def test_nan_guard_reads_the_loss_once_per_epoch():
    reads = []
    trainer = _trainer(backend=_CountingBackend(reads))
    trainer.fit(*DATA, epochs=4, batch_size=8, progress=False)  # 20 steps
    assert len(reads) == 4 * 2  # per epoch: the guard's check and the record's loss
    reads.clear()
    trainer.fit(*DATA, epochs=4, batch_size=8, progress=False, check_every=2)
    assert len(reads) == 4 * 2 + 10 * 2  # and per check: the guard and the bar's loss


# -- interrupts ------------------------------------------------------------------------------


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler for the test. A process started in the background (as CI
    jobs may be) inherits SIGINT as ignored, and fit rightly leaves an ignored or custom
    SIGINT alone; these tests are about the default, interactive case."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _OnStep(nnkit.callbacks.Callback):
    """A callback run after every step that calls ``fn`` once, after step ``k``."""

    every = 1

    def __init__(self, k, fn):
        self.k, self.fn = k, fn

    def on_step(self, trainer):
        if trainer.steps_done == self.k:
            self.fn()


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_the_last_completed_step_and_fit_continues():
    trainer = _trainer(optimizer=Adam(0.01))
    stop = _OnStep(7, _raise_keyboard_interrupt)  # before step 8 starts
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*DATA, steps=12, batch_size=16, progress=False, callbacks=[stop])
    assert trainer.steps_done == 7
    assert trainer.history["step"] == [3, 6, 7]  # two epochs and the part of the third
    assert trainer.history.records[-1]["partial"] is True
    ref = _trainer(optimizer=Adam(0.01))
    ref.fit(*DATA, steps=7, batch_size=16, progress=False)
    _assert_bitwise(_host(trainer), _host(ref))
    trainer.fit(*DATA, steps=5, batch_size=16, progress=False)
    ref.fit(*DATA, steps=5, batch_size=16, progress=False)
    _assert_bitwise(_host(trainer), _host(ref))


class _CtrlCInLoss(MSE):
    """MSE whose gradient sends this process SIGINT on its k-th call: Ctrl-C while a step is
    running (eager backends: once per step; JAX traces the step once, then it is compiled)."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def unchecked_grad(self, pred, target, weight=None):
        self.calls += 1
        if self.calls == self.k:
            os.kill(os.getpid(), signal.SIGINT)
        return super().unchecked_grad(pred, target, weight)


def _ctrl_c_run(backend, k, steps_at_stop, history_steps, **fit_args):
    trainer = nnkit.Trainer(_model(), _CtrlCInLoss(k), SGD(0.05, momentum=0.9), backend=backend)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*DATA, steps=12, batch_size=16, progress=False, **fit_args)
    assert trainer.steps_done == steps_at_stop
    assert trainer.history["step"] == history_steps
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ref = _trainer(backend)
    ref.fit(*DATA, steps=steps_at_stop, batch_size=16, progress=False)
    np.testing.assert_array_equal(_host(trainer)[0], _host(ref)[0])
    trainer.fit(*DATA, steps=12 - steps_at_stop, batch_size=16, progress=False)
    ref.fit(*DATA, steps=12 - steps_at_stop, batch_size=16, progress=False)
    assert trainer.steps_done == 12
    np.testing.assert_array_equal(_host(trainer)[0], _host(ref)[0])


def test_ctrl_c_lets_the_running_step_finish_then_stops(backend, default_sigint):
    """SIGINT while step 1 computes its loss gradient (code that runs inside step 1 on every
    backend: eagerly, or while JAX traces it): step 1 finishes, then fit stops."""
    _ctrl_c_run(backend, 1, 1, [1], fused=False)


@pytest.mark.skipif("jax" not in nnkit.backends.available(), reason="needs jax")
def test_ctrl_c_in_a_compiled_program_stops_after_it(default_sigint):
    """JAX's default fit runs whole epochs as one program (here one epoch per program: a
    callback needs each epoch's end): SIGINT while the first traces ends fit after it."""
    _ctrl_c_run("jax", 1, 3, [3], callbacks=[lambda trainer, record: None])


def test_ctrl_c_mid_run_stops_after_that_step(default_sigint):
    """NumPy without its jit runs the loss gradient once per step: SIGINT inside step 5."""
    _ctrl_c_run(nnkit.backends.get("numpy").without_jit(), 5, 5, [3, 5])


def test_ctrl_c_after_the_last_step_is_not_swallowed(default_sigint):
    def ctrl_c(trainer, record):
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = _trainer()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*DATA, epochs=2, batch_size=16, progress=False, callbacks=[ctrl_c])
    assert trainer.steps_done == 6 and len(trainer.history) == 2
