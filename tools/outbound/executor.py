"""Execute an approved action exactly once: claim, re-check, record the attempt, send, record.

The only code path that reaches an outbound adapter. Each call walks these durable steps,
and :class:`ExecutionHooks` is told after each one (crash tests stop the process there):

1. **claimed** -- one compare-and-set ``UPDATE``: ``approved | edited | auto_approved``, a
   ``sending`` row whose lease expired, or one whose retry time has come, becomes
   ``sending`` with a fresh claim token and a lease. Of two workers one claims; the other
   is told ``busy``. A row already ``sent`` returns its earlier result and sends nothing.
2. **Re-checks** everything on the exact payload about to go out: its sha256 equals the
   row's hash and the hash the last approving decision covered; the policy, evaluated
   again now (caps count what was really sent; an auto-approved row the policy now wants
   approved is refused); recipients are current contacts of the account (or the owner CSM
   for internal channels); every link is on the allow-list. A refusal marks the row
   ``failed`` and sends nothing.
3. **attempt_recorded** -- a :class:`~memory.actions.DeliveryAttempt` row is committed
   *before* the adapter is called. An attempt still open when the next claim comes is
   *in doubt*: the process died mid-send and the message may be out.
4. **sent** -- the adapter delivered with the action's idempotency key.
5. **recorded** -- ``sent`` and an :class:`~memory.actions.Intervention` are committed in
   one transaction, only if the claim token still matches.

Every crash point ends in "not sent, will be retried" or "sent, recorded": a crash after
1 or 3 leaves a ``sending`` row whose lease expires; the delivery loop
(:mod:`keel.tools.outbound.delivery`) reclaims it and sends. An attempt in doubt is
*completed, not re-judged*: only the payload hash is checked again, and the message goes
out with the same idempotency key. Dry-run files and CRM tasks are keyed by it, so that
send finds the earlier message and records it without writing a second one.

**The one window left open:** SMTP and webhooks cannot be asked whether a key arrived. If
the process dies after the server accepted the message (SMTP 250, HTTP 2xx) and before
step 5 commits, the completed attempt sends it again, with the same Message-ID,
``X-Keel-Idempotency-Key`` and ``Idempotency-Key``: a receiver that dedupes on them
delivers one message, a plain SMTP server delivers two copies of one message. Never more
than one resend per crash, never a lost or unrecorded message.

A transport failure (:class:`~tools.outbound.base.OutboundError` or an ``OSError`` such as
a full disk) releases the row: it stays ``sending`` without a claim token, and its
``lease_expires_at`` is the time of the next try (exponential backoff from
:class:`RetryPolicy`), until ``max_attempts`` is spent or the error is permanent; then it
is ``failed`` with the reason, visible in ``keel approvals list`` and retried by a human
with ``keel approvals retry``. Any other exception (a bug) propagates and leaves the
attempt open, to be completed after the lease as above.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

import tenacity
from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.domain.policy import Policy
from keel.memory.actions import (
    EXECUTABLE_STATUSES,
    ActionDecision,
    ActionNotFound,
    ActionStatus,
    DecisionKind,
    DeliveryAttempt,
    Intervention,
    ProposedAction,
    as_utc,
    get_intervention,
    idempotency_key,
    is_customer_facing,
    payload_hash,
    recent_touches,
)
from keel.memory.models import Account, Contact
from keel.redact import redact_secrets
from keel.tools.outbound.base import OutboundAdapter, OutboundError, SendReceipt
from keel.tools.outbound.guards import content_problems, recipient_problems
from keel.tools.outbound.render import render_message

log = logging.getLogger(__name__)

Outcome = Literal[
    "sent", "already_sent", "refused", "failed", "retry_scheduled", "busy", "not_executable"
]
DEFAULT_LEASE_SECONDS = 300
_APPROVING = (DecisionKind.APPROVE, DecisionKind.EDIT, DecisionKind.AUTO)


class ExecutionStep(StrEnum):
    """The durable steps of one execution, in order."""

    CLAIMED = "claimed"  # the claim is committed
    ATTEMPT_RECORDED = "attempt_recorded"  # the attempt row is committed; nothing sent
    SENT = "sent"  # the adapter returned; nothing recorded yet
    RECORDED = "recorded"  # ``sent`` and the intervention are committed


class ExecutionHooks(Protocol):
    """Called after each durable step (diagnostics, metrics, crash tests); must not raise."""

    def __call__(self, step: ExecutionStep, action_id: str) -> None: ...


def no_hooks(step: ExecutionStep, action_id: str) -> None:
    """The default: nothing happens between steps."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transient failure is tried again, and how long apart.

    The wait after attempt ``n`` is ``first_wait_s * 2**(n-1)``, at most ``max_wait_s``
    (tenacity's exponential wait): 30 s, 1 min, 2 min, 4 min by default.
    """

    max_attempts: int = 5
    first_wait_s: float = 30.0
    max_wait_s: float = 3600.0

    def wait_after(self, attempt: int) -> dt.timedelta:
        wait = tenacity.wait_exponential(multiplier=self.first_wait_s, max=self.max_wait_s)
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = max(1, attempt)
        return dt.timedelta(seconds=wait(state))


@dataclass(frozen=True)
class ExecutionOptions:
    """How the executor behaves, passed in by whoever runs it (CLI, loop, worker, tests).

    Attributes:
        lease_seconds: How long a claim holds before another worker may take over; a
            resume after a crash in the middle of a send waits this long.
        retry: Attempts and backoff for transient failures.
        hooks: Told after each :class:`ExecutionStep`.
    """

    lease_seconds: int = DEFAULT_LEASE_SECONDS
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    hooks: ExecutionHooks = no_hooks


DEFAULT_OPTIONS = ExecutionOptions()


@dataclass(frozen=True)
class ExecutionResult:
    """What one execution call did.

    ``outcome``: ``sent`` (delivered now), ``already_sent`` (delivered earlier; nothing
    new), ``refused`` (a re-check failed; the row is ``failed`` and nothing was sent),
    ``failed`` (the transport failed; ``retryable`` says whether a retry is scheduled, at
    ``retry_after``), ``retry_scheduled`` (an earlier failure waits for its retry at
    ``retry_after``; nothing tried now), ``busy`` (``claimed_by`` holds the lease until
    ``retry_after``), ``not_executable`` (pending, rejected, failed ...: nothing to do).
    ``completed_in_doubt`` says this call finished an attempt a crash left open.
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
    attempts: int = 0
    claimed_by: str | None = None
    completed_in_doubt: bool = False


def execute_action(
    engine: Engine,
    *,
    action_id: str,
    adapters: Mapping[str, OutboundAdapter],
    policy: Policy,
    link_allowlist: Sequence[str],
    now: dt.datetime | None = None,
    worker_id: str = "executor",
    options: ExecutionOptions = DEFAULT_OPTIONS,
    retry_now: bool = False,
) -> ExecutionResult:
    """Claim, re-check, record the attempt, send once and record one action.

    See the module docstring for the order and what each crash point leaves behind.

    Args:
        engine: The Keel database.
        action_id: The ``ProposedAction`` to execute.
        adapters: Adapter per channel (``email``, ``slack``, ``internal``); see
            :func:`keel.tools.outbound.factory.adapters_from_settings`.
        policy: The current policy; evaluated again before sending.
        link_allowlist: URL prefixes links may point to (``settings.link_allowlist``).
        now: The moment of execution (tests pin it); the current time when None.
        worker_id: Recorded on the claim and the attempt, and shown as "being delivered by".
        options: Lease, retry policy and step hooks.
        retry_now: Also claim a row waiting for its retry time (an operator saying "the
            server is back"); a row another worker holds is never taken.
    """
    moment = as_utc(now)
    token = uuid.uuid4().hex
    claimed = _claim(engine, action_id, token, worker_id, moment, options, retry_now)
    with Session(engine) as session:
        action = session.get(ProposedAction, action_id)
        if action is None:
            raise ActionNotFound(f"action {action_id} does not exist")
        if not claimed:
            return _not_claimed(session, action)
    options.hooks(ExecutionStep.CLAIMED, action_id)

    with Session(engine) as session:
        in_doubt = _close_open_attempts(session, action_id, moment)
        action = session.get(ProposedAction, action_id)
        assert action is not None
        limit = options.retry.max_attempts
        if action.attempts > limit:
            doubt = " (the last attempt may have been delivered)" if in_doubt else ""
            reason = f"gave up after {limit} attempts{doubt}; last error: {action.last_error}"
            return _finish_failed(engine, action, token, worker_id, [reason], outcome="failed")
        account = session.get(Account, action.account_id)
        contacts = list(
            session.exec(select(Contact).where(Contact.account_id == action.account_id)).all()
        )
        if in_doubt:
            # The send was decided and may be out: complete it with the same key rather
            # than judge it again (only a payload that is not the approved one is stopped).
            problems = _hash_problems(session, action) if account else ["account is gone"]
        else:
            problems = _recheck(session, action, account, contacts, policy, link_allowlist, moment)
        adapter = adapters.get(action.channel)
        if adapter is None and not problems:
            problems = [f"no outbound adapter is configured for channel '{action.channel}'"]
        if problems or account is None or adapter is None:
            return _finish_failed(engine, action, token, worker_id, problems, outcome="refused")
        message = render_message(
            action,
            account_external_id=account.external_id,
            account_name=account.name,
            owner_csm=account.owner_csm,
            now=moment,
        )
        session.expunge(action)

    attempt_id = _record_attempt(engine, action, token, worker_id, adapter.name, moment)
    options.hooks(ExecutionStep.ATTEMPT_RECORDED, action_id)
    try:
        receipt = adapter.send(message, idempotency_key=action.idempotency_key)
    except OutboundError as exc:
        log.warning("action %s: %s", action_id, exc)
        return _release_after_error(
            engine, action, token, attempt_id, str(exc), exc.retryable, options.retry, moment
        )
    except OSError as exc:
        # A local write that failed (a full outbox disk): nothing was published.
        error = f"{adapter.name} could not write the message: {exc}"
        log.warning("action %s: %s", action_id, error)
        return _release_after_error(
            engine, action, token, attempt_id, error, True, options.retry, moment
        )
    options.hooks(ExecutionStep.SENT, action_id)
    result = _finish_sent(engine, action, token, attempt_id, receipt, moment, in_doubt)
    if result.status == ActionStatus.SENT:
        options.hooks(ExecutionStep.RECORDED, action_id)
    return result


# ------------------------------------------------------------------------ claim


def due_condition(moment: dt.datetime, *, retry_now: bool = False) -> Any:
    """The rows a worker may claim at ``moment`` (a SQL condition on ``ProposedAction``).

    Approved rows; ``sending`` rows whose lease or retry time has passed; with
    ``retry_now``, also rows waiting for a retry (no claim token), whatever their time.
    """
    sending = col(ProposedAction.status) == ActionStatus.SENDING
    conditions = [
        col(ProposedAction.status).in_(list(EXECUTABLE_STATUSES)),
        and_(sending, col(ProposedAction.lease_expires_at) <= moment),
    ]
    if retry_now:
        conditions.append(and_(sending, col(ProposedAction.claim_token).is_(None)))
    return or_(*conditions)


def _claim(
    engine: Engine,
    action_id: str,
    token: str,
    worker_id: str,
    moment: dt.datetime,
    options: ExecutionOptions,
    retry_now: bool,
) -> bool:
    with Session(engine) as session:
        result = session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action_id, due_condition(moment, retry_now=retry_now))
            .values(
                status=ActionStatus.SENDING,
                claim_token=token,
                claimed_by=worker_id,
                lease_expires_at=moment + dt.timedelta(seconds=options.lease_seconds),
                attempts=col(ProposedAction.attempts) + 1,
            )
        )
        session.commit()
        return result.rowcount == 1


def _not_claimed(session: Session, action: ProposedAction) -> ExecutionResult:
    common: dict[str, Any] = {"attempts": action.attempts, "claimed_by": action.claimed_by}
    if action.status == ActionStatus.SENT:
        done = get_intervention(session, action_id=action.id)
        return ExecutionResult(
            action.id,
            "already_sent",
            action.status,
            action.idempotency_key,
            transport=done.transport if done else None,
            external_message_id=action.external_message_id,
            **common,
        )
    if action.status == ActionStatus.SENDING and action.claim_token is None:
        return ExecutionResult(
            action.id,
            "retry_scheduled",
            action.status,
            action.idempotency_key,
            reasons=(action.last_error or "an earlier attempt failed",),
            retryable=True,
            retry_after=action.lease_expires_at,
            **common,
        )
    if action.status == ActionStatus.SENDING:
        return ExecutionResult(
            action.id,
            "busy",
            action.status,
            action.idempotency_key,
            reasons=(f"being delivered by {action.claimed_by}",),
            retryable=True,
            retry_after=action.lease_expires_at,
            **common,
        )
    reasons = (f"action is {action.status}; only approved actions are executed",)
    if action.status == ActionStatus.FAILED and action.last_error:
        reasons = (f"action failed earlier: {action.last_error}",)
    return ExecutionResult(
        action.id,
        "not_executable",
        action.status,
        action.idempotency_key,
        reasons=reasons,
        **common,
    )


# --------------------------------------------------------------------- attempts


def _close_open_attempts(session: Session, action_id: str, moment: dt.datetime) -> bool:
    """Mark attempts a crash left open as in doubt; True when there was one."""
    result = session.exec(
        update(DeliveryAttempt)
        .where(col(DeliveryAttempt.action_id) == action_id, col(DeliveryAttempt.outcome).is_(None))
        .values(outcome="in_doubt", finished_at=moment)
    )
    session.commit()
    return bool(result.rowcount)


def _record_attempt(
    engine: Engine,
    action: ProposedAction,
    token: str,
    worker_id: str,
    transport: str,
    moment: dt.datetime,
) -> int:
    with Session(engine) as session:
        attempt = DeliveryAttempt(
            action_id=action.id,
            attempt=action.attempts,
            claim_token=token,
            worker=worker_id,
            idempotency_key=action.idempotency_key,
            transport=transport,
            started_at=moment,
        )
        session.add(attempt)
        session.commit()
        assert attempt.id is not None
        return attempt.id


def _close_attempt(
    session: Session, attempt_id: int, outcome: str, moment: dt.datetime, error: str | None
) -> None:
    session.exec(
        update(DeliveryAttempt)
        .where(col(DeliveryAttempt.id) == attempt_id)
        .values(outcome=outcome, finished_at=moment, error=error)
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
        escalation_address=policy.escalation_for(account.owner_csm).address,
    )
    # The outbound content policy on the exact payload (links, markup, offers the play is
    # not approved to make, addresses; for a customer, nothing internal): a reviewer's edit
    # is held to it as well.
    addresses = [*to, *cc, *([account.owner_csm] if "@" in account.owner_csm else [])]
    problems += content_problems(
        subject=str(payload.get("subject", "")),
        body=str(payload.get("body", "")),
        declared_links=list(payload.get("links", [])),
        allowlist=link_allowlist,
        approved_offers=policy.offers_for(action.play_id),
        addresses=addresses,
        channel=action.channel,
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
    attempt_id: int,
    receipt: SendReceipt,
    moment: dt.datetime,
    in_doubt: bool,
) -> ExecutionResult:
    transport, external_id = receipt.transport, receipt.external_id
    with Session(engine) as session:
        _close_attempt(session, attempt_id, "sent", moment, None)
        result = session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(
                status=ActionStatus.SENT,
                sent_at=moment,
                external_message_id=external_id,
                claim_token=None,
                lease_expires_at=None,
                last_error=None,
            )
        )
        if result.rowcount != 1:
            # Our lease expired mid-send and another worker took the row; it completes the
            # send with the same key and records the intervention.
            session.commit()
            log.warning("action %s: sent, but the claim was lost to another worker", action.id)
            return ExecutionResult(
                action.id,
                "sent",
                ActionStatus.SENDING,
                action.idempotency_key,
                transport=transport,
                external_message_id=external_id,
                reasons=("the claim expired during the send; another worker owns the row",),
                attempts=action.attempts,
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
        attempts=action.attempts,
        completed_in_doubt=in_doubt,
    )


def _finish_failed(
    engine: Engine,
    action: ProposedAction,
    token: str,
    worker_id: str,
    problems: list[str],
    *,
    outcome: Outcome,
) -> ExecutionResult:
    message = redact_secrets("; ".join(problems))
    moment = as_utc()
    with Session(engine) as session:
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(
                status=ActionStatus.FAILED,
                claim_token=None,
                lease_expires_at=None,
                last_error=message,
            )
        )
        session.add(
            DeliveryAttempt(
                action_id=action.id,
                attempt=action.attempts,
                claim_token=token,
                worker=worker_id,
                idempotency_key=action.idempotency_key,
                started_at=moment,
                finished_at=moment,
                outcome="refused" if outcome == "refused" else "failed",
                error=message,
            )
        )
        session.commit()
    return ExecutionResult(
        action.id,
        outcome,
        ActionStatus.FAILED,
        action.idempotency_key,
        reasons=tuple(problems),
        attempts=action.attempts,
    )


def _release_after_error(
    engine: Engine,
    action: ProposedAction,
    token: str,
    attempt_id: int,
    error: str,
    retryable: bool,
    retry: RetryPolicy,
    moment: dt.datetime,
) -> ExecutionResult:
    """A transport error: schedule the next try (backoff), or fail the row for good."""
    # Servers echo what they were sent; nothing secret-shaped reaches the row or a user.
    error = redact_secrets(error)
    spent = action.attempts >= retry.max_attempts
    final = not retryable or spent
    if retryable and spent:
        error = f"gave up after {action.attempts} attempts: {error}"
    next_try = None if final else moment + retry.wait_after(action.attempts)
    with Session(engine) as session:
        _close_attempt(session, attempt_id, "failed", moment, error)
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == action.id, col(ProposedAction.claim_token) == token)
            .values(
                status=ActionStatus.FAILED if final else ActionStatus.SENDING,
                # No token and a time: the row waits for its retry, held by nobody.
                claim_token=None,
                lease_expires_at=next_try,
                last_error=error,
            )
        )
        session.commit()
    return ExecutionResult(
        action.id,
        "failed",
        ActionStatus.FAILED if final else ActionStatus.SENDING,
        action.idempotency_key,
        reasons=(error,),
        retryable=not final,
        retry_after=next_try,
        attempts=action.attempts,
    )
