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
SEQUENTIAL = "sequential"  # a scenario of K models at once: K fits one after another


def device_kind(device: str) -> str:
    """The device kind, "cpu" or "gpu": libraries name a machine's one GPU differently (CuPy "NVIDIA
    H100 ...", JAX "gpu:0 (...)", torch "... CUDA eager"), and its peak is shared."""
    return "cpu" if device.startswith("cpu") else "gpu"


def summarise(
    results: list[dict], peaks: list[dict], skipped: list[str], machine: dict
) -> dict[str, Any]:
    """Add medians, rates, speedups, peer ratios and peak fractions; crossover and overhead;
    a compiling row's compile time ("compile_s": its first unit's time less the median).
    In a scenario of K models at once (a row's "models" = K): "model_samples_per_s" (K x
    samples/s), each nnkit row's "speedup_vs_sequential" (over the K sequential fits of its
    backend) and "k_scaling" (each row's unit time at every K over its time at K = 1).

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
        r["model_samples_per_s"] = (r.get("models") or 1) * r["samples_per_s"]
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
        r["speedup_vs_per_sample"] = _speedup(r, same, PER_SAMPLE)
        if r.get("models") is not None:
            r["speedup_vs_sequential"] = _speedup(r, same, SEQUENTIAL)
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
            if r["batch_size"] == 1 and r.get("models") is None
        },
        "k_scaling": k_scaling(results),
        "skipped": skipped,
    }


def _cell(r: dict) -> tuple:
    return r["scenario"], r["dtype"], r["batch_size"], r.get("models")


def _speedup(r: dict, same: list[dict], baseline: str) -> float | None:
    """How many times faster nnkit row ``r`` is than its backend's ``baseline`` strategy in
    its cell (``same``: the cell's rows) and checkout; None for a peer or without one."""
    base = [q for q in same if q["library"] == r["library"] == "nnkit"
            and q["backend"] == r["backend"] and q["strategy"] == baseline
            and q.get("checkout") == r.get("checkout")]  # fmt: skip
    return base[0]["step_s"] / r["step_s"] if base else None


def k_scaling(results: list[dict]) -> dict[str, dict[str, float]]:
    """Per row of a scenario of K models at once that ran at K = 1 too ("SCENARIO DTYPE b64
    LABEL"): its unit's time at each larger K over that at K = 1 (by K as a string; 1.0
    would be K models for the time of one)."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        if r.get("models") is None or r["models"] == 1:
            continue
        one = [q for q in results if _cell(q)[:3] == _cell(r)[:3] and q.get("models") == 1
               and q["label"] == r["label"]]  # fmt: skip
        if one:
            key = f"{r['scenario']} {r['dtype']} b{r['batch_size']} {r['label']}"
            out.setdefault(key, {})[str(r["models"])] = r["median_s"] / one[0]["median_s"]
    return out


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
    checkout's rows; not for scenarios of K models at once."""
    out: dict[str, Any] = {}
    results = [r for r in results if r.get("models") is None]
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
    checkouts' rows, a column "this/that time": ``time_ratio``; in a scenario of K models at
    once, K, model-samples/s and "vs sequential" in place of "vs per-sample")."""
    tables = {}
    results = report["results"]
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        peer_names = sorted({r["library"] for r in group if r["library"] != "nnkit"})
        against = any("time_ratio" in r for r in group)
        stacked = any(r.get("models") is not None for r in group)
        cols = ["K"] * stacked + ["batch", "contender", "time/step"]
        cols += ["this/that time"] * against + ["samples/s"]
        cols += ["model-samples/s", "vs sequential"] if stacked else ["steps/s", "vs per-sample"]
        cols += [f"vs {p}" for p in peer_names]
        cols += ["GFLOP/s", "exec GFLOP/s", "% own peak", "% device peak"]
        body = []
        for r in sorted(group, key=lambda r: (r.get("models") or 1, r["batch_size"],
                                              r["library"] != "nnkit")):  # fmt: skip
            rates = ([f"{r['model_samples_per_s']:,.0f}", _x(r.get("speedup_vs_sequential"))]
                     if stacked else
                     [f"{r['steps_per_s']:,.1f}", _x(r["speedup_vs_per_sample"])])  # fmt: skip
            body.append(
                [str(r.get("models"))] * stacked
                + [str(r["batch_size"]), r["label"], format_time(r["step_s"])]
                + [_x(r.get("time_ratio"))] * against
                + [f"{r['samples_per_s']:,.0f}"] + rates
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
              f"{r['dtype']} batch {r['batch_size']}"
              + ("" if r.get("models") is None else f", K={r['models']}")
              + "; its first unit less a timed one)"
              for r in report["results"] if r.get("compile_s") is not None]  # fmt: skip
    lines += [f"crossover {k}: {v}" for k, v in report["crossover"].items()]
    lines += [f"{row}: a unit's time at K=" + ", ".join(by_k) + " is "
              + ", ".join(f"{v:.2f}x" for v in by_k.values()) + " its time at K=1"
              for row, by_k in report.get("k_scaling", {}).items()]  # fmt: skip
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
    console.width = max(console.width, 200)
    for title, (cols, body) in {**rows(report), **own.rows(report)}.items():
        table = Table(title=title)
        for c in cols:
            table.add_column(c, justify="left" if c == "contender" else "right")
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
            "|" + "|".join("---" if c == "contender" else "---:" for c in cols) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in body] + [""]  # fmt: skip
    out += [f"- {line}" for line in _summary_lines(report)]
    return "\n".join(out) + "\n"


def to_json(report: dict) -> str:
    """The report as indented JSON."""
    return json.dumps(report, indent=1)


def plot_png(report: dict) -> bytes:
    """samples/s vs batch size as a PNG: log-log, one panel per scenario/dtype with several
    batch sizes, one line per backend x strategy; peers dashed. A scenario of K models at
    once: model-samples/s vs K."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = report["results"]

    def axis(key: tuple) -> tuple[str, str, str]:  # (x field, x label, y field) of a panel
        if any(r.get("models") is not None for r in results if (r["scenario"], r["dtype"]) == key):
            return "models", "K (models at once)", "model_samples_per_s"
        return "batch_size", "batch size", "samples_per_s"

    panels = sorted(k for k in {(r["scenario"], r["dtype"]) for r in results}
                    if len({r[axis(k)[0]] for r in results if (r["scenario"], r["dtype"]) == k})
                    > 1) or sorted({(r["scenario"], r["dtype"]) for r in results})  # fmt: skip
    fig = Figure(figsize=(6.5 * len(panels), 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (scenario, dtype) in zip(axes[0], panels, strict=True):
        x, xlabel, y = axis((scenario, dtype))
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        for label in sorted({r["label"] for r in group}):
            line = sorted((r for r in group if r["label"] == label), key=lambda r: r[x])
            peer = line[0]["library"] != "nnkit"
            ax.plot([r[x] for r in line], [r[y] for r in line],
                    "--" if peer else "-", marker="o", label=label)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=y.replace("_per_s", "/s")
               .replace("_", "-"), title=f"{scenario} {dtype}")  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
