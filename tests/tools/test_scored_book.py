"""The scored book: one snapshot per date, rescored after an import, never written by a read.

Real SQLite files (and PostgreSQL when ``KEEL_TEST_POSTGRES_URL`` is set), the real CLI
and real processes for the race.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing as mp
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from keel.api.cli.main import _register, app
from keel.memory.db import init_db, make_engine, normalise_url
from keel.memory.intel_tables import HealthModelRecord
from keel.memory.snapshots import (
    FRESH,
    STALE,
    AccountHealthRow,
    AccountHypothesesRow,
    BookSnapshot,
    mark_stale,
)
from keel.settings import Settings
from keel.tools.account_intel import AccountIntel
from keel.tools.health.snapshot import current_snapshot, score_as_of
from keel.tools.priorities import compute_priorities
from tests.tools.minibook import build_minibook

_register()
runner = CliRunner()


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def _snapshots(engine: Engine) -> list[dict[str, Any]]:
    table = BookSnapshot.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings().all()]


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(directory))
    engine = make_engine(Settings(data_dir=directory).resolved_database_url)
    init_db(engine)
    build_minibook(engine, n_healthy=30, n_decline=20, n_ai=2)
    engine.dispose()
    return directory


@pytest.fixture()
def book_engine(data_dir: Path) -> Iterator[Engine]:
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- import -> rescore


def test_keel_import_makes_the_next_priorities_rescore(
    data_dir: Path, book_engine: Engine, tmp_path: Path
) -> None:
    first = runner.invoke(app, ["priorities", "--top", "50", "--json"])
    assert first.exit_code == 0, first.output
    listed = json.loads(first.output)["risks"]
    (before,) = _snapshots(book_engine)
    assert before["status"] == FRESH
    # A second read is a read: the same snapshot, not scored again.
    assert runner.invoke(app, ["priorities", "--json"]).exit_code == 0
    assert _snapshots(book_engine)[0]["scored_at"] == before["scored_at"]

    moved = listed[0]["external_id"]
    export = tmp_path / "export"
    export.mkdir()
    (export / "accounts.csv").write_text(f"external_id,owner_csm\n{moved},csm-new\n")
    imported = runner.invoke(app, ["import", str(export)])
    assert imported.exit_code == 0, imported.output
    (marked,) = _snapshots(book_engine)
    assert marked["status"] == STALE

    after = runner.invoke(app, ["priorities", "--json", "--owner", "csm-new"])
    assert after.exit_code == 0, after.output
    (rescored,) = _snapshots(book_engine)
    assert rescored["id"] == before["id"] and rescored["status"] == FRESH
    assert rescored["scored_at"] > before["scored_at"]
    assert [r["external_id"] for r in json.loads(after.output)["risks"]] == [moved]


def test_a_seed_marks_the_book_stale(book_engine: Engine) -> None:
    from keel.memory.synth import seed_book

    score_as_of(book_engine)
    seed_book(book_engine, n_accounts=3, seed=1, months=13)
    assert [s["status"] for s in _snapshots(book_engine)] == [STALE]


def test_mark_stale_since_a_date_keeps_earlier_snapshots(book_engine: Engine) -> None:
    latest = score_as_of(book_engine)
    earlier = score_as_of(book_engine, latest.as_of - dt.timedelta(days=30))
    with book_engine.begin() as conn:
        assert mark_stale(conn, since=latest.as_of) == 1
    status = {s["as_of"]: s["status"] for s in _snapshots(book_engine)}
    assert status == {earlier.as_of: FRESH, latest.as_of: STALE}


# --------------------------------------------------------------------------- reads never write


class _Writes:
    """Every INSERT, UPDATE or DELETE sent on an engine while attached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            self.statements.append(statement)

    def __enter__(self) -> _Writes:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def test_reads_of_a_scored_date_write_nothing_and_fit_nothing(data_dir: Path) -> None:
    from keel.api.services.accounts import AccountQuery, account_view
    from keel.api.services.portfolio import (
        DistributionQuery,
        PriorityQuery,
        health_distribution,
        priority_list,
    )
    from keel.app import App

    keel_app = App(settings=Settings(data_dir=data_dir))
    engine = keel_app.engine
    snapshot = score_as_of(engine)
    (scored,) = _snapshots(engine)
    models = _count(engine, HealthModelRecord)
    rows = _count(engine, AccountHealthRow)
    listing = compute_priorities(engine, top=5)
    ids = [r.account_id for r in listing.risks]
    intel = AccountIntel(engine)
    with _Writes(engine) as writes:
        again = compute_priorities(engine, top=5)
        priority_list(keel_app, PriorityQuery(top=5))
        health_distribution(keel_app, DistributionQuery())
        for account in ids:
            intel.health(account, snapshot.as_of)
            intel.signals(account, snapshot.as_of)
            intel.hypotheses(account, snapshot.as_of)
            intel.similar_churned(account, snapshot.as_of)
        external = listing.risks[0].external_id
        view = account_view(keel_app, AccountQuery(account=external, timeline=True))
    assert writes.statements == []
    assert again == listing
    assert view.health.risk_rank == 1 and view.hypotheses is not None
    assert _count(engine, HealthModelRecord) == models
    assert _count(engine, AccountHealthRow) == rows
    assert _snapshots(engine) == [scored]
    keel_app.close()


def test_an_unscored_date_is_scored_once_by_the_job(book_engine: Engine) -> None:
    intel = AccountIntel(book_engine)
    snapshot = current_snapshot(book_engine)
    assert _count(book_engine, BookSnapshot) == 1
    listing = compute_priorities(book_engine, top=3)
    account = listing.risks[0].account_id
    assert intel.health(account, snapshot.as_of)["risk"] == pytest.approx(
        listing.risks[0].probability, abs=1e-4
    )
    assert _count(book_engine, BookSnapshot) == 1
    assert _count(book_engine, AccountHypothesesRow) == snapshot.scored


# --------------------------------------------------------------------------- the race


def _engine_for(url: str, schema: str | None) -> Engine:
    if schema is None:
        return make_engine(url)
    from sqlmodel import create_engine

    return create_engine(normalise_url(url), connect_args={"options": f"-csearch_path={schema}"})


class _Kept(logging.Handler):
    """Notices the job keeping another process's snapshot instead of writing its own."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.kept = False

    def emit(self, record: logging.LogRecord) -> None:
        self.kept = self.kept or "its snapshot is kept" in record.getMessage()


def _score_in_child(
    url: str, schema: str | None, as_of: dt.date, barrier: Barrier, out: Any
) -> None:
    kept = _Kept()
    logger = logging.getLogger("keel.tools.health.snapshot")
    logger.setLevel(logging.INFO)
    logger.addHandler(kept)
    engine = _engine_for(url, schema)
    barrier.wait(timeout=120)
    snapshot = score_as_of(engine, as_of)
    out.put((snapshot.id, kept.kept))
    engine.dispose()


def _race(url: str, schema: str | None, as_of: dt.date) -> list[tuple[int, bool]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_score_in_child, args=(url, schema, as_of, barrier, out))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    assert [w.exitcode for w in workers] == [0, 0]
    return [out.get(timeout=5) for _ in workers]


def _assert_one_snapshot(engine: Engine, results: list[tuple[int, bool]]) -> None:
    snapshots = _snapshots(engine)
    assert len(snapshots) == 1 and snapshots[0]["status"] == FRESH
    # Both scored; one wrote, the other kept and returned the winner's snapshot.
    assert sorted(results) == [(snapshots[0]["id"], False), (snapshots[0]["id"], True)]
    scored = snapshots[0]["scored"]
    table = AccountHealthRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        n, distinct = conn.execute(
            select(func.count(), func.count(table.c.account_id.distinct()))
        ).one()
    assert n == distinct == scored > 0
    assert _count(engine, AccountHypothesesRow) == scored


def test_two_processes_scoring_the_same_date_leave_one_snapshot(
    data_dir: Path, book_engine: Engine
) -> None:
    from keel.tools.signals.book import latest_data_date

    as_of = latest_data_date(book_engine)
    assert as_of is not None
    url = Settings(data_dir=data_dir).resolved_database_url
    _assert_one_snapshot(book_engine, _race(url, None, as_of))


@pytest.mark.postgres
def test_two_processes_scoring_the_same_date_leave_one_snapshot_on_postgres(
    pg_engine: Engine, postgres_url: str
) -> None:
    from keel.tools.signals.book import latest_data_date

    build_minibook(pg_engine, n_healthy=30, n_decline=20, n_ai=2)
    with pg_engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    as_of = latest_data_date(pg_engine)
    assert as_of is not None
    _assert_one_snapshot(pg_engine, _race(postgres_url, schema, as_of))


# ------------------------------------------------------------------ a run's pinned snapshot


def test_a_run_reads_its_pinned_snapshot_and_never_rescores_halfway(book_engine: Engine) -> None:
    """An import that lands mid-run marks the book stale; the run's later tool calls read the
    snapshot it pinned, as it is, and leave the rescoring to the next run."""
    snap = score_as_of(book_engine)
    assert snap.id is not None
    intel = AccountIntel(book_engine)
    account_id = int(_snapshot_account(book_engine, snap.id))
    before = intel.health(account_id, snap.as_of, snap.id)
    with book_engine.begin() as conn:
        assert mark_stale(conn) == 1

    pinned = intel.health(account_id, snap.as_of, snap.id)
    (row,) = _snapshots(book_engine)
    assert row["status"] == STALE and row["scored_at"] == snap.scored_at
    assert pinned == before

    # Unpinned (a new run), the stale book is scored again first.
    intel.health(account_id, snap.as_of)
    (row,) = _snapshots(book_engine)
    assert row["status"] == FRESH and row["scored_at"] > snap.scored_at


def test_a_pinned_snapshot_of_another_date_is_not_read(book_engine: Engine) -> None:
    latest = score_as_of(book_engine)
    earlier = score_as_of(book_engine, latest.as_of - dt.timedelta(days=30))
    assert earlier.id is not None
    found = AccountIntel(book_engine).snapshot(latest.as_of, earlier.id)
    assert found.id == latest.id and found.as_of == latest.as_of


def _snapshot_account(engine: Engine, snapshot_id: int) -> int:
    table = AccountHealthRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(table.c.account_id).where(table.c.snapshot_id == snapshot_id).limit(1)
            ).scalar_one()
        )


def test_a_book_scored_by_an_earlier_scoring_version_is_scored_again(book_engine: Engine) -> None:
    """A workspace scored by an earlier Keel (another ranking rule) shows the new order on its
    next read, not the stored old one."""
    from keel.memory.snapshots import data_fingerprint
    from keel.tools.health.snapshot import fresh_snapshot

    snap = score_as_of(book_engine)
    assert fresh_snapshot(book_engine, snap.as_of) is not None
    table = BookSnapshot.__table__  # type: ignore[attr-defined]
    with book_engine.begin() as conn:  # as an earlier version wrote it
        conn.execute(table.update().values(fingerprint=data_fingerprint(book_engine)))
    assert fresh_snapshot(book_engine, snap.as_of) is None
    rescored = current_snapshot(book_engine, snap.as_of)
    assert rescored.id == snap.id and rescored.scored_at > snap.scored_at
