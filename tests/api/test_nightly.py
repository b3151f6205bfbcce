"""The nightly review of the whole book (issue 21): every active account briefed, a failing
account recorded while the run goes on, a rerun of the same night redoing nothing, a
SIGKILL mid-run then the same command again giving each account once and no duplicate
action, the daily draft cap per CSM, and the digest naming the accounts that changed.
Real SQLite (and PostgreSQL with KEEL_TEST_POSTGRES_URL), the real checkpointer, the
offline model."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.api.services.digest import build_digests
from keel.api.services.nightly import NightlyRequest, nightly_thread_id, run_nightly
from keel.app import App
from keel.errors import KeelError
from keel.graphs.runner import review_result
from keel.memory import runs
from keel.memory.actions import ProposedAction
from keel.memory.db import make_engine
from keel.memory.models import Account
from keel.memory.snapshots import BookSnapshot, health_rows
from keel.settings import Settings
from tests.fakes import failing_offline_model

BOOK = 20
SEED = 11
REPO = Path(__file__).resolve().parents[2]


def _seed(app: App) -> None:
    from keel.memory.synth import seed_book

    seed_book(app.engine, n_accounts=BOOK, seed=SEED)


def _actions(engine: Engine) -> list[ProposedAction]:
    with Session(engine) as session:
        return list(session.exec(select(ProposedAction).order_by(col(ProposedAction.id))).all())


def _scored_ids(app: App, as_of: dt.date) -> set[int]:
    with Session(app.engine) as session:
        snapshot = session.exec(select(BookSnapshot).where(BookSnapshot.as_of == as_of)).one()
    return {r.account_id for r in health_rows(app.engine, snapshot.id or 0)}


def _schema_url(postgres_url: str, engine: Engine) -> str:
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    joiner = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{joiner}options=-csearch_path%3D{schema}"


def _whole_book_then_rerun(app: App) -> None:
    _seed(app)
    first = run_nightly(app, NightlyRequest(concurrency=2))
    with Session(app.engine) as session:
        live = {a.id for a in session.exec(select(Account)).all() if a.lifecycle_stage != "churned"}
    scored = _scored_ids(app, first.as_of)
    assert scored and scored <= live
    rows = runs.run_accounts(app.engine, first.run_id)
    assert {r.account_id for r in rows} == scored  # every scored (active) account
    assert all(r.status == runs.DONE for r in rows) and first.ok
    for row in rows:  # each has a dated brief in its own deterministic thread
        assert row.thread_id == nightly_thread_id(first.as_of, row.external_id, first.generation)
        assert review_result(app.review_graph, row.thread_id).briefing is not None
    assert first.drafts_proposed > 0 and first.total == len(scored)
    record = runs.get_run(app.engine, run_id=first.run_id)
    assert record is not None and record.accounts_done == len(scored)
    assert {"score", "review", "deliver", "digest"} <= set(record.phases)

    before = [(a.id, a.status, a.thread_id) for a in _actions(app.engine)]
    again = run_nightly(app, NightlyRequest(concurrency=2))
    assert again.run_id == first.run_id and again.skipped == len(scored)
    assert [(a.id, a.status, a.thread_id) for a in _actions(app.engine)] == before
    record = runs.get_run(app.engine, run_id=first.run_id)
    assert record is not None and record.attempts == 2


def test_the_whole_book_is_briefed_once_and_a_rerun_redoes_nothing(tmp_path: Path) -> None:
    with App(settings=Settings(data_dir=tmp_path / "keel-data"), use_vectors=False) as app:
        _whole_book_then_rerun(app)


@pytest.mark.postgres
def test_the_whole_book_on_postgresql(pg_engine: Engine, postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "keel-data", database_url=_schema_url(postgres_url, pg_engine)
    )
    with App(settings=settings, use_vectors=False) as app:
        _whole_book_then_rerun(app)
        assert app.persistence.backend == "postgres"


@pytest.mark.parametrize("error", [RuntimeError, KeelError], ids=["node-raises", "step-error"])
def test_a_failing_account_is_recorded_and_the_run_goes_on(
    tmp_path: Path, error: type[Exception]
) -> None:
    settings = Settings(data_dir=tmp_path / "keel-data")
    with App(settings=settings, use_vectors=False) as app:
        _seed(app)
        with Session(app.engine) as session:
            victim = session.exec(select(Account).order_by(col(Account.id))).first()
        assert victim is not None
    with App(
        settings=settings, use_vectors=False, model=failing_offline_model(victim.external_id, error)
    ) as app:  # type: ignore[arg-type]
        report = run_nightly(app, NightlyRequest(concurrency=2))
        assert report.failed == 1 and report.done == report.total - 1
        (failure,) = report.failures
        assert failure.external_id == victim.external_id
        assert victim.external_id in failure.reason
    # The next attempt of the same night (the model is back) finishes that account only.
    with App(settings=settings, use_vectors=False) as app:
        again = run_nightly(app, NightlyRequest())
        assert again.skipped == again.total - 1
        assert again.ok and again.failed == 0
        (row,) = [
            r for r in runs.run_accounts(app.engine, again.run_id) if r.account_id == victim.id
        ]
        assert row.status == runs.DONE and "analyst" not in row.reason
        assert review_result(app.review_graph, row.thread_id).briefing is not None


def test_the_daily_draft_cap_per_csm_holds(tmp_path: Path) -> None:
    from keel.domain.policy import DEFAULT_POLICY_PATH

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
            "daily_drafts_per_csm: 15", "daily_drafts_per_csm: 2"
        ),
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "keel-data", policy_path=policy)
    with App(settings=settings, use_vectors=False) as app:
        assert app.policy.caps.daily_drafts_per_csm == 2
        _seed(app)
        report = run_nightly(app, NightlyRequest(concurrency=3))
        rows = runs.run_accounts(app.engine, report.run_id)
        assert all(r.status == runs.DONE for r in rows)  # capped accounts are still briefed
        per_csm: Counter[str] = Counter()
        for row in rows:
            per_csm[row.owner_csm] += row.drafts
        assert per_csm and max(per_csm.values()) <= 2
        assert report.capped > 0
        capped = [r for r in rows if r.capped]
        for row in capped:
            result = review_result(app.review_graph, row.thread_id)
            assert result.briefing is not None and row.drafts == 0


def test_the_digest_names_the_accounts_that_moved(tmp_path: Path) -> None:
    with App(settings=Settings(data_dir=tmp_path / "keel-data"), use_vectors=False) as app:
        _seed(app)
        latest = run_nightly(app, NightlyRequest(limit=1, digest=False)).as_of
        runs_before = latest - dt.timedelta(days=90)
        # An earlier night, then the latest one again: the digest compares the two.
        run_nightly(app, NightlyRequest(as_of=runs_before, limit=1, digest=False))
        then = {r.account_id: r for r in _rows(app, runs_before)}
        now = _rows(app, latest)
        into = {r.external_id for r in now if r.flagged and not then[r.account_id].flagged}
        out = {r.external_id for r in now if not r.flagged and then[r.account_id].flagged}
        assert into | out, "the book should move between the two nights"
        paths = run_nightly(app, NightlyRequest(limit=1)).digests
        leader = next(p for p in paths if p.name == "leader.md").read_text(encoding="utf-8")
        section_in = leader.split("## Moved into risk")[1].split("## Moved out")[0]
        section_out = leader.split("## Moved out of risk")[1].split("## Renewals")[0]
        assert all(ext in section_in for ext in into)
        assert all(ext in section_out for ext in out)
        digests = build_digests(app, as_of=latest)
        assert digests[0].previous == runs_before
        # Each CSM's digest holds only their accounts.
        for digest in digests[1:]:
            assert all(m.row.owner_csm == digest.owner for m in digest.into_risk)


def _rows(app: App, as_of: dt.date) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as session:
        snapshot = session.exec(select(BookSnapshot).where(BookSnapshot.as_of == as_of)).one()
    return health_rows(app.engine, snapshot.id or 0)


@pytest.mark.slow
def test_sigkill_mid_run_then_the_same_command_gives_each_account_once(tmp_path: Path) -> None:
    """A real ``keel nightly`` process killed while it reviews, then run again: every
    account done once, and the actions are exactly those of a night never interrupted."""
    _crash_and_resume(tmp_path, Settings(data_dir=tmp_path / "crashed"))


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_mid_run_and_resume_on_postgresql(
    tmp_path: Path, pg_engine: Engine, postgres_url: str
) -> None:
    url = _schema_url(postgres_url, pg_engine)
    _crash_and_resume(tmp_path, Settings(data_dir=tmp_path / "crashed", database_url=url))


def _crash_and_resume(tmp_path: Path, crashed: Settings) -> None:
    clean = Settings(data_dir=tmp_path / "clean")
    for settings in (crashed, clean):
        with App(settings=settings, use_vectors=False) as app:
            _seed(app)
    env = {**os.environ, "KEEL_DATA_DIR": str(crashed.data_dir)}
    if crashed.database_url:
        env["KEEL_DATABASE_URL"] = crashed.database_url
    command = [str(Path(sys.executable).parent / "keel"), "nightly", "--quiet", "-c", "2"]
    watcher = make_engine(crashed.resolved_database_url)
    child = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if _done_accounts(watcher) >= 3:
                break
            if child.poll() is not None:
                pytest.fail("keel nightly finished before it could be killed")
            time.sleep(0.05)
        else:
            pytest.fail("keel nightly never got three accounts done")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    killed_at = _done_accounts(watcher)
    watcher.dispose()
    assert killed_at < BOOK
    done = subprocess.run(command, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0

    with App(settings=clean, use_vectors=False) as app:
        reference = run_nightly(app, NightlyRequest(digest=False))
        expected = _signature(app.engine)
    with App(settings=crashed, use_vectors=False) as app:
        record = runs.get_run(app.engine, as_of=reference.as_of)
        assert record is not None and record.attempts == 2
        rows = runs.run_accounts(app.engine, record.id or 0)
        assert len(rows) == len({r.account_id for r in rows}) == reference.total
        assert all(r.status == runs.DONE for r in rows)
        assert record.accounts_skipped >= killed_at
        got = _signature(app.engine)
    assert got == expected  # the same actions as an uninterrupted night: none twice


def _no_generation(thread_id: str) -> str:
    kind, day, _generation, external_id = thread_id.split(":")
    return f"{kind}:{day}:{external_id}"


def _done_accounts(engine: Engine) -> int:
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM nightly_account WHERE status = 'done'")
                ).scalar_one()
            )
    except DBAPIError:  # the table is not there yet, or locked for a moment
        return 0


def _signature(engine: Engine) -> Counter[tuple[str, str, str, int | None, str]]:
    """Each action as (thread, play, channel, recipient, status): a duplicate counts twice.
    The thread is named without its generation (each workspace's run has its own)."""
    return Counter(
        (_no_generation(a.thread_id), a.play_id, a.channel, a.recipient_contact_id, str(a.status))
        for a in _actions(engine)
        if a.parent_action_id is None
    )


def test_keel_nightly_exits_1_naming_the_failed_account_and_keel_runs_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import keel.api.cli.nightly as nightly_cli
    from keel.api.cli.main import _register, app

    settings = Settings(data_dir=tmp_path / "keel-data")
    with App(settings=settings, use_vectors=False) as seeded:
        _seed(seeded)
        with Session(seeded.engine) as session:
            victim = session.exec(select(Account).order_by(col(Account.id))).first()
    assert victim is not None

    def failing_app(**_: object) -> App:
        model = failing_offline_model(victim.external_id)
        return App(settings=settings, use_vectors=False, model=model)  # type: ignore[arg-type]

    monkeypatch.setattr(nightly_cli, "make_app", failing_app)
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))  # the workspace check
    if not any(c.name == "nightly" for c in app.registered_commands):
        _register()  # once per process (test_demo.py registers at import)
    runner = CliRunner()
    result = runner.invoke(app, ["nightly", "--concurrency", "2", "--send-digests"])
    assert result.exit_code == 1, result.output
    assert f"1 account(s) failed: {victim.name} ({victim.external_id})" in result.output
    # The digests still go out (through the dry-run outbox), once per reader.
    sent = list(settings.outbox_dir.glob("*morning_digest*"))
    assert sent and f"Digests sent: {len(sent)} sent" in result.output
    listed = runner.invoke(app, ["runs", "list"])
    assert listed.exit_code == 0 and "failed" in listed.output
    shown = runner.invoke(app, ["runs", "show", "1"])
    assert shown.exit_code == 0 and victim.external_id in shown.output
    assert "model unavailable" in shown.output


# ------------------------------------------------------------------------------ re-seeding


def test_a_night_after_a_wipe_and_reseed_reviews_the_new_book(tmp_path: Path) -> None:
    """Every row wiped (the demo's reset) while the checkpoints stay, a new book seeded: the
    same night reviews the new book in new threads, never the old book's finished ones."""
    from keel.memory.reset import delete_all_rows
    from keel.memory.synth import seed_book

    with App(settings=Settings(data_dir=tmp_path / "keel-data"), use_vectors=False) as app:
        seed_book(app.engine, n_accounts=12, seed=SEED)
        first = run_nightly(app, NightlyRequest(limit=3, digest=False))
        old_threads = {r.thread_id for r in runs.run_accounts(app.engine, first.run_id)}
        delete_all_rows(app.engine)
        seed_book(app.engine, n_accounts=12, seed=SEED + 1)
        again = run_nightly(app, NightlyRequest(as_of=first.as_of, limit=3, digest=False))
        assert again.ok and again.done == 3 and again.skipped == 0
        rows = runs.run_accounts(app.engine, again.run_id)
        assert not {r.thread_id for r in rows} & old_threads
        assert again.generation != first.generation
        with Session(app.engine) as session:
            names = {a.id: a.name for a in session.exec(select(Account)).all()}
        for row in rows:  # each brief is about the new book's account
            result = review_result(app.review_graph, row.thread_id)
            assert result.briefing is not None
            assert row.account_name == names[row.account_id]
        assert _actions(app.engine), "the new book's night drafts again"
        prefix = f"nightly:{first.as_of}:{again.generation}:"
        assert all(a.thread_id.startswith(prefix) for a in _actions(app.engine))


def test_a_night_after_a_reseed_that_kept_the_run_reviews_the_new_book(tmp_path: Path) -> None:
    """A re-seed keeps the night's run record (only the book's tables are replaced) and, on
    SQLite, the same account ids: the run sees the book changed and starts over, with a new
    generation, instead of skipping every account as done."""
    from keel.domain.policy import DEFAULT_POLICY_PATH
    from keel.memory.synth import seed_book

    policy = tmp_path / "policy.yaml"  # no drafts, so the book can be replaced under the run
    policy.write_text(
        DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
            "daily_drafts_per_csm: 15", "daily_drafts_per_csm: 0"
        ),
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "keel-data", policy_path=policy)
    with App(settings=settings, use_vectors=False) as app:
        seed_book(app.engine, n_accounts=12, seed=SEED)
        first = run_nightly(app, NightlyRequest(limit=3, digest=False))
        assert first.drafts_proposed == 0
        seed_book(app.engine, n_accounts=12, seed=SEED + 1)
        again = run_nightly(app, NightlyRequest(as_of=first.as_of, limit=3, digest=False))
        assert again.skipped == 0 and again.done == again.total == 3
        assert again.run_id == first.run_id and again.generation != first.generation
        record = runs.get_run(app.engine, run_id=again.run_id)
        assert record is not None and record.attempts == 1
        with Session(app.engine) as session:
            names = {a.id: a.name for a in session.exec(select(Account)).all()}
        rows = runs.run_accounts(app.engine, again.run_id)
        assert len(rows) == 3 and all(r.account_name == names[r.account_id] for r in rows)
        assert all(f":{again.generation}:" in r.thread_id for r in rows)
        # And the same night once more (same book) redoes nothing.
        third = run_nightly(app, NightlyRequest(as_of=first.as_of, limit=3, digest=False))
        assert third.generation == again.generation and third.skipped == 3


# ---------------------------------------------------------------------- digests sent out


def test_digests_go_through_the_outbound_adapter_once_and_behind_the_checks(
    tmp_path: Path,
) -> None:
    """--send-digests: each reader's digest through the internal channel's adapter (the
    dry-run outbox here), to that CSM only, once per night however often the night runs;
    a digest carrying a link off the allow-list (an imported account name) is refused."""
    from keel.api.services.digest import LEADER
    from keel.memory.synth import seed_book

    leader = "lead@kitewing.example"
    with App(settings=Settings(data_dir=tmp_path / "keel-data"), use_vectors=False) as app:
        seed_book(app.engine, n_accounts=12, seed=SEED)
        quiet = run_nightly(app, NightlyRequest(limit=3))
        assert quiet.digests and not quiet.digest_deliveries  # files only unless asked
        assert not app.settings.outbox_dir.exists() or not list(
            app.settings.outbox_dir.glob("*morning_digest*")
        )
        request = NightlyRequest(limit=3, send_digests=True, digest_leader=leader)
        first = run_nightly(app, request)
        readers = {d.reader: d for d in first.digest_deliveries}
        owners = {p.stem for p in first.digests if p.suffix == ".md"} - {"leader"}
        assert LEADER in readers and len(readers) == len(owners) + 1
        assert all(d.status == "sent" and d.transport == "dry_run" for d in readers.values())
        files = sorted(app.settings.outbox_dir.glob("*morning_digest*"))
        assert len(files) == len(readers)
        texts = [f.read_text(encoding="utf-8") for f in files]
        assert sum("Keel morning digest for CS leader" in t for t in texts) == 1
        for reader in set(readers) - {LEADER}:  # each CSM's digest addressed to that CSM
            (mine,) = [t for t in texts if f"Keel morning digest for {reader}" in t]
            assert reader in mine

        again = run_nightly(app, request)
        assert {d.status for d in again.digest_deliveries} == {"already_sent"}
        assert sorted(app.settings.outbox_dir.glob("*morning_digest*")) == files

    # Another night, an account whose imported name carries a link: its digests are refused.
    with App(settings=Settings(data_dir=tmp_path / "other"), use_vectors=False) as app:
        seed_book(app.engine, n_accounts=12, seed=SEED)
        night = run_nightly(app, NightlyRequest(limit=3, digest=False))
        with Session(app.engine) as session:
            waiting = session.exec(
                select(ProposedAction).where(ProposedAction.status == "pending")
            ).first()
            assert waiting is not None
            account = session.get(Account, waiting.account_id)
            assert account is not None
            account.name = "Evil Corp see https://evil.example/pay"
            owner = account.owner_csm
            session.add(account)
            session.commit()
        rerun = run_nightly(app, NightlyRequest(as_of=night.as_of, limit=3, send_digests=True))
        # One renamed account is the same book: the night resumes, it does not start over.
        assert rerun.generation == night.generation and rerun.skipped == 3
        sent = rerun.digest_deliveries
        refused = {d.reader: d for d in sent if d.status == "refused"}
        assert set(refused) == {LEADER, owner}
        assert all("https://evil.example/pay" in d.detail for d in refused.values())
        assert all(d.status == "sent" for d in sent if d.reader not in refused)
        outbox = [f.read_text(encoding="utf-8") for f in app.settings.outbox_dir.glob("*")]
        assert not any("evil.example" in t for t in outbox)
