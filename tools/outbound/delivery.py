"""The delivery loop: finish everything that was approved, retry what failed for a while.

Approving an action records a decision; delivering it is this loop's job (the review's
execute node tries once right away, so a healthy transport sends at once). One pass
claims every *due* action -- approved, edited or auto-approved; ``sending`` with an
expired lease (a worker died mid-send); ``sending`` whose retry time has come -- and
hands each to :func:`keel.tools.outbound.executor.execute_action`, which sends it once and
records it, or schedules its next try with exponential backoff, or marks it ``failed``
when the attempts are spent or the error is permanent.

It is a plain function with its dependencies passed in (:class:`DeliveryDeps`), so any
process can run it: ``keel outbox run`` (cron or ``--watch``), the end of ``keel demo``,
``keel review`` and the approval commands, and later ``keel serve``, ``keel worker`` and
the nightly run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.domain.policy import Policy
from keel.memory.actions import ActionStatus, ProposedAction, as_utc, reopen_failed
from keel.tools.outbound.base import OutboundAdapter
from keel.tools.outbound.executor import (
    DEFAULT_OPTIONS,
    ExecutionOptions,
    ExecutionResult,
    due_condition,
    execute_action,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 100


@dataclass(frozen=True)
class DeliveryDeps:
    """What delivering needs; built once per process by the caller.

    Attributes:
        engine: The Keel database.
        adapters: Adapter per channel (:func:`keel.tools.outbound.factory.adapters_from_settings`).
        policy: The current policy (the executor evaluates it again before each send).
        link_allowlist: URL prefixes a message may link to.
        options: Lease, retry policy, step hooks.
        worker_id: Recorded on each claim ("being delivered by ...").
    """

    engine: Engine
    adapters: Mapping[str, OutboundAdapter]
    policy: Policy
    link_allowlist: Sequence[str]
    options: ExecutionOptions = DEFAULT_OPTIONS
    worker_id: str = "outbox"


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass did, one result per action it looked at."""

    results: list[ExecutionResult] = field(default_factory=list)
    # Actions whose execution raised (a bug, a database error): left for the next pass.
    errors: list[tuple[str, str]] = field(default_factory=list)

    def with_outcome(self, *outcomes: str) -> list[ExecutionResult]:
        return [r for r in self.results if r.outcome in outcomes]

    @property
    def sent(self) -> list[ExecutionResult]:
        return self.with_outcome("sent")

    @property
    def failed(self) -> list[ExecutionResult]:
        """Ended ``failed`` in this pass: refused, or a permanent or last failure."""
        return [
            r
            for r in self.results
            if r.outcome == "refused" or (r.outcome == "failed" and not r.retryable)
        ]

    @property
    def retrying(self) -> list[ExecutionResult]:
        """Failed now, tried again later (``retry_after``)."""
        return [r for r in self.results if r.outcome == "failed" and r.retryable]

    @property
    def ok(self) -> bool:
        """Nothing ended failed and nothing raised (retries still pending are fine)."""
        return not self.failed and not self.errors

    def summary(self) -> str:
        """One line: counts per kind of result."""
        parts = [f"{len(self.sent)} sent"]
        if self.retrying:
            parts.append(f"{len(self.retrying)} will be retried")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        busy = self.with_outcome("busy")
        if busy:
            parts.append(f"{len(busy)} being delivered by another worker")
        if self.errors:
            parts.append(f"{len(self.errors)} errors")
        return ", ".join(parts)


def due_action_ids(
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    retry_now: bool = False,
    limit: int = DEFAULT_BATCH,
) -> list[str]:
    """Ids of the actions a worker may claim now, oldest first."""
    moment = as_utc(now)
    with Session(engine) as session:
        return list(
            session.exec(
                select(ProposedAction.id)
                .where(due_condition(moment, retry_now=retry_now))
                .order_by(col(ProposedAction.created_at), col(ProposedAction.id))
                .limit(limit)
            ).all()
        )


def deliver_action(
    deps: DeliveryDeps,
    action_id: str,
    *,
    now: dt.datetime | None = None,
    retry_now: bool = False,
) -> ExecutionResult:
    """Execute one action with ``deps`` (see :func:`execute_action`)."""
    return execute_action(
        deps.engine,
        action_id=action_id,
        adapters=deps.adapters,
        policy=deps.policy,
        link_allowlist=deps.link_allowlist,
        now=now,
        worker_id=deps.worker_id,
        options=deps.options,
        retry_now=retry_now,
    )


def deliver_due(
    deps: DeliveryDeps,
    *,
    now: dt.datetime | None = None,
    retry_now: bool = False,
    limit: int = DEFAULT_BATCH,
) -> DeliveryReport:
    """One pass: execute every due action once (at most ``limit``), oldest first.

    Args:
        deps: Engine, adapters, policy and options.
        now: The moment of the pass (tests pin it); each action uses the clock when None.
        retry_now: Also take actions waiting for a retry before their time.
        limit: At most this many actions in this pass; the next pass takes the rest.
    """
    report = DeliveryReport()
    for action_id in due_action_ids(deps.engine, now=now, retry_now=retry_now, limit=limit):
        try:
            result = deliver_action(deps, action_id, now=now, retry_now=retry_now)
        except Exception as exc:  # one broken action must not stop the others
            log.exception("delivering action %s failed", action_id)
            report.errors.append((action_id, f"{type(exc).__name__}: {exc}"))
            continue
        report.results.append(result)
    return report


@dataclass(frozen=True)
class DeliveryState:
    """Where an action's delivery stands, in one line, and whether that is a success.

    ``done`` is True when nothing more will happen: sent, rejected, ... ``ok`` is False
    when a human should know (not sent yet, being retried, failed).
    """

    ok: bool
    done: bool
    text: str


_NOT_CLAIMED = (ActionStatus.APPROVED, ActionStatus.EDITED, ActionStatus.AUTO_APPROVED)


def describe_delivery(action: ProposedAction) -> DeliveryState:
    """The delivery state of ``action``, read from its row, with what to do next."""
    show = f"see `keel approvals show {action.id}`"
    when = f"{action.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC" if action.lease_expires_at else ""
    if action.status == ActionStatus.SENT:
        at = f" at {action.sent_at:%Y-%m-%d %H:%M:%S} UTC" if action.sent_at else ""
        return DeliveryState(True, True, f"sent{at}")
    if action.status == ActionStatus.SENDING and action.claim_token:
        return DeliveryState(
            False,
            False,
            f"being delivered by {action.claimed_by} (lease until {when}); {show}",
        )
    if action.status == ActionStatus.SENDING:
        return DeliveryState(
            False,
            False,
            f"delivery failed ({action.last_error}): will retry at {when} "
            f"(attempt {action.attempts} so far); run `keel outbox run` or {show}",
        )
    if action.status == ActionStatus.FAILED:
        return DeliveryState(
            False,
            True,
            f"not sent: {action.last_error}; {show}, then `keel approvals retry {action.id}` "
            "sends it again",
        )
    if action.status in _NOT_CLAIMED:
        return DeliveryState(False, False, "not sent yet: `keel outbox run` delivers it")
    return DeliveryState(True, True, str(action.status))


def retry_failed(
    deps: DeliveryDeps,
    *,
    action_id: str,
    user: str,
    message: str | None = None,
    now: dt.datetime | None = None,
) -> ExecutionResult:
    """A named user sends a ``failed`` action again: audited, attempts reset, tried now.

    Raises:
        ConflictError: the action is not ``failed``.
        ActionNotFound: no such action.
    """
    reopen_failed(deps.engine, action_id=action_id, user=user, message=message, now=now)
    return deliver_action(deps, action_id, now=now)


def deliver_forever(
    deps: DeliveryDeps,
    *,
    interval_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    on_report: Callable[[DeliveryReport], None] = lambda _report: None,
    sleep: Callable[[float], None] = time.sleep,
    sleep_first: bool = False,
) -> None:
    """Run :func:`deliver_due` every ``interval_s`` seconds until ``should_stop()``."""
    if sleep_first:
        sleep(interval_s)
    while not should_stop():
        on_report(deliver_due(deps))
        if should_stop():
            return
        sleep(interval_s)
