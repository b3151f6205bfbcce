"""Between a draft and the outside world: policy check, approval, execution, intervention log.

Four node functions for one planned play's path (``keel.agents.state.ActionState``), built by
:func:`make_gate_nodes` from the run's :class:`keel.agents.context.ReviewDeps`:

- ``policy_check`` asks the policy again for this exact draft (tier, caps, quiet list,
  recipient) and writes the ``ProposedAction`` row, idempotently: the row is keyed by
  thread, step (play and revision) and payload hash, so a node re-run after a crash or a
  resume finds the row it wrote instead of adding one. Writing the row is the approval
  queue, not a side effect on the world: nothing leaves before the interrupt.
- ``approval`` pauses with :func:`keel.agents.approval.request_approval` for actions the policy
  gates, records the reviewer's decision, and remembers edits and feedback in the store.
- ``execute`` hands approved actions to :func:`keel.tools.outbound.executor.execute_action`,
  the only path to an adapter, which claims, re-checks and sends exactly once.
- ``log`` appends what became of the play to the review's outcomes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from sqlmodel import Session

from keel.agents.approval import request_approval
from keel.agents.content_gate import (
    CONTENT_PREFIX,
    auto_send_blockers,
    customer_sources,
    problems_in,
    quoted_sources,
    scrubbed,
)
from keel.agents.content_gate import reasons as content_reasons
from keel.agents.context import ReviewDeps
from keel.agents.describe import describe_action
from keel.agents.feedback import FeedbackNote, remember
from keel.agents.schemas import Draft
from keel.agents.state import ActionOutcome, ActionState
from keel.memory.actions import (
    CHANNEL_FOR_DRAFT,
    ActionStatus,
    DraftKind,
    ProposedAction,
    get_action,
    list_actions,
    propose_action,
    recent_touches,
)
from keel.memory.models import Account, Contact
from keel.tools.outbound.executor import DEFAULT_OPTIONS, execute_action
from keel.tools.outbound.guards import extract_links

log = logging.getLogger(__name__)

# Caps look back this far for earlier touches (the policy decides which days count).
TOUCH_LOOKBACK_DAYS: Final = 60

AfterApproval = Literal["execute", "draft", "log"]
Node = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class GateNodes:
    policy_check: Node
    approval: Node
    execute: Node
    log: Node


def thread_id_of(config: RunnableConfig) -> str:
    return str(config.get("configurable", {}).get("thread_id") or "no-thread")


def step_key(play: str, revision: int) -> str:
    """The proposing step, part of the row's idempotency key (with thread and payload)."""
    return f"approval:{play}:r{revision}"


def action_payload(draft: Draft) -> dict[str, Any]:
    """The payload to approve and send: final text, addresses and declared links."""
    to = [draft.recipient_address] if draft.recipient_address else []
    return {
        "subject": draft.subject,
        "body": draft.body,
        "to": to,
        "cc": [],
        "links": list(dict.fromkeys(extract_links(draft.body))),
        "metadata": {
            "evidence_ids": draft.evidence_ids,
            "facts_used": draft.facts_used,
            "hypothesis_id": draft.hypothesis_id,
            "produced_by": draft.produced_by,
            "revision": draft.revision,
            "recipient_name": draft.recipient_name,
        },
    }


def make_gate_nodes(deps: ReviewDeps) -> GateNodes:
    """The four nodes, closed over ``deps``."""

    def policy_check(state: ActionState, config: RunnableConfig) -> dict[str, Any]:
        draft = Draft.model_validate(state["draft"])
        thread = thread_id_of(config)
        today = _as_of(state, deps)
        health = state["facts"].get("health") or {}
        percentile = health.get("percentile")
        channel = CHANNEL_FOR_DRAFT[DraftKind(draft.kind)]
        with Session(deps.engine) as session:
            account = session.get(Account, draft.account_id)
            if account is None:
                return _fail(state, "policy_check", f"account {draft.account_id} does not exist")
            contact = (
                session.get(Contact, draft.recipient_contact_id)
                if draft.recipient_contact_id is not None
                else None
            )
            # Touches from this review are the planner's to space out; earlier reviews'
            # in-flight actions and everything sent count against the caps.
            own = {a.id for a in list_actions(session, thread_id=thread)}
            touches = [
                t
                for t in recent_touches(
                    session,
                    account_id=account.id or 0,
                    since=today - dt.timedelta(days=TOUCH_LOOKBACK_DAYS),
                    include_in_flight=True,
                    as_of=today,
                )
                if t.action_id not in own
            ]
            decision = deps.policy.evaluate(
                play_id=draft.play,
                account=account,
                channel=channel,
                recipient_contact=contact,
                health_percentile=percentile,
                recent_actions=touches,
                today=today,
            )
            if decision.allowed:
                payload, reasons, needs_approval = _checked_payload(
                    deps, state, draft, account, decision.reasons, decision.needs_approval, today
                )
            if not decision.allowed:
                outcome = ActionOutcome(
                    play=draft.play,
                    status="blocked",
                    channel=str(channel),
                    recipient_contact_id=draft.recipient_contact_id,
                    reasons=decision.reasons,
                )
                return {"action_id": None, "outcomes": [outcome]}
            action = propose_action(
                session,
                thread_id=thread,
                interrupt_id=step_key(draft.play, draft.revision),
                account_id=account.id or 0,
                play_id=draft.play,
                draft_kind=draft.kind,
                payload=payload,
                needs_approval=needs_approval,
                recipient_contact_id=draft.recipient_contact_id,
                produced_by_model=draft.produced_by,
                policy_reasons=reasons,
                health_percentile=percentile,
                parent_action_id=state.get("parent_action_id"),
            )
            session.commit()
            return {"action_id": action.id}

    def approval(state: ActionState, runtime: Runtime[Any]) -> dict[str, Any]:
        action_id = state.get("action_id")
        assert action_id, "approval runs only after a proposed action"
        with Session(deps.engine) as session:
            action = get_action(session, action_id=action_id)
            session.expunge(action)
        if action.status == ActionStatus.AUTO_APPROVED:
            return {"decision": {"type": "auto", "user": "policy"}}
        draft = state.get("draft") or {}
        description = describe_action(
            action,
            state["item"],
            state.get("facts") or {},
            content_notes=list(draft.get("content_problems") or []),
        )
        decision, decided = request_approval(deps.engine, action, description=description)
        update: dict[str, Any] = {
            "decision": {"type": decision.type, "user": decision.user, "message": decision.message}
        }
        if runtime.store is not None and decision.type != "approve":
            before = state.get("draft") or {}
            note = _note(decision.type, decision.user, decision.message, action, before, decided)
            remember(runtime.store, note)
        if decision.type == "respond":
            update.update(
                {
                    "feedback": [*state.get("feedback", []), decision.message or ""],
                    "revision": int(state.get("revision", 0)) + 1,
                    "parent_action_id": action.id,
                    "previous_draft": state.get("draft"),
                    "action_id": None,
                }
            )
        return update

    def execute(state: ActionState, config: RunnableConfig) -> dict[str, Any]:
        action_id = state.get("action_id")
        assert action_id, "execute runs only after an approved action"
        # One try now, so a healthy transport sends at once. Whatever happens, the play
        # ends here: a transient failure is retried by the delivery loop, not the thread.
        result = execute_action(
            deps.engine,
            action_id=action_id,
            adapters=deps.adapters,
            policy=deps.policy,
            link_allowlist=deps.link_allowlist,
            worker_id=thread_id_of(config),
            options=deps.execution or DEFAULT_OPTIONS,
        )
        execution = asdict(result)
        execution["reasons"] = list(result.reasons)
        execution["retry_after"] = result.retry_after.isoformat() if result.retry_after else None
        return {"execution": execution}

    def log_outcome(state: ActionState) -> dict[str, Any]:
        action_id = state.get("action_id")
        if not action_id:  # blocked by the policy: policy_check logged it
            return {}
        with Session(deps.engine) as session:
            action = get_action(session, action_id=action_id)
            decision = state.get("decision") or {}
            execution = state.get("execution") or {}
            outcome = ActionOutcome(
                play=action.play_id,
                status=_status(action, execution),
                action_id=action.id,
                decision=decision.get("type"),
                decided_by=action.decided_by,
                channel=action.channel,
                recipient_contact_id=action.recipient_contact_id,
                reasons=list(execution.get("reasons") or action.policy_reasons),
                detail=_delivery_detail(action)
                or str(decision.get("message") or execution.get("outcome") or ""),
            )
        return {"outcomes": [outcome]}

    return GateNodes(policy_check, approval, execute, log_outcome)


def route_after_policy(state: ActionState) -> Literal["approval", "log"]:
    return "approval" if state.get("action_id") else "log"


def route_after_approval(state: ActionState) -> AfterApproval:
    kind = (state.get("decision") or {}).get("type")
    if kind in ("approve", "edit", "auto"):
        return "execute"
    if kind == "respond":
        return "draft"
    return "log"


def _status(action: ProposedAction, execution: dict[str, Any]) -> str:
    """The play's outcome, read from the row (the truth), not from this node's attempt.

    A send that is not finished is never reported as finished or failed: ``delivering``
    (a worker holds it) or ``will retry`` (a transient failure; the delivery loop retries).
    """
    if action.status == ActionStatus.SENDING:
        return "delivering" if action.claim_token else "will retry"
    return str(action.status)


def _delivery_detail(action: ProposedAction) -> str:
    """One line on a send that did not finish, and what to do about it ("" otherwise)."""
    when = f"{action.lease_expires_at:%H:%M:%S} UTC" if action.lease_expires_at else "later"
    show = f"`keel approvals show {action.id}`"
    if action.status == ActionStatus.SENDING and action.claim_token:
        return (
            f"being delivered by {action.claimed_by}; "
            f"if it does not finish, it is retried after {when}"
        )
    if action.status == ActionStatus.SENDING:
        return (
            f"delivery failed ({action.last_error}): will retry at {when}; "
            f"run `keel outbox run` or see {show}"
        )
    if action.status == ActionStatus.FAILED:
        return f"not sent: {action.last_error}; see {show}, then `keel approvals retry {action.id}`"
    if action.status in (
        ActionStatus.APPROVED,
        ActionStatus.EDITED,
        ActionStatus.AUTO_APPROVED,
    ):
        return "approved, not sent yet: `keel outbox run` delivers it"
    return ""


def _note(
    kind: str,
    user: str,
    message: str | None,
    action: ProposedAction,
    before: dict[str, Any],
    after: ProposedAction,
) -> FeedbackNote:
    """What to remember; ``before`` is the draft as proposed (the row may already hold the
    reviewer's edit when the decision was recorded before the thread resumed)."""
    return FeedbackNote(
        kind=kind,  # type: ignore[arg-type]
        account_id=action.account_id,
        play=action.play_id,
        user=user,
        action_id=action.id,
        message=message,
        subject_before=str(before.get("subject", "")),
        subject_after=str(after.payload.get("subject", "")),
        body_before=str(before.get("body", "")),
        body_after=str(after.payload.get("body", "")),
    )


def _checked_payload(
    deps: ReviewDeps,
    state: ActionState,
    draft: Draft,
    account: Account,
    policy_reasons: list[str],
    policy_needs_approval: bool,
    today: dt.date,
) -> tuple[dict[str, Any], list[str], bool]:
    """The payload to queue, the reasons shown with it, and whether a human must approve.

    The content policy runs again on the exact payload (the drafter ran it on the model's
    words; a node re-run or a later change must not let anything slip): what it refuses
    is removed and a human must approve. A play goes out without a human only if the
    policy allows it, the signals alone selected it, its content passed and it does not
    repeat customer text.
    """
    problems = problems_in(
        draft,
        allowlist=deps.link_allowlist,
        approved_offers=deps.policy.offers_for(draft.play),
        owner_csm=account.owner_csm,
    )
    if problems:
        draft = scrubbed(draft, problems)
    payload = action_payload(draft)
    found = [*draft.content_problems, *content_reasons(problems)]
    sources = customer_sources(deps.engine, account.id or 0, today)
    facts = state.get("facts") or {}
    trusted = [str(line.get("text") or "") for line in facts.get("fact_lines") or []]
    quoted = quoted_sources(
        [str(payload["subject"]), str(payload["body"])], sources, trusted=trusted
    )
    blockers = auto_send_blockers(state["item"], problems=found, quoted=quoted)
    content = [f"{CONTENT_PREFIX}{r}" for r in dict.fromkeys(found)]
    reasons = [*policy_reasons, *content, *blockers]
    return payload, reasons, policy_needs_approval or bool(blockers)


def _as_of(state: ActionState, deps: ReviewDeps) -> dt.date:
    raw = state.get("review_as_of")
    return dt.date.fromisoformat(raw) if raw else deps.review_date()


def _fail(state: ActionState, step: str, error: str) -> dict[str, Any]:
    play = str(state["item"].get("play", ""))
    return {
        "action_id": None,
        "errors": [{"step": step, "error": error, "play": play}],
        "outcomes": [ActionOutcome(play=play, status="failed", detail=error)],
    }
