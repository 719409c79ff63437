"""Where the command points a user next: pages of the documentation, as paths in the
repository (``docs/`` is also the site that ``mkdocs build`` makes of them)."""

from __future__ import annotations

PAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "nnkit": (
        ("docs/getting-started.md", "install, a first run, a first model"),
        ("docs/guide/cli.md", "every command and flag"),
    ),
    "info": (
        ("docs/getting-started.md", "the extras that install each backend"),
        ("docs/guide/backends.md", "choosing a backend and devices"),
        ("docs/gpu.md", "GPUs"),
    ),
    "train": (
        ("docs/guide/cli.md", "the flags, the defaults, the output"),
        ("docs/guide/data.md", "CSV, .npz and .npy files"),
        ("docs/guide/training.md", "the same in Python"),
    ),
    "evaluate": (
        ("docs/guide/cli.md", "evaluate and predict"),
        ("docs/guide/saving.md", "model files"),
    ),
    "predict": (
        ("docs/guide/cli.md", "evaluate and predict"),
        ("docs/guide/data.md", "the file formats"),
    ),
}
"""For each command (``nnkit`` itself too), the pages to read next and what each holds."""


def see(command: str) -> str:
    """The line that names ``command``'s pages, for its ``--help`` (and ``nnkit info``).

    Parameters
    ----------
    command : str
        A key of ``PAGES``.

    Returns
    -------
    str
        E.g. ``"docs: docs/guide/cli.md (every command and flag), ..."``.
    """
    return "docs: " + ", ".join(f"{page} ({what})" for page, what in PAGES[command])
