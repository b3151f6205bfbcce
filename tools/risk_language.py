"""Risk language in notes, tickets and NPS comments, found by meaning rather than keywords.

Each risk label has a handful of prototype phrases. The vector store labels every indexed
record, each sentence of at least five words and each chunk, with its best-matching
phrase (``VectorStore.match_prototypes``). Sentences are what finds risk language: one
sentence about a budget cut in a routine call note is diluted in its chunk's vector. The
matches are cached in ``risk_language_match``, one row per (source document, label), dated
by the document, so "matches known as of a date" is a SQL filter and a backtest never
re-embeds anything.

The cache is refreshed when the prototypes change or the index has changed since the
last scan (documents added or removed, or any document embedded again). Without an index
(or in a book with no text) there are no matches: the risk-language signals are zero and
outputs say text evidence was not available.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.memory.db import session_scope
from keel.memory.intel_tables import RiskLanguageMatch, RiskLanguageScan
from keel.memory.vectors.lock import IndexBusy

if TYPE_CHECKING:
    from keel.memory.vectors.types import PrototypeMatch

# Prototype phrases per risk label: specific statements of each situation, as a CSM or a
# customer would write them. Generic words that every renewal note contains ("renewal",
# "price", "tool") are avoided: they pull routine notes toward a label.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "competitor_evaluation": (
        "They are piloting a competing product in one of their teams.",
        "They have started a trial with a competitor.",
        "They asked for a demo from another provider to compare with us.",
        "Their company may standardise on a rival platform instead of ours.",
        "They asked about data export formats, as if preparing to move to another system.",
        "They are trialling another vendor and comparing offers.",
    ),
    "budget_cut": (
        "Finance is cutting software spend across the company.",
        "Every tool now needs CFO approval and has to be justified.",
        "They were told to reduce costs and drop licences.",
        "Their budget for next year was cut.",
        "Finance is holding payments while vendors are re-approved.",
    ),
    "reorg": (
        "After a reorganisation their group now reports into a different department.",
        "New leadership is reviewing all vendor relationships.",
        "Their department was merged into another group.",
        "Layoffs hit the team that uses the product.",
        "Nobody is sure who owns the decision after the restructuring.",
    ),
    "champion_leaving": (
        "Our main contact has left the company.",
        "Emails to our champion bounce; she no longer works there.",
        "He is leaving the company at the end of the month.",
        "The project owner handed over to a colleague before leaving.",
        "We lost our sponsor and need to rebuild the relationship.",
    ),
    "quality_complaint": (
        "The answers are often wrong and the team no longer trusts them.",
        "Accuracy dropped after the latest release.",
        "They have to check every output by hand because of errors.",
        "Quality got worse and agents escalate more tickets.",
        "The AI is making things up and customers complained.",
    ),
}
# A record (sentence or chunk) counts as risk language when its cosine similarity to a
# prototype reaches this. Measured on seeded synthetic books (keel seed; ground truth per
# account): the share of documents dated in a risk episode (sudden_risk, quality_regression)
# that match any label / the episode's own label, against the share of documents of
# healthy accounts that match any label (false positives), sentences and chunks matched.
# Books A and B tuned these prototypes and the threshold; book C was held out.
#
#                  A: 60 accounts, seed 5    B: 120 accounts, seed 11  C: 80 accounts, seed 23
#   threshold      risk any  own  healthy    risk any  own  healthy    risk any  own  healthy
#   0.45             0.333  0.233  0.165       0.310  0.203  0.159       0.308  0.227  0.151
#   0.50             0.190  0.165  0.075       0.224  0.155  0.078       0.219  0.176  0.080
#   0.55             0.115  0.100  0.015       0.122  0.111  0.016       0.117  0.102  0.014
#   0.60             0.065  0.057  0.012       0.078  0.070  0.008       0.071  0.061  0.008
#   chunks only, the previous threshold and prototypes:
#   0.50             0.036  0.025  0.010       0.030  0.017  0.013       0.042  0.027  0.011
#
# At 0.5 healthy accounts match 7-8% of their documents; 0.55 keeps that under 2% and
# finds 3-4x the risk documents chunk vectors found. (The data-export phrase used to
# read "They asked how to export all their data, as if preparing to move."; it matched
# routine notes about the export feature: at 0.55 it made healthy accounts match 2.6%,
# 2.6% and 2.3% of their documents, and found fewer competitor evaluations.)
MIN_SCORE = 0.55
PROTOTYPE_VERSION = hashlib.sha256(
    json.dumps({"p": PROTOTYPES, "min": MIN_SCORE}, sort_keys=True).encode()
).hexdigest()[:16]

TEXT_UNAVAILABLE = (
    "text evidence not available (the vector store has not been indexed for this book, "
    "or the book has no text): risk-language signals are zero"
)


class PrototypeMatcher(Protocol):
    """What this module needs from the vector store."""

    def match_prototypes(
        self,
        prototypes: Mapping[str, Sequence[str]],
        *,
        account_ids: Sequence[int] | None = None,
        until: dt.date | None = None,
        min_score: float = 0.5,
    ) -> list[PrototypeMatch]: ...


@dataclass(frozen=True)
class ScanResult:
    version: str
    n_documents: int
    n_matches: int
    rescanned: bool


def _index_status(engine: Engine) -> tuple[int, dt.datetime | None]:
    """How many documents are indexed, and when the index last (re)wrote one."""
    from keel.memory.index_state import IndexedDocument

    with Session(engine) as session:
        n_docs, last_write = session.exec(
            select(func.count(), func.max(IndexedDocument.indexed_at))
        ).one()
    return int(n_docs), last_write


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    """Compare timestamps as naive UTC (SQLite reads them back without a zone)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _scan_is_current(
    previous: RiskLanguageScan | None, n_docs: int, last_write: dt.datetime | None
) -> bool:
    """Whether ``previous`` saw the index as it is: same documents, none rewritten since.

    The count notices added and removed documents; the time of the last write notices a
    document embedded again with the same count (its text changed, or a new chunker
    version re-embedded the whole book).
    """
    if previous is None or previous.n_documents != n_docs:
        return False
    return last_write is None or _utc_naive(last_write) <= _utc_naive(previous.scanned_at)


def last_scan(engine: Engine) -> RiskLanguageScan | None:
    """The latest completed scan for the current prototypes, if any."""
    with Session(engine) as session:
        return session.exec(
            select(RiskLanguageScan)
            .where(RiskLanguageScan.prototype_version == PROTOTYPE_VERSION)
            .order_by(col(RiskLanguageScan.id).desc())
            .limit(1)
        ).first()


def needs_refresh(engine: Engine) -> bool:
    """Whether the index holds documents (or versions of them) the cached matches have not seen."""
    n_docs, last_write = _index_status(engine)
    return n_docs > 0 and not _scan_is_current(last_scan(engine), n_docs, last_write)


def refresh_if_needed(engine: Engine, store: PrototypeMatcher | None) -> str | None:
    """Refresh the cached matches when the index changed since the last scan.

    Returns:
        None, or a note when the index is being written by another process: the cached
        matches (if any) stand for this run, and the next run scans.
    """
    if store is None or not needs_refresh(engine):
        return None
    try:
        refresh_matches(engine, store)
    except IndexBusy as exc:
        return f"{exc}. Risk language is from the last scan."
    return None


def refresh_matches(engine: Engine, store: PrototypeMatcher, *, force: bool = False) -> ScanResult:
    """Match every indexed record against the prototypes and cache the results.

    Skipped (cached result returned) when a scan for these prototypes exists, the number
    of indexed documents has not changed since and no document was embedded again after
    the scan started. The cache is replaced in one transaction: a failure leaves the
    previous cache intact.
    """
    started = dt.datetime.now(dt.UTC)  # a document indexed during the scan is seen next time
    n_docs, last_write = _index_status(engine)
    previous = last_scan(engine)
    if previous is not None and not force and _scan_is_current(previous, n_docs, last_write):
        return ScanResult(PROTOTYPE_VERSION, n_docs, previous.n_matches, rescanned=False)
    matches = store.match_prototypes(PROTOTYPES, min_score=MIN_SCORE) if n_docs else []
    best: dict[tuple[str, int, str], PrototypeMatch] = {}
    for m in matches:
        key = (m.kind, m.source_id, m.label)
        if key not in best or m.score > best[key].score:
            best[key] = m
    rows = [
        {
            "source_kind": m.kind,
            "source_id": m.source_id,
            "external_id": m.external_id,
            "account_id": m.account_id,
            "day": m.date,
            "label": m.label,
            "score": float(m.score),
            "snippet": m.snippet[:500],
            "prototype_version": PROTOTYPE_VERSION,
        }
        for m in best.values()
    ]
    with session_scope(engine) as session:
        _replace_matches(session, rows)
        session.add(
            RiskLanguageScan(
                prototype_version=PROTOTYPE_VERSION,
                scanned_at=started,
                n_documents=n_docs,
                n_matches=len(best),
                min_score=MIN_SCORE,
            )
        )
    return ScanResult(PROTOTYPE_VERSION, n_docs, len(best), rescanned=True)


# A match is identified by its document and label (``uq_risk_match_source_label``).
_MATCH_KEY = ("source_kind", "source_id", "label")


def _replace_matches(session: Session, rows: list[dict[str, object]]) -> None:
    """Make the cached matches exactly ``rows``: upsert each by key, delete the rest.

    A match still found keeps its row and id (updated in place); only matches no longer
    found are deleted. The caller's transaction makes the change all at once.
    """
    table = RiskLanguageMatch.__table__  # type: ignore[attr-defined]
    wanted = {tuple(row[k] for k in _MATCH_KEY) for row in rows}
    existing = session.execute(sa_select(table.c.id, *(table.c[k] for k in _MATCH_KEY))).all()
    gone = [row[0] for row in existing if tuple(row[1:]) not in wanted]
    # Chunked: SQLite and PostgreSQL both cap bound parameters per statement.
    for start in range(0, len(gone), 500):
        session.execute(delete(table).where(table.c.id.in_(gone[start : start + 500])))
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in _MATCH_KEY],
        set_={k: statement.excluded[k] for k in rows[0] if k not in _MATCH_KEY},
    )
    session.execute(statement, rows)


def matches_for(
    engine: Engine,
    *,
    account_ids: Sequence[int] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[RiskLanguageMatch]:
    """Cached matches of the current prototypes dated in [since, until], newest first."""
    query = select(RiskLanguageMatch).where(
        RiskLanguageMatch.prototype_version == PROTOTYPE_VERSION
    )
    if account_ids is not None:
        query = query.where(col(RiskLanguageMatch.account_id).in_(list(account_ids)))
    if since is not None:
        query = query.where(RiskLanguageMatch.day >= since)
    if until is not None:
        query = query.where(RiskLanguageMatch.day <= until)
    query = query.order_by(col(RiskLanguageMatch.day).desc(), col(RiskLanguageMatch.id))
    with Session(engine) as session:
        return list(session.exec(query).all())
