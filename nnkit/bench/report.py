"""The figures ``nnkit bench`` derives from its timings, and their table, JSON and plot."""

from __future__ import annotations

import io
import json
import statistics
from typing import Any

from . import own
from .fmt import format_time
from .fmt import pct as _pct
from .fmt import ratio as _x
from .peers import peak_library

PER_SAMPLE = "per_sample"


def device_kind(device: str) -> str:
    """The device kind, "cpu" or "gpu": libraries name a machine's one GPU differently (CuPy "NVIDIA
    H100 ...", JAX "gpu:0 (...)", torch "... CUDA eager"), and its peak is shared."""
    return "cpu" if device.startswith("cpu") else "gpu"


def summarise(
    results: list[dict], peaks: list[dict], skipped: list[str], machine: dict
) -> dict[str, Any]:
    """Add medians, rates, speedups, peer ratios and peak fractions; crossover and overhead;
    a compiling row's compile time ("compile_s": its first unit's time less the median).

    "gflops" counts the model's matmul FLOPs (``flops_per_step``); the peak fractions hold
    what the row executed ("executed_gflops": the first layer's input gradient, which no
    contender computes, left out) against the best n x n matmul of its own library
    ("own_peak_fraction") and of any library on its device ("peak_fraction")."""
    best_peak: dict[tuple, float] = {}
    own_peak: dict[tuple, float] = {}
    for p in peaks:
        kind = device_kind(p["device"])
        best_peak[kind, p["dtype"]] = max(best_peak.get((kind, p["dtype"]), 0.0), p["gflops"])
        key = p["library"], kind, p["dtype"]
        own_peak[key] = max(own_peak.get(key, 0.0), p["gflops"])
    for r in results:
        median = statistics.median(r["times_s"])
        steps, batch = r["steps_per_unit"], r["batch_size"]
        r["median_s"], r["step_s"] = median, median / steps
        r["samples_per_s"], r["steps_per_s"] = steps * batch / median, steps / median
        r["gflops"] = r["flops_per_step"] * steps / median / 1e9
        executed = r.get("executed_flops_per_step") or r["flops_per_step"]
        r["executed_gflops"] = executed * steps / median / 1e9
        kind = device_kind(r["device"])
        peak = best_peak.get((kind, r["dtype"]))
        r["peak_fraction"] = r["executed_gflops"] / peak if peak else None
        own = own_peak.get((peak_library(r["library"], r["backend"]), kind, r["dtype"]))
        r["own_peak_fraction"] = r["executed_gflops"] / own if own else None
        first = r.get("first_unit_s")
        r["compile_s"] = None if first is None else max(first - median, 0.0)
    for r in results:
        same = [q for q in results if _cell(q) == _cell(r)]
        base = [q for q in same if q["library"] == r["library"] == "nnkit"
                and q["backend"] == r["backend"] and q["strategy"] == PER_SAMPLE
                and q.get("checkout") == r.get("checkout")]  # fmt: skip
        r["speedup_vs_per_sample"] = base[0]["step_s"] / r["step_s"] if base else None
        r["ratio_vs"] = {
            q["library"]: r["samples_per_s"] / q["samples_per_s"]
            for q in same
            if q["library"] != "nnkit" and q is not r
        }
        if r.get("checkout"):  # this checkout's time over the other checkout's
            this = [q for q in same if not q.get("checkout") and _twins(q, r)]
            r["time_ratio"] = this[0]["step_s"] / r["step_s"] if this else None
    top = max((r for r in results if r["own_peak_fraction"] is not None),
              key=lambda r: r["own_peak_fraction"], default=None)  # fmt: skip
    return {
        "machine": machine,
        "matmul_peak": peaks,
        "max_own_peak": None
        if top is None
        else {"fraction": top["own_peak_fraction"], "row": _row_name(top)},
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


def _twins(a: dict, b: dict) -> bool:
    """Whether rows ``a`` and ``b`` are one contender (of two checkouts)."""
    return all(a[k] == b[k] for k in ("library", "backend", "strategy"))


def _row_name(r: dict) -> str:
    label = r.get("label") or (
        f"nnkit {r['backend']} {r['strategy']}" if r["library"] == "nnkit" else r["library"]
    )
    return f"{r['scenario']} {r['dtype']} b{r['batch_size']} {label}"


def crossover(results: list[dict]) -> dict[str, Any]:
    """Per scenario and dtype: the smallest batch at which the best nnkit GPU contender has
    more samples/s than the best nnkit CPU one ("n/a: no GPU" where no GPU ran), of this
    checkout's rows."""
    out: dict[str, Any] = {}
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        rows = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)
                and r["library"] == "nnkit" and not r.get("checkout")]  # fmt: skip
        key = f"{scenario} {dtype}"
        if not any(device_kind(r["device"]) != "cpu" for r in rows):
            out[key] = "n/a: no GPU"
            continue
        if not any(device_kind(r["device"]) == "cpu" for r in rows):
            out[key] = "n/a: no CPU row (e.g. bfloat16, which NumPy lacks)"
            continue
        out[key] = "none: the CPU stays ahead at every batch size measured"
        for batch in sorted({r["batch_size"] for r in rows}):
            at = [r for r in rows if r["batch_size"] == batch]
            gpu = max((r["samples_per_s"] for r in at if device_kind(r["device"]) != "cpu"),
                      default=0.0)  # fmt: skip
            cpu = max((r["samples_per_s"] for r in at if device_kind(r["device"]) == "cpu"),
                      default=0.0)  # fmt: skip
            if gpu > cpu:
                out[key] = batch
                break
    return out


def rows(report: dict) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per scenario/dtype: the column names and the formatted rows of its table (with other
    checkouts' rows, a column "this/that time": ``time_ratio``)."""
    tables = {}
    results = report["results"]
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        peer_names = sorted({r["library"] for r in group if r["library"] != "nnkit"})
        against = any("time_ratio" in r for r in group)
        cols = ["batch", "contender", "time/step"] + ["this/that time"] * against
        cols += ["samples/s", "steps/s", "vs per-sample"] + [f"vs {p}" for p in peer_names]
        cols += ["GFLOP/s", "exec GFLOP/s", "% own peak", "% device peak"]
        body = []
        for r in sorted(group, key=lambda r: (r["batch_size"], r["library"] != "nnkit")):
            body.append(
                [str(r["batch_size"]), r["label"], format_time(r["step_s"])]
                + [_x(r.get("time_ratio"))] * against
                + [f"{r['samples_per_s']:,.0f}", f"{r['steps_per_s']:,.1f}",
                   _x(r["speedup_vs_per_sample"])]
                + [_x(r["ratio_vs"].get(p)) for p in peer_names]
                + [f"{r['gflops']:.2f}", f"{r.get('executed_gflops', r['gflops']):.2f}",
                   _pct(r["own_peak_fraction"]), _pct(r["peak_fraction"])]
            )  # fmt: skip
        tables[f"{scenario} {dtype}"] = (cols, body)
    return tables


def _summary_lines(report: dict) -> list[str]:
    lines = [_peak_line(p) for p in report["matmul_peak"]]
    if report.get("max_own_peak"):
        top = report["max_own_peak"]
        lines.append(f"highest % own peak: {_pct(top['fraction'])} ({top['row']}); % peak = "
                     "exec GFLOP/s (the model's matmul FLOPs less the first layer's input "
                     "gradient, which no contender computes) over the peak")  # fmt: skip
    lines += [f"{r['label']}: compiled in {format_time(r['compile_s'])} ({r['scenario']} "
              f"{r['dtype']} batch {r['batch_size']}; its first unit less a timed one)"
              for r in report["results"] if r.get("compile_s") is not None]  # fmt: skip
    lines += [f"crossover {k}: {v}" for k, v in report["crossover"].items()]
    lines += [f"per-step time at batch 1, {k}: {format_time(v)}" for k, v in
              report["overhead_batch1"].items()]  # fmt: skip
    lines += [f"skipped: {s}" for s in report["skipped"]]
    return lines


def _peak_line(p: dict) -> str:
    line = f"matmul peak {p['library']} {p['dtype']} n={p['n']} on {p['device']}: " \
        f"{p['gflops']:.1f} GFLOP/s"  # fmt: skip
    if p.get("gflops_by_n"):
        calls = p.get("calls_by_n", {})
        line += (
            " (n: GFLOP/s, the fastest of its calls: "
            + ", ".join(f"{n}: {v:.1f} of {calls.get(n, '?')}" for n, v in p["gflops_by_n"].items())
            + ")"
        )
    return line + "".join(f"; left out {note}" for note in p.get("sizes_left_out", ()))


def print_tables(report: dict) -> None:
    """The tables on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 180)
    for title, (cols, body) in {**rows(report), **own.rows(report)}.items():
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
    for title, (cols, body) in {**rows(report), **own.rows(report)}.items():
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
