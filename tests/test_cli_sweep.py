"""``nnkit sweep``, run as a user would (through subprocess): the ranked table, the CSV, the
best model saved as ``nnkit train --save`` saves one, and one-line errors."""

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nnkit
from nnkit.cli import report
from nnkit.tree import tree_leaves

SMALL = ("--layers", "16", "--steps", "40", "--dtype", "float64", "--no-progress")


def nnkit_cmd(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "nnkit", *map(str, args)],
        capture_output=True, text=True, timeout=180, env={**os.environ}, cwd=cwd,
    )  # fmt: skip


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_prints_ranks_writes_and_saves(tmp_path):
    out, best = tmp_path / "results.csv", tmp_path / "best.safetensors"
    result = nnkit_cmd("sweep", "digits", "--lr", "0.5,0.05", "--seeds", "2", "--l2", "0,1e-3",
                       *SMALL, "--out", out, "--save", best)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("nnkit sweep digits: 8 models (2 lr x 2 seeds x 2 l2)")
    assert "trained 8 models x 40 steps" in result.stdout and "model-samples/s" in result.stdout
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "model"])
    assert lines[header].split() == ["rank", "model", "lr", "seed", "l2", "loss", "val_loss",
                                     "val_accuracy", "diverged"]  # fmt: skip
    table = [line.split() for line in lines[header + 1 : header + 9]]
    assert [int(row[0]) for row in table] == list(range(1, 9))
    rows = read_csv(out)
    assert [int(r["rank"]) for r in rows] == list(range(1, 9))
    assert sorted(int(r["model"]) for r in rows) == list(range(8))
    val = [float(r["val_loss"]) for r in rows]
    assert val == sorted(val)
    assert {(float(r["lr"]), int(r["seed"]), float(r["l2"])) for r in rows} == {
        (lr, s, l2) for lr in (0.5, 0.05) for s in (0, 1) for l2 in (0.0, 1e-3)
    }
    assert [row[1] for row in table] == [r["model"] for r in rows]
    assert f"best: model {rows[0]['model']}" in result.stdout
    assert "best test: loss" in result.stdout and f"saved the best model to {best}" in result.stdout
    # the saved best model evaluates as the sweep reported it
    evaluate = nnkit_cmd("evaluate", "--model", best)
    assert evaluate.returncode == 0, evaluate.stderr
    reported = next(x for x in lines if x.startswith("best test:"))
    assert reported.split("loss")[1].split()[0] in evaluate.stdout


def test_the_best_model_is_saved_as_nnkit_train_saves_it(tmp_path):
    best, alone = tmp_path / "best.safetensors", tmp_path / "alone.safetensors"
    sweep = nnkit_cmd("sweep", "digits", "--lr", "0.5,0.05", *SMALL, "--out",
                      tmp_path / "r.csv", "--save", best)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    lr = read_csv(tmp_path / "r.csv")[0]["lr"]
    train = nnkit_cmd("train", "digits", "--lr", lr, "--seed", "0", *SMALL, "--save", alone)
    assert train.returncode == 0, train.stderr
    a, b = nnkit.Trainer.load(best), nnkit.Trainer.load(alone)
    assert (a.steps_done, a.position, a.seed, a.dtype) == (b.steps_done, b.position, b.seed,
                                                           b.dtype)  # fmt: skip
    assert a.optimizer.lr == b.optimizer.lr == float(lr)
    for x, y in zip(tree_leaves((a.params, a.opt_state)), tree_leaves((b.params, b.opt_state)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(np.asarray(x, dtype=float), np.asarray(y, dtype=float),
                                   rtol=1e-10, atol=1e-13)  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (("--lr", "0.1,x"), r"--lr: expected numbers like 0.5,0.1,1e-3; got '0.1,x'"),
        (("--seeds", "0"), r"--seeds: expected a count N >= 1"),
        (("--seeds", "3,-1"), r"--seeds: expected a count N >= 1.*got '3,-1'"),
        (("--optimizer", "adam", "--momentum", "0.9"), r"--momentum is for sgd.*adam"),
        (("--lr", "0.1,-0.5"), r"lr .*must be a finite number > 0, got -0.5"),
        (("--l2", "0,-1"), r"l2\[1\] must be a finite number >= 0, got -1"),
        (("--momentum", "0.5,1.5"), r"momentum must be in \[0, 1\), got 1.5"),
        (("--out", "/no/such/folder/r.csv"), r"cannot write /no/such/folder/r.csv"),
        (("--devices", "2"), r"devices=2.*'jax' backend"),
    ],
)
def test_bad_flags_end_with_one_line_and_exit_code_2(args, message):
    result = nnkit_cmd("sweep", "xor", "--steps", "2", "--no-progress", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(message, lines[0]), lines[0]


def test_the_table_is_a_rich_table_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("rich")
    rows = [{"rank": 1, "model": 3, "loss": 0.25, "diverged": False}]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    report.print_table(["rank", "model", "loss", "diverged"], rows)
    shown = capsys.readouterr().out
    assert "┃" in shown and "0.25" in shown and "no" in shown
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    report.print_table(["rank", "model", "loss", "diverged"], rows)
    assert capsys.readouterr().out.splitlines() == [
        "rank  model  loss  diverged", "   1      3  0.25        no"
    ]
