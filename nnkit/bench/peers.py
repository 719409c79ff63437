"""Peer libraries run on the same scenarios as nnkit, for ``nnkit bench --peers``: which
peers there are, whether each can run here, and their contenders (the PyTorch ones built by
``peers_torch``, the JAX ones by ``peers_jax``, scikit-learn's here).

Each peer is imported lazily, only when asked for; a peer that is not
installed raises PeerUnavailable and its rows are skipped. Precision is pinned
(no TF32 unless ``NNKIT_TF32=1``) and every library gets the same number of
threads: every core by default, or ``nnkit bench --threads N``.

``torch`` runs PyTorch eager on the CPU, ``torch_cuda`` on CUDA device 0;
``torch_compile`` and ``torch_compile_cuda`` run the same loop with its step compiled by
``torch.compile`` as PyTorch's recipes do it: the model and loss (forward, and through
AOTAutograd the backward) and the optimizer step, each compiled with static shapes (on CUDA
the model with ``mode="reduce-overhead"``: CUDA graphs). Their first unit of work compiles
(``COMPILED``: the report gives its time less a timed unit's as the compile time). dtype
"bfloat16" is mixed precision as nnkit's: float32 weights and optimizer state, forward and
backward in bfloat16 (``torch.autocast``; casts inside the loss for JAX).

The peers of S6 (K models at once) stack K models by hand, as each library's docs show it:
``torch_func`` (``torch_func_cuda`` on CUDA) stacks K PyTorch modules with
``torch.func.stack_module_state`` and takes every model's gradient in one
``vmap(grad(functional_call))``, eager, then steps SGD on the stacked parameters by hand;
``jax_vmap`` is ``jax_optax_scan`` with ``jax.vmap`` of its step (stacked parameters and
Optax state, the minibatch shared) inside its ``lax.scan``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np  # host-side data, as nnkit's contenders use

from .. import backends
from . import peers_torch
from .contenders import Contender
from .scenarios import Scenario

PEERS = ("torch", "torch_cuda", "torch_compile", "torch_compile_cuda", "jax_optax_step",
         "jax_optax_scan", "sklearn", "torch_func", "torch_func_cuda", "jax_vmap")  # fmt: skip
# the peers of scenarios of K models at once (S6), which run no other scenario
STACKED = ("torch_func", "torch_func_cuda", "jax_vmap")
_MODULES = {
    "torch": ("torch",),
    "torch_cuda": ("torch",),
    "torch_compile": ("torch",),
    "torch_compile_cuda": ("torch",),
    "jax_optax_step": ("jax", "optax"),
    "jax_optax_scan": ("jax", "optax"),
    "sklearn": ("sklearn",),
    "torch_func": ("torch",),
    "torch_func_cuda": ("torch",),
    "jax_vmap": ("jax", "optax"),
}
# whose matmul peak a peer's row is held against for "% own peak" (an nnkit row: its backend's)
PEAK_LIBRARY = {"torch": "torch", "torch_cuda": "torch_cuda", "torch_compile": "torch",
                "torch_compile_cuda": "torch_cuda", "jax_optax_step": "jax",
                "jax_optax_scan": "jax", "sklearn": "numpy", "torch_func": "torch",
                "torch_func_cuda": "torch_cuda", "jax_vmap": "jax"}  # fmt: skip
# the peers on a CUDA device, and those whose step torch.compile compiles (tens of seconds a
# contender on a small CPU: the quick run of ``nnkit bench`` leaves them out unless named)
CUDA, TORCH_COMPILE = peers_torch.CUDA, peers_torch.TORCH_COMPILE
# the peers whose first unit of work compiles (the report gives its time less a timed unit's)
COMPILED = ("torch_compile", "torch_compile_cuda", "jax_optax_step", "jax_optax_scan",
            "jax_vmap")  # fmt: skip
# the peers without mixed precision: scikit-learn's, and torch.func's (no autocast in vmap)
_NO_BFLOAT16 = ("sklearn", "torch_func", "torch_func_cuda")
INSTALL = "pip install 'nnkit[peers]'"
THREADS_ENV = "NNKIT_BENCH_THREADS"


class PeerUnavailable(RuntimeError):
    """A peer that is unknown, not installed, or lacks the device or dtype asked for."""


def available() -> list[str]:
    """The peers whose libraries are installed here."""
    return [p for p in PEERS if all(importlib.util.find_spec(m) for m in _MODULES[p])]


def threads() -> int:
    """The thread count every library was given (``NNKIT_BENCH_THREADS``, else every core)."""
    return int(os.environ.get(THREADS_ENV) or os.cpu_count() or 1)


def pin(n_threads: int | None = None) -> None:
    """Full-precision matmuls and ``n_threads`` threads (default: every core) in every
    installed library, process-wide. Call before any backend or peer runs: XLA reads its
    thread flags once, when JAX starts."""
    if n_threads is not None:
        os.environ[THREADS_ENV] = str(n_threads)
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
            f"{'true' if n_threads > 1 else 'false'} intra_op_parallelism_threads={n_threads}"
        )
        if importlib.util.find_spec("threadpoolctl"):
            from threadpoolctl import threadpool_limits

            threadpool_limits(n_threads)  # the BLAS under NumPy, OpenMP
    tf32 = backends.tf32_requested()
    if importlib.util.find_spec("torch"):
        import torch

        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.set_num_threads(threads())
    if importlib.util.find_spec("jax"):
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")


def check(peer: str, dtype: str) -> None:
    """Raises PeerUnavailable, saying why, where ``peer`` cannot run ``dtype`` here."""
    if peer not in PEERS:
        raise PeerUnavailable(f"unknown peer {peer!r}; expected one of {list(PEERS)}")
    if peer not in available():
        raise PeerUnavailable(f"peer {peer!r} needs {' and '.join(_MODULES[peer])}: {INSTALL}")
    if dtype == "bfloat16" and peer in _NO_BFLOAT16:
        raise PeerUnavailable(f"peer {peer!r} has no bfloat16")
    if peer in CUDA and not _torch_cuda():
        raise PeerUnavailable(f"peer {peer!r} needs a CUDA build of torch and a GPU")


def runs_here(peer: str, dtype: str = "float32") -> bool:
    """Whether ``peer`` can run ``dtype`` here (see ``check``)."""
    try:
        check(peer, dtype)
    except PeerUnavailable:
        return False
    return True


def contender(
    peer: str, scenario: Scenario, batch_size: int, dtype: str, models: int | None = None
) -> Contender:
    """``peer`` on ``scenario`` (a scenario of K models at once, S6: ``models`` = K);
    raises PeerUnavailable when it cannot run (see ``check``)."""
    check(peer, dtype)
    if (peer in STACKED) != (models is not None):
        raise PeerUnavailable(f"peer {peer!r} runs " + ("only" if peer in STACKED else "no")
                              + " scenarios of K models at once (S6)")  # fmt: skip
    X, y = scenario.data(batch_size)
    steps = -(-X.shape[0] // batch_size) * scenario.epochs
    if peer.startswith("torch_func") and scenario.optimizer != "sgd":
        raise PeerUnavailable(f"peer {peer!r} steps SGD by hand; {scenario.name} trains with "
                              f"{scenario.optimizer}")  # fmt: skip
    device, epoch = _builder(peer)(scenario, X, y, batch_size, dtype, peer, models)

    def run() -> None:  # a peer's epochs follow one another in its own loop
        for _ in range(scenario.epochs):
            epoch()

    return Contender(
        scenario.name,
        peer,
        peer.split("_")[0],
        "peer",
        batch_size,
        dtype,
        device,
        steps,
        (models or 1) * scenario.flops_per_step(batch_size),
        run,
        (models or 1) * scenario.executed_flops_per_step(batch_size),
        models=models,
    )


def _builder(peer: str) -> Callable:
    """The function that builds ``peer``'s (device name, one epoch), its module imported
    now: PyTorch's, JAX's, or scikit-learn's below."""
    if peer == "sklearn":
        return _sklearn
    if peer.startswith("jax"):
        from .peers_jax import build

        return build
    return peers_torch.build


def _torch_cuda() -> bool:
    return peers_torch.cuda_available()


def peak_library(library: str, backend: str) -> str:
    """The library whose matmul peak a row of ``library`` ("nnkit" or a peer) is held
    against: an nnkit row's backend, a peer's own array library."""
    return PEAK_LIBRARY.get(library, backend)


def matmul_peak_maker(peer: str, dtype: str) -> tuple[str, Callable[[int], Callable]] | None:
    """(device, n -> a synchronised n x n @ n x n matmul of two random matrices) in
    ``peer``'s library, or None where it has none of its own (the JAX peers and
    scikit-learn are held against the jax and numpy backends' peaks)."""
    if PEAK_LIBRARY.get(peer) not in ("torch", "torch_cuda") or peer not in available():
        return None
    if peer in CUDA and not _torch_cuda():
        return None
    import torch

    device = "cuda" if peer in CUDA else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def make(n: int) -> Callable[[], Any]:
        gen = torch.Generator().manual_seed(0)
        a, b = (torch.rand((n, n), generator=gen).to(getattr(torch, dtype)).to(device)
                for _ in range(2))  # fmt: skip
        return lambda: (torch.mm(a, b), sync())

    return peers_torch.device_name(device), make


def matmul_peak_fn(peer: str, n: int, dtype: str) -> tuple[str, Callable[[], Any]] | None:
    """(device, a synchronised n x n matmul) in ``peer``'s library, or None (see
    ``matmul_peak_maker``)."""
    found = matmul_peak_maker(peer, dtype)
    return None if found is None else (found[0], found[1](n))


# -- scikit-learn ----------------------------------------------------------------


def _sklearn(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: None = None,
):  # fmt: skip
    import sklearn
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=scenario.sizes[1:-1],
        activation="logistic" if scenario.activation == "sigmoid" else "relu",
        solver=scenario.optimizer,
        learning_rate_init=scenario.lr,
        batch_size=batch_size,
        alpha=0.0,
        momentum=0.0,
        shuffle=scenario.digits,
        random_state=0,
    )
    Xh, classes = np.asarray(X, dtype=dtype), np.arange(scenario.sizes[-1])

    def run() -> None:
        clf.partial_fit(Xh, y, classes=classes)

    return f"cpu (scikit-learn {sklearn.__version__}, softmax + log-loss output)", run
