"""The nightly review over worker processes (``keel nightly --workers N``, issue 21): a small
book reviewed by two processes gives every account exactly once, no duplicate action, the
daily draft cap per CSM held across the processes, and a rerun that redoes nothing; on
SQLite and PostgreSQL. A worker that dies fails only the accounts it held, and the next
run of the night finishes them; a worker that cannot start stops the night with a clear
error. Real processes (spawned), the real checkpointer, the offline model."""

from __future__ import annotations

import os
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.api.services.nightly import NightlyRequest, run_nightly
from keel.app import App
from keel.errors import KeelError
from keel.graphs.runner import review_result
from keel.memory import runs
from keel.memory.actions import ProposedAction
from keel.memory.models import Account
from keel.settings import Settings
from tests.api.test_nightly import BOOK, SEED, _schema_url
from tests.fakes import failing_offline_model

CAP = 2


def _settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    from keel.domain.policy import DEFAULT_POLICY_PATH

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
            "daily_drafts_per_csm: 15", f"daily_drafts_per_csm: {CAP}"
        ),
        encoding="utf-8",
    )
    return Settings(data_dir=tmp_path / "keel-data", policy_path=policy, database_url=database_url)


def _seeded(settings: Settings) -> None:
    from keel.memory.synth import seed_book

    with App(settings=settings, use_vectors=False) as app:
        seed_book(app.engine, n_accounts=BOOK, seed=SEED)


def _first_drafts(engine: Engine) -> list[ProposedAction]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(ProposedAction)
                .where(col(ProposedAction.parent_action_id).is_(None))
                .order_by(col(ProposedAction.id))
            ).all()
        )


def _owners(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        return {int(a.id or 0): a.owner_csm for a in session.exec(select(Account)).all()}


def _two_workers_then_rerun(settings: Settings) -> None:
    _seeded(settings)
    with App(settings=settings, use_vectors=False) as app:
        first = run_nightly(app, NightlyRequest(workers=2, concurrency=2))
        rows = runs.run_accounts(app.engine, first.run_id)
        # Every scored account exactly once, each done, each with its brief.
        assert first.total == len(rows) == len({r.account_id for r in rows}) > 0
        assert first.ok and all(r.status == runs.DONE for r in rows)
        for row in rows:
            assert review_result(app.review_graph, row.thread_id).briefing is not None
        assert first.drafts_proposed > 0
        actions = _first_drafts(app.engine)
        keys = Counter((a.thread_id, a.play_id, a.channel, a.recipient_contact_id) for a in actions)
        assert keys and max(keys.values()) == 1  # no duplicate action
        assert {a.thread_id for a in actions} <= {r.thread_id for r in rows}
        # The cap per CSM, counted from the actions themselves, across both processes.
        owners = _owners(app.engine)
        per_csm = Counter(owners[a.account_id] for a in actions)
        assert max(per_csm.values()) <= CAP
        assert first.capped > 0  # the cap bit: 20 accounts want more than 2 drafts per CSM
        assert sum(r.drafts for r in rows) == len(actions) == first.drafts_proposed

        before = [(a.id, a.status, a.thread_id) for a in _first_drafts(app.engine)]
        again = run_nightly(app, NightlyRequest(workers=2, concurrency=2))
        assert again.run_id == first.run_id and again.skipped == first.total
        assert [(a.id, a.status, a.thread_id) for a in _first_drafts(app.engine)] == before


def test_two_workers_review_every_account_once_under_the_cap(tmp_path: Path) -> None:
    _two_workers_then_rerun(_settings(tmp_path))


@pytest.mark.postgres
def test_two_workers_on_postgresql(pg_engine: Engine, postgres_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, _schema_url(postgres_url, pg_engine))
    _two_workers_then_rerun(settings)
    with App(settings=settings, use_vectors=False) as app:
        assert app.persistence.backend == "postgres"


def test_a_model_given_in_code_needs_a_worker_factory(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seeded(settings)
    model = failing_offline_model("none")
    with (
        App(settings=settings, use_vectors=False, model=model) as app,  # type: ignore[arg-type]
        pytest.raises(KeelError, match="app_factory"),
    ):
        run_nightly(app, NightlyRequest(workers=2))


def _broken_app(settings: Settings) -> App:
    raise KeelError(f"cannot open {settings.data_dir}/nowhere.db")


def test_a_worker_that_cannot_start_stops_the_night_with_its_reason(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seeded(settings)
    broken = partial(_broken_app, settings)
    with (
        App(settings=settings, use_vectors=False) as app,
        pytest.raises(KeelError, match=r"could not start: KeelError: cannot open .*nowhere"),
    ):
        run_nightly(app, NightlyRequest(workers=2), app_factory=broken)


class _WorkerDies(Exception):
    """Raised by the fake model for one account: the whole worker process exits at once,
    as a kill or the out-of-memory killer would end it."""

    def __init__(self, *_: object) -> None:
        os._exit(9)


def _dying_app(settings: Settings, victim: str) -> App:
    model = failing_offline_model(victim, _WorkerDies)
    return App(settings=settings, use_vectors=False, model=model)  # type: ignore[arg-type]


def test_a_dead_worker_fails_only_its_accounts_and_the_next_run_finishes_them(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    _seeded(settings)
    with App(settings=settings, use_vectors=False) as app:
        with Session(app.engine) as session:
            victim = session.exec(select(Account).order_by(col(Account.id))).first()
        assert victim is not None
        report = run_nightly(
            app,
            NightlyRequest(workers=2, concurrency=1, digest=False),
            app_factory=partial(_dying_app, settings, victim.external_id),
        )
        rows = {r.account_id: r for r in runs.run_accounts(app.engine, report.run_id)}
        assert rows[victim.id or 0].status == runs.FAILED
        assert "worker process died" in rows[victim.id or 0].reason
        # The victim's worker (one account at a time) died; the other went on with the
        # rest of the book.
        assert report.failed == 1 and report.done == report.total - 1
        # The next run of the night, with a healthy model, finishes what failed, once.
        again = run_nightly(app, NightlyRequest(workers=2, concurrency=1, digest=False))
        assert again.ok and again.skipped == report.done
        rows_after = runs.run_accounts(app.engine, again.run_id)
        assert len(rows_after) == len({r.account_id for r in rows_after}) == again.total
        assert all(r.status == runs.DONE for r in rows_after)
        actions = _first_drafts(app.engine)
        keys = Counter((a.thread_id, a.play_id, a.channel, a.recipient_contact_id) for a in actions)
        assert not keys or max(keys.values()) == 1
        per_csm = Counter(_owners(app.engine)[a.account_id] for a in actions)
        assert not per_csm or max(per_csm.values()) <= CAP


def test_keel_nightly_workers_reviews_the_book_over_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.cli_support import keel

    settings = _settings(tmp_path)
    _seeded(settings)
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KEEL_POLICY_PATH", str(settings.policy_path))
    code, out = keel(capsys, monkeypatch, "nightly", "--workers", "2", "-c", "2")
    assert code == 0, out
    assert "0 failed" in out and "accounts briefed" in out
    with App(settings=settings, use_vectors=False) as app:
        record = runs.list_runs(app.engine)[0]
        rows = runs.run_accounts(app.engine, record.id or 0)
        assert record.accounts_done == len(rows) == len({r.account_id for r in rows}) > 0
        assert "workers_start" in record.phases
        per_csm = Counter(_owners(app.engine)[a.account_id] for a in _first_drafts(app.engine))
        assert max(per_csm.values()) <= CAP
