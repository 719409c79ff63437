"""No branching on a backend's name outside backends/ (DESIGN.md: ask the Backend instead).

Every module of the ``nnkit`` package outside ``nnkit.backends`` is parsed, and a test fails on

- a comparison (``==``, ``!=``, ``in``, ``not in``, ``is``, ``is not``) with a backend's
  name: a string literal "numpy", "cupy", "jax", "torch" or "array_api_strict", or a
  collection of backend names: a tuple, list or set literal (or a module-level name bound to
  one) whose strings are all backend names, such as ``("numpy",)`` or ``(None, "numpy")``;
- a comparison of a Backend's ``name`` (``backend.name``, ``self.backend.name``,
  ``backends.get(x).name``, or ``.name`` of a variable bound to ``backends.get/infer/host(...)``
  or annotated ``Backend``) with a constant: any string literal, a collection holding one, or
  an ALL_CAPS name such as ``backends.NAMES``;
- a ``match`` with a case that is a backend's name, or on a Backend's ``name`` with a case
  that is a string.

Allowed: backend names as dict keys (registries, version tables), in messages and
docstrings, as CLI choices; a collection that mixes them with other names (the peer
libraries of ``nnkit bench``: the peer "torch" is PyTorch itself, not a backend); and a
Backend's name compared with another name known only at run time (``owner == backend.name``:
is this array the backend's own?, a cache key): those ask "the same backend?" and pick no
library's behaviour.
"""

import ast
import re
from pathlib import Path

import pytest

import nnkit
from nnkit import backends

PACKAGE = Path(nnkit.__file__).parent
BACKENDS = Path(backends.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if BACKENDS not in p.parents)
# attributes and variables taken to hold a Backend by their name alone
BACKEND_IDENTIFIER = re.compile(r"^_?(be|backend|\w+_backend)$")
# module-level functions of nnkit.backends that return a Backend
BACKEND_FUNCTIONS = {"get", "infer", "host"}


def is_backend_names(node, constants):
    """``node`` is a backend's name, or a collection of them (see the module docstring)."""
    if isinstance(node, ast.Constant):
        return node.value in backends.NAMES
    if isinstance(node, ast.Name) and node.id in constants:
        node = constants[node.id]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        strings = [e.value for e in node.elts if isinstance(getattr(e, "value", None), str)]
        return bool(strings) and all(s in backends.NAMES for s in strings)
    return False


def is_constant(node):
    """A string literal, a collection literal holding one, or an ALL_CAPS name."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(is_constant(e) for e in node.elts)
    last = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return last.isupper()


def holds_backend(node):
    """``node`` evaluates to a Backend as far as its name or origin says."""
    if isinstance(node, ast.Name):
        return bool(BACKEND_IDENTIFIER.match(node.id))
    if isinstance(node, ast.Attribute):
        return bool(BACKEND_IDENTIFIER.match(node.attr))
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "backends"
        and node.func.attr in BACKEND_FUNCTIONS
    )


class Finder(ast.NodeVisitor):
    """Collects ``(line, source)`` of every branch on a backend's name in one module."""

    def __init__(self, tree):
        self.found = []
        # what module-level names are bound to (collections of names), and Backend variables
        self.constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        self.backend_variables = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.annotation is not None:
                if "Backend" in ast.unparse(node.annotation):
                    self.backend_variables.add(node.arg)
            elif isinstance(node, ast.Assign) and holds_backend(node.value):
                self.backend_variables.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def is_backend_name(self, node):
        """``node`` is ``<a Backend>.name``."""
        if not (isinstance(node, ast.Attribute) and node.attr == "name"):
            return False
        value = node.value
        return holds_backend(value) or (
            isinstance(value, ast.Name) and value.id in self.backend_variables
        )

    def visit_Compare(self, node):
        operands = [node.left, *node.comparators]
        for a, b in zip(operands, operands[1:]):
            if (
                is_backend_names(a, self.constants)
                or is_backend_names(b, self.constants)
                or (self.is_backend_name(a) and is_constant(b))
                or (self.is_backend_name(b) and is_constant(a))
            ):
                self.found.append((node.lineno, ast.unparse(node)))
                break
        self.generic_visit(node)

    def visit_Match(self, node):
        on_name = self.is_backend_name(node.subject)
        for case in node.cases:
            values = [p.value for p in ast.walk(case.pattern) if isinstance(p, ast.MatchValue)]
            if any(is_backend_names(v, {}) or (on_name and is_constant(v)) for v in values):
                self.found.append((case.pattern.lineno, f"case {ast.unparse(case.pattern)}"))
        self.generic_visit(node)


def branches_on_names(source):
    """``(line, source)`` of each branch on a backend's name in the module ``source``."""
    tree = ast.parse(source)
    finder = Finder(tree)
    finder.visit(tree)
    return finder.found


def test_the_package_has_modules_outside_backends():
    assert len(MODULES) > 20 and all(p.suffix == ".py" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_branching_on_a_backend_name(path):
    found = branches_on_names(path.read_text())
    assert not found, f"{path.relative_to(PACKAGE.parent)} branches on a backend's name " + (
        "(ask the Backend instead): " + "; ".join(f"line {n}: {s}" for n, s in found)
    )


@pytest.mark.parametrize(
    "source",
    [
        'if backend.name == "jax": pass',
        'ok = name in (None, "numpy")',
        'ok = [b for b in names if b != "array_api_strict"]',
        'ok = "torch" not in found',
        'HOST = ["numpy"]\nok = name in HOST',
        'ok = self.backend.name in {"cupy", "mlx"}',
        'ok = backends.get(x).name != "jax"',
        "src = backends.infer(x)\nok = src.name in backends.NAMES",
        'b = backends.get(n)\nok = b.name in ("mlx", "tpu")',
        'def f(target: Backend):\n    return target.name == "tpu"',
        'match name:\n    case "jax" | "torch":\n        pass',
        'match backend.name:\n    case "anything":\n        pass',
    ],
)
def test_a_branch_on_a_backend_name_is_found(source):
    assert branches_on_names(source)


@pytest.mark.parametrize(
    "source",
    [
        'fn = {"numpy": np_fn, "jax": jax_fn}[name]',
        "raise ValueError(f\"backend {name!r}: try 'jax'\")",
        'choices = ["numpy", "jax", "torch"]',
        'ok = peer not in ("torch", "torch_cuda")',
        "ok = owner != backend.name",
        "ok = cached == (backend.name, units)",
        "ok = backend.name not in _compiled",
        'ok = path.name == "x.csv"',
        'ok = dtype.name == "float64"',
    ],
)
def test_what_is_allowed_is_not_found(source):
    assert not branches_on_names(source)
