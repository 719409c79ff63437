"""Precision: JAX matmuls pinned to full float32 (TF32 only when asked), no recompilation
across epochs and fit calls, and the bfloat16 mixed-precision policy."""

import contextlib
import dataclasses
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import host, rel_error
from nnkit.backends.cupy_backend import CupyBackend

import nnkit
from nnkit import backends
from nnkit.errors import InvalidValueError
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE, CrossEntropy
from nnkit.optim import SGD, Adam
from nnkit.training import precision

needs_jax = pytest.mark.skipif("jax" not in backends.available(), reason="needs jax")
BF16_EPS = 2.0**-8  # bfloat16 unit roundoff: 8 significand bits


def lecture_model():
    return nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )


# -- matmul precision ---------------------------------------------------------------

DOT = re.compile(r"stablehlo\.dot_general .*")
PRECISION = re.compile(r"precision = \[(\w+), (\w+)\]")


def _dot_precisions(text):
    """The operand precisions of every dot_general op in a StableHLO text ("DEFAULT" where
    an op carries no precision attribute: StableHLO leaves the default out)."""
    found = set()
    for op in DOT.findall(text):
        match = PRECISION.search(op)
        found.update(match.groups() if match else ("DEFAULT",))
    return found


@dataclasses.dataclass
class Compiled:
    names: list  # the function name of each XLA compilation, from jax.monitoring
    programs: list  # the StableHLO text of each program sent to compile, from JAX's IR dump

    def training(self):
        """The compiled programs that hold matmuls: in a fit, the training steps (a step, or
        a scan of steps); the rest of fit (copies, gathers, the NaN check) has none."""
        return [p for p in self.programs if DOT.search(p)]


@contextlib.contextmanager
def compilations(dump_dir):
    """What JAX compiles inside the block, seen only through JAX's public hooks: the
    backend-compile event of ``jax.monitoring`` (one per XLA compilation, ``fun_name`` the
    jitted function) and ``jax_dump_ir_to`` (the StableHLO module of each compilation,
    written as it is sent to the compiler)."""
    import jax
    from jax import monitoring

    seen = Compiled([], [])

    def listener(event, secs, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.names.append(kwargs.get("fun_name"))

    flags = {"jax_dump_ir_to": str(dump_dir), "jax_dump_ir_modes": "stablehlo"}
    old = {name: jax.config.read(name) for name in flags}
    for name, value in flags.items():
        jax.config.update(name, value)
    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        monitoring.unregister_event_duration_listener(listener)
        for name, value in old.items():
            jax.config.update(name, value)
    seen.programs.extend(f.read_text() for f in sorted(dump_dir.glob("*.mlir")))


@needs_jax
def test_jax_training_step_matmuls_are_pinned_to_highest(tmp_path):
    """The step fit runs, as compiled: 8 matmuls (3 forward, 3 weight grads, 2 input grads;
    the first layer's input grad is not computed), every one at HIGHEST precision."""
    X, y, _, _ = nnkit.datasets.digits()
    trainer = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax")
    assert trainer.backend.matmul_precision == "highest"
    with compilations(tmp_path) as seen:
        trainer.fit(X[:64], y[:64], steps=1, batch_size=64, fused=False)
    [step] = seen.training()
    assert len(DOT.findall(step)) == 8
    assert _dot_precisions(step) == {"HIGHEST"}


CHILD = """
import jax.numpy as jnp
from nnkit import backends
be = backends.get("jax")
print(be.matmul_precision)
print(be.jit(lambda a: a @ a).lower(jnp.ones((4, 4))).as_text())
"""


@needs_jax
@pytest.mark.parametrize("tf32, expected", [("", ("highest", "HIGHEST")),
                                            ("1", ("tensorfloat32", "HIGH"))])  # fmt: skip
def test_tf32_only_when_asked(tf32, expected):
    env = {**os.environ, backends.TF32_ENV: tf32}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.splitlines()[0] == expected[0]
    assert _dot_precisions(out) == {expected[1]}


# -- compilations -----------------------------------------------------------------------


def _describe(program):
    """A training program as ("step", rows of X) or, for a scan (a while loop), as ("scan",
    the (steps, rows) X is cut into). X is the only float argument of shape (rows, 64) (the
    weights are (64, 16), (16, 10) and biases); a scan reshapes it to (steps, rows, 64)."""
    if "stablehlo.while" in program:
        cuts = re.findall(r"stablehlo\.reshape .*-> tensor<(\d+)x(\d+)x64xf32>", program)
        return "scan", sorted({(int(k), int(rows)) for k, rows in cuts})
    signature = re.search(r"func\.func public @main\((.*)", program).group(1)
    return "step", sorted({int(rows) for rows in re.findall(r"tensor<(\d+)x64xf32>", signature)})


@needs_jax
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fit_compiles_once_per_batch_shape_and_never_again(fused, dtype, tmp_path):
    """200 samples in minibatches of 64: full batches of 64 and a last one of 8. Unfused:
    one step per shape (2 programs, no loop). Fused: the whole fit as one program (a loop
    over epochs of loops over (3, 64, 64) slices, the last 8 rows inside). Later fit calls
    of the same length, from the second on, compile nothing at all (the optimizer state
    starts on the device, as the programs return it); a fused fit of another number of
    epochs compiles one program more (its length is the loop's), an unfused one nothing."""
    X, y, _, _ = nnkit.datasets.digits()
    model = nnkit.Sequential([Dense(64, 16), Sigmoid(), Dense(16, 10), Sigmoid()])
    trainer = nnkit.Trainer(model, MSE(), Adam(0.01), backend="jax", dtype=dtype)
    with compilations(tmp_path / "first") as first:
        trainer.fit(X[:200], y[:200], epochs=3, batch_size=64, fused=fused)
    assert len(first.programs) == len(first.names)  # the dump saw every compilation
    expected = [("scan", [(3, 64)])] if fused else [("step", [8]), ("step", [64])]
    assert sorted(_describe(p) for p in first.training()) == expected
    with compilations(tmp_path / "later") as later:
        for _ in range(4):
            trainer.fit(X[:200], y[:200], epochs=3, batch_size=64, fused=fused)
    assert trainer.steps_done == 5 * 3 * 4
    assert later.names == [] and len(later.programs) == 0
    with compilations(tmp_path / "longer") as longer:
        trainer.fit(X[:200], y[:200], epochs=5, batch_size=64, fused=fused)
    expected = [("scan", [(3, 64)])] if fused else []
    assert sorted(_describe(p) for p in longer.training()) == expected


@needs_jax
def test_a_fit_cut_into_stretches_for_its_progress_compiles_one_program(tmp_path, capsys):
    """A progress display that needs the host about twice a second cuts the fit into
    stretches whose length follows the measured time: one compiled program runs them all
    (the number of epochs is a value of the call, not of the program)."""
    X, y, _, _ = nnkit.datasets.digits()
    model = nnkit.Sequential([Dense(64, 16), Sigmoid(), Dense(16, 10), Sigmoid()])
    trainer = nnkit.Trainer(model, MSE(), SGD(0.5), backend="jax")
    with compilations(tmp_path / "fit") as seen:
        history = trainer.fit(X[:256], y[:256], epochs=60, batch_size=64, progress=True)
    assert history["epoch"] == list(range(1, 61))
    assert len(seen.training()) == 1
    assert "epoch 60 | step 240/240 (100%)" in capsys.readouterr().out


# -- mixed precision ------------------------------------------------------------------------


def test_backends_without_bfloat16_refuse_it_by_name():
    for backend in (backends.get("numpy"), CupyBackend(None, None, None)):
        with pytest.raises(InvalidValueError, match=f"one of \\['jax'\\]; got backend "
                           f"'{backend.name}'"):  # fmt: skip
            precision.policy("bfloat16", backend)
    with pytest.raises(InvalidValueError, match="bfloat16"):
        nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="numpy", dtype="bfloat16")
    with pytest.raises(InvalidValueError, match="'float16'"):
        nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), dtype="float16")


def test_plain_dtypes_are_not_mixed():
    for dtype in backends.FLOAT_DTYPES:
        p = precision.policy(dtype, backends.get("numpy"))
        assert (p.param, p.compute, p.mixed) == (dtype, dtype, False)
        tree = {"W": np.ones(2)}
        assert p.to_compute(tree) is tree and p.to_param(tree) is tree


@needs_jax
def test_bfloat16_keeps_float32_master_weights_and_optimizer_state():
    X, y, _, _ = nnkit.datasets.digits()
    trainer = nnkit.Trainer(lecture_model(), CrossEntropy(), Adam(1e-3), backend="jax",
                            dtype="bfloat16")  # fmt: skip
    trainer.fit(X[:256], y[:256], steps=4, batch_size=64)
    assert (trainer.policy.param, trainer.policy.compute) == ("float32", "bfloat16")
    leaves = nnkit.tree.tree_leaves((trainer.params, trainer.opt_state[1:]))
    assert len(leaves) == 3 * 6 and {str(a.dtype) for a in leaves} == {"float32"}
    assert str(trainer.predict(X[:5]).dtype) == "float32"


@needs_jax
def test_bfloat16_grads_agree_with_float32_to_bfloat16_precision():
    """Normwise: forward/backward round inputs, weights and activations to 8 bits (relative
    error u = 2**-8 each) and accumulate in float32, so the grads must be within a couple of
    u of float32 (rel_error halves the normwise relative error: bound 2u). Measured: at
    most 0.0026 (about 0.7u). And they must differ: float32 would agree to ~1e-7."""
    X, y, _, _ = nnkit.datasets.digits()
    for seed in range(2):
        g32, loss32 = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax",
                                    seed=seed).gradients(X[:64], y[:64])  # fmt: skip
        g16, loss16 = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax", seed=seed,
                                    dtype="bfloat16").gradients(X[:64], y[:64])  # fmt: skip
        for a, b in zip(nnkit.tree.tree_leaves(g32), nnkit.tree.tree_leaves(g16)):
            assert str(b.dtype) == "float32"
            assert 1e-5 < rel_error(host(a), host(b)) < 2 * BF16_EPS
        assert abs(float(loss16) - float(loss32)) < 2 * BF16_EPS * float(loss32)


@pytest.mark.slow
@needs_jax
def test_bfloat16_trains_digits_as_well_as_float32():
    """Measured (2-core CPU, JAX 0.10): the lecture network after 6000 steps of 64 reaches
    0.975 test accuracy in both float32 and bfloat16."""
    X, y, X_test, y_test = nnkit.datasets.digits()
    accuracy = {}
    for dtype in ("float32", "bfloat16"):
        trainer = nnkit.Trainer(lecture_model(), MSE(), SGD(0.5), backend="jax", dtype=dtype)
        trainer.fit(X, y, steps=6000, batch_size=64)
        accuracy[dtype] = trainer.evaluate(X_test, y_test)["accuracy"]
    assert accuracy["float32"] >= 0.97, accuracy
    assert accuracy["bfloat16"] >= accuracy["float32"] - 0.01, accuracy


@needs_jax
def test_bfloat16_trainer_saves_and_resumes_exactly(tmp_path):
    X, y, _, _ = nnkit.datasets.digits()
    trainer = nnkit.Trainer(lecture_model(), MSE(), Adam(1e-2), backend="jax", dtype="bfloat16")
    trainer.fit(X[:256], y[:256], steps=3, batch_size=64)
    trainer.save(tmp_path / "t.st")
    loaded = nnkit.Trainer.load(tmp_path / "t.st", backend="jax")
    assert loaded.dtype == "bfloat16" and loaded.policy == trainer.policy
    assert {str(a.dtype) for a in nnkit.tree.tree_leaves(loaded.params)} == {"float32"}
    trainer.fit(X[:256], y[:256], steps=3, batch_size=64)
    loaded.fit(X[:256], y[:256], steps=3, batch_size=64)
    for a, b in zip(nnkit.tree.tree_leaves(trainer.params), nnkit.tree.tree_leaves(loaded.params)):
        np.testing.assert_array_equal(host(a), host(b))
