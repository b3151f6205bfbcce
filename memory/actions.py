"""Approval records and execution bookkeeping: proposed actions, decisions, interventions.

Approval is a record, not a flag. Each action an agent proposes is a ``ProposedAction`` row
with the sha256 of its canonical payload. A reviewer's decision (approve, edit, respond,
reject) is applied by one compare-and-set ``UPDATE ... WHERE status = 'pending'`` and an
``ActionDecision`` audit row written in the same transaction, so of two concurrent decisions
exactly one wins and the other gets :class:`keel.errors.ConflictError` (HTTP 409).

Status life cycle::

    pending ──approve──► approved ─┐
            ──edit─────► edited ───┼─► sending ─► sent
            ──respond──► responded │    │   ▲
            ──reject───► rejected  │    │   │ lease expired, or retry time come: reclaimed
    (policy allows) auto_approved ─┘    ▼   │
                                      failed ──retry (a named user)──► approved/edited/...
    pending ──(redraft proposed)──► superseded

A ``sending`` row with a claim token is held by a worker until ``lease_expires_at``; one
without a token waits for a retry at ``lease_expires_at`` after a transient failure
(``last_error`` says which). Every send attempt is a ``DeliveryAttempt`` row, written
before the adapter is called, so a crash mid-send leaves a trace the next attempt reads.

Only ``keel.tools.outbound.executor`` moves rows past ``approved``. Datetimes are aware UTC
(SQLModel stores and returns them so on SQLite and PostgreSQL); :func:`as_utc` converts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, UniqueConstraint, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, func, select

from keel.errors import ConflictError, KeelError, Problem, ValidationFailed


class DraftKind(StrEnum):
    """What the drafter writes."""

    EMAIL = "email"  # an email to a named contact
    EXEC_BRIEF = "exec_brief"  # an executive brief, sent by email to a sponsor
    INTERNAL_NOTE = "internal_note"  # an internal escalation note for the CS team
    SLACK = "slack"  # a chat message to the owner CSM


class Channel(StrEnum):
    """How a draft is delivered; adapters are chosen per channel."""

    EMAIL = "email"  # to a customer contact: the only customer-facing channel
    SLACK = "slack"  # to the owner CSM
    INTERNAL = "internal"  # to the CS team (escalation queue, CRM task)


CHANNEL_FOR_DRAFT: dict[DraftKind, Channel] = {
    DraftKind.EMAIL: Channel.EMAIL,
    DraftKind.EXEC_BRIEF: Channel.EMAIL,
    DraftKind.INTERNAL_NOTE: Channel.INTERNAL,
    DraftKind.SLACK: Channel.SLACK,
}

# Channels that reach the customer: recipients must be the account's contacts, frequency
# caps apply, and the ARR threshold forces approval.
CUSTOMER_FACING_CHANNELS: frozenset[str] = frozenset({Channel.EMAIL})


def is_customer_facing(channel: str) -> bool:
    return channel in CUSTOMER_FACING_CHANNELS


class ActionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    RESPONDED = "responded"
    REJECTED = "rejected"
    AUTO_APPROVED = "auto_approved"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


# Statuses from which the executor may claim a row (besides an expired ``sending`` lease).
EXECUTABLE_STATUSES: tuple[ActionStatus, ...] = (
    ActionStatus.APPROVED,
    ActionStatus.EDITED,
    ActionStatus.AUTO_APPROVED,
)
# Statuses that still count as a touch when planning (the message is on its way).
IN_FLIGHT_STATUSES: tuple[ActionStatus, ...] = (
    ActionStatus.PENDING,
    *EXECUTABLE_STATUSES,
    ActionStatus.SENDING,
)


class DecisionKind(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    RESPOND = "respond"
    REJECT = "reject"
    AUTO = "auto"  # the policy allowed sending without a human; recorded like any decision
    # A human sends a failed action again: audited like a decision, but not an approval
    # (the approval it rests on is the earlier one, whose payload hash still has to match).
    RETRY = "retry"
    # Keel took a repeat out of the queue: a play already waiting, or one a reviewer
    # rejected on the same evidence (see :func:`find_repeat`). Not a human decision.
    WITHDRAW = "withdraw"


STATUS_AFTER: dict[DecisionKind, ActionStatus] = {
    DecisionKind.APPROVE: ActionStatus.APPROVED,
    DecisionKind.EDIT: ActionStatus.EDITED,
    DecisionKind.RESPOND: ActionStatus.RESPONDED,
    DecisionKind.REJECT: ActionStatus.REJECTED,
    DecisionKind.AUTO: ActionStatus.AUTO_APPROVED,
}
HUMAN_DECISIONS: frozenset[DecisionKind] = frozenset(STATUS_AFTER) - {DecisionKind.AUTO}
POLICY_USER = "policy"
# Who withdraws a repeated proposal (audited like a decision).
KEEL_USER = "keel"


class ActionNotFound(KeelError):
    """No proposed action has the given id (HTTP 404)."""


def _plain_address(address: str) -> str:
    # One bare address per entry: no display names, lists or header tricks.
    if address.count("@") != 1 or any(c.isspace() or c in ',;<>"' for c in address):
        raise ValueError(f"'{address}' is not a single plain address")
    return address


Address = Annotated[str, AfterValidator(_plain_address)]


class ActionPayload(BaseModel):
    """What will be sent. Recipients are addresses; the executor maps them to contacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = PydanticField(default="", max_length=998)
    body: str = PydanticField(min_length=1)
    to: list[Address] = PydanticField(default_factory=list)
    cc: list[Address] = PydanticField(default_factory=list)
    links: list[str] = PydanticField(default_factory=list)
    metadata: dict[str, Any] = PydanticField(default_factory=dict)

    @field_validator("subject")
    @classmethod
    def _one_line_subject(cls, value: str) -> str:
        # A line break in a header is how header injection starts.
        if "\r" in value or "\n" in value:
            raise ValueError("the subject must be a single line")
        return value


def validate_payload(payload: Mapping[str, Any], *, source: str = "payload") -> ActionPayload:
    """Parse a payload mapping, turning pydantic errors into :class:`ValidationFailed`."""
    try:
        return ActionPayload.model_validate(payload)
    except ValidationError as exc:
        problems = [
            Problem(
                file=source,
                row=None,
                field=".".join(str(p) for p in err["loc"]) or None,
                reason=str(err["msg"]).removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]
        raise ValidationFailed(problems) from None


def canonical_json(data: Any) -> str:
    """One stable text form: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: ActionPayload | Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the payload (defaults filled in)."""
    model = payload if isinstance(payload, ActionPayload) else validate_payload(payload)
    return hashlib.sha256(canonical_json(model.model_dump(mode="json")).encode()).hexdigest()


def idempotency_key(*, thread_id: str, interrupt_id: str, payload_hash: str) -> str:
    """sha256 over thread, interrupt and payload hash: one key per message that may go out."""
    material = canonical_json([thread_id, interrupt_id, payload_hash])
    return hashlib.sha256(material.encode()).hexdigest()


def as_utc(moment: dt.datetime | None = None) -> dt.datetime:
    """``moment`` (default now) as an aware UTC datetime; a naive one is taken as UTC."""
    moment = moment or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class ProposedAction(SQLModel, table=True):
    """One action an agent proposed, its approval state and its delivery state."""

    __tablename__ = "proposed_action"
    __table_args__ = (
        UniqueConstraint(
            "thread_id", "interrupt_id", "proposed_payload_hash", name="uq_action_proposal"
        ),
        Index("ix_action_account_status", "account_id", "status"),
    )

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=32)
    thread_id: str = Field(max_length=256, index=True)
    interrupt_id: str = Field(max_length=256)
    account_id: int = Field(foreign_key="account.id")
    play_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    draft_kind: str = Field(max_length=32)
    recipient_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payload_hash: str = Field(max_length=64)
    # The hash as first proposed: a re-run of the proposing node finds its row by it.
    proposed_payload_hash: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=64, unique=True)
    status: str = Field(default=ActionStatus.PENDING, max_length=16, index=True)
    needs_approval: bool = True
    produced_by_model: str = Field(default="", max_length=256)
    policy_reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The health percentile the policy saw at proposal (0-100), re-used by the executor.
    health_percentile: float | None = None
    revision: int = Field(default=1, ge=1)
    parent_action_id: str | None = Field(default=None, foreign_key="proposed_action.id")
    created_at: dt.datetime = Field(default_factory=as_utc)
    decided_at: dt.datetime | None = None
    decided_by: str | None = Field(default=None, max_length=256)
    # Execution: a claim is a token plus a lease; an expired lease may be reclaimed.
    claim_token: str | None = Field(default=None, max_length=64)
    claimed_by: str | None = Field(default=None, max_length=256)
    lease_expires_at: dt.datetime | None = None
    attempts: int = 0
    sent_at: dt.datetime | None = None
    external_message_id: str | None = Field(default=None, max_length=512)
    last_error: str | None = None


class ActionDecision(SQLModel, table=True):
    """Audit row: who decided what about an action, when, and on which payload."""

    __tablename__ = "action_decision"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(foreign_key="proposed_action.id", index=True, max_length=32)
    decision: str = Field(max_length=16)
    user: str = Field(max_length=256)
    at: dt.datetime = Field(default_factory=as_utc)
    payload_hash_before: str = Field(max_length=64)
    # The hash the decision covers: what the executor must find on the row to send.
    payload_hash: str = Field(max_length=64)
    edited_payload: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True))
    )
    message: str | None = None


class Intervention(SQLModel, table=True):
    """What went out, so its outcome can be measured later (one row per sent action)."""

    __tablename__ = "intervention"
    __table_args__ = (Index("ix_intervention_account_sent", "account_id", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(foreign_key="proposed_action.id", unique=True, max_length=32)
    account_id: int = Field(foreign_key="account.id")
    play_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    draft_kind: str = Field(max_length=32)
    recipient_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    transport: str = Field(max_length=32)
    sent_at: dt.datetime
    idempotency_key: str = Field(max_length=64)
    external_message_id: str = Field(default="", max_length=512)
    result: str = Field(default="sent", max_length=32)
    detail: str = ""


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending an action, written before the adapter is called.

    ``outcome`` is None while the send runs; a row still None when the next attempt
    starts is *in doubt*: the process died mid-send and the message may have gone out.
    """

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(foreign_key="proposed_action.id", index=True, max_length=32)
    attempt: int
    claim_token: str = Field(max_length=64)
    worker: str = Field(default="", max_length=256)
    idempotency_key: str = Field(max_length=64)
    transport: str = Field(default="", max_length=32)
    started_at: dt.datetime = Field(default_factory=as_utc)
    finished_at: dt.datetime | None = None
    # sent | failed | refused | in_doubt (found unfinished by a later attempt) | None
    outcome: str | None = Field(default=None, max_length=16)
    error: str | None = None


class CrmTask(SQLModel, table=True):
    """A task in Keel's built-in CRM (the CRM adapter's destination)."""

    __tablename__ = "crm_task"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    action_id: str = Field(max_length=32, index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    assignee: str = Field(default="", max_length=256)
    title: str = Field(max_length=998)
    body: str = ""
    play_id: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=as_utc)
    status: str = Field(default="open", max_length=16)


@dataclass(frozen=True)
class Touch:
    """A message to an account, sent or on its way; the policy counts these for caps."""

    action_id: str
    on: dt.date
    contact_id: int | None
    play_id: str
    customer_facing: bool


# ---------------------------------------------------------------------------- functions


def propose_action(
    session: Session,
    *,
    thread_id: str,
    interrupt_id: str,
    account_id: int,
    play_id: str,
    draft_kind: DraftKind | str,
    payload: Mapping[str, Any] | ActionPayload,
    needs_approval: bool,
    recipient_contact_id: int | None = None,
    produced_by_model: str = "",
    policy_reasons: Sequence[str] = (),
    health_percentile: float | None = None,
    parent_action_id: str | None = None,
    now: dt.datetime | None = None,
) -> ProposedAction:
    """Record a proposed action; idempotent per (thread, interrupt, payload).

    A graph node that re-runs after a crash calls this again with the same arguments and
    gets the same row back. When the policy says no approval is needed the row starts as
    ``auto_approved`` with an ``auto`` decision by the user ``policy`` in the audit log.
    A redraft names its ``parent_action_id``: the parent, if still pending, is superseded
    and the new row's revision is one more than the parent's.

    The caller commits the session.
    """
    try:
        kind = DraftKind(draft_kind)
    except ValueError:
        raise ValidationFailed(
            [Problem("proposed action", None, "draft_kind", f"unknown draft kind '{draft_kind}'")]
        ) from None
    model = payload if isinstance(payload, ActionPayload) else validate_payload(payload)
    digest = payload_hash(model)
    existing = session.exec(
        select(ProposedAction).where(
            ProposedAction.thread_id == thread_id,
            ProposedAction.interrupt_id == interrupt_id,
            ProposedAction.proposed_payload_hash == digest,
        )
    ).first()
    if existing is not None:
        return existing

    revision = 1
    if parent_action_id is not None:
        parent = session.get(ProposedAction, parent_action_id)
        if parent is None:
            raise ActionNotFound(f"parent action {parent_action_id} does not exist")
        revision = parent.revision + 1
        session.exec(
            update(ProposedAction)
            .where(
                col(ProposedAction.id) == parent_action_id,
                col(ProposedAction.status) == ActionStatus.PENDING,
            )
            .values(status=ActionStatus.SUPERSEDED)
        )
    moment = as_utc(now)
    action = ProposedAction(
        thread_id=thread_id,
        interrupt_id=interrupt_id,
        account_id=account_id,
        play_id=play_id,
        channel=CHANNEL_FOR_DRAFT[kind],
        draft_kind=kind,
        recipient_contact_id=recipient_contact_id,
        payload=model.model_dump(mode="json"),
        payload_hash=digest,
        proposed_payload_hash=digest,
        idempotency_key=idempotency_key(
            thread_id=thread_id, interrupt_id=interrupt_id, payload_hash=digest
        ),
        status=ActionStatus.PENDING if needs_approval else ActionStatus.AUTO_APPROVED,
        needs_approval=needs_approval,
        produced_by_model=produced_by_model,
        policy_reasons=list(policy_reasons),
        health_percentile=health_percentile,
        revision=revision,
        parent_action_id=parent_action_id,
        created_at=moment,
    )
    session.add(action)
    # No ORM relationship orders the inserts, so the action goes first for the foreign key.
    session.flush()
    if not needs_approval:
        action.decided_at = moment
        action.decided_by = POLICY_USER
        session.add(
            ActionDecision(
                action_id=action.id,
                decision=DecisionKind.AUTO,
                user=POLICY_USER,
                at=moment,
                payload_hash_before=digest,
                payload_hash=digest,
                message="; ".join(policy_reasons) or None,
            )
        )
    session.flush()
    return action


def decide(
    engine: Engine,
    *,
    action_id: str,
    decision: DecisionKind | str,
    user: str,
    edited_payload: Mapping[str, Any] | None = None,
    message: str | None = None,
    now: dt.datetime | None = None,
) -> ProposedAction:
    """Apply a reviewer's decision atomically and audit it; commits its own transaction.

    ``approve`` keeps the payload; ``edit`` replaces it (validated) and so changes the
    payload hash and the idempotency key; ``respond`` needs a ``message`` (feedback for a
    redraft); ``reject`` may carry a reason.

    Raises:
        ValidationFailed: the decision or its arguments are malformed.
        ActionNotFound: no such action.
        ConflictError: the action is no longer pending (someone decided first).
    """
    kind = _parse_decision(decision, user=user, edited_payload=edited_payload, message=message)
    moment = as_utc(now)
    with Session(engine) as session:
        current = session.get(ProposedAction, action_id)
        if current is None:
            raise ActionNotFound(f"action {action_id} does not exist")
        before = current.payload_hash
        values: dict[str, Any] = {
            "status": STATUS_AFTER[kind],
            "decided_at": moment,
            "decided_by": user,
        }
        new_hash = before
        if kind is DecisionKind.EDIT:
            assert edited_payload is not None  # checked by _parse_decision
            model = validate_payload(edited_payload, source=f"edit of action {action_id}")
            new_hash = payload_hash(model)
            values["payload"] = model.model_dump(mode="json")
            values["payload_hash"] = new_hash
            values["idempotency_key"] = idempotency_key(
                thread_id=current.thread_id,
                interrupt_id=current.interrupt_id,
                payload_hash=new_hash,
            )
        # The compare-and-set: only one UPDATE can see the row still pending, and the hash
        # condition makes sure the reviewer decided on the payload we just read.
        result = session.exec(
            update(ProposedAction)
            .where(
                col(ProposedAction.id) == action_id,
                col(ProposedAction.status) == ActionStatus.PENDING,
                col(ProposedAction.payload_hash) == before,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            session.rollback()
            raise _conflict(session, action_id)
        session.add(
            ActionDecision(
                action_id=action_id,
                decision=kind,
                user=user,
                at=moment,
                payload_hash_before=before,
                payload_hash=new_hash,
                edited_payload=values.get("payload"),
                message=message,
            )
        )
        session.commit()
        decided = session.get(ProposedAction, action_id, populate_existing=True)
        assert decided is not None
        session.expunge(decided)
        return decided


def _parse_decision(
    decision: DecisionKind | str,
    *,
    user: str,
    edited_payload: Mapping[str, Any] | None,
    message: str | None,
) -> DecisionKind:
    problems: list[Problem] = []
    where = "decision"
    try:
        kind = DecisionKind(decision)
    except ValueError:
        kind = None
    if kind is None or kind not in HUMAN_DECISIONS:
        allowed = ", ".join(sorted(HUMAN_DECISIONS))
        problems.append(Problem(where, None, "decision", f"'{decision}' is not one of {allowed}"))
    if not user or not user.strip():
        problems.append(Problem(where, None, "user", "a decision needs a named user"))
    if kind is DecisionKind.EDIT and edited_payload is None:
        problems.append(Problem(where, None, "edited_payload", "an edit needs the new payload"))
    if kind is not DecisionKind.EDIT and edited_payload is not None:
        problems.append(
            Problem(where, None, "edited_payload", f"only an edit carries a payload, not {kind}")
        )
    if kind is DecisionKind.RESPOND and not (message and message.strip()):
        problems.append(Problem(where, None, "message", "a response needs a message"))
    if problems:
        raise ValidationFailed(problems)
    assert kind is not None
    return kind


def _conflict(session: Session, action_id: str) -> ConflictError:
    row = session.get(ProposedAction, action_id, populate_existing=True)
    if row is None:  # deleted meanwhile; unusual enough to report plainly
        return ConflictError(f"action {action_id} disappeared while deciding")
    if row.status == ActionStatus.PENDING:
        return ConflictError(f"action {action_id} changed while deciding; reload and retry")
    by = f" by {row.decided_by}" if row.decided_by else ""
    at = f" at {row.decided_at:%Y-%m-%d %H:%M:%S} UTC" if row.decided_at else ""
    return ConflictError(f"action {action_id} is already {row.status}{by}{at}")


def get_action(session: Session, *, action_id: str) -> ProposedAction:
    action = session.get(ProposedAction, action_id)
    if action is None:
        raise ActionNotFound(f"action {action_id} does not exist")
    return action


def list_actions(
    session: Session,
    *,
    status: ActionStatus | str | Sequence[str] | None = None,
    account_id: int | None = None,
    thread_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ProposedAction]:
    """Actions, newest first, filtered by status (one or several), account or thread."""
    query = _filtered(select(ProposedAction), status, account_id, thread_id)
    query = query.order_by(col(ProposedAction.created_at).desc(), col(ProposedAction.id))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def count_actions(
    session: Session,
    *,
    status: ActionStatus | str | Sequence[str] | None = None,
    account_id: int | None = None,
    thread_id: str | None = None,
) -> int:
    """How many actions :func:`list_actions` would list without a limit."""
    query = _filtered(
        select(func.count()).select_from(ProposedAction), status, account_id, thread_id
    )
    return int(session.exec(query).one())


def _filtered(
    query: Any,
    status: ActionStatus | str | Sequence[str] | None,
    account_id: int | None,
    thread_id: str | None,
) -> Any:
    if isinstance(status, str):
        query = query.where(ProposedAction.status == status)
    elif status is not None:
        query = query.where(col(ProposedAction.status).in_(list(status)))
    if account_id is not None:
        query = query.where(ProposedAction.account_id == account_id)
    if thread_id is not None:
        query = query.where(ProposedAction.thread_id == thread_id)
    return query


def list_decisions(session: Session, *, action_id: str) -> list[ActionDecision]:
    """The audit trail of one action, oldest first."""
    query = (
        select(ActionDecision)
        .where(ActionDecision.action_id == action_id)
        .order_by(col(ActionDecision.at), col(ActionDecision.id))
    )
    return list(session.exec(query).all())


def list_attempts(session: Session, *, action_id: str) -> list[DeliveryAttempt]:
    """The delivery attempts of one action, oldest first."""
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.action_id == action_id)
        .order_by(col(DeliveryAttempt.started_at), col(DeliveryAttempt.id))
    )
    return list(session.exec(query).all())


def reopen_failed(
    engine: Engine,
    *,
    action_id: str,
    user: str,
    message: str | None = None,
    now: dt.datetime | None = None,
) -> ProposedAction:
    """A named user sends a ``failed`` action again: audited, attempts reset to zero.

    The row goes back to the status its last approving decision gave it, so the executor
    re-checks everything (hash, policy, recipients, links) before sending; a retry is not
    a new approval. Compare-and-set like :func:`decide`: of two retries, one wins.

    Raises:
        ValidationFailed: no user named.
        ActionNotFound: no such action.
        ConflictError: the action is not ``failed`` (nothing to retry).
    """
    if not user or not user.strip():
        raise ValidationFailed([Problem("retry", None, "user", "a retry needs a named user")])
    moment = as_utc(now)
    with Session(engine) as session:
        current = session.get(ProposedAction, action_id)
        if current is None:
            raise ActionNotFound(f"action {action_id} does not exist")
        approving = [
            d
            for d in list_decisions(session, action_id=action_id)
            if d.decision in (DecisionKind.APPROVE, DecisionKind.EDIT, DecisionKind.AUTO)
        ]
        if not approving:
            raise ConflictError(f"action {action_id} was never approved; nothing to retry")
        back_to = STATUS_AFTER[DecisionKind(approving[-1].decision)]
        result = session.exec(
            update(ProposedAction)
            .where(
                col(ProposedAction.id) == action_id,
                col(ProposedAction.status) == ActionStatus.FAILED,
            )
            .values(
                status=back_to,
                attempts=0,
                claim_token=None,
                lease_expires_at=None,
            )
        )
        if result.rowcount != 1:
            session.rollback()
            row = session.get(ProposedAction, action_id, populate_existing=True)
            status = row.status if row is not None else "gone"
            raise ConflictError(
                f"action {action_id} is {status}, not failed; only a failed action is retried"
            )
        session.add(
            ActionDecision(
                action_id=action_id,
                decision=DecisionKind.RETRY,
                user=user.strip(),
                at=moment,
                payload_hash_before=current.payload_hash,
                payload_hash=current.payload_hash,
                message=message or current.last_error,
            )
        )
        session.commit()
        reopened = session.get(ProposedAction, action_id, populate_existing=True)
        assert reopened is not None
        session.expunge(reopened)
        return reopened


def get_intervention(session: Session, *, action_id: str) -> Intervention | None:
    return session.exec(select(Intervention).where(Intervention.action_id == action_id)).first()


def recent_touches(
    session: Session,
    *,
    account_id: int,
    since: dt.date,
    include_in_flight: bool = False,
    exclude_action_id: str | None = None,
    as_of: dt.date | None = None,
) -> list[Touch]:
    """Messages to the account since ``since`` (inclusive), for frequency caps.

    Sent interventions always count. The planner also counts actions still in flight
    (pending, approved, sending), so it does not queue five emails to one account; the
    executor counts only what was really sent, so two approved actions cannot block each
    other and the first to go out wins the cap.

    An action in flight is a touch of the review date ``as_of`` when it was created later
    (by the wall clock): a review of a past date (a demo book, a backfill) otherwise sees
    its own queue as in the future and lets duplicates through the caps.
    """
    start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    touches: list[Touch] = []
    sent = session.exec(
        select(Intervention).where(
            Intervention.account_id == account_id, col(Intervention.sent_at) >= start
        )
    ).all()
    for row in sent:
        if row.action_id != exclude_action_id:
            touches.append(
                Touch(
                    action_id=row.action_id,
                    on=row.sent_at.date(),
                    contact_id=row.recipient_contact_id,
                    play_id=row.play_id,
                    customer_facing=is_customer_facing(row.channel),
                )
            )
    if include_in_flight:
        flying = session.exec(
            select(ProposedAction).where(
                ProposedAction.account_id == account_id,
                col(ProposedAction.status).in_(list(IN_FLIGHT_STATUSES)),
                col(ProposedAction.created_at) >= start,
            )
        ).all()
        for action in flying:
            if action.id != exclude_action_id:
                created = action.created_at.date()
                touches.append(
                    Touch(
                        action_id=action.id,
                        on=min(created, as_of) if as_of is not None else created,
                        contact_id=action.recipient_contact_id,
                        play_id=action.play_id,
                        customer_facing=is_customer_facing(action.channel),
                    )
                )
    return touches


# ------------------------------------------------------------------- a queue that stays clean


def evidence_fingerprint(payload: Mapping[str, Any]) -> str:
    """sha256 of what a proposal rests on: its hypothesis and its evidence ids (sorted).

    Two proposals of one play with the same fingerprint argue from the same evidence, so a
    reviewer's rejection of the first answers the second too.
    """
    meta = payload.get("metadata") or {}
    ids = sorted({str(e) for e in meta.get("evidence_ids") or []})
    material = canonical_json([str(meta.get("hypothesis_id") or ""), ids])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Repeat:
    """A new proposal that repeats an earlier one: why, and which one."""

    action_id: str
    earlier_id: str
    earlier_status: str
    reason: str


def find_repeat(session: Session, action: ProposedAction) -> Repeat | None:
    """The earlier action ``action`` repeats, if any (queries over existing columns only).

    A repeat is, for the same account, play and kind of draft, from another review thread:
    an action still waiting for a decision (``pending``); or one a person rejected whose
    evidence fingerprint (:func:`evidence_fingerprint`) is the same -- the evidence has not
    changed since the rejection. Rejections by Keel itself do not count.
    """
    query = (
        select(ProposedAction)
        .where(
            ProposedAction.account_id == action.account_id,
            ProposedAction.play_id == action.play_id,
            ProposedAction.draft_kind == action.draft_kind,
            col(ProposedAction.id) != action.id,
            col(ProposedAction.thread_id) != action.thread_id,
            col(ProposedAction.status).in_([ActionStatus.PENDING, ActionStatus.REJECTED]),
        )
        .order_by(col(ProposedAction.created_at).desc(), col(ProposedAction.id))
    )
    fingerprint = evidence_fingerprint(action.payload)
    for earlier in session.exec(query).all():
        if earlier.status == ActionStatus.PENDING:
            return Repeat(
                action.id,
                earlier.id,
                str(earlier.status),
                f"{earlier.play_id} is already waiting for approval as action {earlier.id}",
            )
        if earlier.decided_by in (None, KEEL_USER, POLICY_USER):
            continue
        if evidence_fingerprint(earlier.payload) != fingerprint:
            continue
        rejection = next(
            (
                d
                for d in reversed(list_decisions(session, action_id=earlier.id))
                if d.decision == DecisionKind.REJECT
            ),
            None,
        )
        why = f": {rejection.message}" if rejection is not None and rejection.message else ""
        on = f" on {earlier.decided_at:%Y-%m-%d}" if earlier.decided_at else ""
        return Repeat(
            action.id,
            earlier.id,
            str(earlier.status),
            f"{earlier.play_id} was rejected by {earlier.decided_by}{on} (action "
            f"{earlier.id}{why}) and its evidence has not changed",
        )
    return None


def withdraw_repeat(
    engine: Engine, repeat: Repeat, *, now: dt.datetime | None = None
) -> ProposedAction | None:
    """Take a repeated proposal out of the queue: ``pending`` -> ``superseded``, audited as a
    ``withdraw`` by ``keel`` with the reason. Compare-and-set; None when it was no longer
    pending (someone decided it first)."""
    moment = as_utc(now)
    with Session(engine) as session:
        current = session.get(ProposedAction, repeat.action_id)
        if current is None:
            return None
        result = session.exec(
            update(ProposedAction)
            .where(
                col(ProposedAction.id) == repeat.action_id,
                col(ProposedAction.status) == ActionStatus.PENDING,
            )
            .values(status=ActionStatus.SUPERSEDED, decided_at=moment, decided_by=KEEL_USER)
        )
        if result.rowcount != 1:
            session.rollback()
            return None
        session.add(
            ActionDecision(
                action_id=repeat.action_id,
                decision=DecisionKind.WITHDRAW,
                user=KEEL_USER,
                at=moment,
                payload_hash_before=current.payload_hash,
                payload_hash=current.payload_hash,
                message=f"not proposed again: {repeat.reason}",
            )
        )
        session.commit()
        withdrawn = session.get(ProposedAction, repeat.action_id, populate_existing=True)
        assert withdrawn is not None
        session.expunge(withdrawn)
        return withdrawn


def resolve_action_id(session: Session, ref: str) -> str:
    """The full id of the action ``ref`` names: its id, or a unique prefix of it.

    Raises:
        ActionNotFound: no action has that id or prefix.
        KeelError: the prefix matches several actions (the message lists them).
    """
    ref = ref.strip().lower()
    if session.get(ProposedAction, ref) is not None:
        return ref
    if not ref or any(c not in "0123456789abcdef" for c in ref):
        raise ActionNotFound(
            f"no action with id '{ref}': ids are hexadecimal (see `keel approvals list`)"
        )
    matches = list(
        session.exec(
            select(ProposedAction)
            .where(col(ProposedAction.id).startswith(ref))
            .order_by(col(ProposedAction.created_at).desc())
            .limit(11)
        ).all()
    )
    if not matches:
        raise ActionNotFound(
            f"no action with id or id prefix '{ref}' (see `keel approvals list --status all`)"
        )
    if len(matches) > 1:
        shown = "\n".join(
            f"  {m.id}  {m.play_id}  {m.status}  {m.created_at:%Y-%m-%d %H:%M}"
            for m in matches[:10]
        )
        more = "\n  ... and more" if len(matches) > 10 else ""
        raise KeelError(
            f"the id prefix '{ref}' matches several actions; give more characters:\n{shown}{more}"
        )
    return matches[0].id
