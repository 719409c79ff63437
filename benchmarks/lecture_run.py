"""The lecture's full run, end to end: 40,000 minibatches of 64 on digits with the lecture
network (64-128-64-10, sigmoid, MSE, SGD 0.5), per backend x mode x dtype, in that order.

    python benchmarks/lecture_run.py --backends numpy,cupy,jax --dtypes float32,bfloat16 \\
        --modes batched,fused --out lecture.json

For each combination: ``cold_s``, a new Trainer through fit(steps) to the test accuracy,
compilation included; ``warm_s``, the same minibatch sequence again on the same (compiled)
trainer, continuing from its weights, with the accuracy read again (``--no-warm``: the cold
pass only, warm_s null; an eager backend compiles nothing, so its warm pass would mostly
repeat the cold one). Combinations a backend cannot run (fused without a compiled scan,
bfloat16 without bfloat16 arrays) are listed as skipped. ``--out`` is rewritten after each
combination, so a run stopped early keeps the rows it finished. ``--steps 200`` makes a
quick check.
"""

from __future__ import annotations

import argparse
import json
import time

import nnkit
from nnkit import backends
from nnkit.io import atomic_write
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD
from nnkit.training import precision


def lecture_trainer(backend: str, dtype: str) -> nnkit.Trainer:
    model = nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )
    return nnkit.Trainer(model, MSE(), SGD(0.5), backend=backend, dtype=dtype)


def timed_fit(trainer, data, steps: int, fused: bool) -> tuple[float, float]:
    """(seconds, test accuracy) of fit(steps) then evaluate, synchronised."""
    X, y, X_test, y_test = data
    start = time.perf_counter()
    trainer.fit(X, y, steps=steps, batch_size=64, fused=fused, progress=False)
    accuracy = trainer.evaluate(X_test, y_test)["accuracy"]  # reads the device: a sync
    return time.perf_counter() - start, accuracy


def run(backend: str, dtype: str, mode: str, steps: int, data, warm_pass: bool = True) -> dict:
    fused = mode == "fused"
    start = time.perf_counter()
    trainer = lecture_trainer(backend, dtype)
    _, accuracy = timed_fit(trainer, data, steps, fused)
    cold = time.perf_counter() - start
    warm = warm_accuracy = None
    if warm_pass:
        # the warm pass replays the same minibatch sequence (from epoch 0, offset 0), so
        # every chunk length of the fused scan is already compiled; a fit that started
        # mid-epoch would compile one more chunk length
        trainer.restore(trainer.state.replace(position=(0, 0)))
        warm, warm_accuracy = timed_fit(trainer, data, steps, fused)
    return {
        "backend": backend,
        "device": trainer.backend.device_name(),
        "dtype": dtype,
        "mode": mode,
        "steps": steps,
        "cold_s": cold,
        "accuracy": accuracy,
        "warm_s": warm,
        "warm_accuracy_after_2x_steps": warm_accuracy,
    }


def skip_reason(backend: str, dtype: str, mode: str) -> str | None:
    be = backends.get(backend)
    if mode == "fused" and not be.can_scan:
        return f"{backend}: fused needs a compiled scan"
    if dtype in precision.MIXED and not be.bfloat16:
        return f"{backend}: no {dtype}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="numpy,jax")
    p.add_argument("--dtypes", default="float32")
    p.add_argument("--modes", default="batched,fused")
    p.add_argument("--steps", type=int, default=40_000)
    p.add_argument("--no-warm", action="store_true", help="the cold pass only (warm_s null)")
    p.add_argument(
        "--out", default=None, help="write the rows as JSON here (again after each combination)"
    )
    args = p.parse_args(argv)
    data = nnkit.datasets.digits()
    rows: list[dict] = []
    skipped: list[str] = []

    def save() -> None:
        if args.out:
            report = {"rows": rows, "skipped": sorted(set(skipped))}
            atomic_write(args.out, json.dumps(report, indent=1).encode())

    for backend in args.backends.split(","):  # in the order given: the first matter most
        for mode in args.modes.split(","):
            for dtype in args.dtypes.split(","):
                reason = skip_reason(backend, dtype, mode)
                if reason:
                    skipped.append(reason)
                    continue
                row = run(backend, dtype, mode, args.steps, data, warm_pass=not args.no_warm)
                rows.append(row)
                save()
                warm = "" if row["warm_s"] is None else f" warm {row['warm_s']:.2f} s,"
                print(
                    f"{backend:6} {dtype:9} {mode:8} {row['device']}: cold {row['cold_s']:.2f} s,"
                    f"{warm} accuracy {row['accuracy']:.4f}",
                    flush=True,
                )
    for reason in sorted(set(skipped)):
        print(f"skipped: {reason}")
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
