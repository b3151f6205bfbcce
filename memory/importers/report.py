"""What an import read, skipped and wrote."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileRead:
    file: str
    entity: str
    rows: int


@dataclass(frozen=True)
class Written:
    """Rows written to one table by one step (``what`` says which)."""

    what: str
    inserted: int
    updated: int


@dataclass
class ImportReport:
    """What an import read, skipped and wrote."""

    path: str
    dry_run: bool = False
    files: list[FileRead] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    last_day: dt.date | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """A plain-text summary (the CLI prints a table instead)."""
        out = [f"read {f.file} as {f.entity}: {f.rows} rows" for f in self.files]
        out += [f"{w.what}: {w.inserted} inserted, {w.updated} updated" for w in self.written]
        return out + self.skipped
