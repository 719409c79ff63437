"""The README's Python examples run as written: each section's blocks, in order, in a fresh
interpreter inside an empty folder (examples write files)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def sections_with_python():
    text = README.read_text()
    found = {}
    for part in re.split(r"\n(?=## )", text):
        title = part.splitlines()[0].lstrip("# ").strip()
        blocks = re.findall(r"```python\n(.*?)```", part, flags=re.S)
        if blocks:
            found[title] = "\n".join(blocks)
    return found


SECTIONS = sections_with_python()
# what some sections' examples must also show, checked in the same interpreter
CHECKS = {
    "Example: the lecture's network": "assert trainer.evaluate(X_test, y_test)['accuracy'] > 0.97\n"
    "assert Y.shape == (64, 10) and state.count == 1",
}


def test_readme_has_examples():
    assert len(SECTIONS) >= 8, sorted(SECTIONS)


@pytest.mark.parametrize("title", sorted(SECTIONS))
def test_readme_section_runs(title, tmp_path):
    subprocess.run(
        [sys.executable, "-c", SECTIONS[title] + "\n" + CHECKS.get(title, "")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
