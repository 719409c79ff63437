"""The figures ``nnkit bench`` derives from its timings, and their table, JSON and plot."""

from __future__ import annotations

import io
import json
import statistics
from typing import Any

PER_SAMPLE = "per_sample"
# whose matmul peak a row is held against for "% own peak": its backend, or the peer's library
PEAK_LIBRARY = {"torch": "torch", "torch_cuda": "torch_cuda", "jax_optax_step": "jax",
                "jax_optax_scan": "jax", "sklearn": "numpy"}  # fmt: skip


def _device_kind(device: str) -> str:
    """The device kind, "cpu" or "gpu": libraries name a machine's one GPU differently (CuPy "NVIDIA
    H100 ...", JAX "gpu:0 (...)", torch "... CUDA eager"), and its peak is shared."""
    return "cpu" if device.startswith("cpu") else "gpu"


def summarise(
    results: list[dict], peaks: list[dict], skipped: list[str], machine: dict
) -> dict[str, Any]:
    """Add medians, rates, speedups, peer ratios and peak fractions; crossover and overhead."""
    best_peak: dict[tuple, float] = {}
    own_peak = {(p["library"], p["dtype"]): p["gflops"] for p in peaks}
    for p in peaks:
        key = (_device_kind(p["device"]), p["dtype"])
        best_peak[key] = max(best_peak.get(key, 0.0), p["gflops"])
    for r in results:
        median = statistics.median(r["times_s"])
        steps, batch = r["steps_per_unit"], r["batch_size"]
        r["median_s"], r["step_s"] = median, median / steps
        r["samples_per_s"], r["steps_per_s"] = steps * batch / median, steps / median
        r["gflops"] = r["flops_per_step"] * steps / median / 1e9
        peak = best_peak.get((_device_kind(r["device"]), r["dtype"]))
        r["peak_fraction"] = r["gflops"] / peak if peak else None
        own = own_peak.get((PEAK_LIBRARY.get(r["library"], r["backend"]), r["dtype"]))
        r["own_peak_fraction"] = r["gflops"] / own if own else None
    for r in results:
        same = [q for q in results if _cell(q) == _cell(r)]
        base = [q for q in same if q["library"] == r["library"] == "nnkit"
                and q["backend"] == r["backend"] and q["strategy"] == PER_SAMPLE]  # fmt: skip
        r["speedup_vs_per_sample"] = base[0]["step_s"] / r["step_s"] if base else None
        r["ratio_vs"] = {
            q["library"]: r["samples_per_s"] / q["samples_per_s"]
            for q in same
            if q["library"] != "nnkit" and q is not r
        }
    return {
        "machine": machine,
        "matmul_peak": peaks,
        "results": results,
        "crossover": crossover(results),
        "overhead_batch1": {
            f"{r['scenario']} {r['dtype']} {r['label']}": r["step_s"]
            for r in results
            if r["batch_size"] == 1
        },
        "skipped": skipped,
    }


def _cell(r: dict) -> tuple:
    return r["scenario"], r["dtype"], r["batch_size"]


def crossover(results: list[dict]) -> dict[str, Any]:
    """Per scenario and dtype: the smallest batch at which the best nnkit GPU contender has
    more samples/s than the best nnkit CPU one ("n/a: no GPU" where no GPU ran)."""
    out: dict[str, Any] = {}
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        rows = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)
                and r["library"] == "nnkit"]  # fmt: skip
        key = f"{scenario} {dtype}"
        if not any(_device_kind(r["device"]) != "cpu" for r in rows):
            out[key] = "n/a: no GPU"
            continue
        if not any(_device_kind(r["device"]) == "cpu" for r in rows):
            out[key] = "n/a: no CPU row (e.g. bfloat16, which NumPy lacks)"
            continue
        out[key] = "none: the CPU stays ahead at every batch size measured"
        for batch in sorted({r["batch_size"] for r in rows}):
            at = [r for r in rows if r["batch_size"] == batch]
            gpu = max((r["samples_per_s"] for r in at if _device_kind(r["device"]) != "cpu"),
                      default=0.0)  # fmt: skip
            cpu = max((r["samples_per_s"] for r in at if _device_kind(r["device"]) == "cpu"),
                      default=0.0)  # fmt: skip
            if gpu > cpu:
                out[key] = batch
                break
    return out


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _x(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}x"


def rows(report: dict) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per scenario/dtype: the column names and the formatted rows of its table."""
    tables = {}
    results = report["results"]
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        peer_names = sorted({r["library"] for r in group if r["library"] != "nnkit"})
        cols = ["batch", "contender", "time/step", "samples/s", "steps/s", "vs per-sample"]
        cols += [f"vs {p}" for p in peer_names] + ["GFLOP/s", "% own peak", "% device peak"]
        body = []
        for r in sorted(group, key=lambda r: (r["batch_size"], r["library"] != "nnkit")):
            body.append(
                [str(r["batch_size"]), r["label"], _time(r["step_s"]),
                 f"{r['samples_per_s']:,.0f}", f"{r['steps_per_s']:,.1f}",
                 _x(r["speedup_vs_per_sample"])]
                + [_x(r["ratio_vs"].get(p)) for p in peer_names]
                + [f"{r['gflops']:.2f}", _pct(r["own_peak_fraction"]), _pct(r["peak_fraction"])]
            )  # fmt: skip
        tables[f"{scenario} {dtype}"] = (cols, body)
    return tables


def _summary_lines(report: dict) -> list[str]:
    lines = [
        f"matmul peak {p['library']} {p['dtype']} n={p['n']} on {p['device']}: "
        f"{p['gflops']:.1f} GFLOP/s"
        for p in report["matmul_peak"]
    ]
    lines += [f"crossover {k}: {v}" for k, v in report["crossover"].items()]
    lines += [f"per-step time at batch 1, {k}: {_time(v)}" for k, v in
              report["overhead_batch1"].items()]  # fmt: skip
    lines += [f"skipped: {s}" for s in report["skipped"]]
    return lines


def print_tables(report: dict) -> None:
    """The tables on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 180)
    for title, (cols, body) in rows(report).items():
        table = Table(title=title)
        for i, c in enumerate(cols):
            table.add_column(c, justify="left" if i == 1 else "right")
        for row in body:
            table.add_row(*row)
        console.print(table)
    for line in _summary_lines(report):
        console.print(line)


def markdown(report: dict) -> str:
    """The same tables as GitHub markdown."""
    out = []
    for title, (cols, body) in rows(report).items():
        out += [
            f"#### {title}",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "|".join("---:" if i != 1 else "---" for i in range(len(cols))) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in body] + [""]  # fmt: skip
    out += [f"- {line}" for line in _summary_lines(report)]
    return "\n".join(out) + "\n"


def to_json(report: dict) -> str:
    """The report as indented JSON."""
    return json.dumps(report, indent=1)


def plot_png(report: dict) -> bytes:
    """samples/s vs batch size as a PNG: log-log, one panel per scenario/dtype with several
    batch sizes, one line per backend x strategy; peers dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = report["results"]
    panels = sorted(k for k in {(r["scenario"], r["dtype"]) for r in results}
                    if len({r["batch_size"] for r in results if (r["scenario"], r["dtype"]) == k})
                    > 1) or sorted({(r["scenario"], r["dtype"]) for r in results})  # fmt: skip
    fig = Figure(figsize=(6.5 * len(panels), 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (scenario, dtype) in zip(axes[0], panels, strict=True):
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        for label in sorted({r["label"] for r in group}):
            line = sorted((r for r in group if r["label"] == label), key=lambda r: r["batch_size"])
            peer = line[0]["library"] != "nnkit"
            ax.plot([r["batch_size"] for r in line], [r["samples_per_s"] for r in line],
                    "--" if peer else "-", marker="o", label=label)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples/s",
               title=f"{scenario} {dtype}")  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
