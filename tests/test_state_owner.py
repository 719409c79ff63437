"""The Trainer is the only writer of its state: a scan of the package's source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "nnkit" / "training" / "trainer.py"
STATE = {"params", "opt_state", "steps_done", "position", "history"}


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _written(target: ast.expr) -> ast.Attribute | None:
    """The attribute a store into ``target`` writes to or into (``x.a = ...``,
    ``x.a[i] = ...``), if it is named in STATE and belongs to an object other than ``self``."""
    while isinstance(target, ast.Subscript):
        target = target.value
    if isinstance(target, ast.Attribute) and target.attr in STATE and not _is_self(target.value):
        return target
    return None


def state_writes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every statement in ``source`` that assigns to, or into, an attribute
    named in STATE of an object other than ``self`` (a class's own attributes, set through
    ``self`` in its methods, are its business): ``x.params = ...``, ``x.steps_done += 1``,
    ``a, x.position = ...``, ``x.history: H = ...``, ``x.params[0] = ...`` and
    ``setattr(x, "opt_state", ...)`` with the name written out. ``stop_training`` is not
    state but a request that callbacks set through the Trainer's property."""
    tree, found = ast.parse(source), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in STATE
            and not _is_self(node.args[0])
        ):
            found.append((node.lineno, ast.unparse(node)))
            continue
        else:
            continue
        stores = [t for target in targets for t in ast.walk(target)]
        if any(_written(t) for t in stores if isinstance(t, (ast.Attribute, ast.Subscript))):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_scan_finds_each_kind_of_write():
    source = "\n".join(
        [
            "trainer.params = p",
            "trainer.steps_done += 1",
            "a, t.position = 1, (0, 0)",
            "t.history: list = []",
            "setattr(t, 'opt_state', s)",
            "t.params[0]['W'] = W",
            "self.trainer.opt_state = s",
            "self.params = p",  # a class's own attribute
            "t.best_params = p",  # another name
            "x = t.params",  # a read
            "t.history.append(r)",  # a call, not an assignment
            "t.stop_training = True",  # a request, through the Trainer's setter
        ]
    )
    assert [line for line, _ in state_writes(source)] == [1, 2, 3, 4, 5, 6, 7]


def test_only_the_trainer_assigns_to_a_trainers_state():
    files = sorted((ROOT / "nnkit").rglob("*.py")) + sorted((ROOT / "backends").rglob("*.py"))
    assert OWNER in files and len(files) > 20
    found = {
        str(path.relative_to(ROOT)): writes
        for path in files
        if path != OWNER and (writes := state_writes(path.read_text()))
    }
    assert found == {}
