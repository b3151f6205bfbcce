"""Running review threads: start a review, list what waits for approval, answer it.

The client side of :mod:`keel.graphs.review`, shared by the CLI, the API and the nightly run.
Every call runs the graph with ``durability="sync"``. A reviewer's decision is recorded in
the approvals table *before* the thread is resumed: of two reviewers deciding one action at
once, exactly one is recorded and resumes the thread, the other gets ``ConflictError``
(HTTP 409) and resumes nothing. The approval node recognises the recorded decision when it
runs again and does not record it twice.

A decision's result says truthfully where the action's delivery stands
(:class:`DecisionResult`): sent, being delivered by another worker, failed and waiting
for a retry, failed for good. Delivery itself is the delivery loop's job
(:mod:`keel.tools.outbound.delivery`); the review's execute node only tries once.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from langchain.agents.middleware.human_in_the_loop import DecisionType, HITLRequest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.agents.approval import (
    ReviewDecision,
    action_name,
    make_response,
    record_decision,
    to_decision,
    validate_response,
)
from keel.agents.context import ReviewDeps, RunContext
from keel.agents.schemas import Briefing
from keel.agents.state import ActionOutcome, StepError
from keel.errors import ConflictError, KeelError
from keel.graphs.review import RECURSION_LIMIT, build_review_graph
from keel.memory.actions import (
    EXECUTABLE_STATUSES,
    ActionStatus,
    DecisionKind,
    ProposedAction,
    as_utc,
    get_action,
    list_decisions,
)
from keel.memory.checkpoint import GRAPH_DURABILITY, Persistence
from keel.memory.locks import thread_lock
from keel.tools.outbound.delivery import DeliveryDeps, deliver_action, describe_delivery
from keel.tools.outbound.executor import ExecutionResult

Graph = CompiledStateGraph[Any, Any, Any, Any]


@dataclass(frozen=True)
class PendingApproval:
    """One interrupt waiting for a reviewer: the HITL request and the action it is about."""

    thread_id: str
    interrupt_id: str
    action_id: str
    request: HITLRequest

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.request["action_requests"][0]["args"])

    @property
    def description(self) -> str:
        return str(self.request["action_requests"][0].get("description", ""))


@dataclass(frozen=True)
class ReviewResult:
    """Where one review thread stands."""

    thread_id: str
    account_id: int
    briefing: Briefing | None
    plan: dict[str, Any] | None
    outcomes: list[ActionOutcome]
    errors: list[StepError]
    pending: list[PendingApproval] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.pending

    @property
    def failures(self) -> list[str]:
        """Steps that failed and plays whose send failed or waits for a retry, one line each."""
        found = []
        for error in self.errors:
            where = f" ({error['play']})" if error.get("play") else ""
            found.append(f"{error['step']}{where}: {error['error']}")
        for outcome in self.outcomes:
            if outcome.get("status") in ("failed", "will retry"):
                found.append(f"{outcome['play']}: {outcome.get('detail') or outcome['status']}")
        return found


@dataclass(frozen=True)
class DecisionResult(ReviewResult):
    """A reviewer's decision and where the action stands after it.

    ``recorded`` is False when the call repeated a decision already recorded (a resume
    after a crash); ``ok`` is False when the decision did not get the action where it was
    meant to go (not sent yet, being retried, failed): callers exit non-zero on it;
    ``message`` says so in one line, with what to do next.
    """

    action_id: str = ""
    decision: str = ""
    user: str = ""
    recorded: bool = True
    status: str = ""
    delivery: ExecutionResult | None = None
    ok: bool = True
    message: str = ""


def thread_config(thread_id: str, *, user: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if user:
        configurable["user_id"] = user
    return {"configurable": configurable, "recursion_limit": RECURSION_LIMIT}


def new_thread_id(account_external_id: str) -> str:
    return f"review:{account_external_id}:{uuid.uuid4().hex[:12]}"


def compile_review_graph(
    *, model: BaseChatModel, deps: ReviewDeps, persistence: Persistence
) -> Graph:
    builder = build_review_graph(model=model, deps=deps)
    return builder.compile(checkpointer=persistence.checkpointer, store=persistence.store)


# ------------------------------------------------------------------------------ running


def start_review(
    graph: Graph,
    *,
    account_id: int,
    thread_id: str,
    as_of: dt.date | None = None,
    context: RunContext | None = None,
    callbacks: Sequence[BaseCallbackHandler] = (),
    max_concurrency: int | None = None,
) -> ReviewResult:
    """Run a review until it finishes or pauses for approval.

    ``context`` is the run's own values (budget, user, as-of); every model call of the run
    is charged to its budget. ``callbacks`` (LangChain handlers: tracing, timing) and
    ``max_concurrency`` (plays drafted side by side) tune this run only.
    """
    state: dict[str, Any] = {"account_id": account_id}
    if as_of is not None:
        state["as_of"] = as_of.isoformat()
    config = thread_config(thread_id)
    if callbacks:
        config["callbacks"] = list(callbacks)
    if max_concurrency is not None:
        config["max_concurrency"] = max_concurrency
    graph.invoke(state, config, durability=GRAPH_DURABILITY, context=context)
    return review_result(graph, thread_id)


def continue_review(
    graph: Graph, thread_id: str, *, engine: Engine, context: RunContext | None = None
) -> ReviewResult:
    """Finish work a crashed process left in a thread (e.g. an approved action not sent).

    One resume at a time per thread, across processes (:func:`keel.memory.locks.thread_lock`):
    two reviewers answering two actions of one review would otherwise both continue from
    the same checkpoint.
    """
    with thread_lock(engine, thread_id):
        graph.invoke(None, thread_config(thread_id), durability=GRAPH_DURABILITY, context=context)
    return review_result(graph, thread_id)


def review_result(graph: Graph, thread_id: str) -> ReviewResult:
    snapshot = graph.get_state(thread_config(thread_id))
    values = snapshot.values or {}
    if not values:
        raise KeelError(f"no review thread '{thread_id}'")
    briefing = values.get("briefing")
    return ReviewResult(
        thread_id=thread_id,
        account_id=int(values.get("account_id") or 0),
        briefing=Briefing.model_validate(briefing) if briefing else None,
        plan=values.get("plan"),
        outcomes=list(values.get("outcomes") or []),
        errors=list(values.get("errors") or []),
        pending=pending_approvals(graph, thread_id),
    )


def pending_approvals(graph: Graph, thread_id: str) -> list[PendingApproval]:
    """Interrupts of the thread waiting for a decision, one per proposed action."""
    snapshot = graph.get_state(thread_config(thread_id))
    found: list[PendingApproval] = []
    for item in snapshot.interrupts:
        value = item.value
        if not isinstance(value, dict) or "action_requests" not in value:
            continue
        request = cast(HITLRequest, value)
        args = request["action_requests"][0]["args"]
        found.append(
            PendingApproval(
                thread_id=thread_id,
                interrupt_id=item.id,
                action_id=str(args.get("action_id")),
                request=request,
            )
        )
    return found


def decide_action(
    graph: Graph,
    engine: Any,
    *,
    action_id: str,
    kind: DecisionType,
    user: str,
    message: str | None = None,
    edited_args: Mapping[str, Any] | None = None,
    delivery: DeliveryDeps | None = None,
    settle_s: float = 0.0,
    context: RunContext | None = None,
) -> DecisionResult:
    """Record a reviewer's decision on one action, resume its thread, say where it stands.

    The same reviewer repeating an approve or edit (after a crash, or to ask again)
    records nothing new: an unfinished thread is finished and, with ``delivery``, an
    approved action not yet sent is tried once more. Repeating a reject or respond, or any
    decision on an action someone else decided, is refused (``ConflictError``).

    Args:
        graph: The compiled review graph.
        engine: The Keel database.
        action_id: The action decided.
        kind: approve, edit, respond or reject.
        user: Who decides.
        message: Feedback (respond) or reason (reject).
        edited_args: The edited fields (edit).
        delivery: Used to try again an approved action a repeated decision finds unsent.
        settle_s: When another worker is sending the action, wait up to this long for it
            to finish before reporting "being delivered".
        context: The resumed run's own values (a redraft's model calls are charged to its
            budget).

    Raises:
        ValidationFailed: the decision is malformed (nothing recorded).
        ConflictError: the action was already decided otherwise or by someone else
            (nothing resumed).
        KeelError: the action's review is not waiting for it.
    """
    started = as_utc()
    with Session(engine) as session:
        action = get_action(session, action_id=action_id)
        session.expunge(action)
    response = make_response(
        kind, user=user, message=message, edited_args=edited_args, name=action_name(action.channel)
    )
    validated = validate_response(response, action=action)
    decision = to_decision(validated, default_user=user)
    pending = next(
        (p for p in pending_approvals(graph, action.thread_id) if p.action_id == action_id), None
    )
    # --- store failures (issue 24): a thread whose checkpoint is gone cannot be resumed;
    # decide (and deliver) from the action row alone. See graphs/orphans.py.
    from keel.graphs.orphans import decide_orphan, thread_is_gone

    if pending is None and thread_is_gone(graph, action.thread_id):
        orphan = decide_orphan(engine, action, decision, delivery)
        return _decision_result(
            engine,
            orphan.review,
            action_id,
            decision,
            orphan.recorded,
            orphan.attempt,
            settle_s,
            started,
        )
    # --- end of the issue 24 hook
    if pending is None:
        return _resume_unfinished(
            graph, engine, action, decision, delivery, settle_s, started, context
        )
    # Recorded before resuming: a concurrent second decision fails here and resumes nothing.
    record_decision(engine, action, decision)
    with thread_lock(engine, action.thread_id):
        graph.invoke(
            Command(resume={pending.interrupt_id: validated}),
            thread_config(action.thread_id, user=user),
            durability=GRAPH_DURABILITY,
            context=context,
        )
    review = review_result(graph, action.thread_id)
    # A decision found already recorded (the interrupt outlived a crash) is a replay.
    recorded = action.status == ActionStatus.PENDING
    return _decision_result(engine, review, action_id, decision, recorded, None, settle_s, started)


def _resume_unfinished(
    graph: Graph,
    engine: Any,
    action: ProposedAction,
    decision: ReviewDecision,
    delivery: DeliveryDeps | None,
    settle_s: float,
    started: dt.datetime,
    context: RunContext | None = None,
) -> DecisionResult:
    """The action is not waiting: it was decided already. The same reviewer's same decision
    finishes what a crash left (the thread, the send); anything else is a conflict."""
    with Session(engine) as session:
        current = get_action(session, action_id=action.id)
        trail = [
            d
            for d in list_decisions(session, action_id=action.id)
            if d.decision != DecisionKind.RETRY
        ]
        status = current.status
    last = trail[-1] if trail else None
    if last is None:
        raise KeelError(
            f"action {action.id} is {status} and its review is not waiting for a decision"
        )
    same = last.decision == decision.type and last.user == decision.user
    if not same:
        raise ConflictError(
            f"action {action.id} is already {status}: {last.decision} by {last.user} "
            f"at {last.at:%Y-%m-%d %H:%M:%S} UTC; a second decision is refused"
        )
    unfinished = bool(graph.get_state(thread_config(action.thread_id)).next)
    if unfinished:
        review = continue_review(graph, action.thread_id, engine=engine, context=context)
    else:
        review = review_result(graph, action.thread_id)
    if decision.type in ("reject", "respond"):
        # Nothing is delivered: repeating it is a second decision, and is refused.
        raise ConflictError(
            f"action {action.id} is already {status}: {last.decision} by {last.user} "
            f"at {last.at:%Y-%m-%d %H:%M:%S} UTC"
        )
    attempt = None
    if delivery is not None and decision.type in ("approve", "edit"):
        with Session(engine) as session:
            now_status = get_action(session, action_id=action.id).status
        if now_status in EXECUTABLE_STATUSES or now_status == ActionStatus.SENDING:
            attempt = deliver_action(delivery, action.id)
    return _decision_result(engine, review, action.id, decision, False, attempt, settle_s, started)


def _decision_result(
    engine: Any,
    review: ReviewResult,
    action_id: str,
    decision: ReviewDecision,
    recorded: bool,
    attempt: ExecutionResult | None,
    settle_s: float,
    started: dt.datetime,
) -> DecisionResult:
    row = _settled(engine, action_id, settle_s)
    ok, text = True, ""
    if decision.type == "reject":
        text = f"rejected by {decision.user}; nothing is sent"
    elif decision.type == "respond":
        text = f"feedback from {decision.user} recorded; the revised draft waits for approval"
    else:
        verb = "approved" if decision.type == "approve" else "edited and approved"
        state = describe_delivery(row)
        ok = state.ok
        sent_earlier = row.sent_at is not None and as_utc(row.sent_at) < started
        if not recorded and row.status == ActionStatus.SENT and sent_earlier:
            text = f"already {verb} by {decision.user} and {state.text}; nothing new was sent"
        elif recorded:
            text = f"{verb} by {decision.user}; {state.text}"
        else:
            text = f"already {verb} by {decision.user}; {state.text}"
    return DecisionResult(
        thread_id=review.thread_id,
        account_id=review.account_id,
        briefing=review.briefing,
        plan=review.plan,
        outcomes=review.outcomes,
        errors=review.errors,
        pending=review.pending,
        action_id=action_id,
        decision=decision.type,
        user=decision.user,
        recorded=recorded,
        status=str(row.status),
        delivery=attempt,
        ok=ok,
        message=text,
    )


def _settled(engine: Any, action_id: str, settle_s: float) -> ProposedAction:
    """The action's row; while another worker holds it, wait up to ``settle_s`` for it."""
    deadline = time.monotonic() + settle_s
    while True:
        with Session(engine) as session:
            row = get_action(session, action_id=action_id)
            session.expunge(row)
        held = row.status == ActionStatus.SENDING and row.claim_token is not None
        if not held or time.monotonic() >= deadline:
            return row
        time.sleep(0.2)
