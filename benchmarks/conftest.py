"""pytest-benchmark suite: ``pytest benchmarks --benchmark-only`` (full sizes), or
``NNKIT_BENCH_SMOKE=1 pytest benchmarks --benchmark-disable`` (tiny sizes, each case once)."""

from nnkit import peers

peers.pin_precision()
