"""The documentation site holds together: every page is in the navigation and every entry
of it is a page, the build is strict with numpydoc docstrings, the README fits on a screen or
two, and the command's help and ``nnkit info`` point to pages that exist.
(The build itself runs in .ci/run: ``mkdocs build --strict``.)"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from nnkit.bench.command import build_parser as bench_parser
from nnkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
_PAGE = re.compile(r"docs/[\w/.-]+\.md")


def nav_pages(entries):
    """The page paths (relative to docs/) that a mkdocs ``nav`` names."""
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            yield from nav_pages(value)
        else:
            yield value


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    pages = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if p.relative_to(DOCS).parts[0] != "results"  # measured results, reached by links
    }
    listed = list(nav_pages(CONFIG["nav"]))
    assert len(listed) == len(set(listed))
    assert set(listed) == pages


def test_the_build_is_strict_with_numpydoc_docstrings():
    assert CONFIG["strict"] is True
    python = CONFIG["plugins"][1]["mkdocstrings"]["handlers"]["python"]["options"]
    assert python["docstring_style"] == "numpy"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    docs = extras["optional-dependencies"]["docs"]
    assert {r.split(">")[0] for r in docs} == {"mkdocs-material", "mkdocstrings-python"}
    dev = next(r for r in extras["optional-dependencies"]["dev"] if r.startswith("nnkit["))
    assert "docs" in dev[len("nnkit[") : -1].split(",")


def test_the_readme_fits_in_150_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def help_text(capsys, *argv):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [(), ("info",), ("train",), ("evaluate",), ("predict",)])
def test_each_command_s_help_points_to_pages_that_exist(capsys, command):
    named = _PAGE.findall(help_text(capsys, *command))
    assert named, f"nnkit {' '.join(command)} --help names no docs page"
    assert [p for p in named if not (ROOT / p).is_file()] == []


def test_info_and_bench_point_to_pages_that_exist(capsys):
    assert main(["info"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    named = _PAGE.findall(last) + _PAGE.findall(bench_parser().format_help())
    assert "docs/guide/backends.md" in named and "docs/benchmarks.md" in named
    assert [p for p in named if not (ROOT / p).is_file()] == []
