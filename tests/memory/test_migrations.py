"""Schema migrations (Alembic) on SQLite and PostgreSQL.

- from empty: the revisions make exactly the schema the models describe;
- from the schema Keel's ``create_all`` made before migrations, with rows in it: the
  database is adopted at the baseline and upgraded, and every row is still there;
- models and revisions agree (Alembic's ``compare_metadata``), so a model change without
  a revision fails here;
- two processes upgrading one database at once both succeed;
- the risk-language cache is upserted by key, not deleted and re-added.

PostgreSQL cases run in a schema of their own, dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from keel.memory.actions import ActionDecision, DeliveryAttempt, Intervention, ProposedAction
from keel.memory.db import import_all_tables, init_db, make_engine, normalise_url
from keel.memory.index_state import IndexedDocument
from keel.memory.intel_tables import HealthModelRecord, RiskLanguageMatch, RiskLanguageScan
from keel.memory.migrations.runner import BASELINE, current, differences, head, upgrade
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    ContactRole,
    Invoice,
    NpsResponse,
    Renewal,
    Segment,
    Ticket,
    UsageDaily,
)

ROOT = Path(__file__).resolve().parents[2]

# Every table ``create_all`` made on main before migrations (what 0001_baseline creates).
BASELINE_TABLES = (
    "account",
    "action_decision",
    "call_note",
    "contact",
    "crm_task",
    "delivery_attempt",
    "feature_adoption",
    "health_model",
    "intervention",
    "invoice",
    "nps_response",
    "product_event_daily",
    "proposed_action",
    "renewal",
    "risk_language_match",
    "risk_language_scan",
    "ticket",
    "usage_daily",
    "vector_index_state",
)

Backend = tuple[Engine, str, str | None]  # engine, URL, PostgreSQL schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keel.db'}"
        engine = make_engine(url)
        yield engine, url, None
        engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"keel_mig_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(normalise_url(url), connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine, url, schema
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _old_create_all(engine: Engine, skip: tuple[str, ...] = ()) -> None:
    """The schema as Keel made it before migrations: ``create_all`` of the baseline tables."""
    import_all_tables()
    tables = [SQLModel.metadata.tables[name] for name in BASELINE_TABLES if name not in skip]
    SQLModel.metadata.create_all(engine, tables=tables)


def _add_book(engine: Engine) -> None:
    """Rows in many tables, linked as Keel links them (accounts, contacts, actions, ...)."""
    now = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
    with Session(engine) as session:
        account = Account(
            external_id="ACC-1", name="Acme", segment=Segment.ENTERPRISE, arr=120_000.0
        )
        other = Account(external_id="ACC-2", name="Globex", renewal_date=dt.date(2026, 9, 1))
        session.add_all([account, other])
        session.flush()
        assert account.id is not None and other.id is not None
        contact = Contact(
            external_id="C-1",
            account_id=account.id,
            name="Ada",
            email="ada@acme.example",
            role=ContactRole.CHAMPION,
        )
        session.add(contact)
        session.flush()
        session.add_all(
            [
                UsageDaily(account_id=account.id, day=dt.date(2026, 4, 30), active_users=12),
                Ticket(
                    external_id="T-1",
                    account_id=account.id,
                    requester_contact_id=contact.id,
                    opened_at=now,
                    subject="Export fails",
                    body="The export fails every night.",
                ),
                CallNote(
                    external_id="N-1", account_id=other.id, occurred_on=now.date(), text="QBR"
                ),
                Invoice(
                    external_id="I-1",
                    account_id=account.id,
                    issued_on=dt.date(2026, 4, 1),
                    due_on=dt.date(2026, 5, 1),
                    amount=10_000.0,
                ),
                NpsResponse(
                    external_id="P-1",
                    account_id=account.id,
                    contact_id=contact.id,
                    responded_on=now.date(),
                    score=4,
                    comment="Slow support",
                ),
                Renewal(
                    external_id="R-1",
                    account_id=other.id,
                    renewal_date=dt.date(2026, 9, 1),
                    arr_before=50_000.0,
                ),
                HealthModelRecord(
                    name="multi_signal",
                    horizon_days=90,
                    source="fitted",
                    fitted_on=now.date(),
                    params_json='{"w": [1, 2]}',
                ),
                RiskLanguageMatch(
                    source_kind="ticket",
                    source_id=1,
                    external_id="T-1",
                    account_id=account.id,
                    day=now.date(),
                    label="quality_complaint",
                    score=0.71,
                    snippet="fails every night",
                    prototype_version="v1",
                ),
                RiskLanguageScan(prototype_version="v1", n_documents=3, n_matches=1),
                IndexedDocument(kind="ticket", source_id=1, content_hash="abc", n_chunks=2),
            ]
        )
        action = ProposedAction(
            thread_id="review-ACC-1",
            interrupt_id="int-1",
            account_id=account.id,
            play_id="save_plan",
            channel="email",
            draft_kind="email",
            recipient_contact_id=contact.id,
            payload={"subject": "Next steps", "body": "Hello Ada", "metadata": {"n": 1}},
            payload_hash="h1",
            proposed_payload_hash="h1",
            idempotency_key="idem-1",
            policy_reasons=["customer-facing"],
            created_at=now,
        )
        session.add(action)
        session.flush()
        session.add_all(
            [
                ActionDecision(
                    action_id=action.id,
                    decision="approve",
                    user="csm@keel.example",
                    at=now,
                    payload_hash_before="h1",
                    payload_hash="h1",
                ),
                DeliveryAttempt(
                    action_id=action.id,
                    attempt=1,
                    claim_token="tok",
                    idempotency_key="idem-1",
                    started_at=now,
                ),
            ]
        )
        session.commit()


def _all_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every baseline table, in primary-key order."""
    import_all_tables()
    rows: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for name in BASELINE_TABLES:
            table = SQLModel.metadata.tables[name]
            query = select(table).order_by(*table.primary_key.columns)
            rows[name] = [tuple(row) for row in conn.execute(query)]
    return rows


def _table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


# ------------------------------------------------------------------------------ upgrade


def test_upgrade_from_empty_makes_the_models_schema(blank: Backend) -> None:
    engine, _url, _schema = blank
    assert current(engine) is None

    result = upgrade(engine)

    assert (result.before, result.after, result.adopted) == (None, head(), False)
    assert current(engine) == head()
    import_all_tables()
    assert set(SQLModel.metadata.tables) | {"alembic_version"} == _table_names(engine)
    assert differences(engine) == []
    # Idempotent: a second upgrade finds the work done.
    assert not upgrade(engine).changed


def test_upgrade_from_the_create_all_schema_keeps_every_row(blank: Backend) -> None:
    engine, _url, _schema = blank
    _old_create_all(engine)
    _add_book(engine)
    before = _all_rows(engine)
    assert sum(map(len, before.values())) == 16
    for name in ("account", "contact", "proposed_action", "action_decision", "delivery_attempt"):
        assert before[name], name
    assert current(engine) is None

    result = upgrade(engine)

    assert (result.before, result.after, result.adopted) == (None, head(), True)
    assert _all_rows(engine) == before
    assert differences(engine) == []
    # And the adopted database is usable as any other: a new row goes in after the old.
    with Session(engine) as session:
        session.add(Account(external_id="ACC-3", name="Initech"))
        session.commit()
        ids = session.execute(select(Account.__table__.c.id).order_by("id")).scalars().all()  # type: ignore[attr-defined]
    assert list(ids) == [1, 2, 3]


def test_an_older_create_all_schema_missing_a_table_gets_it(blank: Backend) -> None:
    engine, _url, _schema = blank
    _old_create_all(engine, skip=("delivery_attempt",))

    upgrade(engine)

    assert "delivery_attempt" in _table_names(engine)
    assert differences(engine) == []


def test_init_db_is_the_upgrade(blank: Backend) -> None:
    engine, _url, _schema = blank
    init_db(engine)
    assert current(engine) == head()
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [v for (v,) in versions] == [head()]


def test_the_baseline_is_the_first_revision(blank: Backend) -> None:
    engine, _url, _schema = blank
    upgrade(engine, BASELINE)
    assert current(engine) == BASELINE
    assert set(BASELINE_TABLES) | {"alembic_version"} == _table_names(engine)
    upgrade(engine)
    assert current(engine) == head()


def test_upgrade_from_0003_keeps_nightly_runs_and_adds_interventions(blank: Backend) -> None:
    """0004 on a database at 0003 with a night and a sent action in it: every row kept, the
    old run keeps its old thread ids (generation ''), and the intervention tables work."""
    engine, _url, _schema = blank
    upgrade(engine, "0003_nightly_runs")
    _add_book(engine)
    with Session(engine) as session:
        action = session.exec(select(ProposedAction)).scalars().first()
        assert action is not None
        session.add(
            Intervention(
                action_id=action.id,
                account_id=action.account_id,
                play_id=action.play_id,
                channel=action.channel,
                draft_kind=action.draft_kind,
                transport="dry_run",
                sent_at=dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC),
                idempotency_key=action.idempotency_key,
            )
        )
        session.commit()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO nightly_run (id, kind, as_of, status, started_at, attempts, "
                "model_label, accounts_total, accounts_done, accounts_skipped, accounts_failed, "
                "accounts_capped, drafts_proposed, actions_sent, model_calls, model_tokens, "
                "phases_json) VALUES (1, 'nightly', '2026-04-30', 'done', "
                "'2026-05-01 02:00:00+00', 1, 'offline', 1, 1, 0, 0, 0, 1, 1, 3, 900, '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO nightly_account (run_id, account_id, external_id, owner_csm, "
                "thread_id, status, reason, drafts, capped, model_calls, model_tokens, seconds, "
                "started_at) VALUES (1, 1, 'ACC-1', 'ben', 'nightly:2026-04-30:ACC-1', 'done', "
                "'', 1, false, 3, 900, 1.5, '2026-05-01 02:00:00+00')"
            )
        )
    before = _all_rows(engine)
    with engine.connect() as conn:
        night = conn.execute(text("SELECT * FROM nightly_account")).mappings().all()

    result = upgrade(engine)

    assert (result.before, result.after) == ("0003_nightly_runs", head())
    assert _all_rows(engine) == before
    assert differences(engine) == []
    with engine.connect() as conn:
        run = conn.execute(text("SELECT generation, accounts_done FROM nightly_run")).one()
        after = conn.execute(text("SELECT * FROM nightly_account")).mappings().all()
        (sent_id,) = conn.execute(text("SELECT id FROM intervention")).scalars().all()
    assert tuple(run) == ("", 1)
    assert [{k: v for k, v in row.items() if k != "account_name"} for row in after] == [
        dict(row) for row in night
    ]
    assert [row["account_name"] for row in after] == [""]
    from keel.memory.interventions import InterventionOutcome, InterventionRecord

    with Session(engine) as session:
        record = InterventionRecord(
            intervention_id=sent_id,
            action_id="a" * 32,
            account_id=1,
            external_id="ACC-1",
            play_id="exec_sponsor_checkin",
            channel="email",
            thread_id="nightly:2026-04-30:ACC-1",
            on=dt.date(2026, 4, 30),
            sent_at=dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC),
            proposed_at=dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC),
            flagged=True,
            probability=0.7,
        )
        session.add(record)
        session.flush()
        session.add(
            InterventionOutcome(
                record_id=record.id or 0,
                window_days=30,
                status="recovered",
                observed_on=dt.date(2026, 5, 20),
            )
        )
        session.commit()
        assert session.exec(select(InterventionOutcome.status)).scalars().all() == ["recovered"]


# ------------------------------------------------------------------------ models vs revisions


def test_models_and_migrations_agree(blank: Backend) -> None:
    """A model changed without a revision makes this fail: write one (`keel db revision`)."""
    engine, _url, _schema = blank
    upgrade(engine)
    assert differences(engine) == []


def test_the_comparison_sees_a_model_change_without_a_revision(blank: Backend) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine, _url, _schema = blank
    upgrade(engine)
    import_all_tables()
    changed = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["account"].append_column(Column("tier", Integer, nullable=True))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "account", "tier")]


# ------------------------------------------------------------------------------ concurrency

_UPGRADER = """
import sys, time
from sqlmodel import create_engine
from keel.memory.db import init_db, make_engine, normalise_url
url, schema, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
if schema:
    engine = create_engine(normalise_url(url), connect_args={"options": f"-csearch_path={schema}"})
else:
    engine = make_engine(url)
time.sleep(max(0.0, start - time.time()))
init_db(engine)
print("ok")
"""


def test_two_processes_upgrading_at_once_both_succeed(blank: Backend) -> None:
    import time

    engine, url, schema = blank
    start = time.time() + 4.0  # both processes are up and importing by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADER, url, schema or "", str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    assert current(engine) == head()
    assert differences(engine) == []


# ------------------------------------------------------------------------ risk-language upsert


def _match(source_id: int, label: str, score: float) -> dict[str, object]:
    return {
        "source_kind": "ticket",
        "source_id": source_id,
        "external_id": f"T-{source_id}",
        "account_id": 1,
        "day": dt.date(2026, 4, source_id),
        "label": label,
        "score": score,
        "snippet": f"text {source_id}",
        "prototype_version": "v1",
    }


def test_risk_language_refresh_upserts_and_deletes_only_what_is_gone(blank: Backend) -> None:
    from keel.memory.db import session_scope
    from keel.tools.risk_language import _replace_matches

    engine, _url, _schema = blank
    upgrade(engine)
    with session_scope(engine) as session:
        _replace_matches(session, [_match(1, "budget_cut", 0.6), _match(2, "reorg", 0.7)])

    def rows() -> dict[tuple[int, str], tuple[int, float]]:
        with Session(engine) as session:
            found = session.execute(select(RiskLanguageMatch)).scalars()
            return {(m.source_id, m.label): (m.id, m.score) for m in found}

    first = rows()
    with session_scope(engine) as session:
        _replace_matches(session, [_match(2, "reorg", 0.9), _match(3, "competitor", 0.8)])
    second = rows()

    assert set(second) == {(2, "reorg"), (3, "competitor")}
    # The match still found kept its row (same id) and took the new score.
    assert second[(2, "reorg")] == (first[(2, "reorg")][0], 0.9)
    with session_scope(engine) as session:
        _replace_matches(session, [])
    assert rows() == {}
