"""Interventions and their outcomes, and ``keel metrics`` (issue 21 item 4).

A night sends actions (the AI-led tier alone, and drafts a CSM approves); later nights 30,
60 and 90 days on record each sent action as an intervention with the signal that prompted
it and judge its 30/60/90-day windows from their snapshots. The expected statuses are
worked out here from the snapshots themselves. Real SQLite (and PostgreSQL with
KEEL_TEST_POSTGRES_URL), the real checkpointer, the offline model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.api.services.metrics import operating_metrics
from keel.api.services.nightly import NightlyRequest, run_nightly, thread_date
from keel.api.services.reviews import decide, review_date
from keel.app import App
from keel.memory import interventions as iv
from keel.memory import runs
from keel.memory.actions import Intervention, ProposedAction
from keel.memory.models import Renewal, RenewalOutcome
from keel.memory.snapshots import AccountHealthRow, health_rows
from keel.settings import Settings

BOOK = 20
SEED = 11
APPROVER = "ben.fraser@kitewing.example"


@dataclass
class Book:
    app: App
    d0: dt.date
    latest: dt.date
    d0_run: int


def _snapshot(app: App, day: dt.date) -> dict[int, AccountHealthRow]:
    run = runs.get_run(app.engine, as_of=day)
    assert run is not None and run.snapshot_id is not None
    return {r.account_id: r for r in health_rows(app.engine, run.snapshot_id)}


def _nights(app: App) -> Book:
    from keel.memory.synth import seed_book

    seed_book(app.engine, n_accounts=BOOK, seed=SEED)
    latest = review_date(app)  # the latest data date; the nights run in date order
    d0 = latest - dt.timedelta(days=90)
    first = run_nightly(app, NightlyRequest(as_of=d0, limit=4, digest=False))
    assert first.pending_action_ids, "the night should leave drafts to approve"
    for action_id in first.pending_action_ids:
        decide(app, action_id, "approve", user=APPROVER)
    for days in (30, 60):
        run_nightly(app, NightlyRequest(as_of=d0 + dt.timedelta(days=days), limit=1, digest=False))
    run_nightly(app, NightlyRequest(limit=1, digest=False))
    return Book(app=app, d0=d0, latest=latest, d0_run=first.run_id)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    data = tmp_path_factory.mktemp("metrics") / "keel-data"
    with App(settings=Settings(data_dir=data), use_vectors=False) as app:
        yield _nights(app)


def _dates(book: Book) -> list[dt.date]:
    return [book.d0 + dt.timedelta(days=d) for d in (0, 30, 60, 90)]  # the last is latest


def _expected(book: Book, record: iv.InterventionRecord, window: int) -> str | None:
    """The window's status worked out from the nightly snapshots (None: still open)."""
    if not record.flagged:
        return iv.NO_SIGNAL
    end = record.on + dt.timedelta(days=window)
    inside = [day for day in _dates(book) if record.on < day <= min(end, book.latest)]
    scores = [_snapshot(book.app, day)[record.account_id] for day in inside]
    if any(not s.flagged for s in scores):
        return iv.RECOVERED
    if end > book.latest:
        return None
    return iv.NOT_RECOVERED if scores else iv.UNMEASURED


def _first_signal(book: Book, record: iv.InterventionRecord) -> dt.date | None:
    start = None
    for day in reversed([d for d in _dates(book) if d <= record.on]):
        if not _snapshot(book.app, day)[record.account_id].flagged:
            break
        start = day
    return start


def _check(book: Book) -> None:
    app = book.app
    with Session(app.engine) as session:
        sent = session.exec(select(Intervention)).all()
        actions = {a.id: a for a in session.exec(select(ProposedAction)).all()}
    records = iv.records(app.engine)
    # Every executed action is an intervention, recorded once.
    assert sent and sorted(r.intervention_id for r in records) == sorted(s.id for s in sent)
    approved = [r for r in records if not r.ai_led]
    assert approved and all(r.approved_by == APPROVER and r.decision == "approve" for r in approved)
    for r in records:
        action = actions[r.action_id]
        assert (r.play_id, r.channel, r.account_id) == (
            action.play_id,
            action.channel,
            action.account_id,
        )
        assert r.ai_led == (not action.needs_approval)
        if r.ai_led:
            assert (r.approved_by, r.decision) == ("policy", "auto")
        # The signal is the account's score on the night the action was proposed for.
        assert r.on == thread_date(r.thread_id) and r.on in _dates(book)
        score = _snapshot(app, r.on)[r.account_id]
        assert (r.flagged, r.probability, r.band) == (score.flagged, score.probability, score.band)
        assert r.first_signal_on == _first_signal(book, r)
    flagged = [r for r in records if r.flagged]
    assert flagged, "some interventions should answer a risk flag"
    assert any(r.on == book.d0 for r in flagged), "d0's should have closed windows"

    # Each window judged by a later night, as the snapshots say.
    judged = {(o.record_id, o.window_days): o for o in iv.outcomes(app.engine)}
    night_of = {run.id: run.as_of for run in runs.list_runs(app.engine)}
    for r in records:
        for window in iv.WINDOWS:
            outcome = judged.get((r.id or 0, window))
            expected = _expected(book, r, window)
            assert (outcome.status if outcome else None) == expected, (r.play_id, window)
            if outcome is not None and r.flagged:
                assert night_of[outcome.run_id] > r.on  # judged by a later night
    assert any(judged.get((r.id or 0, 90)) is not None for r in flagged if r.on == book.d0), (
        "d0's 90-day windows close on the latest night"
    )

    # A renewal outcome is recorded once decided by the latest night, never one decided later.
    with Session(app.engine) as session:
        for r in records:
            first = session.exec(
                select(Renewal)
                .where(Renewal.account_id == r.account_id, col(Renewal.renewal_date) >= r.on)
                .order_by(col(Renewal.renewal_date))
            ).first()
            known = (
                first is not None
                and first.outcome != RenewalOutcome.PENDING
                and first.decided_on is not None
                and first.decided_on <= book.latest
            )
            assert r.renewal_outcome == (str(first.outcome) if known and first else "")

    # Running the latest night again records nothing twice.
    before = (len(records), len(judged))
    again = run_nightly(app, NightlyRequest(limit=1, digest=False))
    assert (again.interventions_recorded, again.outcomes_recorded) == (0, 0)
    assert (len(iv.records(app.engine)), len(iv.outcomes(app.engine))) == before

    # keel metrics' numbers are these rows' numbers.
    metrics = operating_metrics(app)
    assert metrics.as_of == book.latest and metrics.runs == 4
    by_play = {p.play_id: p for p in metrics.plays}
    assert sum(p.interventions for p in metrics.plays) == len(records)
    for play_id, p in by_play.items():
        mine = [r for r in records if r.play_id == play_id]
        assert p.ai_led == sum(r.ai_led for r in mine)
        for window in iv.WINDOWS:
            found = [judged.get((r.id or 0, window)) for r in mine if r.flagged]
            statuses = [o.status for o in found if o is not None]
            rate = p.recovery[window]
            assert rate.hits == statuses.count(iv.RECOVERED)
            assert rate.n == rate.hits + statuses.count(iv.NOT_RECOVERED)


def test_an_interventions_outcome_is_recorded_by_later_runs(book: Book) -> None:
    _check(book)


@pytest.mark.postgres
def test_interventions_and_outcomes_on_postgresql(
    pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    with pg_engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    joiner = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{joiner}options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=tmp_path / "keel-data", database_url=url)
    with App(settings=settings, use_vectors=False) as app:
        _check(_nights(app))


def test_coverage_flags_csms_and_drafts(book: Book) -> None:
    app = book.app
    metrics = operating_metrics(app)
    last = runs.get_run(app.engine, as_of=book.latest)
    assert last is not None and last.snapshot_id is not None
    scored = health_rows(app.engine, last.snapshot_id)
    done = [r for r in runs.run_accounts(app.engine, last.id or 0) if r.status == runs.DONE]
    assert (metrics.coverage.hits, metrics.coverage.n) == (len(done), len(scored))
    assert sum(metrics.accounts_per_csm.values()) == len(scored)

    # Flags: only d0's window (d0 + 90 = the latest night) has closed; each account scored
    # on d0 is judged by its first renewal after d0 if decided by the latest night.
    flags = metrics.flags
    with Session(app.engine) as session:
        renewals = session.exec(select(Renewal).order_by(col(Renewal.renewal_date))).all()
    tally = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "undecided": 0}
    for row in _snapshot(app, book.d0).values():
        first = next(
            (r for r in renewals if r.account_id == row.account_id and r.renewal_date > book.d0),
            None,
        )
        if first is None or first.decided_on is None or first.decided_on > book.latest:
            tally["undecided"] += 1
            continue
        bad = first.outcome in (RenewalOutcome.CHURNED, RenewalOutcome.CONTRACTED)
        tally[("tp" if bad else "fp") if row.flagged else ("fn" if bad else "tn")] += 1
    assert (
        flags.true_flags,
        flags.false_flags,
        flags.true_clear,
        flags.missed,
        flags.undecided,
    ) == (tally["tp"], tally["fp"], tally["tn"], tally["fn"], tally["undecided"])

    # Drafts: the approvals given above, the policy's auto-approvals, what still waits.
    with Session(app.engine) as session:
        pending = len(
            session.exec(select(ProposedAction).where(ProposedAction.status == "pending")).all()
        )
    assert metrics.drafts["approved"] >= 1 and metrics.drafts["pending"] == pending
    assert metrics.drafts["rejected"] == 0 and metrics.drafts["edited"] == 0
    assert metrics.signal_to_action_n == len(
        {r.account_id for r in iv.records(app.engine) if r.flagged}
    )


def test_keel_metrics_prints_the_report(book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import keel.api.cli.metrics as metrics_cli
    from keel.api.cli.main import _register, app

    settings = book.app.settings
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(
        metrics_cli, "make_app", lambda **_: App(settings=settings, use_vectors=False)
    )
    if not any(c.name == "metrics" for c in app.registered_commands):
        _register()
    result = CliRunner().invoke(app, ["metrics"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"as of {book.latest} (4 nightly run(s))" in out
    for play in {r.play_id for r in iv.records(book.app.engine)}:
        assert play in out
    assert "(flagged, no intervention)" in out and "Coverage" in out
    assert "approved" in out and "rejected 0" in out


def test_keel_metrics_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import keel.api.cli.metrics as metrics_cli
    from keel.api.cli.main import _register, app

    settings = Settings(data_dir=tmp_path / "keel-data")
    from keel.memory.synth import seed_book

    with App(settings=settings, use_vectors=False) as seeded:
        seed_book(seeded.engine, n_accounts=10, seed=SEED)  # a book, and no night yet
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(
        metrics_cli, "make_app", lambda **_: App(settings=settings, use_vectors=False)
    )
    if not any(c.name == "metrics" for c in app.registered_commands):
        _register()
    result = CliRunner().invoke(app, ["metrics"])
    assert result.exit_code == 0 and "No nightly runs yet" in result.output
