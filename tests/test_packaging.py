"""The wheel ships every package: pyproject's explicit list matches the source tree."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    inits = [p for top in ("nnkit", "backends") for p in (ROOT / top).rglob("__init__.py")]
    packages = [p.parent.relative_to(ROOT).parts for p in inits]
    # backends/ is installed as nnkit.backends, its subpackages below it
    found = {".".join(("nnkit", *p) if p[0] == "backends" else p) for p in packages}
    assert listed == found
    assert mapping["nnkit.backends"] == "backends"


def extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_no_extra_pins_an_exact_version():
    exact = [
        (extra, req)
        for extra, reqs in extras().items()
        for req in reqs
        if re.search(r"===?\s*[\w.]", req)
    ]
    assert exact == [], "pin exact versions in constraints.txt, not in the extras"


def test_torch_extra_and_dev_installs_every_cpu_backend():
    assert extras()["torch"] == ["torch>=2.3"]
    dev = next(r for r in extras()["dev"] if r.startswith("nnkit["))
    assert {"jax", "torch", "test"} <= set(dev[len("nnkit[") : -1].split(","))


def test_constraints_pin_the_cpu_torch_and_ci_readme_and_docs_use_them():
    pins = [
        line.split("#")[0].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert "torch==2.13.0" in pins
    install = 'pip install -e ".[dev]" -c constraints.txt'
    assert install in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert readme.count(install) >= 2  # the two commands
    getting_started = (ROOT / "docs" / "getting-started.md").read_text()
    assert getting_started.count(install) >= 2  # the install table and the digits run
    for text in (readme, getting_started):
        assert not re.search(r'pip install -e "\.\[dev\]"(?! -c constraints\.txt)', text)
