"""The vector store against the real model, real Chroma on disk and a real database.

A small hand-written book: ten short tickets on unrelated problems, one long ticket that
spans several chunks, call notes and NPS comments across three accounts. Searches use
paraphrases that share few words with the ticket they must find. Each document is stored
as its chunks followed by its sentence units (records ``kind:source_id:n``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from keel.errors import KeelError
from keel.memory.db import init_db, make_engine
from keel.memory.embeddings import SentenceTransformerEmbedder, load_embedder
from keel.memory.index_state import IndexedDocument, load_state
from keel.memory.models import Account, CallNote, NpsResponse, Ticket
from keel.memory.vectors import VectorStore, chunk_text, open_vector_store
from keel.memory.vectors import indexer as indexer_module
from keel.memory.vectors.chunking import document_units
from keel.memory.vectors.documents import SourceDoc, load_documents
from keel.settings import Settings

UTC = dt.UTC

ACCOUNTS = [("ACME-001", "Acme"), ("GLOBEX-002", "Globex"), ("INITECH-003", "Initech")]

# (external id, account, opened on, subject, body)
TICKETS = [
    (
        "T-01",
        "ACME-001",
        dt.date(2024, 1, 10),
        "SSO login fails with SAML assertion error after IdP cert rotation",
        "Our Okta admin rotated the signing certificate on Monday. Since then every user "
        "gets 'Invalid SAML assertion: signature validation failed' on the login page.",
    ),
    (
        "T-02",
        "GLOBEX-002",
        dt.date(2024, 2, 5),
        "Invoice charged twice for March",
        "Finance sees two identical charges on the corporate card for the March "
        "subscription. Please refund the duplicate payment.",
    ),
    (
        "T-03",
        "INITECH-003",
        dt.date(2024, 2, 20),
        "CSV export truncates rows over 65k",
        "When exporting the monthly report as CSV only the first 65,536 lines come through.",
    ),
    (
        "T-04",
        "ACME-001",
        dt.date(2024, 3, 3),
        "Analytics dashboard very slow since last release",
        "The analytics dashboard takes more than 30 seconds to render; users give up.",
    ),
    (
        "T-05",
        "GLOBEX-002",
        dt.date(2024, 3, 15),
        "Feature request: dark mode",
        "Several of our agents work night shifts and asked for a darker theme to reduce "
        "eye strain.",
    ),
    (
        "T-06",
        "INITECH-003",
        dt.date(2024, 4, 2),
        "Webhook deliveries failing with HTTP 500",
        "Our endpoint receives nothing; your delivery log shows 500 retries for the "
        "order.created event.",
    ),
    (
        "T-07",
        "ACME-001",
        dt.date(2024, 4, 20),
        "How do I add a new user to my team?",
        "I am the admin and cannot find where to add another seat for a new hire.",
    ),
    (
        "T-08",
        "GLOBEX-002",
        dt.date(2024, 5, 8),
        "Mobile app crashes on startup (Android 14)",
        "After the OS update the app closes immediately when opened.",
    ),
    (
        "T-09",
        "INITECH-003",
        dt.date(2024, 5, 30),
        "Data retention policy for GDPR",
        "Our legal team needs to know how long you keep personal data and how we request deletion.",
    ),
    (
        "T-10",
        "ACME-001",
        dt.date(2024, 6, 12),
        "API rate limit too low for nightly sync",
        "Our integration hits 429 Too Many Requests when syncing 200k records at night.",
    ),
]

LONG_TICKET_BODY = " ".join(
    [
        "We are moving from the legacy on-premise edition to the cloud tenant this quarter.",
        "The export from the old server finished but attachments larger than 20 MB were "
        "skipped without any warning in the log.",
        "Our IT team also noticed that custom fields of type date were imported as text.",
        "Reports built on those fields now show empty charts for the whole of last year.",
        "We need the attachments and the field types fixed before we switch off the old "
        "server at the end of the month.",
        "Could you also confirm whether user groups and their permissions are migrated, "
        "or whether we must recreate them by hand?",
        "Finally, the SSO configuration of the old edition used a different entity id and "
        "we are unsure which value to enter in the new tenant.",
        "A call with your migration specialist this week would help us a lot.",
        "Our auditors will also ask for a record of who exported what and when, so please "
        "tell us whether the audit trail of the old edition comes across.",
        "The old edition sent nightly digest emails to managers; we cannot find that "
        "setting in the cloud tenant.",
        "Two of our regional teams still work offline for days at a time and rely on the "
        "desktop client syncing once they reconnect.",
        "Please treat this as urgent because the old hardware lease ends soon.",
    ]
)

NOTES = [
    (
        "N-01",
        "ACME-001",
        dt.date(2024, 2, 1),
        "QBR with their VP of Support. They are evaluating a competitor because of our "
        "price increase; the renewal is at risk unless we show more value.",
    ),
    (
        "N-02",
        "GLOBEX-002",
        dt.date(2024, 3, 1),
        "Onboarding call: walked through the integration setup. The team is excited to "
        "roll out to two more regions.",
    ),
    (
        "N-03",
        "INITECH-003",
        dt.date(2024, 5, 15),
        "Check-in with the champion: she is leaving the company next month and we need "
        "a new sponsor.",
    ),
]

NPS = [
    (
        "P-01",
        "ACME-001",
        dt.date(2024, 3, 20),
        3,
        "Too expensive for what we get; we are looking at other vendors.",
    ),
    ("P-02", "GLOBEX-002", dt.date(2024, 4, 10), 9, ""),  # no comment: not indexed
    ("P-03", "INITECH-003", dt.date(2024, 6, 1), 10, "Support team is fantastic and quick."),
]

PARAPHRASES = [
    ("people can't sign in since we changed our identity provider certificate", "T-01"),
    ("we were billed double this month and want our money back", "T-02"),
    ("downloading the data to a spreadsheet cuts off part of the records", "T-03"),
    ("the reporting pages take forever to open after your update", "T-04"),
    ("could you offer a night-friendly colour scheme for the interface", "T-05"),
    ("our server is not getting the event notifications you send", "T-06"),
    ("how can I give a colleague access to our workspace", "T-07"),
    ("the phone application quits right away when launched", "T-08"),
    ("how long do you store customers' personal information and can it be erased", "T-09"),
    ("our overnight integration keeps getting throttled", "T-10"),
]

# Tests that load the embedding model (a few seconds once per session) are marked slow.
slow = pytest.mark.slow


# -- fixtures ----------------------------------------------------------------------------


class CountingEmbedder:
    """The real embedder, recording every text it embeds (to see what indexing redid)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.inner.embed_one(text)


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    return load_embedder()


@pytest.fixture()
def embedder(real_embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(real_embedder)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Engine:
    """The book's database: SQLite always, PostgreSQL too when configured."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


def seed(engine: Engine) -> dict[str, int]:
    """Write the hand-made book; returns account external id -> internal id."""
    with Session(engine) as session:
        accounts = {ext: Account(external_id=ext, name=name) for ext, name in ACCOUNTS}
        session.add_all(accounts.values())
        session.commit()
        ids = {ext: int(a.id or 0) for ext, a in accounts.items()}
        for ext, acc, day, subject, body in TICKETS:
            session.add(
                Ticket(
                    external_id=ext,
                    account_id=ids[acc],
                    opened_at=dt.datetime.combine(day, dt.time(9), UTC),
                    subject=subject,
                    body=body,
                )
            )
        session.add(
            Ticket(
                external_id="T-11",
                account_id=ids["GLOBEX-002"],
                opened_at=dt.datetime(2024, 6, 20, 9, tzinfo=UTC),
                subject="Migration from the legacy on-premise edition",
                body=LONG_TICKET_BODY,
            )
        )
        for ext, acc, day, text in NOTES:
            session.add(CallNote(external_id=ext, account_id=ids[acc], occurred_on=day, text=text))
        for ext, acc, day, score, comment in NPS:
            session.add(
                NpsResponse(
                    external_id=ext,
                    account_id=ids[acc],
                    responded_on=day,
                    score=score,
                    comment=comment,
                )
            )
        session.commit()
    return ids


@pytest.fixture()
def book(engine: Engine) -> dict[str, int]:
    return seed(engine)


@pytest.fixture()
def store(settings: Settings, embedder: CountingEmbedder) -> VectorStore:
    return open_vector_store(settings, embedder)


@pytest.fixture()
def indexed(store: VectorStore, engine: Engine, book: dict[str, int]) -> VectorStore:
    store.index_from_db(engine)
    return store


@dataclass(frozen=True)
class Library:
    """One indexed book shared by the read-only tests of this module."""

    store: VectorStore
    engine: Engine
    ids: dict[str, int]


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: SentenceTransformerEmbedder
) -> Iterator[Library]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("library") / "keel-data")
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    ids = seed(engine)
    store = open_vector_store(settings, real_embedder)
    store.index_from_db(engine)
    yield Library(store, engine, ids)
    engine.dispose()


def expected_record_ids(engine: Engine) -> set[str]:
    """The ids of every record (chunks, then sentence units) of the current documents."""
    return {
        f"{doc.kind}:{doc.source_id}:{n}"
        for doc in load_documents(engine)
        for n in range(len(document_units(doc.text)))
    }


def document_of(engine: Engine, kind: str, external_id: str) -> SourceDoc:
    return next(d for d in load_documents(engine) if (d.kind, d.external_id) == (kind, external_id))


def stored_ids(store: VectorStore) -> list[str]:
    return list(store.collection.get(include=[])["ids"])


def ticket_id(engine: Engine, external_id: str) -> int:
    with Session(engine) as session:
        found = session.exec(select(Ticket.id).where(Ticket.external_id == external_id)).one()
    return int(found or 0)


def edit_ticket(engine: Engine, external_id: str, **values: object) -> None:
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.external_id == external_id)).one()
        for name, value in values.items():
            setattr(ticket, name, value)
        session.add(ticket)
        session.commit()


def assert_consistent(store: VectorStore, engine: Engine) -> None:
    """Chroma holds exactly the records of the current documents, each once, all recorded."""
    ids = stored_ids(store)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_record_ids(engine)
    state = load_state(engine)
    assert sum(s.n_chunks for s in state.values()) == len(ids)
    assert all(s.content_hash for s in state.values())


# -- chunking (no model) ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\n  "])
def test_blank_text_has_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


def test_short_text_is_one_normalised_chunk() -> None:
    assert chunk_text("Login  fails.\n\nSince   Monday.") == ["Login fails. Since Monday."]


def test_long_text_is_cut_between_sentences_with_overlap() -> None:
    sentences = [
        f"Sentence number {i} talks about topic {i} in some detail here." for i in range(40)
    ]
    chunks = chunk_text(" ".join(sentences))
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(chunk) <= 600
        assert chunk.startswith("Sentence number") and chunk.endswith(".")
    assert all(len(c) >= 400 for c in chunks[:-1])
    # Each window starts with the last sentence(s) of the one before: a small overlap.
    for before, after in itertools.pairwise(chunks):
        tails = [before[i + 2 :] for i in range(len(before)) if before.startswith(". ", i)]
        overlap = max((t for t in tails if after.startswith(t)), key=len, default="")
        assert 0 < len(overlap) <= 150
    # Nothing is lost.
    joined = " ".join(chunks)
    assert all(s in joined for s in sentences)


def test_a_sentence_longer_than_a_window_is_cut_at_word_boundaries() -> None:
    words = [f"word{i}" for i in range(300)]
    chunks = chunk_text(" ".join(words))
    assert len(chunks) >= 3
    assert all(len(c) <= 600 for c in chunks)
    assert [w for c in chunks for w in c.split()] == words  # no overlap inside a sentence
    assert chunk_text("x" * 1500) == ["x" * 600, "x" * 600, "x" * 300]


# -- embedder ----------------------------------------------------------------------------


@slow
def test_embedder_returns_unit_float32_rows_and_is_cached(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    vectors = real_embedder.embed(["first text", "second, different text"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert real_embedder.embed([]).shape == (0, 384)
    assert np.allclose(real_embedder.embed_one("first text"), vectors[0], atol=1e-5)
    assert load_embedder() is real_embedder


# -- search ------------------------------------------------------------------------------


@slow
@pytest.mark.parametrize(("query", "expected"), PARAPHRASES)
def test_paraphrased_query_finds_the_right_ticket(
    library: Library, query: str, expected: str
) -> None:
    hits = library.store.search(query, k=3)
    assert hits[0].external_id == expected, [(h.external_id, round(h.score, 3)) for h in hits]
    assert hits[0].kind == "ticket"
    assert hits[0].score > hits[1].score


@slow
def test_hits_cite_their_record_once_each(
    library: Library,
) -> None:
    hits = library.store.search("attachments were skipped when we migrated to the cloud", k=5)
    top = hits[0]
    assert (top.kind, top.external_id, top.account_external_id) == ("ticket", "T-11", "GLOBEX-002")
    assert top.source_id == ticket_id(library.engine, "T-11")
    assert top.account_id == library.ids["GLOBEX-002"]
    assert top.date == dt.date(2024, 6, 20)
    assert "attachments" in top.text and top.chunk == 0
    assert -1.0 <= top.score <= 1.0
    keys = [(h.kind, h.source_id) for h in hits]
    assert len(keys) == len(set(keys)) == 5
    # The same holds on the filtered (snapshot) path.
    filtered = library.store.search("migration problems", k=5, account_id=library.ids["GLOBEX-002"])
    assert len({(h.kind, h.source_id) for h in filtered}) == len(filtered)
    assert [h.score for h in filtered] == sorted((h.score for h in filtered), reverse=True)


@slow
def test_filters_by_account_kind_and_dates(library: Library) -> None:
    query = "customer unhappy about price and considering leaving"
    acme = library.store.search(query, k=20, account_id=library.ids["ACME-001"])
    assert {h.external_id for h in acme} == {"T-01", "T-04", "T-07", "T-10", "N-01", "P-01"}
    assert acme[0].external_id in {"N-01", "P-01"}

    notes_and_nps = library.store.search(query, k=20, kinds=["note", "nps"])
    assert {h.external_id for h in notes_and_nps} == {"N-01", "N-02", "N-03", "P-01", "P-03"}

    spring = library.store.search(
        query, k=20, since=dt.date(2024, 3, 1), until=dt.date(2024, 4, 30)
    )
    assert {h.external_id for h in spring} == {"T-04", "T-05", "T-06", "T-07", "N-02", "P-01"}
    assert all(dt.date(2024, 3, 1) <= h.date <= dt.date(2024, 4, 30) for h in spring)

    combined = library.store.search(
        query,
        k=20,
        account_id=library.ids["ACME-001"],
        kinds=["ticket"],
        until=dt.date(2024, 3, 31),
    )
    assert {h.external_id for h in combined} == {"T-01", "T-04"}
    assert (
        library.store.search(
            query, account_id=library.ids["ACME-001"], kinds=["nps"], until=dt.date(2024, 1, 1)
        )
        == []
    )


@slow
def test_search_rejects_bad_arguments(library: Library) -> None:
    with pytest.raises(KeelError, match="unknown kind"):
        library.store.search("x", kinds=["email"])
    with pytest.raises(KeelError, match="after until"):
        library.store.search("x", since=dt.date(2024, 5, 1), until=dt.date(2024, 4, 1))
    with pytest.raises(KeelError, match="empty"):
        library.store.search("   ")
    with pytest.raises(KeelError, match="at least 1"):
        library.store.search("x", k=0)


@slow
def test_match_prototypes_labels_risk_language(library: Library) -> None:
    prototypes = {
        "competitor_or_price": [
            "we are evaluating a competitor",
            "the price is too high for us",
            "we might switch to another vendor",
        ],
        "champion_leaving": ["our main contact is leaving the company", "the champion is leaving"],
    }
    matches = library.store.match_prototypes(prototypes, min_score=0.4)
    by_record = {(m.external_id, m.label): m for m in matches}
    assert ("P-01", "competitor_or_price") in by_record
    assert ("N-01", "competitor_or_price") in by_record
    assert ("N-03", "champion_leaving") in by_record
    assert {m.external_id for m in matches} <= {"P-01", "N-01", "N-03"}  # no ticket is a risk
    p01 = by_record[("P-01", "competitor_or_price")]
    assert (p01.kind, p01.account_id, p01.date) == (
        "nps",
        library.ids["ACME-001"],
        dt.date(2024, 3, 20),
    )
    assert p01.snippet.startswith("Too expensive")
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    label, kind, *_rest = p01  # a tuple too
    assert label == "competitor_or_price" and kind == "nps"

    only_initech = library.store.match_prototypes(
        prototypes, account_ids=[library.ids["INITECH-003"]], min_score=0.4
    )
    assert {m.external_id for m in only_initech} == {"N-03"}
    before_march = library.store.match_prototypes(
        prototypes, until=dt.date(2024, 2, 28), min_score=0.4
    )
    assert {m.external_id for m in before_march} == {"N-01"}
    assert library.store.match_prototypes(prototypes, min_score=0.99) == []
    assert library.store.match_prototypes({}) == []


# -- incremental indexing ------------------------------------------------------------------


@slow
def test_indexing_is_incremental(
    db: Engine, settings: Settings, embedder: CountingEmbedder
) -> None:
    seed(db)
    store = open_vector_store(settings, embedder)
    first = store.index_from_db(db)
    n_docs = len(TICKETS) + 1 + len(NOTES) + 2  # one NPS response has no comment
    assert (first.new, first.changed, first.unchanged, first.removed) == (n_docs, 0, 0, 0)
    assert first.chunks_written == len(embedder.texts) == len(expected_record_ids(db))
    assert_consistent(store, db)

    embedder.texts.clear()
    second = store.index_from_db(db)
    assert (second.new, second.changed, second.unchanged, second.chunks_written) == (
        0,
        0,
        n_docs,
        0,
    )
    assert embedder.texts == []

    # Change one ticket: exactly its records are embedded again, and search sees the change.
    # Its subject has four words (no sentence unit), its new body one sentence of nine.
    edit_ticket(db, "T-05", body="Please add a way to export invoices as PDF files.")
    embedder.texts.clear()
    third = store.index_from_db(db)
    assert (third.new, third.changed, third.unchanged) == (0, 1, n_docs - 1)
    assert embedder.texts == [
        "Feature request: dark mode Please add a way to export invoices as PDF files.",
        "Please add a way to export invoices as PDF files.",
    ]
    assert third.chunks_written == 2
    assert store.search("download my bills as pdf", k=1)[0].external_id == "T-05"
    assert_consistent(store, db)

    # Shrink the long ticket: its surplus records (chunks and sentences) are deleted.
    long_id = ticket_id(db, "T-11")
    before = [i for i in stored_ids(store) if i.startswith(f"ticket:{long_id}:")]
    assert len(before) > 10  # several chunks and a dozen sentences
    edit_ticket(db, "T-11", body="Resolved, thanks.")
    fourth = store.index_from_db(db)
    # Left: one chunk (subject and body) and one sentence (the six-word subject).
    assert (fourth.changed, fourth.chunks_written) == (1, 2)
    assert fourth.chunks_deleted == len(before) - 2
    left = store.collection.get(where={"doc": f"ticket:{long_id}"}, include=["metadatas"])
    assert sorted(zip(left["ids"], (m["unit"] for m in left["metadatas"]), strict=True)) == [
        (f"ticket:{long_id}:0", "chunk"),
        (f"ticket:{long_id}:1", "sentence"),
    ]
    assert_consistent(store, db)

    # Delete a note: its records go (one chunk, two sentences).
    with Session(db) as session:
        note = session.exec(select(CallNote).where(CallNote.external_id == "N-02")).one()
        note_id = note.id
        session.delete(note)
        session.commit()
    embedder.texts.clear()
    fifth = store.index_from_db(db)
    assert (fifth.removed, fifth.chunks_deleted, fifth.new, fifth.changed) == (1, 3, 0, 0)
    assert embedder.texts == []
    assert not [i for i in stored_ids(store) if i.startswith(f"note:{note_id}:")]
    assert all(h.external_id != "N-02" for h in store.search("onboarding call", k=20))
    assert_consistent(store, db)


@slow
def test_each_document_is_stored_as_its_chunks_then_its_sentences(library: Library) -> None:
    stored = library.store.collection.get(include=["metadatas", "documents"])
    records = {
        i: (m, d)
        for i, m, d in zip(stored["ids"], stored["metadatas"], stored["documents"], strict=True)
    }
    assert len(records) == library.store.count()
    n_sentences = 0
    for doc in load_documents(library.engine):
        units = document_units(doc.text)
        for n, (text, unit) in enumerate(units):
            meta, document = records.pop(f"{doc.kind}:{doc.source_id}:{n}")
            assert (document, meta["unit"], meta["chunk"]) == (text, unit, n)
            assert meta == doc.metadata(n, unit)
        n_sentences += sum(unit == "sentence" for _text, unit in units)
    assert records == {}  # nothing else is stored
    assert n_sentences > 20

    # The long ticket: its chunks first, then one record per sentence, numbered on.
    long_doc = document_of(library.engine, "ticket", "T-11")
    chunks = chunk_text(long_doc.text)
    got = library.store.collection.get(
        where={"doc": f"ticket:{long_doc.source_id}"}, include=["metadatas", "documents"]
    )
    by_number = sorted(
        (m["chunk"], m["unit"], d) for m, d in zip(got["metadatas"], got["documents"], strict=True)
    )
    assert [(n, u) for n, u, _ in by_number[: len(chunks)]] == [
        (n, "chunk") for n in range(len(chunks))
    ]
    sentences = by_number[len(chunks) :]
    assert [u for _n, u, _d in sentences] == ["sentence"] * 13  # subject + 12 sentences
    assert sentences[1][2] == (
        "We are moving from the legacy on-premise edition to the cloud tenant this quarter."
    )
    # A one-sentence NPS comment has one record: its chunk.
    p01 = document_of(library.engine, "nps", "P-01")
    assert library.store.collection.get(where={"doc": f"nps:{p01.source_id}"})["ids"] == [
        f"nps:{p01.source_id}:0"
    ]


@slow
def test_search_returns_chunks_never_sentences(library: Library) -> None:
    # The query is one sentence of the long ticket word for word: its sentence record is
    # the nearest vector in the collection, but search must cite the chunk around it.
    sentence = "Our IT team also noticed that custom fields of type date were imported as text."
    raw = library.store.collection.query(
        query_embeddings=[library.store.embedder.embed_one(sentence)],
        n_results=1,
        include=["metadatas", "distances"],
    )
    assert raw["metadatas"][0][0]["unit"] == "sentence"
    assert raw["distances"][0][0] < 0.01

    long_doc = document_of(library.engine, "ticket", "T-11")
    chunks = chunk_text(long_doc.text)
    globex = library.ids["GLOBEX-002"]
    for hits in (
        library.store.search(sentence, k=16),  # Chroma's HNSW query
        library.store.search(sentence, k=16, account_id=globex),  # the snapshot scan
        library.store.search(sentence, k=16, since=dt.date(2024, 1, 1)),
    ):
        top = hits[0]
        assert top.external_id == "T-11"
        assert top.text in chunks and sentence in top.text and top.text != sentence
        assert top.chunk < len(chunks) and top.score < 0.95
        for hit in hits:  # every hit is a chunk of its document
            doc = document_of(library.engine, hit.kind, hit.external_id)
            assert hit.text == chunk_text(doc.text)[hit.chunk]


@slow
def test_records_written_before_sentence_units_are_still_searched(
    settings: Settings, real_embedder: SentenceTransformerEmbedder
) -> None:
    """An index an older Keel wrote (no ``unit`` tag) stays searchable until re-indexed."""
    store = open_vector_store(settings, real_embedder)
    old = SourceDoc("note", 1, "N-OLD", 1, "ACME-001", dt.date(2024, 1, 5), "")
    new = SourceDoc("note", 2, "N-NEW", 1, "ACME-001", dt.date(2024, 1, 6), "")
    texts = {
        "note:1:0": "Walked through the reporting module; exports of invoices to PDF work now.",
        "note:2:0": "Renewal call. They asked about invoices. Exports to PDF are needed.",
        "note:2:1": "Exports of invoices to PDF are needed for their auditors.",
    }
    untagged = old.metadata(0)
    del untagged["unit"]
    store.collection.upsert(
        ids=list(texts),
        embeddings=real_embedder.embed(list(texts.values())),
        metadatas=[untagged, new.metadata(0), new.metadata(1, "sentence")],
        documents=list(texts.values()),
    )
    store._bump_generation()
    query = "exporting invoices as PDF files"
    for hits in (store.search(query, k=5), store.search(query, k=5, account_id=1)):
        assert {(h.external_id, h.chunk) for h in hits} == {("N-OLD", 0), ("N-NEW", 0)}
    # Prototype matching reads every record, the untagged one included.
    matches = store.match_prototypes({"pdf": ["invoice exports to PDF"]}, min_score=0.3)
    assert {m.external_id for m in matches} == {"N-OLD", "N-NEW"}
    assert texts["note:1:0"] in {m.snippet for m in matches}

    # Sentences crowd the query's neighbourhood: its 64 nearest records are sentences of
    # other notes, so a k=1 search falls back to Chroma's "not a sentence" filter, which
    # must keep the untagged record too.
    rng = np.random.default_rng(0)
    target = real_embedder.embed_one(query)
    crowd = target + rng.normal(scale=0.01, size=(80, target.size)).astype(np.float32)
    crowd /= np.linalg.norm(crowd, axis=1, keepdims=True)
    others = [SourceDoc("note", 100 + i, f"N-{i}", 1, "ACME-001", old.day, "") for i in range(80)]
    store.collection.upsert(
        ids=[f"note:{d.source_id}:1" for d in others],
        embeddings=crowd,
        metadatas=[d.metadata(1, "sentence") for d in others],
        documents=["Some other sentence."] * 80,
    )
    store._bump_generation()
    raw = store.collection.query(query_embeddings=[target], n_results=64, include=["metadatas"])
    assert {m["unit"] for m in raw["metadatas"][0]} == {"sentence"}
    exact = store.search(query, k=2, account_id=1)  # the snapshot scan: exact
    assert {(h.external_id, h.chunk) for h in exact} == {("N-OLD", 0), ("N-NEW", 0)}
    for k in (1, 2):
        hits = store.search(query, k=k)
        assert [(h.external_id, h.chunk) for h in hits] == [
            (h.external_id, h.chunk) for h in exact[:k]
        ]


@slow
def test_moving_a_ticket_to_another_account_updates_its_tags(
    indexed: VectorStore, engine: Engine, book: dict[str, int]
) -> None:
    edit_ticket(engine, "T-03", account_id=book["ACME-001"])
    report = indexed.index_from_db(engine)
    assert report.changed == 1
    hits = indexed.search("CSV export truncated", k=1, account_id=book["ACME-001"])
    assert hits[0].external_id == "T-03" and hits[0].account_external_id == "ACME-001"


# -- crash safety --------------------------------------------------------------------------


class Crash(RuntimeError):
    pass


@slow
def test_rerun_after_crash_between_batches_finishes_without_duplicates(
    store: VectorStore, engine: Engine, book: dict[str, int], embedder: CountingEmbedder
) -> None:
    def crash_after_first_batch(done: int, total: int) -> None:
        if done >= 4:
            raise Crash

    with pytest.raises(Crash):
        store.index_from_db(engine, progress=crash_after_first_batch, batch_size=4)
    assert len(load_state(engine)) == 4
    written_before = len(embedder.texts)

    embedder.texts.clear()
    report = store.index_from_db(engine, batch_size=4)
    assert report.new == len(TICKETS) + 1 + len(NOTES) + 2 - 4
    assert report.unchanged == 4
    assert 0 < len(embedder.texts) < len(expected_record_ids(engine))
    assert written_before + len(embedder.texts) == len(expected_record_ids(engine))
    assert_consistent(store, engine)


@slow
def test_rerun_after_crash_between_chroma_write_and_state_record(
    store: VectorStore,
    engine: Engine,
    book: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.index_from_db(engine)
    long_id = ticket_id(engine, "T-11")
    # The long ticket shrinks; a new short one arrives.
    edit_ticket(engine, "T-11", body="Migration done.")
    with Session(engine) as session:
        session.add(
            Ticket(
                external_id="T-12",
                account_id=book["INITECH-003"],
                opened_at=dt.datetime(2024, 7, 1, tzinfo=UTC),
                subject="Password reset emails arrive late",
            )
        )
        session.commit()

    # Die right after the upsert: surplus chunks not yet deleted, hashes not yet recorded.
    def die(*_args: object, **_kwargs: object) -> None:
        raise Crash

    monkeypatch.setattr(indexer_module, "_delete_ids", die)
    with pytest.raises(Crash):
        store.index_from_db(engine)
    monkeypatch.undo()
    ids = stored_ids(store)
    assert f"ticket:{long_id}:2" in ids  # stale chunk still there: the crash was mid-batch
    assert len(ids) > len(expected_record_ids(engine))
    in_flight = [s for s in load_state(engine).values() if not s.content_hash]
    assert len(in_flight) == 2

    report = store.index_from_db(engine)
    # T-11: a chunk and its six-word subject as a sentence; T-12: one five-word sentence,
    # which is its only chunk (no sentence unit).
    assert (report.new + report.changed, report.chunks_written) == (2, 3)
    assert_consistent(store, engine)
    assert store.index_from_db(engine).chunks_written == 0


@slow
def test_lost_chroma_data_is_repaired_from_the_database(
    indexed: VectorStore, engine: Engine, settings: Settings, embedder: CountingEmbedder
) -> None:
    before = sorted(stored_ids(indexed))
    indexed.client.delete_collection("keel_text")  # as if keel-data/chroma were wiped
    fresh = open_vector_store(settings, embedder)
    report = fresh.index_from_db(engine)
    assert report.repaired == len(load_state(engine)) and report.new == 0
    assert sorted(stored_ids(fresh)) == before
    assert_consistent(fresh, engine)


@slow
def test_rebuild_embeds_everything_again(
    indexed: VectorStore, engine: Engine, embedder: CountingEmbedder
) -> None:
    embedder.texts.clear()
    report = indexed.index_from_db(engine, rebuild=True)
    assert report.new == len(load_state(engine)) and report.unchanged == 0
    assert len(embedder.texts) == len(expected_record_ids(engine))
    assert_consistent(indexed, engine)


# -- persistence and several readers -------------------------------------------------------


@slow
def test_store_survives_a_new_client_on_the_same_path(
    indexed: VectorStore, engine: Engine, settings: Settings, embedder: CountingEmbedder
) -> None:
    query = PARAPHRASES[0][0]
    before = indexed.search(query, k=3)
    n = indexed.count()
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # drop the in-process client: reopen from disk
    reopened = open_vector_store(settings, embedder)
    assert reopened.client is not indexed.client
    assert reopened.count() == n
    after = reopened.search(query, k=3)
    assert [(h.kind, h.source_id) for h in after] == [(h.kind, h.source_id) for h in before]
    assert after[0].score == pytest.approx(before[0].score, abs=1e-5)
    embedder.texts.clear()
    assert reopened.index_from_db(engine).chunks_written == 0
    assert embedder.texts == []


@slow
def test_a_reader_sees_another_writers_changes(
    indexed: VectorStore,
    engine: Engine,
    settings: Settings,
    embedder: CountingEmbedder,
    book: dict[str, int],
) -> None:
    acme = book["ACME-001"]
    assert indexed.search("password reset emails", k=1, account_id=acme)[0].external_id != "T-13"
    with Session(engine) as session:
        session.add(
            Ticket(
                external_id="T-13",
                account_id=acme,
                opened_at=dt.datetime(2024, 7, 2, tzinfo=UTC),
                subject="Password reset emails never arrive",
            )
        )
        session.commit()
    writer = VectorStore(indexed.client, embedder)  # e.g. a `keel index` next to `keel serve`
    writer.index_from_db(engine)
    assert indexed.search("password reset emails", k=1, account_id=acme)[0].external_id == "T-13"


@slow
def test_a_store_built_with_another_model_asks_for_a_rebuild(
    indexed: VectorStore, settings: Settings, real_embedder: SentenceTransformerEmbedder
) -> None:
    other = CountingEmbedder(real_embedder)
    other.name = "some/other-model"
    with pytest.raises(KeelError, match="--rebuild"):
        open_vector_store(settings, other).search("anything")


# -- CLI -------------------------------------------------------------------------------------


@pytest.fixture()
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from keel.api.cli import index as index_cli

    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    app = typer.Typer()
    index_cli.register(app)
    return app


@slow
def test_cli_index_then_search(cli: typer.Typer, engine: Engine, book: dict[str, int]) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["index"])
    assert result.exit_code == 0, result.output
    assert re.search(r"new documents\D+16\b", result.output), result.output

    result = runner.invoke(cli, ["search", PARAPHRASES[1][0], "-k", "2"])
    assert result.exit_code == 0, result.output
    first_hit = result.output.splitlines()[0]
    assert f"ticket:{ticket_id(engine, 'T-02')} (T-02)" in first_hit and "GLOBEX-002" in first_hit

    result = runner.invoke(
        cli, ["search", "price", "--account", "ACME-001", "--kind", "nps", "--until", "2024-12-31"]
    )
    assert result.exit_code == 0, result.output
    assert "(P-01)" in result.output and "(T-" not in result.output


@slow
def test_cli_unknown_account_is_a_clear_error(
    cli: typer.Typer, engine: Engine, book: dict[str, int]
) -> None:
    result = CliRunner().invoke(cli, ["search", "anything", "--account", "NOPE-9"])
    assert isinstance(result.exception, KeelError)
    assert "NOPE-9" in str(result.exception)


@slow
def test_cli_search_on_an_empty_index_says_so(cli: typer.Typer, engine: Engine) -> None:
    result = CliRunner().invoke(cli, ["search", "anything"])
    assert result.exit_code == 0, result.output
    assert "keel index" in result.output


def test_state_table_is_created_by_init_db(engine: Engine) -> None:
    with Session(engine) as session:
        assert session.exec(select(IndexedDocument)).all() == []


@slow
def test_data_dir_layout(indexed: VectorStore, settings: Settings) -> None:
    assert Path(indexed.location) == settings.chroma_path
    assert (settings.chroma_path / "chroma.sqlite3").is_file()


# -- Chroma server -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChromaServer:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A real Chroma server (`chroma run`) on a free loopback port."""
    import shutil
    import socket
    import sys
    import time
    import urllib.request

    exe = Path(sys.executable).parent / "chroma"
    command = str(exe) if exe.exists() else shutil.which("chroma")
    if not command:
        pytest.skip("the chroma CLI is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            command,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the Chroma server did not start")
                time.sleep(0.2)
        yield ChromaServer(url, server)
    finally:
        ChromaServer(url, server).stop()


@slow
@pytest.mark.service
def test_a_chroma_server_by_url(
    chroma_server: ChromaServer,
    engine: Engine,
    book: dict[str, int],
    tmp_path: Path,
    embedder: CountingEmbedder,
) -> None:
    url = chroma_server.url
    settings = Settings(data_dir=tmp_path / "keel-data", chroma_url=url)
    store = open_vector_store(settings, embedder)
    assert store.location == url
    assert not settings.chroma_path.exists()  # nothing embedded on disk
    report = store.index_from_db(engine)
    assert report.new == len(load_state(engine))
    assert_consistent(store, engine)
    assert store.search(PARAPHRASES[0][0], k=1)[0].external_id == "T-01"
    hits = store.search(PARAPHRASES[0][0], k=3, account_id=book["INITECH-003"])
    assert hits and {h.account_external_id for h in hits} == {"INITECH-003"}
    assert store.index_from_db(engine).chunks_written == 0

    chroma_server.stop()  # the server goes away: a clear error, not a traceback
    with pytest.raises(KeelError, match=f"vector store at {url}"):
        store.search("anything", k=1)


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path) -> None:
    from keel.memory.vectors import make_chroma_client

    with pytest.raises(KeelError, match="cannot reach the Chroma server"):
        make_chroma_client(Settings(data_dir=tmp_path, chroma_url="http://127.0.0.1:9"))
    with pytest.raises(KeelError, match="KEEL_CHROMA_URL"):
        make_chroma_client(Settings(data_dir=tmp_path, chroma_url="localhost:8000"))
