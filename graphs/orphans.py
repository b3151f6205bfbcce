"""Deciding an action whose review thread is gone (its checkpoint is missing or replaced).

A proposed action lives in two places: its row in the Keel database (the payload, its hash,
the approval state: everything the executor needs) and the paused review thread in the
checkpoint database. When the checkpoint database is lost, damaged and moved aside, or
points at another server, the thread cannot be resumed, and a pending action would wait
forever. The row is enough to decide it:

- **reject** is recorded on the row and its audit trail; nothing is sent;
- **approve** and **edit** are recorded the same way (an edit replaces the payload and its
  hash), then the action is delivered from the row by the executor, which re-checks hash,
  policy, recipients and links as it always does;
- **respond** (feedback for a redraft) needs the drafter and the thread's state, so it is
  refused with a message saying what can be done instead.

The review's other steps (its briefing, later plays) are not re-run: the outcome says the
action was decided without its thread. Called from :func:`keel.graphs.runner.decide_action`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.agents.approval import ReviewDecision, record_decision
from keel.agents.state import ActionOutcome
from keel.errors import KeelError
from keel.graphs.runner import ReviewResult
from keel.memory.actions import EXECUTABLE_STATUSES, ActionStatus, ProposedAction, get_action
from keel.tools.outbound.delivery import DeliveryDeps, deliver_action
from keel.tools.outbound.executor import ExecutionResult

ORPHAN_NOTE = "decided without its review thread (the review's checkpoint is missing)"


@dataclass(frozen=True)
class OrphanDecision:
    """What deciding an orphaned action did.

    Attributes:
        review: The action's outcome, shaped as a finished review (no pending steps).
        recorded: False when the same decision by the same user was recorded before.
        attempt: The delivery attempt made now, if any.
    """

    review: ReviewResult
    recorded: bool
    attempt: ExecutionResult | None


def thread_is_gone(graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str) -> bool:
    """True when the checkpointer holds nothing for ``thread_id`` (it cannot be resumed)."""
    return not graph.get_state({"configurable": {"thread_id": thread_id}}).values


def decide_orphan(
    engine: Engine,
    action: ProposedAction,
    decision: ReviewDecision,
    delivery: DeliveryDeps | None = None,
) -> OrphanDecision:
    """Record ``decision`` on an action whose thread is gone; deliver it when approved.

    Args:
        engine: The Keel database.
        action: The action's row as read before deciding.
        decision: The validated decision.
        delivery: How to send; without it an approved action waits for the delivery loop
            (``keel outbox run``).

    Raises:
        KeelError: a ``respond`` decision (a redraft needs the thread).
        ConflictError: someone else already decided the action differently.
    """
    if decision.type == "respond":
        raise KeelError(
            f"action {action.id} cannot be redrafted: its review thread is gone (the "
            "checkpoint database no longer holds it). Approve, edit or reject it instead."
        )
    recorded = action.status == ActionStatus.PENDING
    # A replay of the same decision is recognised and not recorded twice.
    record_decision(engine, action, decision)
    attempt = None
    with Session(engine) as session:
        status = get_action(session, action_id=action.id).status
    deliverable = status in EXECUTABLE_STATUSES or status == ActionStatus.SENDING
    if delivery is not None and decision.type in ("approve", "edit") and deliverable:
        attempt = deliver_action(delivery, action.id)
    with Session(engine) as session:
        row = get_action(session, action_id=action.id)
        session.expunge(row)
    outcome = ActionOutcome(
        play=row.play_id,
        status=str(row.status),
        action_id=row.id,
        decision=decision.type,
        decided_by=row.decided_by,
        channel=row.channel,
        recipient_contact_id=row.recipient_contact_id,
        reasons=list(attempt.reasons) if attempt is not None else [],
        detail=ORPHAN_NOTE,
    )
    review = ReviewResult(
        thread_id=row.thread_id,
        account_id=row.account_id,
        briefing=None,
        plan=None,
        outcomes=[outcome],
        errors=[],
    )
    return OrphanDecision(review=review, recorded=recorded, attempt=attempt)
