"""The approval helper in a small real graph: HITL request, validated answer, recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.agents.approval import (
    ReviewDecision,
    make_response,
    record_decision,
    request_approval,
    validate_response,
)
from keel.errors import ConflictError, ValidationFailed
from keel.memory.actions import (
    ActionStatus,
    ProposedAction,
    get_action,
    list_decisions,
    propose_action,
)
from keel.memory.checkpoint import open_persistence
from keel.memory.models import Account, Contact
from keel.settings import Settings

PAYLOAD = {
    "subject": "Checking in",
    "body": "Hi Ann, how is the rollout going?",
    "to": ["ann@acme.example"],
}


class _State(TypedDict, total=False):
    action_id: str
    out: dict[str, Any]


def _action(engine: Engine, thread: str) -> ProposedAction:
    with Session(engine) as session:
        account = Account(external_id=f"A-{thread}", name="Acme")
        session.add(account)
        session.flush()
        contact = Contact(
            external_id=f"C-{thread}",
            account_id=account.id or 0,
            name="Ann",
            email="ann@acme.example",
        )
        session.add(contact)
        session.flush()
        action = propose_action(
            session,
            thread_id=thread,
            interrupt_id="approval:usage_drop_checkin:r0",
            account_id=account.id or 0,
            play_id="usage_drop_checkin",
            draft_kind="email",
            payload=PAYLOAD,
            needs_approval=True,
            recipient_contact_id=contact.id,
            produced_by_model="offline:keel-offline-1",
        )
        session.commit()
        session.refresh(action)
        session.expunge(action)
        return action


@pytest.fixture()
def graph(engine: Engine, settings: Settings) -> Iterator[Any]:
    def approve(state: _State) -> dict[str, Any]:
        with Session(engine) as session:
            action = get_action(session, action_id=state["action_id"])
            session.expunge(action)
        decision, decided = request_approval(engine, action, description="Why: usage fell.")
        return {"out": {"type": decision.type, "user": decision.user, "status": decided.status}}

    builder = StateGraph(_State)
    builder.add_node("approve", approve)
    builder.add_edge(START, "approve")
    builder.add_edge("approve", END)
    with open_persistence(settings) as persistence:
        yield builder.compile(checkpointer=persistence.checkpointer)


def test_request_is_an_hitl_request_and_bad_answers_are_not_saved(
    engine: Engine, graph: Any
) -> None:
    action = _action(engine, "t1")
    config = {"configurable": {"thread_id": "t1", "user_id": "config-user"}}
    out = graph.invoke({"action_id": action.id}, config, durability="sync", version="v2")
    (interrupt,) = out.interrupts
    request = interrupt.value
    (item,) = request["action_requests"]
    assert item["name"] == "send_email" and item["description"] == "Why: usage fell."
    assert item["args"]["to"] == ["ann@acme.example"] and item["args"]["action_id"] == action.id
    assert request["review_configs"] == [
        {"action_name": "send_email", "allowed_decisions": ["approve", "edit", "respond", "reject"]}
    ]
    assert interrupt.response_schema is not None  # clients can render a typed form

    for bad in (
        {"decisions": [{"type": "approve"}, {"type": "approve"}]},
        {"decisions": [{"type": "respond"}]},
        {
            "decisions": [
                {"type": "edit", "edited_action": {"name": "send_email", "args": {"play": "x"}}}
            ]
        },
        {
            "decisions": [
                {
                    "type": "edit",
                    "edited_action": {"name": "post_slack_message", "args": {"body": "x"}},
                }
            ]
        },
    ):
        with pytest.raises(ValidationError):
            graph.invoke(Command(resume={interrupt.id: bad}), config, durability="sync")
        assert graph.get_state(config).interrupts, "still waiting after a bad answer"

    done = graph.invoke(
        Command(resume={interrupt.id: {"decisions": [{"type": "approve"}]}}), config
    )
    assert done["out"] == {"type": "approve", "user": "config-user", "status": "approved"}
    with Session(engine) as session:
        (decision,) = list_decisions(session, action_id=action.id)
    assert decision.decision == "approve" and decision.user == "config-user"


@pytest.mark.parametrize(
    ("kind", "extra", "status"),
    [
        ("approve", {}, ActionStatus.APPROVED),
        ("edit", {"edited_args": {"subject": "New subject"}}, ActionStatus.EDITED),
        ("respond", {"message": "Shorter please"}, ActionStatus.RESPONDED),
        ("reject", {"message": "Not now"}, ActionStatus.REJECTED),
    ],
)
def test_each_decision_maps_to_one_recorded_decision(
    engine: Engine, graph: Any, kind: str, extra: dict[str, Any], status: ActionStatus
) -> None:
    thread = f"t-{kind}"
    action = _action(engine, thread)
    config = {"configurable": {"thread_id": thread}}
    out = graph.invoke({"action_id": action.id}, config, version="v2")
    response = make_response(kind, user="rita", **extra)  # type: ignore[arg-type]
    validate_response(response, action=action)
    done = graph.invoke(Command(resume={out.interrupts[0].id: response}), config)
    assert done["out"] == {"type": kind, "user": "rita", "status": status}
    with Session(engine) as session:
        stored = get_action(session, action_id=action.id)
        trail = list_decisions(session, action_id=action.id)
    assert [d.user for d in trail] == ["rita"] and stored.status == status
    if kind == "edit":
        assert stored.payload["subject"] == "New subject"
        assert stored.payload["body"] == PAYLOAD["body"]
        assert stored.payload_hash != stored.proposed_payload_hash
    if kind in ("respond", "reject"):
        assert trail[0].message == extra["message"]


def test_a_replayed_decision_is_recorded_once_and_a_different_one_conflicts(engine: Engine) -> None:
    action = _action(engine, "t-replay")
    decision = ReviewDecision(type="approve", user="sam")
    record_decision(engine, action, decision)
    again = record_decision(engine, action, decision)  # a node re-run after a crash
    assert again.status == ActionStatus.APPROVED
    with pytest.raises(ConflictError, match="already approved by sam"):
        record_decision(engine, action, ReviewDecision(type="approve", user="tom"))
    with pytest.raises(ConflictError):
        record_decision(engine, action, ReviewDecision(type="reject", user="sam", message="no"))
    with Session(engine) as session:
        assert len(list_decisions(session, action_id=action.id)) == 1


def test_validate_response_names_the_problem(engine: Engine) -> None:
    action = _action(engine, "t-validate")
    with pytest.raises(ValidationFailed, match="cannot be edited"):
        validate_response(
            make_response("edit", user="u", edited_args={"channel": "slack"}), action=action
        )
    with pytest.raises(ValidationFailed, match="subject"):
        validate_response(
            make_response("edit", user="u", edited_args={"subject": "a\nb"}), action=action
        )
    with pytest.raises(ValidationFailed, match="reviewer"):
        validate_response({"decisions": [{"type": "approve"}], "user": "  "}, action=action)
