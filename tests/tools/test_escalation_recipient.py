"""Escalations go to the policy's escalation contact, end to end: the draft is addressed to
it, the executor's recipient check lets it (and the owner) through and nobody else, and the
outbox note and CRM task name it -- never the account's own CSM by default."""

from __future__ import annotations

import datetime as dt
from typing import Any

from keel.agents.drafter import assemble_draft
from keel.agents.planner import address_escalations
from keel.agents.schemas import DraftContent
from keel.domain.plays import PLAY_LIBRARY
from keel.domain.policy import EscalationTarget, load_policy
from keel.tools.outbound.base import RenderedMessage
from keel.tools.outbound.guards import recipient_problems
from keel.tools.outbound.render import addressee, to_markdown

OWNER = "priya.iyer@kitewing.example"
LEADER = "cs-lead@kitewing.example"


def _escalation(policy_address: str = "") -> dict[str, Any]:
    policy = load_policy()
    if policy_address:
        policy = policy.model_copy(
            update={"escalation": EscalationTarget(name="Dana Leader", address=policy_address)}
        )
    item: dict[str, Any] = {"play": "internal_escalation", "draft_kind": "internal_note"}
    address_escalations([item], policy, OWNER)
    return item


def _draft(item: dict[str, Any]) -> Any:
    return assemble_draft(
        DraftContent(subject="Escalation: Northgate", body="Help needed this week."),
        play=PLAY_LIBRARY["internal_escalation"],
        item=item,
        facts={"account": {"id": 7, "name": "Northgate", "owner_csm": OWNER}},
        recipient=None,
        allowlist=[],
        label="offline:test",
        revision=0,
    )


def test_an_escalation_draft_is_addressed_to_the_escalation_contact_not_the_owner() -> None:
    draft = _draft(_escalation(LEADER))
    assert draft.recipient_name == "Dana Leader" and draft.recipient_address == LEADER

    default = _draft(_escalation())  # the default policy: CS leadership, the team channel
    assert default.recipient_name == "CS leadership" and default.recipient_address == ""
    assert OWNER not in (default.recipient_name, default.recipient_address)


def test_internal_messages_go_to_the_owner_or_the_escalation_contact_and_nobody_else() -> None:
    def problems(to: list[str]) -> list[str]:
        return recipient_problems(
            channel="slack",
            to=to,
            cc=[],
            recipient_contact_id=None,
            account_id=7,
            owner_csm=OWNER,
            contacts=[],
            escalation_address=LEADER,
        )

    assert problems([LEADER]) == [] and problems([OWNER]) == [] and problems([]) == []
    refused = problems(["attacker@evil.example"])
    assert refused and "escalation contact" in refused[0]


def test_the_outbox_note_names_the_escalation_contact() -> None:
    message = RenderedMessage(
        action_id="a1",
        account_id=7,
        account_external_id="acc-00007",
        account_name="Northgate",
        owner_csm=OWNER,
        play_id="internal_escalation",
        channel="slack",
        draft_kind="internal_note",
        subject="Escalation: Northgate",
        body="Help needed this week.",
        to=(),
        cc=(),
        links=(),
        rendered_at=dt.datetime(2026, 10, 31, tzinfo=dt.UTC),
        metadata={"recipient_name": "CS leadership"},
    )
    assert addressee(message) == "CS leadership"
    assert "- to: CS leadership" in to_markdown(message, idempotency_key="k")
