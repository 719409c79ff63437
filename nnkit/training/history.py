"""History: one record (a dict) per epoch of ``Trainer.fit``."""

from __future__ import annotations

from typing import Any


class History:
    """Per-epoch records; ``history["loss"]`` is the list of that key over the epochs.

    ``Trainer.fit`` writes ``epoch`` and ``step`` (both counted over the trainer's life),
    ``loss`` (mean training loss over the epoch's samples), ``samples_per_s``, ``time_s``
    (the epoch's training time), ``elapsed_s`` (wall time since ``fit`` started, validation
    included) and, with ``validation_data``, ``val_loss`` and ``val_accuracy``. An epoch
    cut short (``steps=`` ending mid-epoch, or an interrupt) has ``"partial": True``.

    Attributes
    ----------
    records : list of dict
        One record per epoch, oldest first.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        """Add an epoch's record at the end (``fit`` does).

        Parameters
        ----------
        record : dict
            The epoch's values, by key.
        """
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[Any]:
        """``history[key]``: one key's values over the epochs.

        Parameters
        ----------
        key : str
            A record key, e.g. ``"loss"`` or ``"val_accuracy"``.

        Returns
        -------
        list
            The key's value in each record that has it, oldest first.

        Raises
        ------
        KeyError
            No record has ``key``; the message lists the keys there are.
        """
        if not any(key in r for r in self.records):
            raise KeyError(f"{key!r}; History has {self.keys()}")
        return [r[key] for r in self.records if key in r]

    def keys(self) -> list[str]:
        """The keys found in any record.

        Returns
        -------
        list of str
            Sorted.
        """
        return sorted({k for r in self.records for k in r})

    @property
    def wall_time(self) -> float:
        """Seconds from the start of ``fit`` to the end of its last epoch (0.0 if empty)."""
        return self.records[-1].get("elapsed_s", 0.0) if self.records else 0.0

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        return f"History({len(self)} epochs, last={last})"
