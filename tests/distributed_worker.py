"""A training run in its own process, for tests/test_distributed.py: forced CPU devices
(set before JAX is imported), optionally one process of a multi-process run, optionally
checkpointing as it goes (to be killed) or resuming from a checkpoint.

    python distributed_worker.py CONFIG_JSON

CONFIG: backend, devices (null, an int or "all"), dtype, optimizer ("sgd", "momentum",
"adam"), epochs, batch_size, out (an .npz the final parameters go to, one per process:
``{process}`` in it), and optionally local_devices (forced CPU devices of this process),
coordinator/num_processes/process_id, checkpoint + every (save every that many steps,
sleeping ``pause`` seconds after each save), resume (continue the run saved there to
``epochs`` epochs in all; the uninterrupted run's results go beside, as ``reference_*``),
save (a path to save the trainer to at the end), die_after_init (exit at once after
joining the run), hidden (the hidden layer's width, 32 by default).
"""

import json
import os
import sys
import time

config = json.loads(sys.argv[1])
os.environ["XLA_FLAGS"] = (
    f"--xla_force_host_platform_device_count={config.get('local_devices', 1)}"
)

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

import nnkit  # noqa: E402
from nnkit import distributed  # noqa: E402
from nnkit.callbacks import Callback, Checkpoint  # noqa: E402
from nnkit.layers import Dense, Tanh  # noqa: E402
from nnkit.losses import CrossEntropy  # noqa: E402
from nnkit.optim import SGD, Adam  # noqa: E402

if config.get("coordinator"):
    distributed.initialize(
        config["coordinator"], config["num_processes"], config["process_id"], timeout_s=60
    )
    if config.get("die_after_init"):
        os._exit(3)

OPTIMIZERS = {
    "sgd": lambda: SGD(0.1),
    "momentum": lambda: SGD(0.05, momentum=0.9),
    "adam": lambda: Adam(1e-2),
}


class Pause(Callback):
    """Sleep after each save, so that a kill lands between two checkpoints."""

    def __init__(self, every: int, seconds: float):
        self.every, self.seconds = every, seconds

    def on_step(self, trainer):
        time.sleep(self.seconds)


X, y, X_val, y_val = nnkit.datasets.digits(normalize=True)
backend, devices = config["backend"], config.get("devices")
batch, epochs = config["batch_size"], config["epochs"]
per_epoch = -(-X.shape[0] // batch)


def fresh() -> nnkit.Trainer:
    hidden = config.get("hidden", 32)
    model = nnkit.Sequential([Dense(64, hidden), Tanh(), Dense(hidden, 10)])
    return nnkit.Trainer(model, CrossEntropy(), OPTIMIZERS[config["optimizer"]](),
                         backend=backend, dtype=config.get("dtype", "float32"),
                         devices=devices, seed=3)  # fmt: skip


def train(trainer: nnkit.Trainer, callbacks=()) -> dict:
    """The rest of the run's ``epochs`` epochs; the final parameters, validation accuracy
    and predictions as host arrays."""
    steps = epochs * per_epoch - trainer.steps_done
    history = trainer.fit(X, y, steps=steps, batch_size=batch, callbacks=callbacks,
                          validation_data=(X_val, y_val), progress=False)  # fmt: skip
    leaves = nnkit.tree.tree_leaves(trainer.params)
    arrays = {f"p{i}": trainer.backend.to_numpy(a) for i, a in enumerate(leaves)}
    arrays["val_accuracy"] = np.array(history["val_accuracy"])
    arrays["pred"] = trainer.backend.to_numpy(trainer.predict(X_val))
    return arrays


callbacks = []
if config.get("checkpoint"):
    every = config["every"]
    callbacks = [Checkpoint(config["checkpoint"], every=every),
                 Pause(every, config.get("pause", 0.0))]  # fmt: skip
if config.get("resume"):  # the resumed run, and beside it the run never interrupted
    trainer = nnkit.Trainer.load(config["resume"], backend=backend, devices=devices)
    arrays = train(trainer)
    arrays.update({f"reference_{k}": v for k, v in train(fresh()).items()})
else:
    trainer = fresh()
    arrays = train(trainer, callbacks)
if config.get("save"):
    trainer.save(config["save"])
out = config["out"].format(process=distributed.process_index())
np.savez(out, **arrays)
blas = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
report = {"process": distributed.process_index(), "steps_done": trainer.steps_done,
          "device": trainer.backend.device_name(), "blas_threads": blas}  # fmt: skip
print(json.dumps(report), flush=True)
if config.get("coordinator"):
    distributed.shutdown()
