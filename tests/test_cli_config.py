"""What ``nnkit train`` does when a flag is left out: the defaults tables of nnkit.cli.defaults,
stated by the help from those tables and resolved once into a frozen configuration."""

import dataclasses

import pytest

from nnkit.cli import build_parser, main
from nnkit.cli.defaults import DATASETS, FILE, TASK_LOSS, TEST_FRACTION
from nnkit.cli.evaluate import EvaluateConfig
from nnkit.cli.predict import PredictConfig
from nnkit.cli.train_config import TrainConfig


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # one line: no wrapping


def _config(*argv):
    return TrainConfig.from_args(build_parser().parse_args(["train", *argv]))


def test_train_help_states_each_datasets_defaults(capsys):
    text = _help(capsys, "train")
    for name, d in [*DATASETS.items(), ("a data file", FILE)]:
        for shown in (d.length, d.hidden, d.activation, d.optimizer, str(d.batch_size)):
            assert f"{name} {shown}" in text, (name, shown)
        assert f"{name} {d.lr[0]:g}" in text and f"{name} {d.lr[1]:g}" in text, name
    assert "digits 20000 steps" in text  # the lecture's run, as the README states it
    assert f"(default {TEST_FRACTION:g}; 0: none)" in text  # --test-fraction
    assert "four points; default: 0.1)" in text  # --val-fraction: argparse's %(default)s


def test_help_and_run_follow_the_table(monkeypatch, capsys):
    """Change xor's row: the help says so, and a run without the flags trains that way."""
    row = dataclasses.replace(DATASETS["xor"], steps=37, layers=(5, 3), batch_size=2)
    monkeypatch.setitem(DATASETS, "xor", row)
    text = _help(capsys, "train")
    assert "xor 37 steps" in text and "xor 5,3" in text and "xor 2" in text
    assert "xor 2000 steps" not in text
    assert main(["train", "xor", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2-5-3-1 tanh" in out and "batch 2," in out and "trained 37 steps" in out


def test_the_configuration_is_resolved_once_and_frozen():
    args = build_parser().parse_args(["train", "sine", "--optimizer", "momentum"])
    before = vars(args).copy()
    config = TrainConfig.from_args(args)
    assert vars(args) == before  # the parsed arguments are left as they were
    sine = DATASETS["sine"]
    assert config.layers == sine.layers and config.activation == sine.activation
    assert config.loss == sine.loss and config.batch_size == sine.batch_size
    assert config.lr == sine.lr[0] / 10 and config.steps == sine.steps
    assert not config.standardize and config.progress
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 1
    for other in (
        EvaluateConfig.from_args(build_parser().parse_args(["evaluate", "--model", "m"])),
        PredictConfig.from_args(build_parser().parse_args(["predict", "--model", "m", "x.csv"])),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            other.model = "n"


def test_a_data_files_defaults_follow_its_task_and_size():
    config = _config("data.csv")
    assert config.standardize and config.test_fraction == TEST_FRACTION
    assert config.loss is None
    assert config.loss_for(3) == TASK_LOSS["classification"] == "cross_entropy"
    assert config.loss_for(None) == TASK_LOSS["regression"] == "mse"
    assert _config("data.csv", "--loss", "bce").loss_for(2) == "bce"
    # 200 epochs, at most 5000 steps: an epoch of 640 rows is 10 steps of 64
    assert config.total_steps(640) == min(FILE.steps, FILE.epochs * 10) == 2000
    assert config.total_steps(64 * 100) == FILE.steps
    assert _config("data.csv", "--epochs", "3").total_steps(65) == 6  # 2 steps an epoch
    assert _config("data.csv", "--steps", "7").total_steps(10**6) == 7


def test_data_file_flags_are_refused_for_a_builtin_dataset():
    with pytest.raises(ValueError, match="--target, --test-fraction: for a data file, not xor"):
        _config("xor", "--target", "y", "--test-fraction", "0.5")
