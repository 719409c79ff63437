"""S1 (lecture MLP), S2 (wide MLP), S3 (digits epoch), S4 and S5 (S1 over repeated fit
calls; JAX's default fit and the JAX+Optax scan only): every available backend x strategy,
and every peer library that is installed (the others skip); S6 (S1 for K models at once):
each backend's Sweep and K sequential fits, and the peers that stack models, at each K.

One benchmark round is one unit: an epoch of ``steps_per_unit`` minibatch updates,
synchronised at the end; extra_info carries what a row of ``nnkit bench`` carries.
"""

import pytest

from nnkit import backends
from nnkit.bench import peers
from nnkit.bench.contenders import (
    STACK_STRATEGIES,
    default_backends,
    nnkit_contender,
    stack_contender,
    strategies_for,
)
from nnkit.bench.scenarios import scenarios, smoke_mode

DTYPES = {"S1": ("float32", "float64"), "S2": ("float32",), "S3": ("float32",)}
CASES = [
    (s, dtype, batch)
    for s, scenario in scenarios().items()
    if not scenario.stacked
    for dtype in DTYPES.get(s, ("float32",))
    for batch in scenario.batch_sizes
]
# the scenarios of K models at once (S6): (scenario, dtype, batch, K)
STACK_CASES = [
    (s, "float32", batch, k)
    for s, scenario in scenarios().items()
    if scenario.stacked
    for batch in scenario.batch_sizes
    for k in scenario.models
]


# torch.compile takes tens of seconds a contender on a small CPU: in smoke mode (CI) what it
# compiles (nnkit torch fused, the torch_compile peers) runs at this one case; the slow tests
# of tests/test_bench.py run it through `nnkit bench`
SMOKE_COMPILE_CASE = ("S1", "float32", 8)


def _skip_torch_compile_in_smoke(case, torch_compiled):
    if torch_compiled and smoke_mode() and case != SMOKE_COMPILE_CASE:
        pytest.skip("torch.compile takes tens of seconds a case: smoke mode compiles at "
                    "{} {} b{} only".format(*SMOKE_COMPILE_CASE))  # fmt: skip


def _id(case):
    return "{}-{}-b{}".format(*case) + ("-K{}".format(*case[3:]) if len(case) > 3 else "")


def _measure(benchmark, contender):
    k = "" if contender.models is None else f" K={contender.models}"
    benchmark.group = f"{contender.scenario} {contender.dtype} batch {contender.batch_size}{k}"
    benchmark.extra_info.update(contender.info())
    benchmark.pedantic(contender.run, rounds=3, warmup_rounds=2)


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize(
    "backend, strategy",
    [(b, s) for b in default_backends() for s in strategies_for(b)],
    ids=lambda v: str(v),
)
def test_nnkit(benchmark, case, backend, strategy):
    scenario, dtype, batch = case
    if not scenarios()[scenario].runs(f"nnkit {backend} {strategy}"):
        pytest.skip(f"{scenario} times JAX's default fit and the JAX+Optax scan only")
    compiled = strategy == "fused" and backends.get(backend).can_compile_step
    _skip_torch_compile_in_smoke(case, compiled)
    _measure(benchmark, nnkit_contender(scenarios()[scenario], backend, strategy, batch, dtype))


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("peer", [p for p in peers.PEERS if p not in peers.STACKED])
def test_peer(benchmark, case, peer):
    scenario, dtype, batch = case
    if not scenarios()[scenario].runs(peer):
        pytest.skip(f"{scenario} times JAX's default fit and the JAX+Optax scan only")
    _skip_torch_compile_in_smoke(case, peer in peers.TORCH_COMPILE)
    try:
        contender = peers.contender(peer, scenarios()[scenario], batch, dtype)
    except peers.PeerUnavailable as e:
        pytest.skip(str(e))
    _measure(benchmark, contender)


@pytest.mark.parametrize("case", STACK_CASES, ids=_id)
@pytest.mark.parametrize(
    "backend, strategy",
    [(b, s) for b in default_backends() for s in STACK_STRATEGIES],
    ids=lambda v: str(v),
)
def test_nnkit_stack(benchmark, case, backend, strategy):
    scenario, dtype, batch, k = case
    _measure(benchmark, stack_contender(scenarios()[scenario], backend, strategy, batch, dtype, k))


@pytest.mark.parametrize("case", STACK_CASES, ids=_id)
@pytest.mark.parametrize("peer", peers.STACKED)
def test_stacking_peer(benchmark, case, peer):
    scenario, dtype, batch, k = case
    try:
        contender = peers.contender(peer, scenarios()[scenario], batch, dtype, k)
    except peers.PeerUnavailable as e:
        pytest.skip(str(e))
    _measure(benchmark, contender)
