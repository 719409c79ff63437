"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section):
    text = README.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_lecture_example_runs_and_learns():
    namespace = {}
    for block in python_blocks("Example: the lecture's network"):
        exec(block, namespace)
    assert (
        namespace["trainer"].evaluate(namespace["X_test"], namespace["y_test"])["accuracy"] > 0.97
    )
    assert namespace["Y"].shape == (64, 10) and namespace["state"].count == 1
