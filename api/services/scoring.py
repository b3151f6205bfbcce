"""Scoring: the job that scores the whole book as of a date and keeps it as a snapshot.

The priority list, ``keel health``, the analyst's tools and the nightly run read the rows it
writes (:mod:`keel.tools.health.snapshot`); they run it themselves only when their date has
no fresh snapshot. Called directly by the nightly run before it fans out, and by
``bench/``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from keel.app import App


@dataclass(frozen=True)
class ScoreRun:
    """The snapshot a scoring job left: its id, date and what it covers."""

    snapshot_id: int
    as_of: dt.date
    total_accounts: int
    scored: int
    model_id: int | None


def score_book(app: App, *, as_of: dt.date | None = None, refit: bool = False) -> ScoreRun:
    """Score every account as of ``as_of`` (the latest data when None) and store it.

    Safe from several processes at once: one snapshot is kept per date.

    Raises:
        ValueError: the book has no telemetry yet.
    """
    from keel.tools.health.snapshot import score_as_of

    snapshot = score_as_of(app.engine, as_of, refit=refit)
    return ScoreRun(
        snapshot_id=snapshot.id or 0,
        as_of=snapshot.as_of,
        total_accounts=snapshot.total_accounts,
        scored=snapshot.scored,
        model_id=snapshot.model_id,
    )
