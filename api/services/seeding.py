"""Seed: write a deterministic synthetic book into the application's database.

The database gets only what a CS team would see; each account's hidden trajectory and real
outcomes go to ``<data_dir>/truth/book.json``, for evaluations only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    from keel.app import App

SeedProgress = Callable[[int, int], None]
"""Called as ``(accounts_done, accounts)`` after each chunk of accounts is written."""


class SeedRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    accounts: int = 300
    seed: int = 7
    """Same seed, same book."""
    end: dt.date | None = None
    """The last day of history (the book's as-of date). None: the generator's default."""
    months: int | None = None
    """Months of history before ``end``. None: the generator's default."""
    reset: bool = True
    """Replace every telemetry row; False keeps them (and fails on clashing ids)."""

    @model_validator(mode="after")
    def _supported(self) -> SeedRequest:
        # A KeelError (not a ValueError) passes through pydantic unwrapped: the user sees
        # the generator's own message, and nothing has been opened yet.
        from keel.memory.synth import DEFAULT_MONTHS, check_params

        check_params(self.accounts, self.months or DEFAULT_MONTHS)
        return self


class BookSummary(BaseModel):
    """What was written (no ground truth in here: it is safe to show anyone)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    n_accounts: int
    seed: int
    as_of: dt.date
    months: int
    seconds: float
    counts: dict[str, int]
    """Rows per kind: ``usage``, ``tickets``, ``notes``, ``invoices``, ``nps``, ..."""
    arr_total: float
    accounts_by_segment: dict[str, int]
    arr_by_segment: dict[str, float]
    lifecycle: dict[str, int]
    renewals_by_outcome: dict[str, int]
    truth_path: Path | None
    dialect: str


def seed_book(
    app: App, request: SeedRequest | None = None, *, progress: SeedProgress | None = None
) -> BookSummary:
    """Generate a book and write it; the truth file is written once the data is in.

    Raises:
        KeelError: the database refused the rows (nothing was written). Sizes the generator
            does not support are refused when the :class:`SeedRequest` is made.
    """
    from keel.memory.synth import DEFAULT_END, DEFAULT_MONTHS
    from keel.memory.synth import seed_book as write_book

    request = request or SeedRequest()
    summary = write_book(
        app.engine,
        n_accounts=request.accounts,
        seed=request.seed,
        end=request.end or DEFAULT_END,
        months=request.months or DEFAULT_MONTHS,
        truth_dir=app.settings.data_dir / "truth",
        reset=request.reset,
        progress=progress,
    )
    return BookSummary.model_validate(summary, from_attributes=True)
