"""Helpers shared by CLI commands: the runtime, progress bars, output."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from keel.app import App
from keel.settings import Settings

# Piped output (CI logs, `| less`) gets a readable width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)


def make_app(*, use_vectors: bool | None = None, **overrides: object) -> App:
    """This command's application object: settings from the environment, the executor
    options an embedding application installed (see
    :func:`keel.api.cli.outbox.set_execution_options`)."""
    from keel.api.cli.outbox import installed_execution_options

    return App(
        settings=Settings(**overrides),  # type: ignore[arg-type]
        use_vectors=use_vectors,
        execution=installed_execution_options(),
    )


# The name older commands use.
make_runtime = make_app


@contextmanager
def progress() -> Iterator[Progress]:
    """A progress display on stderr, quiet when output is not a terminal."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        yield bar


# Scoring this many days past the latest telemetry reads a book that stopped: say so.
PAST_DATA_DAYS = 30


def warn_if_past_data(engine: Any, as_of: dt.date) -> str | None:
    """Warn (on stderr) when ``as_of`` is more than :data:`PAST_DATA_DAYS` after the book's
    latest telemetry: signals go stale and every account looks quiet. Returns the warning."""
    from keel.tools.signals import latest_data_date

    latest = latest_data_date(engine)
    if latest is None or (as_of - latest).days <= PAST_DATA_DAYS:
        return None
    warning = (
        f"warning: scoring as of {as_of}, {(as_of - latest).days} days after the book's "
        f"latest data ({latest}); usage, tickets and notes look silent past that date. "
        "Import newer data, or drop --as-of to use the latest data date."
    )
    Console(stderr=True).print(f"[yellow]{warning}[/]", highlight=False, soft_wrap=True)
    return warning
