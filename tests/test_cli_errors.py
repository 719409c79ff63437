"""How ``nnkit`` ends on an error: a user's error (an NNKitError, BackendUnavailable, an
OSError) is one line on stderr and exit code 2; a bug in nnkit keeps its traceback; with
NNKIT_DEBUG=1 every error shows its traceback."""

import os
import subprocess
import sys

import pytest

from nnkit.cli import main
from nnkit.optim import OPTIMIZERS

# a bug inside the command: the optimizer registry's Adam fails as code with a slip would
BUG = "object of type 'int' has no len()"
BUGGY_TRAIN = """
import sys
from nnkit.cli import main
from nnkit.optim import OPTIMIZERS

def broken(lr):
    return len(1)

OPTIMIZERS["adam"] = broken
sys.exit(main(["train", "sine", "--steps", "2", "--no-progress"]))
"""


def _run(code, env=None):
    env = {k: v for k, v in os.environ.items() if k != "NNKIT_DEBUG"} | (env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def _bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    return path


@pytest.mark.parametrize("error", [TypeError(BUG), ValueError("a slip"), ImportError("a slip"),
                                   KeyError("a slip"), RuntimeError("a slip")])  # fmt: skip
def test_an_error_that_is_not_the_users_propagates(monkeypatch, capsys, error):
    def broken(lr):
        raise error

    monkeypatch.setitem(OPTIMIZERS, "adam", broken)
    with pytest.raises(type(error)) as info:
        main(["train", "sine", "--steps", "2", "--no-progress"])
    assert info.value is error
    assert "nnkit: error" not in capsys.readouterr().err


def test_a_bug_shows_its_traceback_and_exits_1():
    result = _run(BUGGY_TRAIN)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == f"TypeError: {BUG}"
    assert "nnkit: error" not in result.stderr


def test_a_users_error_is_one_line_and_exit_2(tmp_path, capsys):
    path = _bad_csv(tmp_path)
    assert main(["train", str(path), "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err == f"nnkit: error: {path}, line 3, column 2 (b): 'oops' is not a number\n"


# the command line, what its one line says (BackendUnavailable; OSError twice; NNKitError)
USERS_ERRORS = [
    (["train", "xor", "--backend", "nope"], "backend 'nope' is unavailable"),
    (["predict", "--model", "{tmp}/none.safetensors", "{tmp}/x.csv"], "No such file"),
    (["train", "xor", "--save", "{tmp}/no/m.safetensors"], "its folder does not exist"),
    (["train", "xor", "--devices", "2", "--steps", "1"], "trains on one device"),
    (["train", "xor", "--val-fraction", "1", "--steps", "1"], "--val-fraction must be in"),
    (["evaluate", "--model", "m.safetensors", "--target", "y"], "go with a data file"),
]


@pytest.mark.parametrize(("argv", "message"), USERS_ERRORS)
def test_every_kind_of_users_error_is_one_line(tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnkit: error: ") and err.count("\n") == 1, err
    assert message in err


def test_nnkit_debug_shows_the_traceback_of_a_users_error(tmp_path):
    path = _bad_csv(tmp_path)
    code = f"import sys; from nnkit.cli import main; sys.exit(main(['train', {str(path)!r}]))"
    quiet = _run(code)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    debug = _run(code, env={"NNKIT_DEBUG": "1"})
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "DataFileError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == quiet.stderr.strip()  # the same line, last
    assert "Traceback" in _run(BUGGY_TRAIN, env={"NNKIT_DEBUG": "1"}).stderr


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(lr):
        raise KeyboardInterrupt

    monkeypatch.setitem(OPTIMIZERS, "adam", interrupted)
    assert main(["train", "sine", "--steps", "2", "--no-progress"]) == 130
    assert capsys.readouterr().err == "nnkit: interrupted\n"
