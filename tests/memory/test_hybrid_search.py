"""Hybrid search: the passage that matches, exact phrases first, near-duplicates collapsed.

A small book written for it: three long call notes each say "piloting another vendor"
once, in the middle; other notes say close things in other words ("trialling a rival
tool") or share the words without the phrase; templated NPS comments repeat one text
with changes of case, punctuation and numbers. Real model, real Chroma on disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from keel.memory.db import init_db, make_engine
from keel.memory.embeddings import SentenceTransformerEmbedder, load_embedder
from keel.memory.models import Account, CallNote, NpsResponse
from keel.memory.vectors import VectorStore, open_vector_store
from keel.memory.vectors.keywords import KeywordIndex, content_words, near_duplicate_key
from keel.settings import Settings

slow = pytest.mark.slow

FILLER = [
    "We reviewed the open tickets from last month and agreed on owners for each.",
    "The reporting dashboard loads faster since the last release, which the team liked.",
    "Their admin asked for a refresher on permissions for the new regional leads.",
    "We walked through the roadmap for the mobile app and the offline mode.",
    "Next call is in two weeks to check on the rollout in the second region.",
]
PHRASE = "piloting another vendor"
# (external id, account, sentence to bury in the middle of a long note)
PHRASE_NOTES = [
    ("N-1", "ACME-001", "Their head of support said they are piloting another vendor for chat."),
    ("N-2", "ACME-001", "Priya mentioned, almost in passing, piloting another vendor in Canada."),
    ("N-3", "GLOBEX-002", "Finance is piloting another vendor, so the renewal is not a given."),
]
OTHER_NOTES = [
    # Close in meaning, other words.
    ("N-4", "ACME-001", "They are trialling a rival tool with a few agents to compare costs."),
    # The words, not the phrase.
    ("N-5", "GLOBEX-002", "Another team is piloting the vendor portal we built for them."),
    ("N-6", "GLOBEX-002", "The pilot went well; no vendor change is planned for another year."),
]
BURIED = "The data retention export they asked for in March now runs every Sunday night."
TEMPLATED = [
    "It works. Not much else to say.",
    "it works. not much else to say",
    "It works! Not much else to say...",
    "It works.  Not much else to say.",
]


def _note(sentence: str) -> str:
    return " ".join([*FILLER[:3], sentence, *FILLER[3:]])


def seed(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        accounts = {e: Account(external_id=e, name=e.title()) for e in ("ACME-001", "GLOBEX-002")}
        session.add_all(accounts.values())
        session.commit()
        ids = {e: int(a.id or 0) for e, a in accounts.items()}
        day = dt.date(2024, 5, 1)
        for n, (ext, acc, sentence) in enumerate(PHRASE_NOTES + OTHER_NOTES):
            session.add(
                CallNote(
                    external_id=ext,
                    account_id=ids[acc],
                    occurred_on=day + dt.timedelta(days=n),
                    text=_note(sentence),
                )
            )
        session.add(
            CallNote(
                external_id="N-7", account_id=ids["ACME-001"], occurred_on=day, text=_note(BURIED)
            )
        )
        for n, comment in enumerate(TEMPLATED * 2):
            session.add(
                NpsResponse(
                    external_id=f"P-{n:02d}",
                    account_id=ids["ACME-001" if n % 2 else "GLOBEX-002"],
                    responded_on=day + dt.timedelta(days=n),
                    score=8,
                    comment=comment,
                )
            )
        session.add(
            NpsResponse(
                external_id="P-99",
                account_id=ids["ACME-001"],
                responded_on=day,
                score=3,
                comment="Too expensive and the Salesforce sync keeps breaking.",
            )
        )
        session.commit()
    return ids


class CountingEmbedder:
    """The real embedder, recording every text it is asked to embed."""

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


class Book:
    def __init__(
        self, store: VectorStore, engine: Engine, ids: dict[str, int], settings: Settings
    ) -> None:
        self.store, self.engine, self.ids, self.settings = store, engine, ids, settings


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hybrid") / "keel-data")
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    ids = seed(engine)
    embedder = CountingEmbedder(load_embedder())
    store = open_vector_store(settings, embedder)
    report = store.index_from_db(engine)
    store.report = report  # type: ignore[attr-defined]
    store.counting = embedder  # type: ignore[attr-defined]
    yield Book(store, engine, ids, settings)
    engine.dispose()


# -- keyword scoring (no model) ---------------------------------------------------------------


def test_keyword_index_scores_bm25_and_finds_phrases() -> None:
    texts = [
        "They are piloting another vendor for chat.",
        "Another team is piloting the vendor portal.",
        "",
        "Nothing to see here at all.",
    ]
    index = KeywordIndex(texts, [0, 1, 3])
    scores, matched = index.scores(content_words(PHRASE))
    assert content_words("people can't sign in") == ["people", "sign"]  # no stopwords, no 't'
    assert list(matched) == [3, 3, 0, 0]
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == scores[3] == 0
    assert index.phrase_rows(PHRASE) == {0}
    assert index.phrase_rows("Piloting, ANOTHER   vendor!") == {0}  # case, punctuation, spaces
    assert index.phrase_rows(PHRASE, rows=[1, 3]) == set()


def test_near_duplicate_key_ignores_case_punctuation_and_numbers() -> None:
    assert len({near_duplicate_key(t) for t in TEMPLATED}) == 1
    assert near_duplicate_key("Paid 3 invoices late") == near_duplicate_key(
        "paid 12 invoices late."
    )
    assert near_duplicate_key("Mostly happy; Sandbox is clunky.") != near_duplicate_key(
        "Mostly happy; Routing rules is clunky."
    )


# -- search ------------------------------------------------------------------------------------


@slow
def test_an_exact_phrase_finds_every_note_that_says_it_first(book: Book) -> None:
    for hits in (
        book.store.search(PHRASE, k=5),
        book.store.search(PHRASE, k=5, kinds=["note"]),
        book.store.search(PHRASE, k=5, since=dt.date(2024, 1, 1)),
    ):
        top = hits[:3]
        assert {h.external_id for h in top} == {"N-1", "N-2", "N-3"}, [
            (h.external_id, h.match, round(h.score, 3)) for h in hits
        ]
        assert all(h.match == "phrase" for h in top)
        # The rival-tool paraphrase and the notes with the words but not the phrase rank
        # after every note that says it.
        assert all(h.match != "phrase" for h in hits[3:])
        sentences = {ext: sentence for ext, _acc, sentence in PHRASE_NOTES}
        for hit in top:
            assert hit.passage == sentences[hit.external_id]
            assert hit.passage in hit.text and hit.text.startswith(FILLER[0])

    acme = book.store.search(PHRASE, k=5, account_id=book.ids["ACME-001"])
    assert [h.match for h in acme[:2]] == ["phrase", "phrase"]
    assert {h.external_id for h in acme[:2]} == {"N-1", "N-2"}


@slow
def test_a_paraphrase_still_finds_its_note_by_meaning(book: Book) -> None:
    hits = book.store.search("customer is trying out a competing product", k=3, kinds=["note"])
    assert "N-4" in {h.external_id for h in hits}
    assert all(h.match == "meaning" for h in hits)


@slow
def test_the_passage_is_the_sentence_that_matches_not_the_start(book: Book) -> None:
    hits = book.store.search("weekly export of retained data on Sundays", k=1)
    assert hits[0].external_id == "N-7"
    assert hits[0].passage == BURIED
    assert not hits[0].text.startswith(BURIED)


@slow
def test_templated_records_collapse_into_one_hit(book: Book) -> None:
    hits = book.store.search("it works, nothing else to say", k=5, kinds=["nps"])
    keys = [near_duplicate_key(h.text) for h in hits]
    assert len(keys) == len(set(keys)), [h.text for h in hits]
    first = hits[0]
    assert near_duplicate_key(first.text) == near_duplicate_key(TEMPLATED[0])
    assert len(first.similar) == len(TEMPLATED) * 2 - 1
    assert all(s.startswith("nps:P-") for s in first.similar)
    assert f"nps:{first.external_id}" not in first.similar
    # Without collapsing, every copy is its own hit.
    every = book.store.search("it works, nothing else to say", k=8, kinds=["nps"], collapse=False)
    assert len(every) == 8 and all(not h.similar for h in every)


@slow
def test_each_distinct_text_is_embedded_once(book: Book) -> None:
    report = book.store.report  # type: ignore[attr-defined]
    texts = book.store.counting.texts  # type: ignore[attr-defined]
    assert len(texts) == len(set(texts))  # no text sent to the model twice
    assert report.texts_embedded == len(texts) < report.chunks_written
    # The repeated text is stored once per record all the same.
    assert book.store.count() == report.chunks_written


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture()
def cli(book: Book, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from keel.api.cli import index as index_cli

    monkeypatch.setenv("KEEL_DATA_DIR", str(book.settings.data_dir))
    app = typer.Typer()
    index_cli.register(app)
    return app


@slow
def test_cli_prints_the_matching_sentence_and_cites_near_duplicates(cli: typer.Typer) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "weekly export of retained data on Sundays", "-k", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "(N-7)" in lines[0]
    assert lines[1].strip() == BURIED  # the sentence, not the note's first 160 characters
    assert lines[2].strip().startswith("in: " + FILLER[0][:40])

    result = runner.invoke(cli, ["search", PHRASE, "-k", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("[phrase]") == 3

    result = runner.invoke(cli, ["search", "it works, nothing else to say", "--kind", "nps"])
    assert result.exit_code == 0, result.output
    assert f"+{len(TEMPLATED) * 2 - 1} near-duplicate(s): nps:P-" in result.output


@slow
def test_the_model_is_loaded_once_per_process(cli: typer.Typer) -> None:
    before = load_embedder.cache_info()
    runner = CliRunner()
    for query in ("pricing", "renewal at risk", PHRASE):
        assert runner.invoke(cli, ["search", query]).exit_code == 0
    after = load_embedder.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
