"""The PyTorch peers of ``nnkit bench`` (see ``peers``): the hand-written loop, eager or its
step compiled by ``torch.compile`` (torch, torch_cuda, torch_compile, torch_compile_cuda),
and K modules stacked by ``torch.func`` (torch_func, torch_func_cuda). PyTorch itself is
imported only when one of them runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np  # host-side data, as nnkit's contenders use

from .scenarios import Scenario

# the peers on a CUDA device
CUDA = ("torch_cuda", "torch_compile_cuda", "torch_func_cuda")
# the peers whose step torch.compile compiles: tens of seconds a contender on a small CPU, so
# the quick run of ``nnkit bench`` leaves them out unless --peers names them
TORCH_COMPILE = ("torch_compile", "torch_compile_cuda")


def build(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: int | None = None,
):  # fmt: skip
    """(device name, one epoch) of PyTorch peer ``peer``: ``stacked`` for K = ``models``
    models (torch_func*), else ``loop``."""
    if peer.startswith("torch_func"):
        return stacked(scenario, X, y, batch_size, dtype, peer, models)
    return loop(scenario, X, y, batch_size, dtype, peer)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def device_name(device: str, compiled: bool = False) -> str:
    import torch

    how = "torch.compile" if compiled else "eager"
    if device == "cpu":
        return f"cpu (torch {torch.__version__} {how}, {torch.get_num_threads()} threads)"
    return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__} CUDA {how})"


def loop(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: None = None,
):  # fmt: skip
    """The hand-written PyTorch loop: eager (torch, torch_cuda) or its step compiled
    (torch_compile, torch_compile_cuda); ``run()`` is one epoch."""
    import torch

    torch.manual_seed(0)
    device = "cuda" if peer in CUDA else "cpu"
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

    return device_name(device, compiled), run


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


def stacked(
    scenario: Scenario, X: np.ndarray, y: np.ndarray, batch_size: int, dtype: str, peer: str,
    models: int,
):  # fmt: skip
    """K = ``models`` PyTorch modules stacked by ``torch.func`` (PyTorch's model-ensembling
    recipe): ``stack_module_state``, then each minibatch's K gradients and losses in one
    ``vmap(grad_and_value(functional_call))`` over the stacked parameters (the minibatch
    shared), eager, and SGD by hand on the stacked parameters (``peers.contender`` refuses
    another optimizer); ``run()`` is one epoch."""
    import copy

    import torch
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    torch.manual_seed(0)
    device = "cuda" if peer in CUDA else "cpu"
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

    return device_name(device), run
