"""pytest-benchmark suite: ``pytest benchmarks --benchmark-only`` (full sizes), or
``NNKIT_BENCH_SMOKE=1 pytest benchmarks --benchmark-disable`` (tiny sizes, each case once).
``NNKIT_BENCH_THREADS=N`` gives every library N threads (default: every core)."""

import os

from nnkit.bench import peers

peers.pin(int(os.environ["NNKIT_BENCH_THREADS"]) if os.environ.get("NNKIT_BENCH_THREADS") else None)
