"""The data services (seed, import, index, search) called directly, as every entry point will.

Each test runs on a real SQLite workspace and, for the index, a real embedded Chroma. The
embedding model is the word-hashing fake except in the one test marked slow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from keel.api.services.importing import ImportRequest, ImportResult, RowsWritten, import_data
from keel.api.services.indexing import IndexRequest, index_documents
from keel.api.services.search import SearchKind, SearchQuery, UnknownAccount, search
from keel.api.services.seeding import SeedRequest, seed_book
from keel.app import App
from keel.errors import KeelError, ValidationFailed
from keel.settings import Settings
from tests.fakes import FakeWordEmbedder

# A small book whose texts share few words across records, so the word-hashing embedder
# finds the intended record. Three tickets, two call notes and two NPS comments.
BOOK: dict[str, str] = {
    "accounts.csv": (
        "account_id,name,segment,arr\nACME-001,Acme,enterprise,120000\nBETA-002,Beta,smb,9000\n"
    ),
    "tickets.csv": (
        "ticket_id,account_id,created_at,priority,status,subject,body\n"
        "T-1,ACME-001,2024-03-01,high,open,Invoice charged twice,"
        "Finance reports duplicate invoice charges this month.\n"
        "T-2,BETA-002,2024-03-05,medium,open,Invoice charged twice,"
        "Finance reports duplicate invoice charges again.\n"
        "T-3,ACME-001,2024-04-10,low,solved,Dashboard slow,"
        "Analytics dashboard rendering takes minutes.\n"
    ),
    "notes.csv": (
        "id,account_id,date,text\n"
        "N-1,ACME-001,2024-02-20,Quarterly review: finance worried about invoice mistakes.\n"
        "N-2,BETA-002,2024-02-22,Onboarding session for new administrators.\n"
    ),
    "nps.csv": (
        "response_id,account_id,date,score,comment\n"
        "R-1,ACME-001,2024-03-03,4,Invoice mistakes every quarter; finance frustrated.\n"
        "R-2,BETA-002,2024-03-04,9,Onboarding was smooth and friendly.\n"
    ),
    "churn.csv": "account_id,churned\nACME-001,0\n",
}
DOCUMENTS = 7


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in inspect(engine).get_table_names()
        }


@pytest.fixture()
def app(settings: Settings) -> Iterator[App]:
    """The application object on a fresh workspace, embedding with the word-hashing fake."""
    application = App(settings=settings)
    application.embedder = FakeWordEmbedder()  # type: ignore[misc]
    yield application
    if "engine" in application.__dict__:
        application.engine.dispose()


@pytest.fixture()
def book(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "exports", BOOK)


@pytest.fixture()
def imported(app: App, book: Path) -> ImportResult:
    return import_data(app, ImportRequest(path=book))


# -- seed ----------------------------------------------------------------------------------


def test_seed_writes_a_small_book_and_its_truth_apart(app: App) -> None:
    calls: list[tuple[int, int]] = []
    summary = seed_book(
        app,
        SeedRequest(accounts=6, seed=3, end=dt.date(2025, 6, 30)),
        progress=lambda done, total: calls.append((done, total)),
    )

    assert (summary.n_accounts, summary.seed, summary.as_of) == (6, 3, dt.date(2025, 6, 30))
    assert summary.months == 30 and summary.dialect == "sqlite"
    assert sum(summary.accounts_by_segment.values()) == 6
    assert summary.truth_path is not None and summary.truth_path.is_file()
    assert summary.truth_path.parent == app.settings.data_dir / "truth"
    assert calls and calls[-1] == (6, 6)
    counts = row_counts(app.engine)
    assert counts["account"] == 6 and counts["ticket"] == summary.counts["tickets"]
    # Typed and serialisable, for the web app and the chat.
    assert summary.model_dump(mode="json")["as_of"] == "2025-06-30"


@pytest.mark.parametrize(
    ("request_args", "message"),
    [({"accounts": 0}, "--accounts must be between"), ({"months": 6}, "--months must be between")],
)
def test_seed_refuses_unsupported_sizes_before_opening_anything(
    request_args: dict[str, int], message: str
) -> None:
    with pytest.raises(KeelError, match=message):
        SeedRequest(**request_args)  # type: ignore[arg-type]


def test_seed_without_reset_keeps_what_is_there(app: App) -> None:
    seed_book(app, SeedRequest(accounts=3, seed=1))
    with pytest.raises(KeelError, match="nothing was written"):
        seed_book(app, SeedRequest(accounts=3, seed=1, reset=False))
    assert row_counts(app.engine)["account"] == 3


# -- import --------------------------------------------------------------------------------


def test_import_reports_what_it_read_skipped_and_wrote(app: App, book: Path) -> None:
    stages: list[tuple[str, int, int]] = []
    result = import_data(
        app,
        ImportRequest(path=book),
        progress=lambda stage, done, total: stages.append((stage, done, total)),
    )

    assert isinstance(result, ImportResult) and not result.dry_run
    assert {(f.file, f.entity, f.rows) for f in result.files} == {
        ("accounts.csv", "accounts", 2),
        ("tickets.csv", "tickets", 3),
        ("notes.csv", "notes", 2),
        ("nps.csv", "nps", 2),
    }
    assert any(line.startswith("skipped: churn.csv") for line in result.skipped)
    assert RowsWritten(what="tickets", inserted=3, updated=0) in result.written
    assert result.last_day is None  # no subscriptions, events or usage to date it by
    assert stages, "progress is reported through the callback"
    counts = row_counts(app.engine)
    assert (counts["account"], counts["ticket"], counts["call_note"]) == (2, 3, 2)

    again = import_data(app, ImportRequest(path=book))
    assert RowsWritten(what="tickets", inserted=0, updated=3) in again.written
    assert row_counts(app.engine) == counts


def test_import_dry_run_validates_and_writes_nothing(app: App, book: Path) -> None:
    result = import_data(app, ImportRequest(path=book, dry_run=True, as_of=dt.date(2024, 6, 30)))
    assert result.dry_run and result.written == [] and len(result.files) == 4
    assert result.last_day == dt.date(2024, 6, 30)
    assert row_counts(app.engine)["account"] == 0


def test_a_bad_file_names_file_row_and_field_and_nothing_is_written(
    app: App, imported: ImportResult, tmp_path: Path
) -> None:
    before = row_counts(app.engine)
    bad = write_folder(
        tmp_path / "bad",
        {
            "accounts.csv": "account_id,name\nGAMMA-003,Gamma\n",
            "tickets.csv": "ticket_id,account_id,created_at\nT-9,GAMMA-003,2024-13-45\n",
        },
    )
    with pytest.raises(ValidationFailed) as failed:
        import_data(app, ImportRequest(path=bad))

    assert [(p.file, p.row, p.field) for p in failed.value.problems] == [
        ("tickets.csv", 2, "created_at")
    ]
    assert "tickets.csv, row 2, field 'created_at'" in str(failed.value)
    assert row_counts(app.engine) == before  # not even the valid account


def test_import_of_a_missing_path_is_a_clear_error(app: App, tmp_path: Path) -> None:
    with pytest.raises(KeelError, match="no such file or folder"):
        import_data(app, ImportRequest(path=tmp_path / "nowhere"))


# -- index ---------------------------------------------------------------------------------


def test_index_counts_new_then_unchanged_then_rebuilt(app: App, imported: ImportResult) -> None:
    done: list[tuple[int, int]] = []
    first = index_documents(app, progress=lambda n, total: done.append((n, total)))
    assert (first.new, first.changed, first.unchanged, first.removed) == (DOCUMENTS, 0, 0, 0)
    assert first.embedded_documents == DOCUMENTS and first.chunks_written >= DOCUMENTS
    assert done and done[-1] == (DOCUMENTS, DOCUMENTS)

    second = index_documents(app)
    assert (second.new, second.unchanged, second.chunks_written) == (0, DOCUMENTS, 0)

    rebuilt = index_documents(app, IndexRequest(rebuild=True, batch_size=2))
    assert rebuilt.new == DOCUMENTS and rebuilt.chunks_written == first.chunks_written
    assert rebuilt.model_dump()["embedded_documents"] == DOCUMENTS


def test_index_refuses_a_batch_size_below_one(app: App, imported: ImportResult) -> None:
    with pytest.raises(KeelError, match="batch_size"):
        index_documents(app, IndexRequest(batch_size=0))


# -- search --------------------------------------------------------------------------------


def test_search_kinds_match_the_vector_store() -> None:
    from keel.memory.vectors import KINDS

    assert set(get_args(SearchKind)) == set(KINDS)


def test_search_filters_by_account_kind_and_dates(app: App, imported: ImportResult) -> None:
    index_documents(app)
    query = "duplicate invoice charges finance"

    everything = search(app, SearchQuery(text=query, k=10))
    assert {hit.account_external_id for hit in everything.hits} == {"ACME-001", "BETA-002"}
    assert not everything.index_empty

    acme = search(app, SearchQuery(text=query, account="ACME-001", k=10))
    assert acme.hits and {hit.account_external_id for hit in acme.hits} == {"ACME-001"}
    assert acme.hits[0].external_id == "T-1" and acme.hits[0].kind == "ticket"
    assert acme.hits[0].score >= acme.hits[-1].score

    voices = search(app, SearchQuery(text=query, account="ACME-001", kinds=("nps", "note")))
    assert {(hit.kind, hit.external_id) for hit in voices.hits} == {("nps", "R-1"), ("note", "N-1")}

    march = search(
        app,
        SearchQuery(text=query, since=dt.date(2024, 3, 2), until=dt.date(2024, 3, 31), k=10),
    )
    assert {hit.external_id for hit in march.hits} <= {"T-2", "R-1", "R-2"}
    assert "T-2" in {hit.external_id for hit in march.hits}


def test_search_for_an_unknown_account_fails_before_opening_the_index(
    app: App, imported: ImportResult
) -> None:
    with pytest.raises(UnknownAccount, match="NOPE-9") as failed:
        search(app, SearchQuery(text="invoice", account="NOPE-9"))
    assert failed.value.external_id == "NOPE-9"
    assert isinstance(failed.value, KeelError)
    assert "vector_store" not in app.__dict__


def test_search_says_when_the_index_is_empty(app: App, imported: ImportResult) -> None:
    empty = search(app, SearchQuery(text="invoice"))
    assert empty.hits == [] and empty.index_empty

    index_documents(app)
    nothing = search(app, SearchQuery(text="invoice", since=dt.date(2030, 1, 1)))
    assert nothing.hits == [] and not nothing.index_empty


def test_search_passes_on_the_store_s_own_errors(app: App, imported: ImportResult) -> None:
    index_documents(app)
    with pytest.raises(KeelError, match="empty"):
        search(app, SearchQuery(text="   "))
    with pytest.raises(KeelError):
        search(app, SearchQuery(text="x", since=dt.date(2024, 5, 1), until=dt.date(2024, 1, 1)))


# -- the real embedding model ----------------------------------------------------------------


@pytest.mark.slow
def test_search_finds_a_paraphrase_with_the_real_model(settings: Settings, book: Path) -> None:
    application = App(settings=settings)
    try:
        import_data(application, ImportRequest(path=book))
        report = index_documents(application)
        assert report.new == DOCUMENTS

        found = search(
            application,
            SearchQuery(text="we were billed two times for the same period", account="BETA-002"),
        )
        assert found.hits[0].external_id == "T-2"
        assert found.hits[0].account_external_id == "BETA-002"
    finally:
        application.engine.dispose()
