"""``nnkit bench --against PATH``: the worker process and its protocol on a fake checkout (a
few files that play nnkit), bad paths through ``nnkit.cli.main``, and a real run against a
temporary git worktree of an old commit (skipped where git or the commit is not here)."""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nnkit import cli
from nnkit.bench import against, command
from nnkit.bench.contenders import Planned
from nnkit.bench.scenarios import SMOKE_ENV

ROOT = pathlib.Path(__file__).resolve().parents[1]
OLD_COMMIT = "67313c9"  # before nnkit/cli/ and the plain-formula NumPy step
RUN_TIMEOUT_S = 300
PID = re.compile(r"in worker pid (\d+)$", re.MULTILINE)

FAKE = {
    "nnkit/__init__.py": "",
    "nnkit/_version.py": '__version__ = "0.0.fake"\n',
    "backends/__init__.py": "FAKE = True\n",
    "nnkit/bench/__init__.py": "",
    "nnkit/bench/peers.py": "def pin(threads):\n    pass\n",
    "nnkit/bench/contenders.py": """
        from typing import NamedTuple

        class Planned(NamedTuple):
            scenario: str
            dtype: str
            batch_size: int
            library: str
            backend: str | None
            strategy: str
    """,
    # a contender whose info names it, whose unit fails for strategy "broken"; S9 needs a
    # module this checkout lacks (and the installed nnkit has)
    "nnkit/bench/command.py": """
        import importlib

        import nnkit.backends

        class Fake:
            def __init__(self, row):
                self.row = row

            def info(self):
                return {"scenario": self.row.scenario, "library": "nnkit",
                        "backend": self.row.backend, "strategy": self.row.strategy,
                        "batch_size": self.row.batch_size, "dtype": self.row.dtype,
                        "device": "cpu (fake)", "steps_per_unit": 2, "flops_per_step": 10,
                        "executed_flops_per_step": 8}

            def run(self):
                if self.row.strategy == "broken":
                    raise RuntimeError("a broken unit")

        def build(row, full):
            assert nnkit.backends.FAKE
            print("noise on stdout")
            if row.scenario == "S9":
                importlib.import_module("nnkit.training")
            return Fake(row)
    """,
}


def fake_checkout(root, **changes):
    """The fake checkout's files under ``root`` (``changes``: path -> other text); ``root``."""
    for name, text in {**FAKE, **changes}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def gone(pid):
    """Whether no process (not even an unreaped one) has ``pid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_imports_the_checkouts_nnkit_and_times_its_units(tmp_path):
    fake = against.checkout(str(fake_checkout(tmp_path / "fake")))
    path = str((tmp_path / "fake").resolve())
    assert fake == against.Checkout(path, None, "fake")  # not a git checkout: its folder's name
    rows = [Planned("S1", "float32", 8, "nnkit", "numpy", s) for s in ("batched", "broken")]
    with against.workers([fake], None) as (worker,):
        assert worker.version == "0.0.fake"
        built = worker.cell([*rows, Planned("S9", "float32", 8, "nnkit", "numpy", "batched")],
                            full=False)  # fmt: skip
        ok, broken, missing = built
        assert ok.label == "nnkit numpy batched @fake" and ok.device == "cpu (fake)"
        assert ok.info()["checkout"] == fake.info() and ok.steps == 2
        # the checkout's own modules only: nnkit.training is installed here, not there
        assert missing == ("@fake S9 float32 b8 nnkit numpy batched: ModuleNotFoundError: no "
                           "module 'nnkit.training' in the checkout")  # fmt: skip
        # the pause is taken in the worker, and not in the time it measured around the unit
        start = time.perf_counter()
        seconds = worker.run(0, settle_s=0.2)
        assert time.perf_counter() - start >= 0.2 > seconds >= 0
        with pytest.raises(against.WorkerError, match="@fake: a unit failed: RuntimeError: a b"):
            broken.run()
        ok.run()  # a warm-up: untimed, and the worker still answers after a failed unit
        pid = worker.pid
    assert gone(pid)


def test_a_worker_that_stops_is_an_error_naming_it(tmp_path):
    fake = against.checkout(str(fake_checkout(tmp_path / "fake")))
    with against.workers([fake], None) as (worker,):
        (unit,) = worker.cell([Planned("S1", "float32", 8, "nnkit", "numpy", "batched")], False)
        os.kill(worker.pid, signal.SIGKILL)
        stopped = f"@fake: its worker \\(pid {worker.pid}\\) stopped"
        with pytest.raises(against.WorkerError, match=stopped):
            unit.run()
    assert gone(worker.pid)


def test_an_interrupted_run_kills_its_worker(tmp_path, monkeypatch):
    monkeypatch.setenv(SMOKE_ENV, "1")
    fake = fake_checkout(tmp_path / "fake")

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "time_cell", interrupt)
    args = command.build_parser().parse_args(
        ["--against", str(fake), "--backends", "numpy", "--strategies", "batched",
         "--peers", "none", "--scenarios", "S1", "--batch-sizes", "8", "--repeats", "3"],
    )  # fmt: skip
    lines = []
    with pytest.raises(KeyboardInterrupt):
        command.run(args, lines.append)
    (pid,) = [int(p) for p in PID.findall("\n".join(lines))]
    assert gone(pid)
    assert "S1 b8 float32: building and warming up 1 contenders, their nnkit rows @fake" in lines


def _cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``nnkit ARGV...`` run in this process."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda tmp: tmp / "missing", "no such folder"),
        (lambda tmp: tmp, "not a checkout of nnkit (no nnkit/__init__.py)"),
        (lambda tmp: fake_checkout(tmp, **{"nnkit/__init__.py": "raise ImportError('old')"}),
         "its nnkit does not import: ImportError: old"),
        (lambda tmp: f"{fake_checkout(tmp / 'a')},{fake_checkout(tmp / 'b' / 'a')}",
         "two checkouts are both @a"),
    ],
)  # fmt: skip
def test_a_bad_path_is_one_line_and_exit_2(capsys, tmp_path, make, says):
    path = str(make(tmp_path))
    code, out, err = _cli(capsys, "bench", "--against", path, "--backends", "numpy",
                          "--peers", "none")  # fmt: skip
    assert (code, out) == (2, "")
    assert err.startswith("nnkit: error: --against") and err.count("\n") == 1  # nothing timed
    assert err.rstrip().endswith(says)


@pytest.fixture(scope="module")
def old_checkout(tmp_path_factory):
    """A git worktree of OLD_COMMIT, removed afterwards."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{OLD_COMMIT}^{{commit}}"],
                           capture_output=True, timeout=60)  # fmt: skip
    if found.returncode != 0:
        pytest.skip(f"commit {OLD_COMMIT} is not here (not a git clone, or a shallow one)")
    path = tmp_path_factory.mktemp("against") / "old"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(path), OLD_COMMIT], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    yield path
    subprocess.run([*git, "remove", "--force", str(path)], check=True, capture_output=True,
                   timeout=120)  # fmt: skip


@pytest.mark.slow
def test_a_run_against_an_old_commit_times_both_checkouts_and_their_ratio(old_checkout, tmp_path):
    short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", OLD_COMMIT],
                           capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", OLD_COMMIT],
                            capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    label = short.stdout.strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnkit", "bench", "--against", str(old_checkout),
         "--scenarios", "S1", "--batch-sizes", "8", "--backends", "numpy",
         "--strategies", "batched", "--peers", "none", "--repeats", "3",
         "--matmul-size", "32", "--out", "r.json", "--markdown", "r.md"],
        cwd=tmp_path, env={**os.environ, SMOKE_ENV: "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        proc.kill()  # by its pid; nothing where it has ended
        proc.wait()
    assert proc.returncode == 0, stderr
    (pid,) = [int(p) for p in PID.findall(stderr)]
    assert gone(pid)
    data = json.loads((tmp_path / "r.json").read_text())
    checkout = {"path": str(old_checkout.resolve()), "commit": commit.stdout.strip(),
                "label": label}  # fmt: skip
    assert data["against"] == [checkout]
    this, that = data["results"]
    assert this["label"] == "nnkit numpy batched"
    assert that["label"] == f"nnkit numpy batched @{label}"
    assert "checkout" not in this and "time_ratio" not in this
    assert that["checkout"] == checkout and len(this["times_s"]) == len(that["times_s"]) == 3
    assert that["time_ratio"] == pytest.approx(this["step_s"] / that["step_s"])
    assert that["steps_per_unit"] == this["steps_per_unit"]
    assert f"[2/2] S1 b8 nnkit numpy batched @{label} ... " in stderr
    assert f"nnkit numpy batched @{label}" in stdout and "this/that time" in stdout
    row = f"| 8 | nnkit numpy batched @{label} | "
    (line,) = [x for x in (tmp_path / "r.md").read_text().splitlines() if x.startswith(row)]
    assert line.split(" | ")[3] == f"{that['time_ratio']:.2f}x"
