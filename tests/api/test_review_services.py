"""The application object and the review, approval, prep and outbox services.

One :class:`keel.app.App` per process: its model, graph and checkpointer are built once and
shared by every run; each run gets its own budget in its run context. The services are what
every entry point calls, so they are tested directly, on a real SQLite workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from keel.api.services import approvals, prep, reviews
from keel.api.services.outbox import deliver_once
from keel.app import App
from keel.errors import ConflictError, KeelError
from keel.memory.models import Account, LifecycleStage
from keel.settings import Settings
from tests.openai_server import OpenAIServer

BOOK_ACCOUNTS = 16


def _seed(app: App) -> list[Account]:
    from keel.memory.synth import seed_book

    seed_book(app.engine, n_accounts=BOOK_ACCOUNTS, seed=11)
    with Session(app.engine) as session:
        rows = session.exec(select(Account).order_by(col(Account.id))).all()
    return [a for a in rows if a.lifecycle_stage != LifecycleStage.CHURNED and a.arr > 0]


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, list[Account]]]:
    data_dir: Path = tmp_path_factory.mktemp("services") / "keel-data"
    with App(settings=Settings(data_dir=data_dir), use_vectors=False) as app:
        yield app, _seed(app)


def test_one_app_two_reviews_each_with_its_own_budget(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """Two reviews through one application object (one model object, one compiled graph)
    each spend their own run budget: the second is not refused for what the first spent."""
    settings = Settings(
        data_dir=tmp_path / "keel-data",
        llm_base_url=openai_server.base_url,
        llm_model="test-model",
        llm_timeout_s=2.0,
        llm_max_retries=0,
        llm_max_calls=2,
    )
    with App(settings=settings, use_vectors=False) as app:
        first, second = _seed(app)[:2]
        run_a = reviews.review_account(app, first.external_id, deliver=False)
        model, graph = app.chat_model, app.review_graph
        run_b = reviews.review_account(app, second.external_id, deliver=False)
        assert app.chat_model is model and app.review_graph is graph  # built once
    assert run_a.calls_used == 2 and run_b.calls_used == 2
    # Each run made its two calls; a budget shared by the process would have refused the
    # second run's first call.
    assert len(openai_server.script.requests) == 4
    for run in (run_a, run_b):
        (failure,) = run.result.errors
        assert failure["step"] == "analyst"
    assert all("budget" in run.result.errors[0]["error"].lower() for run in (run_a, run_b))


def test_a_run_budget_shares_its_limit_with_the_accounts_under_it() -> None:
    from keel.agents.budget import RunBudget
    from keel.errors import BudgetExceeded

    night = RunBudget(max_calls=3, max_tokens=1_000)
    one = night.child(2, 1_000)
    two = night.child(2, 1_000)
    one.charge(tokens=10)
    one.charge(tokens=10)
    with pytest.raises(BudgetExceeded, match="this account"):
        one.charge()
    two.charge()
    with pytest.raises(BudgetExceeded, match="this run"):
        two.charge()  # the account has room; the night does not
    assert (night.calls_used, one.calls_used, two.calls_used) == (3, 2, 1)
    one.adjust(-5)
    assert night.tokens_used == 15 and one.tokens_used == 15


def test_review_service_runs_the_offline_review_and_pages_the_inbox(
    offline_app: tuple[App, list[Account]],
) -> None:
    app, accounts = offline_app
    runs = [reviews.review_account(app, a.external_id) for a in accounts[:6]]
    assert all(run.model_label.startswith("offline") for run in runs)
    assert all(run.calls_used == 0 for run in runs)  # the offline model spends nothing
    assert len({run.result.thread_id for run in runs}) == len(runs)
    waiting = [p.action_id for run in runs for p in run.result.pending]
    assert waiting, "the offline review proposes actions that wait for approval"

    page = approvals.list_inbox(app, status="pending", limit=2)
    assert page.total == len(waiting) and len(page.items) == min(2, len(waiting))
    rest = approvals.list_inbox(app, status="pending", limit=100, offset=2)
    seen = [i.id for i in page.items] + [i.id for i in rest.items]
    assert sorted(seen) == sorted(waiting)
    with pytest.raises(KeelError, match="--status must be"):
        approvals.list_inbox(app, status="maybe")

    detail = approvals.show(app, waiting[0])
    assert detail.status == "pending" and detail.body and detail.policy_reasons
    assert detail.delivery is None  # nothing decided yet


def test_decide_service_sends_once_and_refuses_a_second_decision(
    offline_app: tuple[App, list[Account]],
) -> None:
    app, _ = offline_app
    pending = approvals.list_inbox(app, status="pending", limit=100).items
    emails = [item for item in pending if item.channel == "email"]
    target = (emails or pending)[0]
    run = reviews.decide(app, target.id, "approve", user="casey", settle_s=0)
    assert run.result.recorded and run.result.ok and run.result.status == "sent"
    again = reviews.decide(app, target.id, "approve", user="casey", settle_s=0)
    assert not again.result.recorded and again.result.status == "sent"
    with pytest.raises(ConflictError):
        reviews.decide(app, target.id, "reject", user="robin", message="no", settle_s=0)
    shown = approvals.show(app, target.id)
    assert [d.decision for d in shown.decisions] == ["approve"]
    assert shown.delivery is not None and "sent" in shown.delivery
    assert deliver_once(app).results == []  # nothing left to send


def test_prep_service_briefs_through_the_prep_graph(
    offline_app: tuple[App, list[Account]],
) -> None:
    app, accounts = offline_app
    note = (
        "Call with the team. They asked for an SSO rollout plan by Friday; "
        "we agreed to send the admin guide."
    )
    run = prep.prepare(app, accounts[0].external_id, note=note, note_source="call note n1")
    assert run.prep.brief and len(run.prep.talking_points) == 3
    assert run.call_summary is not None and run.call_summary.summary
    with pytest.raises(KeelError, match="empty"):
        prep.prepare(app, accounts[0].external_id, note="   ")
