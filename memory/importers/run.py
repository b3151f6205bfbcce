"""``import_path``: find, read and validate every file, derive, then write in one transaction.

Nothing is written unless every file is valid: all problems are collected first and
raised together as ``ValidationFailed``. The writes (upserts by external id or natural
key) happen in a single transaction, so a failure part-way leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from keel.errors import KeelError, Problem, ValidationFailed
from keel.memory.importers import analytics
from keel.memory.importers.clashes import check_feature_ids
from keel.memory.importers.columns import (
    ENTITIES,
    KNOWN_NON_ENTITIES,
    entity_for_stem,
    normalise_header,
)
from keel.memory.importers.derived import says_nothing_of_payment
from keel.memory.importers.readers import ReadError, list_files, read_table, split_suffix
from keel.memory.importers.report import FileRead, ImportReport
from keel.memory.importers.upsert import external_ids
from keel.memory.importers.validate import ProblemLog, TypedTable, check_references, validate_table
from keel.memory.importers.write import ProgressFn, write_all
from keel.memory.models import Account, Contact


def import_path(
    engine: Engine,
    path: Path | str,
    *,
    progress: ProgressFn | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
) -> ImportReport:
    """Import a file or every file directly in a folder.

    Args:
        engine: The database (SQLite or PostgreSQL) with Keel's tables created.
        path: A file (``accounts.csv``, ``event_daily.csv.gz`` ...) or a folder of them.
        progress: Called as work advances: ``(stage, done, total)``.
        dry_run: Validate and derive only; write nothing.
        as_of: The last day the data covers (decides churned vs pending renewals);
            default: the latest subscription start, event day or usage day in the import.

    Returns:
        What was read, skipped and written.

    Raises:
        ValidationFailed: Any file has a problem; nothing was written.
        KeelError: The path does not exist or holds nothing importable.
    """
    started = time.perf_counter()
    root = Path(path)
    if not root.exists():
        raise KeelError(f"{root}: no such file or folder")
    report = ImportReport(path=str(root), dry_run=dry_run)
    notify = progress or (lambda _stage, _done, _total: None)
    log = ProblemLog()

    chosen = _choose_files(root, report, log)
    if not chosen and not log:
        skipped = "\n  ".join(report.skipped) or "(no files)"
        raise KeelError(
            f"nothing to import in {root}: no file is named after a known entity "
            f"({', '.join(ENTITIES)}).\n  {skipped}"
        )
    tables = _read_and_validate(chosen, log, notify)
    with engine.connect() as conn:
        known_accounts = set(external_ids(conn, Account.__table__))  # type: ignore[attr-defined]
        known_contacts = _contact_keys(conn)
        if "features" in tables:
            check_feature_ids(conn, tables["features"], log)
    check_references(tables, known_accounts=known_accounts, known_contacts=known_contacts, log=log)
    _raise_if_problems(log, root)
    for table in tables.values():
        report.files.append(FileRead(table.label, table.entity.name, len(table.frame)))
    if "invoices" in tables and says_nothing_of_payment(tables["invoices"].frame):
        report.skipped.append(
            f"note: {tables['invoices'].label}: no status or payment-date column, so no "
            "invoice in it is read as late or unpaid; add a status or paid_on column for "
            "payment signals"
        )

    report.last_day = as_of or analytics.last_data_day(
        (tables[name].frame, column)
        for name, column in (("subscriptions", "start_date"), ("events", "day"), ("usage", "day"))
        if name in tables
    )
    derived = None
    if "subscriptions" in tables and report.last_day is not None:
        derived = analytics.derive_from_subscriptions(
            tables["subscriptions"].frame, report.last_day
        )
    if not dry_run:
        try:
            with engine.begin() as conn:
                write_all(conn, tables, derived, report, notify)
        except (IntegrityError, DataError) as exc:
            # A safety net: validation should have caught it, but never a traceback.
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise KeelError(
                f"the database rejected the import ({reason}); nothing was written"
            ) from exc
    report.seconds = time.perf_counter() - started
    return report


def _choose_files(root: Path, report: ImportReport, log: ProblemLog) -> dict[str, Path]:
    chosen: dict[str, Path] = {}
    for file in list_files(root):
        if file.is_dir():
            report.skipped.append(f"skipped: {file.name}/: a folder (sub-folders are not read)")
            continue
        split = split_suffix(file)
        if split is None:
            report.skipped.append(
                f"skipped: {file.name}: not a supported file type (.csv, .csv.gz, .json, .jsonl)"
            )
            continue
        entity = entity_for_stem(split[0])
        if entity is None:
            why = KNOWN_NON_ENTITIES.get(normalise_header(split[0]))
            reason = why or "name it after one of: " + ", ".join(ENTITIES)
            report.skipped.append(f"skipped: {file.name}: not a known entity ({reason})")
        elif entity.name in chosen:
            log.add(
                Problem(
                    file.name,
                    None,
                    None,
                    f"a second file for {entity.name} (the first is "
                    f"{chosen[entity.name].name}); give one file per entity",
                )
            )
        else:
            chosen[entity.name] = file
    return chosen


def _read_and_validate(
    chosen: dict[str, Path], log: ProblemLog, notify: ProgressFn
) -> dict[str, TypedTable]:
    tables: dict[str, TypedTable] = {}
    ordered = [name for name in ENTITIES if name in chosen]
    for done, name in enumerate(ordered):
        notify("read and validate", done, len(ordered))
        try:
            raw = read_table(chosen[name])
        except ReadError as exc:
            log.add(exc.problem)
            continue
        tables[name] = validate_table(raw, ENTITIES[name], log)
    notify("read and validate", len(ordered), len(ordered))
    return tables


def _contact_keys(conn: Connection) -> set[str]:
    table = Contact.__table__  # type: ignore[attr-defined]
    rows = conn.execute(select(table.c.external_id, table.c.email)).all()
    return {str(ext) for ext, _ in rows} | {str(email).lower() for _, email in rows}


def _raise_if_problems(log: ProblemLog, root: Path) -> None:
    if not log:
        return
    problems = list(log.items)
    if log.total > len(problems):
        problems.append(
            Problem(root.name, None, None, f"... {log.total - len(problems)} more not listed")
        )
    raise ValidationFailed(problems)
