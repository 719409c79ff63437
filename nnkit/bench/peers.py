"""Peer libraries run on the same scenarios as nnkit, for ``nnkit bench --peers``.

Each peer is imported lazily, only here and only when asked for; a peer that is not
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
# the peers whose first unit of work compiles (the report gives its time less a timed unit's)
COMPILED = ("torch_compile", "torch_compile_cuda", "jax_optax_step", "jax_optax_scan",
            "jax_vmap")  # fmt: skip
# ... of which torch.compile's: tens of seconds a contender on a small CPU, so the quick run
# of ``nnkit bench`` leaves them out unless --peers names them
TORCH_COMPILE = ("torch_compile", "torch_compile_cuda")
_CUDA = ("torch_cuda", "torch_compile_cuda", "torch_func_cuda")
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
    if peer in _CUDA and not _torch_cuda():
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
    build = {
        "torch": _torch,
        "torch_cuda": _torch,
        "torch_compile": _torch,
        "torch_compile_cuda": _torch,
        "jax_optax_step": _jax,
        "jax_optax_scan": _jax,
        "sklearn": _sklearn,
        "torch_func": _torch_func,
        "torch_func_cuda": _torch_func,
        "jax_vmap": _jax,
    }[peer]
    device, epoch = build(scenario, X, y, batch_size, dtype, peer, models)

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
    if peer in _CUDA and not _torch_cuda():
        return None
    import torch

    device = "cuda" if peer in _CUDA else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def make(n: int) -> Callable[[], Any]:
        gen = torch.Generator().manual_seed(0)
        a, b = (torch.rand((n, n), generator=gen).to(getattr(torch, dtype)).to(device)
                for _ in range(2))  # fmt: skip
        return lambda: (torch.mm(a, b), sync())

    return _torch_device_name(device), make


def matmul_peak_fn(peer: str, n: int, dtype: str) -> tuple[str, Callable[[], Any]] | None:
    """(device, a synchronised n x n matmul) in ``peer``'s library, or None (see
    ``matmul_peak_maker``)."""
    found = matmul_peak_maker(peer, dtype)
    return None if found is None else (found[0], found[1](n))


# -- PyTorch eager and torch.compile ---------------------------------------------


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _torch_device_name(device: str, compiled: bool = False) -> str:
    import torch

    how = "torch.compile" if compiled else "eager"
    if device == "cpu":
        return f"cpu (torch {torch.__version__} {how}, {torch.get_num_threads()} threads)"
    return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__} CUDA {how})"


def _torch(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: None = None,
):  # fmt: skip
    """The hand-written PyTorch loop: eager (torch, torch_cuda) or its step compiled
    (torch_compile, torch_compile_cuda); ``run()`` is one epoch."""
    import torch

    torch.manual_seed(0)
    device = "cuda" if peer in _CUDA else "cpu"
    compiled = peer in TORCH_COMPILE
    mixed = dtype == "bfloat16"
    tdtype = torch.float32 if mixed else getattr(torch, dtype)
    model = _torch_net(scenario, tdtype).to(device)
    Xt, Tt, loss_fn = _torch_data(scenario, X, y, tdtype, device)
    opt_cls = torch.optim.SGD if scenario.optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=scenario.lr)
    gen = torch.Generator().manual_seed(0)

    def forward(xb: Any, tb: Any) -> Any:  # the minibatch's loss
        with torch.autocast(device, dtype=torch.bfloat16, enabled=mixed):
            out = model(xb)
        return loss_fn(out.float() if mixed else out, tb)

    def update() -> None:
        opt.step()

    begin: Callable[[], Any] = lambda: None  # noqa: E731
    if compiled:  # static shapes: the smaller last minibatch compiles once, in the first unit
        mode = "reduce-overhead" if device == "cuda" else None
        forward = torch.compile(forward, mode=mode, dynamic=False)
        update = torch.compile(update, dynamic=False)
        if device == "cuda":  # a new iteration: the last one's CUDA-graph outputs are done
            begin = torch.compiler.cudagraph_mark_step_begin

    def run() -> None:
        order = torch.randperm(Xt.shape[0], generator=gen).to(device) if scenario.digits else None
        Xe, Te = (Xt[order], Tt[order]) if scenario.digits else (Xt, Tt)
        total = torch.zeros((), dtype=tdtype, device=device)
        for start in range(0, Xe.shape[0], batch_size):
            xb, tb = Xe[start : start + batch_size], Te[start : start + batch_size]
            begin()
            opt.zero_grad(set_to_none=True)
            loss = forward(xb, tb)
            loss.backward()
            update()
            total += loss.detach() * xb.shape[0]
        total.item()  # one host sync per unit

    return _torch_device_name(device, compiled), run


def _torch_net(scenario: Scenario, tdtype: Any) -> Any:
    """The scenario's network as a ``torch.nn.Sequential`` of Linear layers and activations
    (PyTorch's own initialisation, from torch's global seed), on the CPU."""
    import torch

    act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[scenario.activation]
    layers: list = []
    for i, (a, b) in enumerate(scenario.shapes):
        layers.append(torch.nn.Linear(a, b, dtype=tdtype))
        if i < len(scenario.sizes) - 2 or scenario.loss == "mse":
            layers.append(act())
    return torch.nn.Sequential(*layers)


def _torch_data(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, tdtype: Any, device: str
) -> tuple[Any, Any, Any]:
    """X, what the loss takes (one-hot targets for MSE, labels for cross-entropy) and the
    loss (the minibatch mean), on ``device``."""
    import torch

    Xt = torch.as_tensor(X, dtype=tdtype, device=device)
    if scenario.loss == "mse":
        k = scenario.sizes[-1]
        Tt = torch.nn.functional.one_hot(torch.as_tensor(y, device=device), k).to(tdtype)
        return Xt, Tt, torch.nn.MSELoss()
    return Xt, torch.as_tensor(y, device=device), torch.nn.CrossEntropyLoss()


def _torch_func(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: int,
):  # fmt: skip
    """K = ``models`` PyTorch modules stacked by ``torch.func`` (PyTorch's model-ensembling
    recipe): ``stack_module_state``, then each minibatch's K gradients and losses in one
    ``vmap(grad_and_value(functional_call))`` over the stacked parameters (the minibatch
    shared), eager, and SGD by hand on the stacked parameters; ``run()`` is one epoch."""
    import copy

    import torch
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    if scenario.optimizer != "sgd":
        raise PeerUnavailable(f"peer {peer!r} steps SGD by hand; {scenario.name} trains with "
                              f"{scenario.optimizer}")  # fmt: skip
    torch.manual_seed(0)
    device = "cuda" if peer in _CUDA else "cpu"
    tdtype = getattr(torch, dtype)
    nets = [_torch_net(scenario, tdtype).to(device) for _ in range(models)]
    stacked, buffers = stack_module_state(nets)
    params = {name: p.detach() for name, p in stacked.items()}  # stepped by hand, no autograd
    base = copy.deepcopy(nets[0]).to("meta")  # the structure functional_call runs
    Xt, Tt, loss_fn = _torch_data(scenario, X, y, tdtype, device)

    def loss_of_one(p: dict, b: dict, xb: Any, tb: Any) -> Any:
        return loss_fn(functional_call(base, (p, b), (xb,)), tb)

    grads_and_losses = vmap(grad_and_value(loss_of_one), in_dims=(0, 0, None, None))
    leaves = list(params.values())

    def run() -> None:
        total = torch.zeros((models,), dtype=tdtype, device=device)
        for start in range(0, Xt.shape[0], batch_size):
            xb, tb = Xt[start : start + batch_size], Tt[start : start + batch_size]
            grads, losses = grads_and_losses(params, buffers, xb, tb)
            torch._foreach_add_(leaves, [grads[name] for name in params], alpha=-scenario.lr)
            total += losses * xb.shape[0]
        total.sum().item()  # one host sync per unit

    return _torch_device_name(device), run


# -- hand-written JAX + Optax ----------------------------------------------------


def _jax_parts(scenario: Scenario, dtype: str, models: int | None = None):
    """JAX, jax.numpy, the parameters and Optax state, the step and the device's name; with
    ``models`` = K, K models' stacked (a leading axis K on every leaf) and the step mapped
    over them by ``jax.vmap``, the minibatch shared."""
    import jax
    import jax.numpy as jnp
    import optax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    compute = dtype
    if dtype == "bfloat16":  # mixed: float32 params and state, bfloat16 forward/backward
        dtype = "float32"
    act = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[scenario.activation]
    k = scenario.sizes[-1]
    rng = np.random.default_rng(0)
    lead = () if models is None else (models,)
    params = [
        (
            jnp.asarray(rng.uniform(-0.1, 0.1, (*lead, a, b)), dtype=dtype),
            jnp.zeros((*lead, b), dtype=dtype),
        )
        for a, b in scenario.shapes
    ]

    def forward(params, x):
        for i, (W, b) in enumerate(params):
            x = x @ W + b
            if i < len(params) - 1 or scenario.loss == "mse":
                x = act(x)
        return x

    def loss_fn(params, x, y):
        low = jax.tree_util.tree_map(lambda a: a.astype(compute), params)
        out = forward(low, x.astype(compute)).astype(dtype)
        if scenario.loss == "mse":
            return jnp.mean((out - jax.nn.one_hot(y, k, dtype=out.dtype)) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    opt = (optax.sgd if scenario.optimizer == "sgd" else optax.adam)(scenario.lr)

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    device = jax.devices()[0]
    name = f"{device.platform}:{device.id} (jax {jax.__version__} + optax {optax.__version__})"
    if models is None:
        return jax, jnp, params, opt.init(params), step, name
    stacked_step = jax.vmap(step, in_axes=(0, 0, None, None))
    return jax, jnp, params, jax.vmap(opt.init)(params), stacked_step, name


def _epoch_order(jax: Any, scenario: Scenario, key: list, X: Any, y: Any) -> tuple[Any, Any]:
    """X and y in this epoch's order: shuffled with the next split of ``key[0]`` for the
    digits scenario (as nnkit's S3 shuffles), as they are otherwise."""
    if not scenario.digits:
        return X, y
    key[0], sub = jax.random.split(key[0])
    order = jax.random.permutation(sub, X.shape[0])
    return X[order], y[order]


def _jax(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: int | None = None,
):  # fmt: skip
    """Hand-written JAX + Optax: a jitted step per minibatch (jax_optax_step) or a jitted
    scan over the epoch (jax_optax_scan; jax_vmap: of the step of K = ``models`` models
    mapped by ``jax.vmap``), the state carried from one run() to the next."""
    jax, jnp, params, state, step, device = _jax_parts(scenario, dtype, models)
    Xd, yd = jnp.asarray(X, dtype=params[0][0].dtype), jnp.asarray(y)
    make_epoch = _step_epoch if peer == "jax_optax_step" else _scan_epoch
    epoch = make_epoch(jax, step, batch_size)
    carry = [params, state]
    key = [jax.random.PRNGKey(0)]

    def run() -> None:
        Xe, ye = _epoch_order(jax, scenario, key, Xd, yd)
        carry[0], carry[1], total = epoch(carry[0], carry[1], Xe, ye)
        jax.block_until_ready((carry[0], total))

    return device, run


def _step_epoch(jax: Any, step: Callable, batch_size: int) -> Callable:
    """jax_optax_step's epoch: one jitted step per minibatch, dispatched from Python."""
    jstep = jax.jit(step, donate_argnums=(0, 1))

    def epoch(p, s, X, y):
        total = 0.0
        for start in range(0, X.shape[0], batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            p, s, loss = jstep(p, s, xb, yb)
            total = total + loss * xb.shape[0]
        return p, s, total

    return epoch


def _scan_epoch(jax: Any, step: Callable, batch_size: int) -> Callable:
    """jax_optax_scan's epoch, one jitted call: the full minibatches in one ``lax.scan``, then
    the smaller last minibatch, as nnkit's fused epoch does (slicing, reshape and loss sum
    compiled in, nothing eager between epochs)."""

    def body(carry, batch):
        p, s, loss = step(*carry, *batch)
        return (p, s), loss

    def epoch(p, s, X, y):
        full = X.shape[0] // batch_size
        m = full * batch_size
        Xs = X[:m].reshape(full, batch_size, *X.shape[1:])
        ys = y[:m].reshape(full, batch_size, *y.shape[1:])
        (p, s), losses = jax.lax.scan(body, (p, s), (Xs, ys))
        total = losses.sum() * batch_size
        if m < X.shape[0]:
            p, s, loss = step(p, s, X[m:], y[m:])
            total = total + loss * (X.shape[0] - m)
        return p, s, total

    return jax.jit(epoch, donate_argnums=(0, 1))


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
