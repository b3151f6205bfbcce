"""The approval inbox: list what waits (filters, pages), show one action, decide, retry.

Deciding goes through :func:`keel.api.services.reviews.decide` (the decision resumes the
action's review); a retry re-sends a failed action through the delivery loop. What a
reviewer reads about an action -- its draft, evidence, the policy's reasons, the audit
trail, every delivery attempt -- is gathered here once for the CLI and (next) the web inbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from sqlmodel import Session, col, select

from keel.api.services.outbox import delivery
from keel.app import App
from keel.errors import KeelError
from keel.memory.actions import (
    ActionStatus,
    DeliveryAttempt,
    ProposedAction,
    count_actions,
    get_action,
    list_actions,
    list_attempts,
    list_decisions,
)
from keel.memory.models import Account, Contact
from keel.tools.account_tools import resolve_account
from keel.tools.outbound.delivery import describe_delivery, retry_failed
from keel.tools.outbound.render import addressee_of

# What the default list shows: everything that is not finished -- waiting for a decision,
# failed (needs a human: retry), approved but not sent yet.
OPEN_STATUSES: Final = ("pending", "failed", "approved", "edited", "auto_approved", "sending")
# Statuses after which the delivery state is worth showing (a decision was taken).
_UNDECIDED: Final = ("pending", "rejected", "responded", "superseded")


@dataclass(frozen=True)
class ActionSummary:
    """One row of the inbox."""

    id: str
    account_id: int
    account_name: str
    play: str
    channel: str
    to: list[str]
    subject: str
    status: str
    created_at: dt.datetime
    # Why it is not delivered, for failed and still-sending actions; else None.
    attention: str | None = None
    # The state a reader sees: "failed", "delivering", "will retry" or the status.
    shown_status: str = ""


@dataclass(frozen=True)
class ActionPage:
    """A page of the inbox: its rows, and how many match the filter in all."""

    status: str
    items: list[ActionSummary]
    total: int
    offset: int
    limit: int

    @property
    def attention(self) -> list[ActionSummary]:
        return [item for item in self.items if item.attention is not None]


@dataclass(frozen=True)
class DecisionEntry:
    at: dt.datetime
    decision: str
    user: str
    message: str | None


@dataclass(frozen=True)
class AttemptEntry:
    started_at: dt.datetime
    worker: str
    transport: str
    outcome: str | None
    error: str | None


@dataclass(frozen=True)
class ActionDetail:
    """Everything a reviewer reads about one action."""

    id: str
    status: str
    account_name: str
    play: str
    channel: str
    draft_kind: str
    recipient: str
    subject: str
    body: str
    evidence_ids: list[str]
    policy_reasons: list[str]
    produced_by: str
    decisions: list[DecisionEntry] = field(default_factory=list)
    attempts: list[AttemptEntry] = field(default_factory=list)
    # Where delivery stands, once a decision was taken; None before.
    delivery: str | None = None
    # Why it was not sent (a re-check refused it: a frequency cap, a recipient, a guard on
    # the text; or the transport's error), for a failed or retrying action; else None.
    not_sent_reason: str | None = None


def status_filter(status: str) -> list[str] | None:
    """The statuses ``status`` names: ``open``, ``all`` or one action status.

    Raises:
        KeelError: an unknown status (the message lists the known ones).
    """
    if status == "all":
        return None
    if status == "open":
        return list(OPEN_STATUSES)
    known = [s.value for s in ActionStatus]
    if status not in known:
        raise KeelError(f"--status must be 'open', 'all' or one of: {', '.join(known)}")
    return [status]


def list_inbox(
    app: App,
    *,
    status: str = "open",
    account: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ActionPage:
    """A page of actions, newest first, filtered by status and account."""
    if limit < 1 or offset < 0:
        raise KeelError("limit must be at least 1 and offset not negative")
    wanted = status_filter(status)
    account_id = resolve_account(app.engine, account).id if account else None
    with Session(app.engine) as session:
        rows = list_actions(
            session, status=wanted, account_id=account_id, limit=limit, offset=offset
        )
        total = count_actions(session, status=wanted, account_id=account_id)
        ids = {row.account_id for row in rows}
        names = {
            a.id: a.name
            for a in session.exec(select(Account).where(col(Account.id).in_(ids))).all()
        }
    return ActionPage(
        status=status,
        items=[_summary(row, names.get(row.account_id, str(row.account_id))) for row in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def _summary(row: ProposedAction, account_name: str) -> ActionSummary:
    attention: str | None = None
    shown = str(row.status)
    if row.status == ActionStatus.FAILED:
        attention, shown = describe_delivery(row).text, "failed"
    elif row.status == ActionStatus.SENDING:
        attention = describe_delivery(row).text
        shown = "delivering" if row.claim_token else "will retry"
    payload: dict[str, Any] = row.payload
    return ActionSummary(
        id=row.id,
        account_id=row.account_id,
        account_name=account_name,
        play=row.play_id,
        channel=row.channel,
        to=list(payload.get("to") or []),
        subject=str(payload.get("subject", "")),
        status=str(row.status),
        created_at=row.created_at,
        attention=attention,
        shown_status=shown,
    )


def show(app: App, action_id: str) -> ActionDetail:
    """One action in full: draft, evidence, policy, decisions, delivery attempts.

    Raises:
        ActionNotFound: no such action.
    """
    with Session(app.engine) as session:
        action = get_action(session, action_id=action_id)
        account = session.get(Account, action.account_id)
        contact = (
            session.get(Contact, action.recipient_contact_id)
            if action.recipient_contact_id is not None
            else None
        )
        trail = list_decisions(session, action_id=action_id)
        attempts = list_attempts(session, action_id=action_id)
        payload: dict[str, Any] = action.payload
        meta = payload.get("metadata") or {}
        to = addressee_of(payload.get("to") or [], meta, account.owner_csm if account else "")
        return ActionDetail(
            id=action.id,
            status=str(action.status),
            account_name=account.name if account else str(action.account_id),
            play=action.play_id,
            channel=action.channel,
            draft_kind=action.draft_kind,
            recipient=f"{contact.name} <{to}>" if contact else to,
            subject=str(payload.get("subject", "")),
            body=str(payload.get("body", "")),
            evidence_ids=list(meta.get("evidence_ids") or []),
            policy_reasons=list(action.policy_reasons),
            produced_by=action.produced_by_model,
            decisions=[DecisionEntry(d.at, d.decision, d.user, d.message) for d in trail],
            attempts=[
                AttemptEntry(a.started_at, a.worker, a.transport, a.outcome, a.error)
                for a in attempts
            ],
            delivery=describe_delivery(action).text
            if trail and action.status not in _UNDECIDED
            else None,
            not_sent_reason=_not_sent_reason(action, attempts),
        )


def _not_sent_reason(action: ProposedAction, attempts: list[DeliveryAttempt]) -> str | None:
    if action.status not in (ActionStatus.FAILED, ActionStatus.SENDING):
        return None
    if action.status == ActionStatus.SENDING and action.claim_token:
        return None  # being delivered now
    last = next((a for a in reversed(attempts) if a.error), None)
    reason = action.last_error or (last.error if last is not None else None)
    if not reason:
        return None
    refused = last is not None and last.outcome == "refused"
    return f"refused by the re-check before sending: {reason}" if refused else reason


@dataclass(frozen=True)
class RetryRun:
    action_id: str
    ok: bool
    message: str


def retry(app: App, action_id: str, *, user: str, reason: str | None = None) -> RetryRun:
    """A named user sends a failed action again: audited, re-checked, tried now.

    Raises:
        ConflictError: the action is not ``failed``.
        ActionNotFound: no such action.
    """
    retry_failed(
        delivery(app, f"keel approvals retry ({user})"),
        action_id=action_id,
        user=user,
        message=reason,
    )
    with Session(app.engine) as session:
        state = describe_delivery(get_action(session, action_id=action_id))
    return RetryRun(action_id=action_id, ok=state.ok, message=state.text)
