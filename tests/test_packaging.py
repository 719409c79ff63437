"""The wheel ships every package: pyproject's explicit list matches the source tree."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = {"nnkit.backends"} | {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nnkit").rglob("__init__.py")
    }
    assert listed == found
    assert mapping["nnkit.backends"] == "backends"
