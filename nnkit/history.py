"""History: one record (a dict) per epoch of ``Trainer.fit``."""

from __future__ import annotations

from typing import Any


class History:
    """Per-epoch records; ``history["loss"]`` is the list of that key over the epochs."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[Any]:
        if not any(key in r for r in self.records):
            raise KeyError(f"{key!r}; History has {sorted({k for r in self.records for k in r})}")
        return [r[key] for r in self.records if key in r]

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        return f"History({len(self)} epochs, last={last})"
