"""Risk language in notes, tickets and NPS comments, found by meaning rather than keywords.

Each risk kind, and expansion, has several prototype phrases; contrast phrases stand for
what only looks like them ("we evaluated alternatives last year and chose you"). The
vector store labels every indexed record, each sentence of at least five words and each
chunk, with its best-matching phrase (``VectorStore.match_prototypes``); a record is of a
kind when that phrase is the kind's and its similarity reaches the kind's threshold
(``THRESHOLDS``, fitted on the team's labelled set, tools/data/language_labels.yaml;
``bench/risk_language.py`` prints precision and recall per kind). Sentences are what
finds risk language: one sentence about a budget cut in a routine call note is diluted in
its chunk's vector. The matches are cached in ``risk_language_match``, one row per (source
document, label), dated by the document, so "matches known as of a date" is a SQL filter
and a backtest never re-embeds anything. Contrast matches are never cached; expansion
matches are, under their own label (read by ``keel.tools.expansion_language``).

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

import numpy as np
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
    from keel.memory.embeddings import Embedder
    from keel.memory.vectors.types import PrototypeMatch

# The kinds of language Keel labels. Risk kinds are the risk signals' labels
# (``keel.tools.signals.catalog.RISK_LABELS``); expansion is read by
# ``keel.tools.expansion_language``. Matches of every kind share the cache table; the risk
# signals count only their own labels.
RISK_KINDS: tuple[str, ...] = (
    "competitor_evaluation",
    "budget_cut",
    "reorg",
    "champion_leaving",
    "quality_complaint",
)
EXPANSION = "expansion"
LANGUAGE_KINDS: tuple[str, ...] = (*RISK_KINDS, EXPANSION)
# The label of contrast phrases: sentences that share a kind's words but not its meaning
# ("we evaluated alternatives last year and chose you"). A record closest to one of them
# is labelled nothing; they are never cached.
NOT_A_SIGNAL = "none"

# Prototype phrases per risk kind: specific statements of each situation, as a CSM or a
# customer would write them, several per kind so each way of saying it has a neighbour
# (a demo to the CFO, an RFP, a bake-off, building in-house; a champion who "left the
# firm", resigned, retired, whose e-mails bounce). Generic words that every renewal note
# contains ("renewal", "price", "tool") are avoided: they pull routine notes toward a
# kind. Measured on the team's labelled set (tools/data/language_labels.yaml) by
# bench/risk_language.py; none of these phrases is a sentence of that set.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "competitor_evaluation": (
        "They are piloting a competing product in one of their teams.",
        "They have started a trial with a competitor.",
        "They asked for a demo from another provider to compare with us.",
        "Their company may standardise on a rival platform instead of ours.",
        "They asked about data export formats, as if preparing to move to another system.",
        "They are trialling another vendor and comparing offers.",
        "A competitor gave their executives a demo.",
        "They were told to evaluate other vendors before renewing with us.",
        "They are running a bake-off between us and another vendor.",
        "They sent out a request for proposals and we are one of the vendors.",
        "They might switch to a cheaper vendor.",
        "They asked how hard it would be to migrate away from us.",
        "They signed a proof of concept with another vendor.",
        "They are considering building their own tool instead of renewing.",
        "They want us to match a competitor's quote.",
        "They are thinking of switching to another chatbot vendor.",
        "They have begun evaluating replacements for our product.",
    ),
    "budget_cut": (
        "Finance is cutting software spend across the company.",
        "Every tool now needs CFO approval and has to be justified.",
        "They were told to reduce costs and drop licences.",
        "Their budget for next year was cut.",
        "Finance is holding payments while vendors are re-approved.",
        "Finance froze all software purchases.",
        "Spending is on hold until further notice.",
        "They cannot justify the cost anymore.",
        "They need to cut costs and asked for a discount.",
        "They want to reduce the number of seats to fit a smaller budget.",
        "Cash is tight and they want to pay less.",
        "Non-essential software is being cancelled to save money.",
        "They want the renewal price lowered because of budget pressure.",
        "The department has to cut costs this year.",
    ),
    "reorg": (
        "After a reorganisation their group now reports into a different department.",
        "New leadership is reviewing all vendor relationships.",
        "Their department was merged into another group.",
        "Layoffs hit the team that uses the product.",
        "Nobody is sure who owns the decision after the restructuring.",
        "The company announced job cuts.",
        "Teams were merged under a new director.",
        "Their support function is being outsourced.",
        "The division is being spun off into a separate company.",
        "The project is paused during the reorganisation.",
        "Support was centralised into a shared services group.",
        "Their company was acquired and departments are being consolidated.",
    ),
    "champion_leaving": (
        "Our main contact has left the company.",
        "Emails to our champion bounce; she no longer works there.",
        "He is leaving the company at the end of the month.",
        "The project owner handed over to a colleague before leaving.",
        "We lost our sponsor and need to rebuild the relationship.",
        "Our contact resigned and her last day is next week.",
        "Our main contact quit.",
        "Our champion is leaving and no successor has been named.",
        "Our sponsor is retiring.",
        "Our champion took a new job at another company.",
        "She left the firm and we have no contact there now.",
        "Our champion left the company last week.",
        "The executive who bought our product stepped down.",
    ),
    "quality_complaint": (
        "The answers are often wrong and the team no longer trusts them.",
        "Answer accuracy has dropped and mistakes are up.",
        "They have to check every output by hand because of errors.",
        "Quality got worse and agents escalate more tickets.",
        "The AI is making things up and customers complained.",
        "The bot gives customers wrong answers.",
        "Results are irrelevant and agents stopped using it.",
        "The system is unreliable and keeps crashing.",
        "The chatbot misunderstands customers and frustrates them.",
        "Their QA found many inaccurate answers.",
        "Customers are complaining about the bot.",
    ),
}
# Expansion language: new teams, more seats, a new use case, budget approved for growth,
# a wider rollout. One kind; the phrases cover each way of saying it, and avoid the
# words every routine note has ("renewal", "tool", "assistant", "questions"), which pull
# renewal admin and complaints about the product toward growth.
EXPANSION_PROTOTYPES: tuple[str, ...] = (
    "A new team is joining and needs seats.",
    "They want to roll it out to another department next quarter.",
    "They need more seats for new hires.",
    "Can we add more agents to the contract?",
    "They want to use it for another kind of request too.",
    "Another group wants their own workspace.",
    "They are interested in adding another module or channel.",
    "The board approved budget to grow the deployment.",
    "The purchase order for additional licences was approved.",
    "They want to launch in more countries after the pilot.",
    "They want to make it the standard tool across the company.",
    "Headcount is growing and everyone will need access.",
    "They asked for a quote for additional licences.",
    "Next they will roll it out to the remaining sites.",
    "Phase two: roll out to the other offices and contact centres.",
    # Added for issue 20 item 2 (held-out expansion recall was 0.11): each way of saying it
    # (more people joining, seats running out, a second use case, money approved, the
    # rollout's next step) with its own neighbour; fitted on the dev part only.
    "Two more offices are joining and will bring dozens of new users.",
    "Another department wants to start using the product.",
    "More people are joining their team and will need logins.",
    "Staff of a company they bought will be added to our contract.",
    "They are opening a new site and want it running on our product.",
    "They have run out of seats and need more.",
    "All seats are in use and people are waiting for access.",
    "They need extra seats for the people they are hiring.",
    "They want to use the product for a second use case as well.",
    "Another business unit wants to adopt it for their own work.",
    "They asked whether the product could also handle a new type of request.",
    "Money for the additional seats has been approved.",
    "Finance approved funding to expand the deployment.",
    "The expansion is budgeted for next year.",
    "After the pilot they will give access to every branch.",
    "The rollout continues to the remaining regions next quarter.",
    "They want the whole company on the platform by the end of the year.",
    "They plan to roll it out to more teams.",
    "They are extending the deployment to more regions.",
    "They asked what it would cost to add another office.",
    "Budget was released for more seats.",
)
# Contrast phrases (label ``NOT_A_SIGNAL``): what the hard negatives a CSM would not flag
# say. A record closest to one of these is no match, whatever its score.
CONTRAST_PROTOTYPES: tuple[str, ...] = (
    "We evaluated other vendors in the past and picked you.",
    "They prefer us over the competition.",
    "They are piloting one of our new features.",
    "They asked for a demo of our reporting.",
    "No budget problems; the renewal is planned.",
    "The invoice was paid early.",
    "Budget planning for next year has not started yet, as usual.",
    "Our champion had to leave the call early.",
    "Our contact is on vacation and back next week.",
    "Our champion is away on holiday until Monday.",
    "He is leaving early today and will call tomorrow.",
    "She left feedback on the ticket.",
    "Our contact was promoted and still owns the project.",
    "Please change the admin on the account to a colleague.",
    "They reorganised their help articles and folders.",
    "They merged duplicate records in their CRM.",
    "Accuracy improved after the update and they trust the answers.",
    "Accuracy got better after the new release.",
    "The answers became more accurate.",
    "They switched to our platform from their old tool.",
    "They renamed teams and departments in the admin settings.",
    "Seats of people who left were given to new hires.",
    "They asked how licences are counted.",
    "No complaints about quality.",
    "The small error has been fixed.",
    "A new user needs a password reset.",
    "They have no plans to add seats.",
    "Usage has been flat since they added seats.",
    "They asked a question about how seats are billed.",
    "The renewal is on track on the same terms.",
    "The rollout of an unrelated internal system is delayed.",
)

# A record counts as a kind when its best phrase (of all kinds and contrasts) belongs to
# that kind and its cosine similarity reaches the kind's threshold. Fitted per kind on
# the dev part of the labelled set (``bench/risk_language.py --fit`` refits and compares):
# of the thresholds that keep dev precision at or above 0.9, those finding the most
# positives, the middle of that range; never below FLOOR_SCORE. The test part is only
# scored. (A 5-fold cross-validation of this fit on dev: precision 0.93, recall 0.71 over
# all kinds; a floor of 0.45 gave 0.92 and 0.76.)
#
# The previous single threshold, 0.55, was measured on seeded synthetic books (share of
# documents of healthy accounts matching any label under 2%; 0.50 made it 7-8% with the
# prototypes of the time and no contrasts). The floor of 0.50 keeps the thresholds near
# that: a lower one the labelled set cannot refute could still flood a real book's
# routine notes.
FLOOR_SCORE = 0.50
THRESHOLDS: dict[str, float] = {
    "competitor_evaluation": 0.53,
    "budget_cut": 0.50,
    "reorg": 0.54,
    "champion_leaving": 0.52,
    "quality_complaint": 0.59,
    EXPANSION: 0.50,
}
# The lowest threshold: what the vector store is asked for (then each kind's applies).
MIN_SCORE = min(THRESHOLDS.values())


def all_prototypes() -> dict[str, tuple[str, ...]]:
    """Every labelled phrase the vector store matches against, contrasts included."""
    return {**PROTOTYPES, EXPANSION: EXPANSION_PROTOTYPES, NOT_A_SIGNAL: CONTRAST_PROTOTYPES}


PROTOTYPE_VERSION = hashlib.sha256(
    json.dumps({"p": all_prototypes(), "t": THRESHOLDS}, sort_keys=True).encode()
).hexdigest()[:16]


def kind_of(label: str, score: float, thresholds: Mapping[str, float] | None = None) -> str | None:
    """The kind a record's best phrase makes it (None: a contrast, or below threshold)."""
    limits = THRESHOLDS if thresholds is None else thresholds
    limit = limits.get(label)
    return label if limit is not None and score >= limit else None


@dataclass(frozen=True)
class TextLabel:
    """One text's best phrase and what that makes it."""

    text: str
    kind: str | None  # a kind of LANGUAGE_KINDS, or None
    best_label: str  # the label of its best phrase (a kind or NOT_A_SIGNAL)
    score: float  # cosine similarity to that phrase


def best_phrases(similarity: np.ndarray, phrase_labels: Sequence[str]) -> list[tuple[str, float]]:
    """Per row of a (texts x phrases) similarity matrix, its best phrase's label and score:
    the rule ``VectorStore.match_prototypes`` applies to every stored record."""
    if similarity.shape[1] != len(phrase_labels):
        raise ValueError(f"{similarity.shape[1]} phrase columns for {len(phrase_labels)} labels")
    if similarity.shape[0] == 0:
        return []
    best = similarity.argmax(axis=1)
    return [(phrase_labels[int(j)], float(similarity[i, int(j)])) for i, j in enumerate(best)]


def label_texts(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    prototypes: Mapping[str, Sequence[str]] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> list[TextLabel]:
    """Label texts outside the vector store (one sentence each), as a scan would.

    Embeds the phrases and the texts once. Defaults: Keel's prototypes and thresholds.
    """
    phrases_by_label = all_prototypes() if prototypes is None else prototypes
    labels = [label for label, values in phrases_by_label.items() for _ in values]
    phrases = [phrase for values in phrases_by_label.values() for phrase in values]
    if not texts:
        return []
    similarity = embedder.embed(list(texts)) @ embedder.embed(phrases).T
    return [
        TextLabel(text, kind_of(label, score, thresholds), label, score)
        for text, (label, score) in zip(texts, best_phrases(similarity, labels), strict=True)
    ]


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
    matches = store.match_prototypes(all_prototypes(), min_score=MIN_SCORE) if n_docs else []
    best: dict[tuple[str, int, str], PrototypeMatch] = {}
    for m in matches:
        if kind_of(m.label, m.score) is None:  # a contrast phrase, or under its kind's bar
            continue
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
    kinds: Sequence[str] | None = None,
) -> list[RiskLanguageMatch]:
    """Cached matches of the current prototypes dated in [since, until], newest first.

    ``kinds``: only these labels (e.g. ``RISK_KINDS``, or ``[EXPANSION]``); all by default.
    """
    query = select(RiskLanguageMatch).where(
        RiskLanguageMatch.prototype_version == PROTOTYPE_VERSION
    )
    if kinds is not None:
        query = query.where(col(RiskLanguageMatch.label).in_(list(kinds)))
    if account_ids is not None:
        query = query.where(col(RiskLanguageMatch.account_id).in_(list(account_ids)))
    if since is not None:
        query = query.where(RiskLanguageMatch.day >= since)
    if until is not None:
        query = query.where(RiskLanguageMatch.day <= until)
    query = query.order_by(col(RiskLanguageMatch.day).desc(), col(RiskLanguageMatch.id))
    with Session(engine) as session:
        return list(session.exec(query).all())
