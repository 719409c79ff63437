"""Small datasets that need no network: scikit-learn's bundled digits, XOR, a sine curve.

All arrays are host NumPy arrays; the Trainer moves them to its backend.
"""

from __future__ import annotations

import numpy as np

from .errors import MissingDependencyError


def digits(
    test_size: float = 0.2, seed: int = 42, normalize: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no network needed), split as
    ``train_test_split(test_size=test_size, random_state=seed)`` splits them.

    Parameters
    ----------
    test_size : float
        The share of the 1797 images held out for testing.
    seed : int
        The split's ``random_state``.
    normalize : bool
        Divide the pixels by 16 (to [0, 1]) instead of the raw 0..16 the lecture used.

    Returns
    -------
    tuple
        ``(X_train, y_train, X_test, y_test)``: X float64 (n, 64), y int64 labels 0..9 of
        shape (n,); 1437 and 360 rows with the defaults.

    Raises
    ------
    MissingDependencyError
        scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise MissingDependencyError(
            "nnkit.datasets.digits needs scikit-learn: pip install 'nnkit[datasets]'"
        ) from e
    data = load_digits()
    X = data.data.astype(np.float64)
    if normalize:
        X = X / 16.0
    y = data.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed
    )
    return X_train, y_train, X_test, y_test


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points.

    Returns
    -------
    tuple
        ``(X, Y)``: X (4, 2) in {0, 1}, Y (4, 1) = x0 xor x1, both float64.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return X, np.array([[0], [1], [1], [0]], dtype=np.float64)


def sine(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A regression: the sine on [0, 2 pi].

    Parameters
    ----------
    n : int
        The number of points.
    seed : int
        The seed of the draws.

    Returns
    -------
    tuple
        ``(X, Y)``: X (n, 1) drawn uniformly from [0, 2 pi], Y = sin(X) (n, 1), float64.
    """
    X = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, size=(n, 1))
    return X, np.sin(X)
