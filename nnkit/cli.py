"""The ``nnkit`` command: ``nnkit info`` and ``nnkit train``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import __version__, backends, bench


def lecture_model():
    """The lecture's network: 64-128-64-10, sigmoid after every Dense layer."""
    from .layers import Dense, Sigmoid
    from .model import Sequential

    return Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )


def cmd_info(args: argparse.Namespace) -> int:
    print(f"nnkit {__version__}")
    for name in backends.NAMES:
        try:
            be = backends.get(name)
        except backends.BackendUnavailable as e:
            print(f"  {name:<17} unavailable: {e.reason}; install: {e.install}")
        else:
            print(f"  {name:<17} available on {be.device_name()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .datasets import digits
    from .losses import MSE
    from .optim import SGD
    from .trainer import Trainer

    X, y, X_test, y_test = digits()
    trainer = Trainer(
        lecture_model(),
        MSE(),
        SGD(args.lr),
        backend=args.backend,
        strategy=args.strategy,
        seed=args.seed,
    )
    start = time.perf_counter()
    if args.epochs is not None:
        trainer.fit(X, y, epochs=args.epochs, batch_size=args.batch_size)
    else:
        trainer.fit(X, y, steps=args.steps, batch_size=args.batch_size)
    elapsed = time.perf_counter() - start
    result = trainer.evaluate(X_test, y_test)
    print(
        f"digits: {trainer.steps_done} steps of batch {args.batch_size} on {trainer.backend.name} "
        f"({args.strategy}) in {elapsed:.1f} s"
    )
    print(f"test loss {result['loss']:.5f}  test accuracy {result['accuracy']:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnkit",
        description="Neural networks with hand-written backprop on NumPy, CuPy or JAX.",
    )
    parser.add_argument("--version", action="version", version=f"nnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="backends, devices and versions").set_defaults(func=cmd_info)

    train = sub.add_parser(
        "train",
        help="train the lecture network on a dataset and print its test accuracy",
        description="Trains Dense(64,128)-Sigmoid-Dense(128,64)-Sigmoid-Dense(64,10)-Sigmoid "
        "with MSE against one-hot targets and SGD, as in the lecture.",
    )
    train.add_argument("dataset", choices=["digits"])
    train.add_argument("--backend", default=None, help="numpy, jax, cupy, ... (default: numpy)")
    train.add_argument("--strategy", choices=["batched", "per_sample"], default="batched")
    stop = train.add_mutually_exclusive_group()
    stop.add_argument("--steps", type=int, default=20_000, help="minibatches (default 20000)")
    stop.add_argument("--epochs", type=int, default=None, help="passes over the data")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.5)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)
    bench.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (backends.BackendUnavailable, ValueError, TypeError) as e:
        print(f"nnkit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
