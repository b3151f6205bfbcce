"""Import: read a CS team's CSV/JSON exports (a file or a folder) into Keel's database.

Every file is validated before anything is written; on any problem nothing is written and
:class:`keel.errors.ValidationFailed` lists each problem with its file, row, field and
reason. Otherwise all rows are written in one transaction. The format is documented in
docs/import-format.md; the work itself is :func:`keel.memory.importers.import_path`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from keel.app import App

ImportProgress = Callable[[str, int, int], None]
"""Called as work advances: ``(stage, done, total)``, e.g. ``("writing tickets", 500, 2000)``."""


class ImportRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    """A file (``accounts.csv``, ``event_daily.csv.gz`` ...) or a folder of them."""
    dry_run: bool = False
    """Validate and derive only; write nothing."""
    as_of: dt.date | None = None
    """The last day the data covers (renewals ending by then without a continuation are
    churned). None: the latest day in the import."""


class FileRead(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    file: str
    entity: str
    rows: int


class RowsWritten(BaseModel):
    """Rows written to one table by one step (``what`` says which)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    what: str
    inserted: int
    updated: int


class ImportResult(BaseModel):
    """What an import read, skipped and wrote."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    path: str
    dry_run: bool
    files: list[FileRead]
    skipped: list[str]
    """One line per file not read, saying why (``skipped: churn.csv: ...``)."""
    written: list[RowsWritten]
    """Empty on a dry run."""
    last_day: dt.date | None
    seconds: float


def import_data(
    app: App, request: ImportRequest, *, progress: ImportProgress | None = None
) -> ImportResult:
    """Validate and import ``request.path``, all or nothing.

    Raises:
        ValidationFailed: a file has a problem (each one named); nothing was written.
        KeelError: the path does not exist, holds nothing importable, or the database
            refused the rows (nothing was written).
    """
    # Imported here: the importers load pandas, which other services do not need.
    from keel.memory.importers import import_path

    report = import_path(
        app.engine, request.path, progress=progress, dry_run=request.dry_run, as_of=request.as_of
    )
    return ImportResult.model_validate(report, from_attributes=True)
