"""CLI command ``keel import PATH``: validate and import CSV/JSON exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from keel.api.cli.common import console, make_runtime, progress
from keel.api.services.importing import ImportRequest, ImportResult, import_data

IMPORT_HELP = (
    "Import CSV/JSON exports (one file, or every file in a folder) into Keel.\n\n"
    "Name each file after what it holds: accounts, contacts, usage, events (daily event counts "
    "per account, e.g. event_daily.csv.gz), features, tickets, notes, invoices, nps, renewals, "
    "subscriptions (billing periods); as .csv, .csv.gz, .json or .jsonl. Other files are "
    "skipped and listed. Every file is validated first: on any problem nothing is written and "
    "each problem is listed with its file, row, field and reason. Importing the same records "
    "again updates them. Columns and aliases: docs/import-format.md.\n\n"
    "Examples:\n\n"
    "  keel import exports/                      # every known file in the folder\n"
    "  keel import exports/accounts.csv          # one file\n"
    "  keel import exports/ --dry-run            # validate only, write nothing\n"
    "  keel import billing/ --as-of 2024-06-30   # the data runs to this day\n"
)


def import_command(
    path: Annotated[
        Path, typer.Argument(help="A file or a folder of export files.", show_default=False)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate (and derive) only; write nothing.")
    ] = False,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Last day the data covers (renewals ending by then without a continuation "
            "are churned). Default: the latest day in the import.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import CSV/JSON exports into Keel."""
    request = ImportRequest(path=path, dry_run=dry_run, as_of=as_of.date() if as_of else None)
    runtime = make_runtime()
    with progress() as bar:
        tasks: dict[str, TaskID] = {}
        report = import_data(
            runtime,
            request,
            progress=lambda stage, done, total: _advance(bar, tasks, stage, done, total),
        )
    print_report(report)


def _advance(bar: Progress, tasks: dict[str, TaskID], stage: str, done: int, total: int) -> None:
    if stage not in tasks:
        tasks[stage] = bar.add_task(stage, total=total)
    bar.update(tasks[stage], completed=done, total=total)


def print_report(report: ImportResult) -> None:
    """The files read, the rows written per table, and the files skipped."""
    files = Table(title="Files read", title_justify="left")
    files.add_column("file")
    files.add_column("entity")
    files.add_column("rows", justify="right")
    for f in report.files:
        files.add_row(f.file, f.entity, f"{f.rows:,}")
    console.print(files)
    if report.dry_run:
        console.print("[bold green]dry run:[/] every file is valid; nothing was written.")
    else:
        written = Table(title="Rows written", title_justify="left")
        written.add_column("table (source)")
        written.add_column("inserted", justify="right")
        written.add_column("updated", justify="right")
        for w in report.written:
            written.add_row(w.what, f"{w.inserted:,}", f"{w.updated:,}")
        console.print(written)
    for line in report.skipped:
        console.print(line, style="yellow", highlight=False)
    if report.last_day:
        console.print(f"data runs to {report.last_day.isoformat()}; took {report.seconds:.1f}s")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="import", help=IMPORT_HELP)(import_command)
