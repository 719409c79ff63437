"""The package's imports run one way, as DESIGN.md (Layout) orders them: down the tiers below,
never back up and never in a circle, lazy imports inside functions included; and the everyday
commands (`nnkit info`, `nnkit train`) load no benchmark or peer code."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = {"nnkit": ROOT / "nnkit", "nnkit.backends": ROOT / "backends"}

# DESIGN.md's import order, lowest first: a module may import its own tier or a lower one.
# A name covers that module and everything below it; "nnkit" alone is the package facade.
TIERS = [
    ["nnkit.backends"],
    ["nnkit.errors", "nnkit._version", "nnkit._ns", "nnkit.tree", "nnkit.configurable",
     "nnkit.checks", "nnkit.shapes", "nnkit.values", "nnkit.stacks"],
    ["nnkit.functional", "nnkit.initializers"],
    ["nnkit.layers", "nnkit.losses", "nnkit.optim", "nnkit.metrics", "nnkit.data"],
    ["nnkit.model"],
    ["nnkit.io"],
    ["nnkit.training", "nnkit.callbacks"],
    ["nnkit.distributed", "nnkit.datasets", "nnkit.csvread", "nnkit.datafiles", "nnkit.dataspec",
     "nnkit.plot", "nnkit.estimators"],
    ["nnkit.bench"],
    ["nnkit.cli", "nnkit.__main__"],
    ["nnkit"],
]  # fmt: skip


def modules() -> dict[str, pathlib.Path]:
    """Every module of the package, by its import name."""
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def tier(module: str) -> int:
    for i, names in enumerate(TIERS):
        for name in names:
            if module == name or (name != "nnkit" and module.startswith(name + ".")):
                return i
    raise AssertionError(f"{module} is in no tier: add it to TIERS, where DESIGN.md places it")


def imports(module: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The package modules that ``module`` imports anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        found |= {t for t in targets if t in known}
    return found - {module}


GRAPH = {m: imports(m, p, set(modules())) for m, p in modules().items()}


def test_every_module_has_a_tier():
    for module in GRAPH:
        tier(module)


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{m} (tier {tier(m)}) imports {t} (tier {tier(t)})"
        for m, targets in graph.items()
        for t in targets
        if tier(t) > tier(m)
    ]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    done, path = set(), []

    def visit(m):
        if m in path:
            return path[path.index(m) :] + [m]
        if m in done:
            return None
        path.append(m)
        for t in sorted(graph[m]):
            cycle = visit(t)
            if cycle:
                return cycle
        path.pop()
        done.add(m)
        return None

    return next((c for c in map(visit, sorted(graph)) if c), None)


def test_no_import_runs_up_the_order():
    assert upward_edges(GRAPH) == []


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None


def test_the_checks_catch_a_planted_edge_up_and_cycle():
    planted = {**GRAPH, "nnkit.io": GRAPH["nnkit.io"] | {"nnkit.training.trainer"}}
    assert upward_edges(planted) == [
        f"nnkit.io (tier {tier('nnkit.io')}) imports nnkit.training.trainer "
        f"(tier {tier('nnkit.training')})"
    ]
    cycle = find_cycle(planted)
    assert cycle[0] == cycle[-1] and {"nnkit.io", "nnkit.training.trainer"} <= set(cycle)


def test_the_graph_sees_lazy_and_relative_imports():
    """The walker finds what the tests above rely on: a lazy import inside a function, and
    relative imports of a module or of a name from a package."""
    assert "nnkit.bench.command" in GRAPH["nnkit.cli.bench"]  # lazy, inside run
    assert "nnkit.training.checkpoint" in GRAPH["nnkit.training.trainer"]  # from . import x
    assert "nnkit.io" in GRAPH["nnkit.training.checkpoint"]  # from ..io import name


CHILD = """
import sys
from nnkit.cli import main
heavy = ("optax", "threadpoolctl", "pytest_benchmark", "sklearn")
def loaded(*also):
    return sorted(m for m in sys.modules
                  if m.startswith("nnkit.bench") or m.split(".")[0] in heavy + also)
assert main(["train", "xor", "--steps", "20", "--no-progress"]) == 0
print("TRAIN", loaded("torch", "jax"))  # a NumPy run loads no other backend's library
assert main(["info"]) == 0  # asks every backend, torch and JAX included, for its device
print("LOADED", loaded())
"""


def test_info_and_train_import_no_bench_or_peer_module():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=300, check=True).stdout  # fmt: skip
    lines = out.splitlines()
    assert "TRAIN []" in lines and lines[-1] == "LOADED []", lines


def test_import_nnkit_reaches_every_public_module_and_loads_no_backend_library():
    """``import nnkit`` alone gives ``nnkit.distributed.initialize`` (as
    docs/guide/distributed.md calls it) and the other public modules, and imports none of
    CuPy, JAX or torch."""
    code = (
        "import sys, nnkit\n"
        "for name in ('backends', 'callbacks', 'data', 'datasets', 'distributed', 'layers',\n"
        "             'losses', 'metrics', 'optim'):\n"
        "    assert hasattr(nnkit, name), name\n"
        "assert callable(nnkit.distributed.initialize)\n"
        "print(sorted(m for m in ('cupy', 'jax', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    assert out.split() == ["[]"]
