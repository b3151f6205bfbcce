"""Risk language: the match cache (as-of SQL filters, refresh rules) and the real vector store."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.memory.index_state import DocState, IndexedDocument, save_state
from keel.memory.models import CallNote, Ticket
from keel.memory.vectors.chunking import chunk_text
from keel.memory.vectors.documents import ticket_text
from keel.memory.vectors.types import PrototypeMatch
from keel.runtime import Runtime
from keel.tools.expansion_language import expansion_matches
from keel.tools.risk_language import (
    EXPANSION,
    MIN_SCORE,
    NOT_A_SIGNAL,
    PROTOTYPE_VERSION,
    PROTOTYPES,
    RISK_KINDS,
    THRESHOLDS,
    all_prototypes,
    last_scan,
    matches_for,
    needs_refresh,
    refresh_matches,
)
from keel.tools.signals import compute_signals, day_number, load_book
from tests.fakes import FakePrototypeMatcher
from tests.tools.minibook import START, build_minibook

DAY = START + dt.timedelta(days=100)


def _match(label: str, source_id: int, day: dt.date, score: float = 0.7) -> PrototypeMatch:
    return PrototypeMatch(label, "note", source_id, f"n-{source_id}", 1, day, score, "text")


def _index_state(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(IndexedDocument),
            [
                {"kind": "note", "source_id": 10_000 + i, "content_hash": "h", "n_chunks": 1}
                for i in range(n)
            ],
        )


def test_matches_are_cached_and_refreshed_only_when_the_index_changes(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    assert not needs_refresh(engine)  # nothing indexed yet
    _index_state(engine, 3)
    assert needs_refresh(engine)
    fake = FakePrototypeMatcher(
        [
            _match("budget_cut", 1, DAY, 0.55),
            _match("budget_cut", 1, DAY, 0.80),  # a better chunk of the same note
            _match("competitor_evaluation", 2, DAY + dt.timedelta(days=30)),
            _match("reorg", 3, DAY, 0.3),  # below the threshold
        ]
    )
    result = refresh_matches(engine, fake)
    assert result.rescanned and result.n_matches == 2 and fake.calls == 1
    assert not needs_refresh(engine)
    again = refresh_matches(engine, fake)
    assert not again.rescanned and fake.calls == 1  # cached
    cached = matches_for(engine, account_ids=[1])
    assert {(m.label, m.source_id, m.score) for m in cached} == {
        ("budget_cut", 1, 0.80),
        ("competitor_evaluation", 2, 0.7),
    }
    assert [m.external_id for m in matches_for(engine, until=DAY)] == ["n-1"]
    # The signals read the cache as of each date: the competitor mention is not yet known.
    book = load_book(engine, prototype_version=result.version)
    assert book.has_text_evidence
    sig = compute_signals(book, [1, 1], [day_number(DAY), day_number(DAY) + 30])
    assert sig["risk:budget_cut"].tolist() == [1.0, 1.0]
    assert sig["risk:competitor_evaluation"].tolist() == [0.0, 1.0]


def test_each_kind_keeps_its_own_threshold_and_contrasts_are_never_cached(
    engine: Engine,
) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    _index_state(engine, 5)
    quality, budget = THRESHOLDS["quality_complaint"], THRESHOLDS["budget_cut"]
    assert quality > budget  # the kinds' thresholds differ
    fake = FakePrototypeMatcher(
        [
            _match("quality_complaint", 1, DAY, quality - 0.01),  # under its own threshold
            _match("budget_cut", 2, DAY, quality - 0.01),  # the same score is enough here
            _match(NOT_A_SIGNAL, 3, DAY, 0.95),  # closest to a contrast phrase: nothing
            _match(EXPANSION, 4, DAY, THRESHOLDS[EXPANSION] + 0.05),
        ]
    )
    result = refresh_matches(engine, fake)
    assert result.n_matches == 2
    scan = last_scan(engine)
    assert scan is not None and scan.prototype_version == PROTOTYPE_VERSION
    assert scan.min_score == MIN_SCORE == min(THRESHOLDS.values())
    assert {(m.label, m.source_id) for m in matches_for(engine)} == {
        ("budget_cut", 2),
        (EXPANSION, 4),
    }
    assert [m.source_id for m in matches_for(engine, kinds=RISK_KINDS)] == [2]
    assert [(m.label, m.source_id) for m in expansion_matches(engine, account_ids=[1])] == [
        (EXPANSION, 4)
    ]
    # The expansion label is no risk signal: only budget_cut counts.
    book = load_book(engine, prototype_version=result.version)
    sig = compute_signals(book, [1], [day_number(DAY) + 1])
    risk = {c: float(sig[c].iloc[0]) for c in sig.columns if c.startswith("risk:")}
    assert risk == {f"risk:{k}": float(k == "budget_cut") for k in RISK_KINDS}
    # The scan matches against every kind's phrases and the contrasts at once.
    assert set(all_prototypes()) == {*PROTOTYPES, EXPANSION, NOT_A_SIGNAL}


def test_a_document_embedded_again_after_the_scan_triggers_a_refresh(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    _index_state(engine, 2)
    fake = FakePrototypeMatcher([_match("budget_cut", 1, DAY)])
    assert refresh_matches(engine, fake).rescanned
    assert not needs_refresh(engine)
    # As many documents as before, but one was embedded again after the scan (its text
    # changed, or a new chunker version re-embedded the book): the cached matches are stale.
    save_state(engine, {("note", 10_000): DocState("h2", 3)})
    assert needs_refresh(engine)
    again = refresh_matches(engine, fake)
    assert again.rescanned and fake.calls == 2
    assert not needs_refresh(engine)
    assert not refresh_matches(engine, fake).rescanned


def test_without_a_scan_text_evidence_is_unavailable(engine: Engine) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    from keel.tools.health.service import score_book

    scores = score_book(engine)
    assert not scores.text_evidence
    assert all((scores.frame[f"risk:{label}"] == 0).all() for label in PROTOTYPES)


@pytest.mark.slow
def test_the_vector_store_finds_risk_language_in_notes(engine: Engine, runtime) -> None:  # type: ignore[no-untyped-def]
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    texts = {
        "n-risk-1": "They are trialling another vendor in the support team.",
        "n-risk-2": "Finance has frozen all new software spend; they need to cut licences.",
        "n-calm": "Walked through the new reports; the team loves the dashboards.",
    }
    with engine.begin() as conn:
        conn.execute(
            insert(CallNote),
            [{"external_id": ext, "account_id": 1, "occurred_on": DAY, "kind": "call",
              "author": "csm", "attendees": "", "text": text} for ext, text in texts.items()],
        )  # fmt: skip
    store = runtime.vector_store
    store.index_from_db(engine)
    result = refresh_matches(engine, store)
    found = {(m.external_id, m.label) for m in matches_for(engine, account_ids=[1])}
    assert ("n-risk-1", "competitor_evaluation") in found
    assert ("n-risk-2", "budget_cut") in found
    assert not any(ext == "n-calm" for ext, _ in found)
    assert result.rescanned and not needs_refresh(engine)
    book = load_book(engine, prototype_version=result.version)
    sig = compute_signals(book, [1], [day_number(DAY) + 1])
    assert float(np.sum(sig[[c for c in sig.columns if c.startswith("risk:")]].to_numpy())) >= 2


# A routine ticket with one budget sentence in the middle: one chunk of ~500 characters.
BURIED_RISK = "Separately, our finance team told us the software budget for next year has been cut."
ROUTINE_SUBJECT = "Weekly performance report export is empty"
ROUTINE_BODY = (
    "The scheduled export of the agent performance report failed again this week. "
    "The job ran at six in the morning but the file in the shared folder was empty. "
    "We checked the filters and the date range and nothing changed on our side. "
    f"Could you look at the job logs for Monday and Tuesday? {BURIED_RISK} "
    "The report feeds our Monday team meeting, so a fix this week would help. "
    "Screenshots of the scheduler settings are attached."
)


@pytest.mark.slow
def test_a_risk_sentence_buried_in_a_routine_ticket_is_found(
    engine: Engine, runtime: Runtime
) -> None:
    build_minibook(engine, n_healthy=0, n_decline=0, n_ai=0, probes={"a": set()}, days=200,
                   text_scanned=False)  # fmt: skip
    ticket = Ticket(
        external_id="T-BURIED",
        account_id=1,
        opened_at=dt.datetime.combine(DAY, dt.time(9), dt.UTC),
        subject=ROUTINE_SUBJECT,
        body=ROUTINE_BODY,
    )
    with Session(engine) as session:
        session.add(ticket)
        session.commit()
        ticket_id = int(ticket.id or 0)
    store = runtime.vector_store
    store.index_from_db(engine)

    # The ticket's only chunk is far from every prototype: the rest of it dilutes the
    # budget sentence, so chunk vectors alone would never label this ticket.
    chunks = chunk_text(ticket_text(ROUTINE_SUBJECT, ROUTINE_BODY))
    assert len(chunks) == 1
    phrases = [phrase for values in PROTOTYPES.values() for phrase in values]
    chunk_score = float((store.embedder.embed(chunks) @ store.embedder.embed(phrases).T).max())
    assert chunk_score < MIN_SCORE - 0.1, chunk_score

    refresh_matches(engine, store)
    found = [m for m in matches_for(engine, account_ids=[1]) if m.external_id == "T-BURIED"]
    assert [(m.source_kind, m.source_id, m.label) for m in found] == [
        ("ticket", ticket_id, "budget_cut")
    ]
    assert found[0].snippet == BURIED_RISK  # the evidence is the sentence, not the chunk
    assert found[0].score >= MIN_SCORE
