"""User-facing errors: the CLI and API print these as one clear message, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class KeelError(Exception):
    """An error whose message is meant for the user as it is."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and why."""

    file: str
    row: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.reason}"


class ValidationFailed(KeelError):
    """Input was rejected; nothing was written. Carries every problem found."""

    def __init__(self, problems: list[Problem], *, limit: int = 20) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(f"{len(problems)} problem(s) found; nothing was written:\n{shown}{more}")


class BudgetExceeded(KeelError):
    """The per-run budget of model calls or tokens is spent."""


class ConflictError(KeelError):
    """A second decision on an action already decided (HTTP 409)."""


class StoreError(KeelError):
    """A database, checkpoint store or vector store failed in a way the user can fix.

    Raised by :mod:`keel.memory.failures` in place of the driver's exception, with a message
    naming the store (file or host, never a password) and what to do.
    """


class StoreLocked(StoreError):
    """Another process held a SQLite write lock for longer than the busy timeout."""


class StoreFull(StoreError):
    """The disk (or quota) holding a store is full."""


class StoreDamaged(StoreError):
    """A store's file is not readable as what it should be (corrupt, truncated, garbage)."""


class StoreUnreachable(StoreError):
    """A database server cannot be reached or refuses the login."""
