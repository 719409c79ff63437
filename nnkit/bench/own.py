"""The framework tax at a glance: per scenario, nnkit on each backend beside the peers written
in that backend's own library (``peers.PEAK_LIBRARY``: torch and torch_compile for torch,
the JAX+Optax loops for jax, scikit-learn for numpy), with the ratio of samples/s and each
row's fraction of that library's matmul peak."""

from __future__ import annotations

from .fmt import format_time, pct, ratio
from .peers import peak_library

PER_SAMPLE = "per_sample"


def rows(report: dict) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per scenario/dtype: the columns and formatted rows of its "own library" table, one row
    per (batch size, nnkit row, peer of its library); none where no peer of a backend's
    library ran. Rows timed with another checkout (``--against``) and scenarios of K models
    at once (S6: its own table compares the stack with the peers) are left out."""
    results = [r for r in report["results"]
               if not r.get("checkout") and r.get("models") is None]  # fmt: skip
    tables = {}
    cols = ["batch", "nnkit", "time/step", "peer", "peer time/step", "nnkit/peer samples/s",
            "nnkit % own peak", "peer % own peak"]  # fmt: skip
    for scenario, dtype in sorted({(r["scenario"], r["dtype"]) for r in results}):
        group = [r for r in results if (r["scenario"], r["dtype"]) == (scenario, dtype)]
        body = []
        for r in sorted(group, key=lambda r: (r["batch_size"], r["label"])):
            if r["library"] != "nnkit" or r["strategy"] == PER_SAMPLE:
                continue
            for q in _own_peers(r, group):
                body.append(
                    [str(r["batch_size"]), r["label"], format_time(r["step_s"]), q["label"],
                     format_time(q["step_s"]), ratio(r["samples_per_s"] / q["samples_per_s"]),
                     pct(r["own_peak_fraction"]), pct(q["own_peak_fraction"])]
                )  # fmt: skip
        if body:
            tables[f"{scenario} {dtype}: nnkit against each backend's own library"] = (cols, body)
    return tables


def _own_peers(r: dict, group: list[dict]) -> list[dict]:
    """The peer rows of r's batch size whose library is r's backend's."""
    return [q for q in group if q["library"] != "nnkit" and q["batch_size"] == r["batch_size"]
            and peak_library(q["library"], q["backend"]) == r["backend"]]  # fmt: skip
