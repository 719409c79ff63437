"""Every Python example of the documentation runs as written, and prints what its page shows:
README.md and every page under docs/, by the convention of tests/doc_examples.py (a page's
blocks in order in one fresh interpreter inside an empty folder; a ```text block after a
block is its output; marked blocks run in the slow, GPU or multi-process passes)."""

import os
import re
import socket
import subprocess
import sys

import pytest
from doc_examples import PAGES, ROOT, check_output, examples, mismatch, name, page_code

from nnkit import backends

EXAMPLES = {page: examples(page) for page in PAGES}


def with_mark(mark):
    """The pages with at least one example marked ``mark``, as pytest params."""
    return [
        pytest.param(page, id=name(page))
        for page, found in EXAMPLES.items()
        if any(ex.mark == mark for ex in found)
    ]


def run_page(page, tmp_path, marks=(), timeout=300):
    """Run the page's examples (unmarked and ``marks``) in a fresh interpreter in tmp_path."""
    result = subprocess.run(
        [sys.executable, "-c", page_code(page, marks)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.returncode == 0, f"{name(page)}:\n{output}"


def test_the_readme_and_the_guide_have_examples_with_outputs():
    assert [ex for ex in EXAMPLES[ROOT / "README.md"] if ex.output is not None]
    shown = [ex for found in EXAMPLES.values() for ex in found if ex.output is not None]
    assert len(shown) >= 10 and sum(len(found) for found in EXAMPLES.values()) >= 30


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, id=name(p)) for p, found in EXAMPLES.items()
     if any(not ex.mark for ex in found)],  # fmt: skip
)
def test_examples_run_and_print_what_the_page_shows(page, tmp_path):
    run_page(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", with_mark("slow"))
def test_slow_examples_run_with_their_page(page, tmp_path):
    run_page(page, tmp_path, ("slow",), timeout=900)


@pytest.mark.gpu
@pytest.mark.parametrize("page", with_mark("gpu"))
def test_gpu_examples_run_with_their_page(page, tmp_path):
    run_page(page, tmp_path, ("slow", "gpu"), timeout=900)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "page, example",
    [
        pytest.param(page, ex, id=f"{name(page)}:{ex.line}")
        for page, found in EXAMPLES.items()
        for ex in found
        if ex.processes
    ],
)
def test_multi_process_examples_run_as_that_many_processes(page, example, tmp_path):
    if "jax" not in backends.available():
        pytest.skip("a run of several processes needs JAX")
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", example.code, str(i), address], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i in range(example.processes)
    ]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"{name(page)}, line {example.line}:\n{out}\n{err[-4000:]}"
    if example.output is not None:
        check_output(outs[0][0], example.output, f"{name(page)}, line {example.line}")


@pytest.mark.parametrize(
    "printed, shown",
    [
        ("0.9777777", "0.9778"),
        ("{'loss': 0.00384, 'accuracy': 0.97777}", "{'loss': 0.0038, 'accuracy': 0.9778}"),
        ("(1293, 64) (144, 64)", "(1293, 64) (144, 64)"),
        ("64-128-64-10 sigmoid, float32", "64-128-64-10 sigmoid, float32"),
        ("trained in 3.51 s", "trained in ... s"),
        ("a\nb\nc\nd", "a\n...\nd"),
        ("a\nd", "a\n...\nd"),
        ("1e-05 and -2.5", "1.0e-5 and -2.5"),
    ],
)
def test_output_that_agrees_with_the_page_passes(printed, shown):
    check_output(printed, shown)


@pytest.mark.parametrize(
    "printed, shown",
    [
        ("0.9790", "0.9778"),  # another number
        ("0.97786", "0.9778"),  # rounds to 0.9779
        ("(1293, 64)", "(1294, 64)"),
        ("float32", "float64"),
        ("a\nb", "a"),  # a line more than the page shows
        ("a", "a\nb"),  # a line less
        ("a\nb\nc", "a\n...\nd"),
    ],
)
def test_output_that_differs_from_the_page_fails(printed, shown):
    assert mismatch(printed.splitlines(), shown.splitlines()) is not None
    with pytest.raises(AssertionError):
        check_output(printed, shown)


@pytest.mark.slow
def test_the_readme_s_main_command_prints_what_the_readme_shows(tmp_path):
    """The README's first command ends with ``nnkit train digits``: run it and compare its
    output with the README's (the figures are "for example": machine-dependent, so only
    the words are compared; the accuracy is checked on its own)."""
    readme = (ROOT / "README.md").read_text()
    command, shown = re.search(r"```bash\n.*&& (nnkit train digits)\n```\n.*?```text\n(.*?)```",
                               readme, re.S).groups()  # fmt: skip
    out = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, check=True).stdout  # fmt: skip
    numbers_free = re.sub(r"\d+(?:\.\d+)?", "...", shown)
    check_output(re.sub(r"\d+(?:\.\d+)?", "...", out), numbers_free + "...\n")
    accuracy = float(re.search(r"^test: .*accuracy ([\d.]+)", out, re.M).group(1))
    assert accuracy >= 0.97
