"""Helpers shared by CLI commands: the runtime, progress bars, output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from keel.runtime import Runtime
from keel.settings import Settings

# Piped output (CI logs, `| less`) gets a readable width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)


def make_runtime(**overrides: object) -> Runtime:
    return Runtime(settings=Settings(**overrides))  # type: ignore[arg-type]


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
