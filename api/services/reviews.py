"""Reviews: start one account's review, decide one of its actions, finish what a crash left.

Every run gets its own :class:`keel.agents.context.RunContext` -- a fresh model budget from
the settings, the as-of date, the user, the thread -- passed to the graph as LangGraph's
``context=``; the compiled graph, model, policy and adapters are the application object's,
built once per process. The nightly run calls :func:`review_account` per account with an
account's share of its own budget (:meth:`keel.agents.budget.RunBudget.for_account`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain.agents.middleware.human_in_the_loop import DecisionType
from langchain_core.callbacks import BaseCallbackHandler
from sqlmodel import Session

from keel.agents.budget import RunBudget
from keel.agents.context import RunContext
from keel.api.services.outbox import delivery
from keel.app import App
from keel.graphs.runner import (
    DecisionResult,
    ReviewResult,
    continue_review,
    decide_action,
    new_thread_id,
    start_review,
)
from keel.memory.actions import Repeat, find_repeat, get_action, resolve_action_id, withdraw_repeat
from keel.tools.account_tools import resolve_account
from keel.tools.outbound.delivery import DeliveryReport, deliver_due
from keel.tools.signals import latest_data_date

# How long a decision waits for another process that is sending the same action.
SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class AccountRef:
    """Which account a result is about."""

    id: int
    external_id: str
    name: str


@dataclass(frozen=True)
class ReviewRun:
    """One review: where its thread stands and what the delivery pass after it did."""

    account: AccountRef
    as_of: dt.date
    model_label: str
    result: ReviewResult
    delivery: DeliveryReport
    calls_used: int
    tokens_used: int
    # Proposals this review withdrew as repeats: a play already waiting for approval, or
    # one a reviewer rejected on the same evidence (see keel.memory.actions.find_repeat).
    repeats: list[Repeat] = field(default_factory=list)


@dataclass(frozen=True)
class DecisionRun:
    """A reviewer's decision, where the action stands, and the delivery pass after it."""

    result: DecisionResult
    delivery: DeliveryReport


def review_date(app: App, as_of: dt.date | None = None) -> dt.date:
    """The date a review reads as of: the one asked for, else the latest data date."""
    return as_of or latest_data_date(app.engine) or dt.date.today()


def run_context(
    app: App,
    *,
    as_of: dt.date,
    user: str | None,
    thread_id: str,
    account_id: int | None = None,
    budget: RunBudget | None = None,
    max_plays: int | None = None,
) -> RunContext:
    """One run's context with a budget of its own (from the settings unless given)."""
    return RunContext(
        as_of=as_of,
        user=user,
        thread_id=thread_id,
        budget=budget if budget is not None else RunBudget.from_settings(app.settings),
        account_id=account_id,
        max_plays=max_plays,
    )


def review_account(
    app: App,
    account: str,
    *,
    as_of: dt.date | None = None,
    user: str | None = None,
    budget: RunBudget | None = None,
    thread_id: str | None = None,
    deliver: bool = True,
    worker_id: str = "keel review",
    callbacks: Sequence[BaseCallbackHandler] = (),
    max_concurrency: int | None = None,
    max_plays: int | None = None,
    dedupe: bool | None = None,
) -> ReviewRun:
    """Review one account until it finishes or pauses for approval.

    Args:
        app: The application object.
        account: External id, name or internal id.
        as_of: Review date; the latest data date when None.
        user: Who asked (recorded in the run context).
        budget: The run's model budget; a fresh one from the settings when None.
        thread_id: The review's thread; a new one when None (the nightly run passes one
            per account and date, so a rerun finds it).
        deliver: Run one delivery pass afterwards (what the AI-led tier approved alone).
        worker_id: Recorded on the delivery pass's claims.
        callbacks: LangChain callback handlers for this run (tracing, timing).
        max_concurrency: At most this many plays drafted side by side.
        max_plays: At most this many plays for this review, below the usual limit (the
            nightly run holds a CSM's daily draft cap with it; 0: a briefing only).
        dedupe: Withdraw the proposals that repeat an earlier review's (a play already
            waiting for approval; one a reviewer rejected, evidence unchanged), so the
            queue holds each once. Default: on for an ad-hoc review (no ``thread_id``).

    Raises:
        AccountNotFound: no account matches ``account``.
    """
    found = resolve_account(app.engine, account)
    day = review_date(app, as_of)
    thread = thread_id or new_thread_id(found.external_id)
    context = run_context(
        app,
        as_of=day,
        user=user,
        thread_id=thread,
        account_id=found.id,
        budget=budget,
        max_plays=max_plays,
    )
    result = start_review(
        app.review_graph,
        account_id=found.id or 0,
        thread_id=thread,
        as_of=day,
        context=context,
        callbacks=callbacks,
        max_concurrency=max_concurrency,
    )
    repeats: list[Repeat] = []
    if dedupe if dedupe is not None else thread_id is None:
        result, repeats = withdraw_repeats(app, result)
    report = deliver_due(delivery(app, worker_id)) if deliver else DeliveryReport()
    spent = context.budget
    return ReviewRun(
        account=AccountRef(id=found.id or 0, external_id=found.external_id, name=found.name),
        as_of=day,
        model_label=app.model_label,
        result=result,
        delivery=report,
        calls_used=spent.calls_used if spent else 0,
        tokens_used=spent.tokens_used if spent else 0,
        repeats=repeats,
    )


def withdraw_repeats(app: App, result: ReviewResult) -> tuple[ReviewResult, list[Repeat]]:
    """Withdraw the review's pending proposals that repeat earlier ones; the result without
    them, and what was withdrawn (with the earlier action each repeats)."""
    repeats: list[Repeat] = []
    kept = []
    for pending in result.pending:
        with Session(app.engine) as session:
            repeat = find_repeat(session, get_action(session, action_id=pending.action_id))
        if repeat is not None and withdraw_repeat(app.engine, repeat) is not None:
            repeats.append(repeat)
        else:
            kept.append(pending)
    if not repeats:
        return result, []
    return dataclasses.replace(result, pending=kept), repeats


def resolve_action(app: App, ref: str) -> str:
    """The full id of the action ``ref`` names (its id or a unique prefix).

    Raises:
        ActionNotFound: none matches.
        KeelError: several match (listed).
    """
    with Session(app.engine) as session:
        return resolve_action_id(session, ref)


def decide(
    app: App,
    action_id: str,
    kind: DecisionType,
    *,
    user: str,
    message: str | None = None,
    edited: Mapping[str, Any] | None = None,
    worker_id: str | None = None,
    settle_s: float = SETTLE_SECONDS,
) -> DecisionRun:
    """Record a reviewer's decision on one action, resume its review, deliver what is due.

    Raises:
        ValidationFailed: the decision is malformed (nothing recorded).
        ConflictError: the action was already decided otherwise or by someone else.
        ActionNotFound: no such action.
    """
    action_id = resolve_action(app, action_id)
    outbox = delivery(app, worker_id or f"keel approvals ({user})")
    context = run_context(app, as_of=review_date(app), user=user, thread_id="")
    result = decide_action(
        app.review_graph,
        app.engine,
        action_id=action_id,
        kind=kind,
        user=user,
        message=message,
        edited_args=edited,
        delivery=outbox,
        settle_s=settle_s,
        context=context,
    )
    return DecisionRun(result=result, delivery=deliver_due(outbox))


def resume(app: App, thread_id: str, *, user: str | None = None) -> ReviewResult:
    """Finish what a crashed process left in a review thread."""
    context = run_context(app, as_of=review_date(app), user=user, thread_id=thread_id)
    return continue_review(app.review_graph, thread_id, engine=app.engine, context=context)
