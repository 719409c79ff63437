"""The lecture's network learns the digits; the dataset is split as the contract says."""

import subprocess
import sys

import numpy as np
import pytest

import nnkit
from nnkit.layers import Dense, Sigmoid
from nnkit.losses import MSE
from nnkit.optim import SGD


def test_digits_split_matches_train_test_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X_train, y_train, X_test, y_test = nnkit.datasets.digits()
    data = load_digits()
    Xa, Xb, ya, yb = train_test_split(data.data, data.target, test_size=0.2, random_state=42)
    np.testing.assert_array_equal(X_train, Xa)
    np.testing.assert_array_equal(X_test, Xb)
    np.testing.assert_array_equal(y_train, ya)
    np.testing.assert_array_equal(y_test, yb)
    assert X_train.max() == 16.0 and X_train.shape == (1437, 64) and y_test.shape == (360,)
    assert nnkit.datasets.digits(normalize=True)[0].max() == 1.0


@pytest.mark.slow
def test_lecture_network_reaches_0975_within_20000_steps():
    X, y, X_test, y_test = nnkit.datasets.digits()
    model = nnkit.Sequential(
        [Dense(64, 128), Sigmoid(), Dense(128, 64), Sigmoid(), Dense(64, 10), Sigmoid()]
    )
    trainer = nnkit.Trainer(model, MSE(), SGD(0.5), strategy="batched")
    best = 0.0
    while trainer.steps_done < 20_000 and best < 0.975:
        trainer.fit(X, y, steps=2_000, batch_size=64)
        best = trainer.evaluate(X_test, y_test)["accuracy"]
    assert best >= 0.975, f"accuracy {best} after {trainer.steps_done} steps"


def test_cli_train_digits_prints_the_accuracy():
    out = subprocess.run(
        [sys.executable, "-m", "nnkit", "train", "digits", "--steps", "1500"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    test_line = next(line for line in out.splitlines() if line.startswith("test:"))
    accuracy = float(test_line.split("accuracy")[1].split()[0])
    assert accuracy > 0.9


@pytest.mark.parametrize("strategy", ["batched", "per_sample"])
def test_core_runs_on_array_api_strict(strategy):
    """array-api-strict rejects anything outside the standard: the whole step must pass."""
    if "array_api_strict" not in nnkit.backends.available():
        pytest.skip("array-api-strict not installed")
    X, y, X_test, y_test = nnkit.datasets.digits()
    model = nnkit.Sequential([Dense(64, 16), Sigmoid(), Dense(16, 10), Sigmoid()])
    trainer = nnkit.Trainer(model, MSE(), SGD(0.5), backend="array_api_strict", strategy=strategy)
    history = trainer.fit(X[:64], y[:64], steps=4, batch_size=16, validation_data=(X_test, y_test))
    assert len(history["loss"]) == 1 and np.isfinite(history["val_loss"][0])
