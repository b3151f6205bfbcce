"""Execute an approved action exactly once: claim, re-check, send, record.

The only code path that reaches an outbound adapter. Each call:

1. **Claims** the row with one compare-and-set ``UPDATE``: ``approved | edited |
   auto_approved`` (or ``sending`` whose lease has expired) becomes ``sending`` with a
   fresh claim token and a lease. Of two workers, one claims; the other is told ``busy``.
   A row already ``sent`` returns its earlier result and sends nothing.
2. **Re-checks** everything on the exact payload about to go out: its sha256 equals the
   row's hash and the hash the last approving decision covered (a payload changed after
   approval is refused); the policy, evaluated again now (caps count what was really
   sent; an auto-approved row the policy now wants approved is refused); recipients are
   current contacts of the account (or the owner CSM for internal channels); every link is
   on the allow-list.
3. **Sends** through the channel's adapter with the action's idempotency key.
4. **Records** ``sent`` and an :class:`~memory.actions.Intervention` in one transaction,
   only if the claim token still matches.

The window we cannot close: if the process dies after the SMTP server (or webhook
receiver) accepted the message but before step 4 commits, the row stays ``sending``;
once the lease expires another call reclaims it and sends again. That resend carries the
same idempotency key (Message-ID and ``X-Keel-Idempotency-Key`` for email,
``Idempotency-Key`` for webhooks), so a receiver that dedupes on it delivers one message;
SMTP servers that do not dedupe may deliver two. Dry-run files and CRM tasks are keyed by
it, so they never duplicate. A crash *before* the send (after approval, or after the
claim) costs nothing but the lease: the resumed call sends once. An adapter error other
than :class:`~tools.outbound.base.OutboundError` (a bug) propagates and leaves the row
``sending`` until its lease ends, for the same reason: we cannot know whether it went out.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.policy import Policy
from memory.actions import (
    EXECUTABLE_STATUSES,
    ActionDecision,
    ActionNotFound,
    ActionStatus,
    DecisionKind,
    Intervention,
    ProposedAction,
    as_utc,
    get_intervention,
    idempotency_key,
    is_customer_facing,
    payload_hash,
    recent_touches,
)
from memory.models import Account, Contact
from tools.outbound.base import OutboundAdapter, OutboundError, SendReceipt
from tools.outbound.guards import link_problems, recipient_problems
from tools.outbound.render import render_message

log = logging.getLogger(__name__)

Outcome = Literal["sent", "already_sent", "refused", "failed", "busy", "not_executable"]
DEFAULT_LEASE_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 3
_APPROVING = (DecisionKind.APPROVE, DecisionKind.EDIT, DecisionKind.AUTO)


@dataclass(frozen=True)
class ExecutionResult:
    """What one execution attempt did.

    ``outcome``: ``sent`` (delivered now), ``already_sent`` (delivered earlier; nothing
    new), ``refused`` (a re-check failed; the row is ``failed`` and nothing was sent),
    ``failed`` (the transport failed; ``retryable`` says whether the row may be tried
    again), ``busy`` (another worker holds the lease until ``retry_after``),
    ``not_executable`` (the row is pending, rejected, ...: nothing to do).
    """

    action_id: str
    outcome: Outcome
    status: str
    idempotency_key: str
    transport: str | None = None
    external_message_id: str | None = None
    reasons: tuple[str, ...] = ()
    retryable: bool = False
    retry_after: dt.datetime | None = None


def execute_action(
    engine: Engine,
    *,
    action_id: str,
    adapters: Mapping[str, OutboundAdapter],
    policy: Policy,
    link_allowlist: Sequence[str],
    now: dt.datetime | None = None,
    worker_id: str = "executor",
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> ExecutionResult:
    """Claim, re-check, send once and record one action (see the module docstring).

    Args:
        engine: The Keel database.
        action_id: The ``ProposedAction`` to execute.
        adapters: Adapter per channel (``email``, ``slack``, ``internal``); see
            :func:`tools.outbound.factory.adapters_from_settings`.
        policy: The current policy; evaluated again before sending.
        link_allowlist: URL prefixes links may point to (``settings.link_allowlist``).
        now: The moment of execution (tests pin it); the current time when None.
        worker_id: Recorded on the claim, for diagnosis.
        lease_seconds: How long the claim holds before another worker may take over. A
            resume after a crash in the middle of a send waits this long.
        max_attempts: Claims allowed before a row that keeps failing is marked ``failed``.
    """
    moment = as_utc(now)
    token = uuid.uuid4().hex
    claimed = _claim(engine, action_id, token, worker_id, moment, lease_seconds)
    with Session(engine) as session:
        action = session.get(ProposedAction, action_id)
        if action is None:
            raise ActionNotFound(f"action {action_id} does not exist")
        if not claimed:
            return _not_claimed(session, action)
        if action.attempts > max_attempts:
            reason = f"gave up after {max_attempts} attempts; last error: {action.last_error}"
            return _finish_failed(engine, action, token, [reason], outcome="failed")
        account = session.get(Account, action.account_id)
        contacts = list(
            session.exec(select(Contact).where(Contact.account_id == action.account_id)).all()
        )
        problems = _recheck(session, action, account, contacts, policy, link_allowlist, moment)
        adapter = adapters.get(action.channel)
        if adapter is None and not problems:
            problems = [f"no outbound adapter is configured for channel '{action.channel}'"]
        if problems or account is None or adapter is None:
            return _finish_failed(engine, action, token, problems, outcome="refused")
        message = render_message(
            action,
            account_external_id=account.external_id,
            account_name=account.name,
            owner_csm=account.owner_csm,
            now=moment,
        )
        session.expunge(action)

    try:
        receipt = adapter.send(message, idempotency_key=action.idempotency_key)
    except OutboundError as exc:
        log.warning("action %s: %s", action_id, exc)
        return _release_after_error(
            engine, action, token, str(exc), exc.retryable, max_attempts, moment
        )

    return _finish_sent(engine, action, token, receipt, moment)


def execute_ready_actions(
    engine: Engine,
    *,
    adapters: Mapping[str, OutboundAdapter],
    policy: Policy,
    link_allowlist: Sequence[str],
    now: dt.datetime | None = None,
    worker_id: str = "executor",
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    limit: int = 100,
) -> list[ExecutionResult]:
    """Execute every approved (or abandoned ``sending``) action, oldest first."""
    moment = as_utc(now)
    with Session(engine) as session:
        ids = session.exec(
            select(ProposedAction.id)
            .where(_claimable(moment))
            .order_by(col(ProposedAction.created_at))
            .limit(limit)
        ).all()
    return [
        execute_action(
            engine,
            action_id=action_id,
            adapters=adapters,
            policy=policy,
            link_allowlist=link_allowlist,
            now=moment,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
        )
        for action_id in ids
    ]


# ------------------------------------------------------------------------ claim


def _claimable(moment: dt.datetime) -> Any:
    return or_(
        col(ProposedAction.status).in_(list(EXECUTABLE_STATUSES)),
        and_(
            col(ProposedAction.status) == ActionStatus.SENDING,
            col(ProposedAction.lease_expires_at) <= moment,
        ),
    )


def _claim(
    engine: Engine,
    action_id: str,
    token: str,
    worker_id: str,
    moment: dt.datetime,
    lease_seconds: int,
) -> bool:
    with Session(engine) as session:
        result = session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action_id, _claimable(moment))
            .values(
                status=ActionStatus.SENDING,
                claim_token=token,
                claimed_by=worker_id,
                lease_expires_at=moment + dt.timedelta(seconds=lease_seconds),
                attempts=col(ProposedAction.attempts) + 1,
            )
        )
        session.commit()
        return result.rowcount == 1


def _not_claimed(session: Session, action: ProposedAction) -> ExecutionResult:
    if action.status == ActionStatus.SENT:
        done = get_intervention(session, action_id=action.id)
        return ExecutionResult(
            action.id,
            "already_sent",
            action.status,
            action.idempotency_key,
            transport=done.transport if done else None,
            external_message_id=action.external_message_id,
        )
    if action.status == ActionStatus.SENDING:
        return ExecutionResult(
            action.id,
            "busy",
            action.status,
            action.idempotency_key,
            reasons=(f"claimed by {action.claimed_by}",),
            retryable=True,
            retry_after=action.lease_expires_at,
        )
    reasons = (f"action is {action.status}; only approved actions are executed",)
    if action.status == ActionStatus.FAILED and action.last_error:
        reasons = (f"action failed earlier: {action.last_error}",)
    return ExecutionResult(
        action.id, "not_executable", action.status, action.idempotency_key, reasons=reasons
    )


# --------------------------------------------------------------------- re-checks


def _recheck(
    session: Session,
    action: ProposedAction,
    account: Account | None,
    contacts: list[Contact],
    policy: Policy,
    link_allowlist: Sequence[str],
    moment: dt.datetime,
) -> list[str]:
    if account is None:
        return [f"account {action.account_id} no longer exists"]
    problems = _hash_problems(session, action)
    if problems:
        # A payload that is not what was approved is not looked at any further.
        return problems
    payload = action.payload
    to: list[str] = list(payload.get("to", []))
    cc: list[str] = list(payload.get("cc", []))
    problems += recipient_problems(
        channel=action.channel,
        to=to,
        cc=cc,
        recipient_contact_id=action.recipient_contact_id,
        account_id=account.id or 0,
        owner_csm=account.owner_csm,
        contacts=contacts,
    )
    problems += link_problems(
        texts=[str(payload.get("subject", "")), str(payload.get("body", ""))],
        declared=list(payload.get("links", [])),
        allowlist=link_allowlist,
    )
    problems += _policy_problems(session, action, account, contacts, policy, to, moment)
    return problems


def _hash_problems(session: Session, action: ProposedAction) -> list[str]:
    actual = payload_hash(action.payload)
    if actual != action.payload_hash:
        return ["the payload changed after it was approved (hash mismatch)"]
    decision = _last_approving_decision(session, action.id)
    if decision is None:
        return ["no approval is recorded for this action"]
    if decision.payload_hash != actual:
        return ["the payload is not the one the decision approved (hash mismatch)"]
    expected_key = idempotency_key(
        thread_id=action.thread_id, interrupt_id=action.interrupt_id, payload_hash=actual
    )
    if expected_key != action.idempotency_key:
        return ["the idempotency key does not match the payload"]
    return []


def _last_approving_decision(session: Session, action_id: str) -> ActionDecision | None:
    return session.exec(
        select(ActionDecision)
        .where(
            ActionDecision.action_id == action_id,
            col(ActionDecision.decision).in_([str(d) for d in _APPROVING]),
        )
        .order_by(col(ActionDecision.at).desc(), col(ActionDecision.id).desc())
    ).first()


def _policy_problems(
    session: Session,
    action: ProposedAction,
    account: Account,
    contacts: list[Contact],
    policy: Policy,
    to: list[str],
    moment: dt.datetime,
) -> list[str]:
    today = moment.date()
    caps = policy.frequency_caps
    window = max((c.days for c in (caps.per_account, caps.per_contact) if c), default=0)
    touches = recent_touches(
        session,
        account_id=action.account_id,
        since=today - dt.timedelta(days=window),
        exclude_action_id=action.id,
    )
    recipient: Contact | None = None
    if is_customer_facing(action.channel) and to:
        wanted = to[0].strip().lower()
        recipient = next((c for c in contacts if c.email.strip().lower() == wanted), None)
    decision = policy.evaluate(
        play_id=action.play_id,
        account=account,
        channel=action.channel,
        recipient_contact=recipient,
        health_percentile=action.health_percentile,
        recent_actions=touches,
        today=today,
    )
    if not decision.allowed:
        return ["policy: " + "; ".join(decision.reasons)]
    approved_by = _last_approving_decision(session, action.id)
    if decision.needs_approval and approved_by and approved_by.decision == DecisionKind.AUTO:
        return ["policy now requires a human's approval: " + "; ".join(decision.reasons)]
    return []


# ------------------------------------------------------------------------ finish


def _finish_sent(
    engine: Engine,
    action: ProposedAction,
    token: str,
    receipt: SendReceipt,
    moment: dt.datetime,
) -> ExecutionResult:
    transport, external_id = receipt.transport, receipt.external_id
    with Session(engine) as session:
        result = session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(
                status=ActionStatus.SENT,
                sent_at=moment,
                external_message_id=external_id,
                lease_expires_at=None,
                last_error=None,
            )
        )
        if result.rowcount != 1:
            # Our lease expired mid-send and another worker took the row; it records the
            # intervention. The receiver sees one idempotency key for both sends.
            session.rollback()
            log.warning("action %s: sent, but the claim was lost to another worker", action.id)
            return ExecutionResult(
                action.id,
                "sent",
                ActionStatus.SENDING,
                action.idempotency_key,
                transport=transport,
                external_message_id=external_id,
                reasons=("the claim expired during the send; another worker owns the row",),
            )
        session.add(
            Intervention(
                action_id=action.id,
                account_id=action.account_id,
                play_id=action.play_id,
                channel=action.channel,
                draft_kind=action.draft_kind,
                recipient_contact_id=action.recipient_contact_id,
                transport=transport,
                sent_at=moment,
                idempotency_key=action.idempotency_key,
                external_message_id=external_id,
                detail=receipt.detail,
            )
        )
        session.commit()
    return ExecutionResult(
        action.id,
        "sent",
        ActionStatus.SENT,
        action.idempotency_key,
        transport=transport,
        external_message_id=external_id,
    )


def _finish_failed(
    engine: Engine,
    action: ProposedAction,
    token: str,
    problems: list[str],
    *,
    outcome: Outcome,
) -> ExecutionResult:
    message = "; ".join(problems)
    with Session(engine) as session:
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(status=ActionStatus.FAILED, lease_expires_at=None, last_error=message)
        )
        session.commit()
    return ExecutionResult(
        action.id, outcome, ActionStatus.FAILED, action.idempotency_key, reasons=tuple(problems)
    )


def _release_after_error(
    engine: Engine,
    action: ProposedAction,
    token: str,
    error: str,
    retryable: bool,
    max_attempts: int,
    moment: dt.datetime,
) -> ExecutionResult:
    """A transport error: give the row back (its lease ends now) or fail it for good."""
    final = not retryable or action.attempts >= max_attempts
    status = ActionStatus.FAILED if final else ActionStatus.SENDING
    with Session(engine) as session:
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(
                status=status,
                # An ended lease is what makes a ``sending`` row claimable again.
                lease_expires_at=None if final else moment,
                last_error=error,
            )
        )
        session.commit()
    return ExecutionResult(
        action.id,
        "failed",
        status,
        action.idempotency_key,
        reasons=(error,),
        retryable=not final,
    )
