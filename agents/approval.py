"""The approval helper: one ``interrupt()`` speaking LangChain v1's human-in-the-loop contract.

The interrupt value is an ``HITLRequest`` (as ``HumanInTheLoopMiddleware`` raises it): one
``ActionRequest`` (``name``, ``args``, ``description``) for the proposed action and one
``ReviewConfig`` naming the allowed decisions. The graph is resumed with an ``HITLResponse``,
``{"decisions": [decision]}``, where the decision is one of

- ``{"type": "approve"}``
- ``{"type": "edit", "edited_action": {"name": ..., "args": {"subject": ..., "body": ...}}}``
- ``{"type": "respond", "message": "feedback for a redraft"}``
- ``{"type": "reject", "message": "reason"}``

and an optional ``"user"`` naming the reviewer (else ``configurable.user_id``). The response
is validated by ``interrupt`` itself (``response_schema``): a malformed answer raises
``pydantic.ValidationError`` and is not saved, so the same interrupt can be answered again.

A valid decision is recorded with :func:`keel.memory.actions.decide` (atomic; a second decision
gets ``ConflictError``). A replay of the same decision (a node re-run after a crash, or a
caller that recorded the decision before resuming) is recognised and not recorded twice.

It sits in the agents package, beside the gate node that calls it
(:mod:`keel.agents.gatekeeper`); the graph runner above reads and records decisions with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Final, NotRequired, cast

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    Decision,
    DecisionType,
    HITLRequest,
    HITLResponse,
    ReviewConfig,
)
from langgraph.config import get_config
from langgraph.types import interrupt
from pydantic import AfterValidator, TypeAdapter, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.errors import ConflictError, Problem, ValidationFailed
from keel.memory.actions import (
    ActionPayload,
    ProposedAction,
    decide,
    list_decisions,
    payload_hash,
)

REVIEW_DECISIONS: Final[tuple[DecisionType, ...]] = ("approve", "edit", "respond", "reject")
# What a reviewer may change in an edit; recipients are re-checked against the account's
# contacts by the executor, links against the allow-list.
EDITABLE_ARGS: Final = ("subject", "body", "to", "cc")
DEFAULT_REVIEWER: Final = "reviewer"
ACTION_NAMES: Final = {
    "email": "send_email",
    "slack": "post_slack_message",
    "internal": "create_internal_note",
}


class ReviewResponse(HITLResponse):
    """An ``HITLResponse`` that may also name the reviewer."""

    user: NotRequired[str]


@dataclass(frozen=True)
class ReviewDecision:
    """A validated reviewer decision on one action."""

    type: DecisionType
    user: str
    message: str | None = None
    edited_args: Mapping[str, Any] | None = None

    def edited_payload(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The action's payload with the reviewer's edits applied (None unless an edit)."""
        if self.type != "edit" or self.edited_args is None:
            return None
        merged = dict(payload)
        merged.update({k: v for k, v in self.edited_args.items() if k in EDITABLE_ARGS})
        return merged


# --------------------------------------------------------------------- request and answer


def action_name(channel: str) -> str:
    return ACTION_NAMES.get(channel, f"send_{channel}")


def action_args(action: ProposedAction) -> dict[str, Any]:
    """What the reviewer sees and may edit: the payload plus read-only context."""
    payload = action.payload
    return {
        "action_id": action.id,
        "account_id": action.account_id,
        "play": action.play_id,
        "channel": action.channel,
        "draft_kind": action.draft_kind,
        "recipient_contact_id": action.recipient_contact_id,
        "to": list(payload.get("to", [])),
        "cc": list(payload.get("cc", [])),
        "subject": payload.get("subject", ""),
        "body": payload.get("body", ""),
        "links": list(payload.get("links", [])),
        "produced_by": action.produced_by_model,
    }


def build_request(
    action: ProposedAction,
    *,
    description: str,
    allowed: Sequence[DecisionType] = REVIEW_DECISIONS,
) -> HITLRequest:
    """The ``HITLRequest`` for one proposed action."""
    name = action_name(action.channel)
    return HITLRequest(
        action_requests=[
            ActionRequest(name=name, args=action_args(action), description=description)
        ],
        review_configs=[ReviewConfig(action_name=name, allowed_decisions=list(allowed))],
    )


def check_response(
    response: ReviewResponse,
    *,
    args: Mapping[str, Any],
    name: str,
    allowed: Sequence[DecisionType] = REVIEW_DECISIONS,
) -> ReviewResponse:
    """Reject answers that do not fit this action (raises ``ValueError`` for pydantic)."""
    decisions = response["decisions"]
    if len(decisions) != 1:
        raise ValueError(f"expected exactly one decision for one action, got {len(decisions)}")
    decision = cast(dict[str, Any], decisions[0])
    kind = decision.get("type")
    if kind not in allowed:
        raise ValueError(f"decision '{kind}' is not allowed here (allowed: {', '.join(allowed)})")
    user = response.get("user")
    if user is not None and not str(user).strip():
        raise ValueError("'user' must name the reviewer")
    if kind in ("respond", "reject"):
        message = decision.get("message")
        if kind == "respond" and not (message and str(message).strip()):
            raise ValueError("a 'respond' decision needs a message: the feedback for a redraft")
    if kind == "edit":
        edited = decision.get("edited_action") or {}
        if edited.get("name") != name:
            raise ValueError(f"an edit must keep the action name '{name}'")
        new_args = edited.get("args") or {}
        for key, value in new_args.items():
            if key in EDITABLE_ARGS:
                continue
            if key not in args or args[key] != value:
                editable = ", ".join(EDITABLE_ARGS)
                raise ValueError(f"'{key}' cannot be edited (editable: {editable})")
        if not any(key in EDITABLE_ARGS for key in new_args):
            raise ValueError("an edit must change at least one of: " + ", ".join(EDITABLE_ARGS))
        candidate = {k: args.get(k) for k in ("subject", "body", "to", "cc", "links")}
        candidate.update({k: v for k, v in new_args.items() if k in EDITABLE_ARGS})
        ActionPayload.model_validate(candidate)  # a ValidationError names the bad field
    return response


def response_schema(
    *, args: Mapping[str, Any], name: str, allowed: Sequence[DecisionType] = REVIEW_DECISIONS
) -> Any:
    """The type ``interrupt`` validates the answer against, specific to this action."""
    check = partial(check_response, args=args, name=name, allowed=allowed)
    return Annotated[ReviewResponse, AfterValidator(check)]


def validate_response(
    response: Mapping[str, Any],
    *,
    action: ProposedAction,
    allowed: Sequence[DecisionType] = REVIEW_DECISIONS,
) -> ReviewResponse:
    """Validate an answer before resuming; ``ValidationFailed`` says what is wrong."""
    schema = response_schema(
        args=action_args(action), name=action_name(action.channel), allowed=allowed
    )
    try:
        return cast(ReviewResponse, TypeAdapter(schema).validate_python(response))
    except ValidationError as exc:
        raise ValidationFailed(
            problems_from(exc, source=f"decision on action {action.id}")
        ) from None


def problems_from(exc: ValidationError, *, source: str) -> list[Problem]:
    return [
        Problem(
            file=source,
            row=None,
            field=".".join(str(p) for p in err["loc"]) or None,
            reason=str(err["msg"]).removeprefix("Value error, "),
        )
        for err in exc.errors()
    ]


def to_decision(response: ReviewResponse, *, default_user: str) -> ReviewDecision:
    decision = cast(dict[str, Any], response["decisions"][0])
    kind = cast(DecisionType, decision["type"])
    edited = decision.get("edited_action") if kind == "edit" else None
    message = decision.get("message") if kind in ("respond", "reject") else None
    return ReviewDecision(
        type=kind,
        user=str(response.get("user") or default_user).strip(),
        message=str(message).strip() if message else None,
        edited_args=dict(edited["args"]) if edited else None,
    )


def make_response(
    kind: DecisionType,
    *,
    user: str,
    message: str | None = None,
    edited_args: Mapping[str, Any] | None = None,
    name: str = "send_email",
) -> ReviewResponse:
    """Build an ``HITLResponse`` (plus reviewer) from a CLI or API call."""
    decision: dict[str, Any] = {"type": kind}
    if kind == "edit":
        decision["edited_action"] = {"name": name, "args": dict(edited_args or {})}
    elif message is not None:
        decision["message"] = message
    return ReviewResponse(decisions=[cast(Decision, decision)], user=user)


# ------------------------------------------------------------------------- recording


def record_decision(
    engine: Engine, action: ProposedAction, decision: ReviewDecision
) -> ProposedAction:
    """Record ``decision`` with :func:`keel.memory.actions.decide`; a replay is not recorded twice.

    Raises:
        ConflictError: someone else already decided this action differently.
    """
    edited = decision.edited_payload(action.payload)
    try:
        return decide(
            engine,
            action_id=action.id,
            decision=decision.type,
            user=decision.user,
            edited_payload=edited,
            message=decision.message,
        )
    except ConflictError:
        with Session(engine) as session:
            trail = list_decisions(session, action_id=action.id)
            current = session.get(ProposedAction, action.id)
            last = trail[-1] if trail else None
            same = (
                last is not None
                and current is not None
                and last.decision == decision.type
                and last.user == decision.user
                and (edited is None or last.payload_hash == payload_hash(edited))
            )
            if not same or current is None:
                raise
            session.expunge(current)
            return current


def request_approval(
    engine: Engine,
    action: ProposedAction,
    *,
    description: str,
    allowed: Sequence[DecisionType] = REVIEW_DECISIONS,
) -> tuple[ReviewDecision, ProposedAction]:
    """Pause for a reviewer's decision on ``action``, then record it.

    Must run inside a graph node with a checkpointer. The first call raises LangGraph's
    interrupt; when the graph is resumed the node runs again and this returns the decision
    and the action row as decided.
    """
    args = action_args(action)
    name = action_name(action.channel)
    request = build_request(action, description=description, allowed=allowed)
    answer = interrupt(
        request, response_schema=response_schema(args=args, name=name, allowed=allowed)
    )
    decision = to_decision(cast(ReviewResponse, answer), default_user=_config_user())
    return decision, record_decision(engine, action, decision)


def _config_user() -> str:
    try:
        configurable = get_config().get("configurable", {})
    except RuntimeError:
        return DEFAULT_REVIEWER
    return str(configurable.get("user_id") or DEFAULT_REVIEWER)
