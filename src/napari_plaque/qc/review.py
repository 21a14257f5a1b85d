"""The review file: accept / reject / fix flags per case, saved atomically after every change.

A reviewer works through a cohort, flags each case, and can stop at any time: every change is
written at once (temporary file + rename, so a crash never leaves a half-written file), and
opening the same file again restores every flag.

Format (JSON, ``version`` 1)::

    {"format": "napari-plaque-review", "version": 1,
     "cases": {"<case id>": {"flag": "accept" | "reject" | "fix", "note": "...",
                             "updated": "2026-01-01T12:00:00+00:00", "metrics": {...}}}}

``metrics`` is an optional small summary (e.g. Dice per label) stored with the flag.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from psygnal import Signal

from ..io.atomic import atomic_write_json
from ..io.errors import FormatError

REVIEW_FORMAT = "napari-plaque-review"
REVIEW_VERSION = 1
FLAGS = ("accept", "reject", "fix")


class ReviewFile:
    """Flags per case in a JSON file; every change is saved atomically.

    Parameters
    ----------
    path : str or Path
        The review file. It is read if it exists (a wrong format or a newer version raises
        :class:`~napari_plaque.io.FormatError` naming the file) and created on the first flag.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.cases: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        from ..io.versioned import read_versioned_json

        data = read_versioned_json(self.path, REVIEW_FORMAT, REVIEW_VERSION, "review")
        cases = data.get("cases", {})
        if not isinstance(cases, dict):
            raise FormatError(self.path, "'cases' must be a mapping from case id to its flag")
        for case, entry in cases.items():
            if not isinstance(entry, dict) or entry.get("flag") not in FLAGS:
                raise FormatError(self.path, f"case {case!r} has no valid flag (one of {FLAGS})")
        self.cases = {str(k): dict(v) for k, v in cases.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"format": REVIEW_FORMAT, "version": REVIEW_VERSION, "cases": self.cases}

    def save(self) -> Path:
        """Write the file atomically."""
        return atomic_write_json(self.path, self.to_dict())

    def set_flag(
        self, case: str, flag: str, note: str = "", metrics: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Flag ``case`` as ``accept``, ``reject`` or ``fix`` and save at once."""
        if flag not in FLAGS:
            raise ValueError(f"flag must be one of {FLAGS}, got {flag!r}")
        case = str(case)
        if not case:
            raise ValueError("a case needs a non-empty id")
        entry: dict[str, Any] = {
            "flag": flag,
            "note": str(note),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if metrics:
            entry["metrics"] = metrics
        self.cases[case] = entry
        self.save()
        return entry

    def clear(self, case: str) -> None:
        """Remove the flag of ``case`` (saved at once)."""
        if self.cases.pop(str(case), None) is not None:
            self.save()

    def flag(self, case: str) -> str | None:
        entry = self.cases.get(str(case))
        return None if entry is None else entry["flag"]

    def pending(self, cases: list[str]) -> list[str]:
        """The cases of ``cases`` that have no flag yet, in the given order."""
        return [c for c in cases if str(c) not in self.cases]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(FLAGS, 0)
        for entry in self.cases.values():
            counts[entry["flag"]] += 1
        return counts


class ReviewSession:
    """The review dock's state without Qt: an open review file, the current case and its
    metrics, and a ``changed`` signal (psygnal) after every flag or file change.

    Messages for the user (a file that is not a review file, no case id) are kept in
    :attr:`message` instead of being raised, so a view can show them.
    """

    changed = Signal()

    def __init__(self) -> None:
        self.file: ReviewFile | None = None
        self.case = ""
        self.message = "no review file"

    def open(self, path: str | Path) -> bool:
        """Open (or start) a review file; existing flags are restored. False if refused."""
        try:
            self.file = ReviewFile(path)
        except (FormatError, ValueError) as exc:
            self.file = None
            self.message = str(exc)
            self.changed.emit()
            return False
        self.message = self.describe()
        self.changed.emit()
        return True

    def set_case(self, case: str) -> None:
        self.case = str(case).strip()
        self.message = self.describe()
        self.changed.emit()

    def entry(self) -> dict[str, Any] | None:
        return None if self.file is None else self.file.cases.get(self.case)

    def describe(self) -> str:
        if self.file is None:
            return "no review file"
        counts = ", ".join(f"{k} {v}" for k, v in self.file.summary().items())
        entry = self.entry()
        if entry is None:
            return f"{self.case or '(no case)'}: not reviewed  [{counts}]"
        return f"{self.case}: {entry['flag'].upper()}  [{counts}]"

    def set_flag(self, flag: str, note: str = "", metrics: dict[str, Any] | None = None) -> bool:
        """Flag the current case and save the file at once; False (with a message) if not."""
        if self.file is None:
            self.message = "Choose a review file first."
        elif not self.case:
            self.message = "Enter a case id."
        else:
            from ..report import json_safe

            self.file.set_flag(self.case, flag, note=note, metrics=json_safe(metrics or None))
            self.message = self.describe()
            self.changed.emit()
            return True
        self.changed.emit()
        return False
