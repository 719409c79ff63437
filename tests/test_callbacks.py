"""Callbacks: early stopping with best-weights restore, checkpoints and resume, user hooks."""

import numpy as np
import pytest

import nnkit
from nnkit import backends
from nnkit.callbacks import Callback, Checkpoint, EarlyStopping, as_callback
from nnkit.datasets import sine
from nnkit.errors import InvalidTypeError, InvalidValueError
from nnkit.layers import Dense, Tanh
from nnkit.losses import MSE
from nnkit.optim import SGD, Adam, schedules

DATA = sine(40, seed=0)
VAL = sine(16, seed=1)


def _trainer(optimizer=None, backend="numpy"):
    model = nnkit.Sequential([Dense(1, 8), Tanh(), Dense(8, 1)])
    return nnkit.Trainer(model, MSE(), optimizer or SGD(0.05, momentum=0.9), backend=backend)


def _host(trainer, params=None):
    params = trainer.params if params is None else params
    return [trainer.backend.to_numpy(v).copy() for p in params for v in p.values()]


def _assert_bitwise(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    scores = [5.0, 3.0, 1.0, 2.0, 4.0, 6.0, 7.0, 8.0]  # best at epoch 3
    snapshots = {}

    def inject(trainer, record):  # a user hook that adds a metric and keeps the weights
        record["score"] = scores[record["epoch"] - 1]
        snapshots[record["epoch"]] = _host(trainer)

    stopper = EarlyStopping("score", patience=2)
    trainer = _trainer()
    history = trainer.fit(*DATA, epochs=8, batch_size=16, callbacks=[inject, stopper])
    assert history["epoch"] == [1, 2, 3, 4, 5]  # two epochs without improvement after 3
    assert stopper.best_epoch == 3 and stopper.best_value == 1.0
    _assert_bitwise(_host(trainer), snapshots[3])
    assert not np.array_equal(snapshots[3][0], snapshots[5][0])


def test_early_stopping_on_validation_loss_ends_with_the_best_weights(backend):
    trainer = _trainer(SGD(0.3, momentum=0.9), backend)
    stopper = EarlyStopping("val_loss", patience=3)
    history = trainer.fit(*DATA, epochs=40, batch_size=8, validation_data=VAL, callbacks=[stopper])
    best = min(history["val_loss"])
    assert trainer.evaluate(*VAL)["loss"] == pytest.approx(best, rel=1e-6)
    assert history["val_loss"].index(best) + 1 == stopper.best_epoch


def test_early_stopping_without_restore_keeps_the_last_weights():
    scores = [1.0, 2.0, 3.0]
    trainer = _trainer()
    last = {}

    def inject(trainer, record):
        record["score"] = scores[record["epoch"] - 1]
        last["params"] = _host(trainer)

    trainer.fit(
        *DATA,
        epochs=3,
        batch_size=16,
        callbacks=[inject, EarlyStopping("score", patience=2, restore_best=False)],
    )
    _assert_bitwise(_host(trainer), last["params"])


def test_early_stopping_mode_auto_maximises_accuracy():
    assert EarlyStopping("val_accuracy").sign == -1.0
    assert EarlyStopping("val_loss").sign == 1.0


def test_early_stopping_needs_the_monitored_key():
    with pytest.raises(InvalidValueError, match="val_loss"):
        _trainer().fit(*DATA, epochs=1, callbacks=[EarlyStopping("val_loss")])


@pytest.mark.parametrize(
    "optimizer",
    [
        SGD(0.05, momentum=0.9, nesterov=True),
        Adam(schedules.cosine(0.02, 30)),
        nnkit.optim.AdamW(0.01),
        nnkit.optim.RMSProp(0.01),
    ],
    ids=["nesterov", "adam-cosine", "adamw", "rmsprop"],
)
def test_resume_from_checkpoint_equals_uninterrupted_training(tmp_path, optimizer):
    whole = _trainer(optimizer)
    whole.fit(*DATA, steps=25, batch_size=16)
    interrupted = _trainer(optimizer)
    ckpt = Checkpoint(tmp_path / "ckpt-{step}.safetensors", every=7)
    interrupted.fit(*DATA, steps=15, batch_size=16, callbacks=[ckpt])
    assert [p.rsplit("-", 1)[1] for p in ckpt.saved] == ["7.safetensors", "14.safetensors"]
    resumed = nnkit.Trainer.load(tmp_path / "ckpt-7.safetensors")  # mid-epoch (16 * 7 % 40)
    assert resumed.steps_done == 7
    resumed.fit(*DATA, steps=18, batch_size=16)
    _assert_bitwise(_host(resumed), _host(whole))
    for a, b in zip(
        nnkit.tree.tree_leaves(resumed.opt_state),
        nnkit.tree.tree_leaves(whole.opt_state),
        strict=True,
    ):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_resume_is_exact_on_every_backend(tmp_path, backend):
    """Step by step (``fused=False``), a saved and resumed trainer ends bitwise where an
    uninterrupted one does, on every backend."""
    optimizer = Adam(schedules.cosine(0.02, 30))
    whole = _trainer(optimizer, backend)
    whole.fit(*DATA, steps=12, batch_size=16, fused=False)
    first = _trainer(optimizer, backend)
    first.fit(*DATA, steps=5, batch_size=16, fused=False)
    first.save(tmp_path / "t.st")
    resumed = nnkit.Trainer.load(tmp_path / "t.st", backend=backend)
    resumed.fit(*DATA, steps=7, batch_size=16, fused=False)
    _assert_bitwise(_host(resumed), _host(whole))


@pytest.mark.skipif("jax" not in nnkit.backends.available(), reason="needs jax")
def test_resume_on_jax_default_fit_agrees_to_roundoff(tmp_path):
    """JAX's default fit compiles whole epochs as one program, so a resumed run (other
    programs: a head, whole epochs, a tail) agrees with the uninterrupted one to roundoff:
    XLA may round the same step differently inside and outside a loop."""
    optimizer = Adam(schedules.cosine(0.02, 30))
    whole = _trainer(optimizer, "jax")
    whole.fit(*DATA, steps=12, batch_size=16)
    first = _trainer(optimizer, "jax")
    first.fit(*DATA, steps=5, batch_size=16)
    first.save(tmp_path / "t.st")
    resumed = nnkit.Trainer.load(tmp_path / "t.st", backend="jax")
    resumed.fit(*DATA, steps=7, batch_size=16)
    assert resumed.steps_done == whole.steps_done == 12
    for a, b in zip(_host(resumed), _host(whole), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on purpose
def test_checkpoints_never_hold_non_finite_params(tmp_path):
    trainer = _trainer(SGD(50.0))
    ckpt = Checkpoint(tmp_path / "c-{step}.st", every=1)
    with pytest.raises(nnkit.NonFiniteLossError) as info:
        trainer.fit(*DATA, epochs=20, batch_size=8, callbacks=[ckpt])
    assert len(ckpt.saved) == info.value.step - 1
    _, params = nnkit.load(ckpt.saved[-1])
    assert all(np.isfinite(v).all() for p in params for v in p.values())


def test_user_callback_sees_every_epoch_and_can_stop_training():
    seen = []

    class StopAtTwo(Callback):
        def on_fit_start(self, trainer):
            seen.append("start")

        def on_epoch_end(self, trainer, record):
            seen.append(record["epoch"])
            trainer.stop_training = record["epoch"] == 2

        def on_fit_end(self, trainer, history):
            seen.append(len(history))

    _trainer().fit(*DATA, epochs=5, batch_size=16, callbacks=[StopAtTwo()])
    assert seen == ["start", 1, 2, 2]


def test_on_step_runs_every_n_steps():
    steps = []

    class Every(Callback):
        every = 4

        def on_step(self, trainer):
            steps.append(trainer.steps_done)

    _trainer().fit(*DATA, steps=13, batch_size=16, callbacks=[Every()])
    assert steps == [4, 8, 12]


def test_callbacks_must_be_callbacks_or_functions():
    with pytest.raises(InvalidTypeError, match="int"):
        as_callback(3)
    with pytest.raises(InvalidValueError, match="every"):
        Checkpoint("x", every=0)
    with pytest.raises(InvalidValueError, match="patience"):
        EarlyStopping(patience=0)


@pytest.mark.parametrize("name", backends.available())
def test_csv_logger_writes_a_row_per_epoch_as_keras_does(tmp_path, name):
    import csv

    from nnkit.callbacks import CSVLogger

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    trainer = nnkit.Trainer(nnkit.Sequential([Dense(3, 2)]), nnkit.losses.CrossEntropy(),
                            SGD(0.1), backend=name)  # fmt: skip
    path = tmp_path / "log.csv"
    history = trainer.fit(X, y, epochs=3, batch_size=16, validation_data=(X, y),
                          callbacks=[CSVLogger(path)])  # fmt: skip
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[0] == "epoch" and header[1:] == sorted(header[1:])
    assert {"loss", "val_loss", "val_accuracy", "step"} <= set(header)
    assert [int(r[0]) for r in body] == [1, 2, 3]
    for key in ("loss", "val_loss", "val_accuracy"):
        column = [float(r[header.index(key)]) for r in body]
        assert column == pytest.approx(history[key], rel=1e-12)
    trainer.fit(X, y, epochs=2, batch_size=16, callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == header and [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="separator must be one character, got ';;'"):
        CSVLogger(path, separator=";;")
