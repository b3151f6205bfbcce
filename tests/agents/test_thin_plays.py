"""No customer play without something to tell the customer (issue 19).

Seen in the demo and the eval's drafts: an exec brief whose only content was "your renewal
is in 305 days" asking the sponsor to name an owner "for each" point; an expansion e-mail
citing only the renewal date; usage check-ins that "noticed a change" and listed two
closed how-to tickets. The rule (agents.selection.thin_plays): a customer play needs at
least one fact the customer can read beyond the renewal date, of a kind it is about (a
fall in use for a check-in, growth for an expansion); a renewal kickoff's subject is the
renewal. A growth hypothesis's figure (seats in use of those purchased, volume against the
ceiling, new features) is a fact line the draft states.
"""

from __future__ import annotations

from typing import Any

from keel.agents.composers import offline_model
from keel.agents.drafter import drafter_messages
from keel.agents.facts import build_facts, growth_figures
from keel.agents.feedback import StyleHints
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, DraftContent, Hypothesis
from keel.agents.selection import code_selected_plays, thin_plays
from keel.domain.plays import PLAY_LIBRARY
from keel.tools.account_tools import TOOL_EVIDENCE, TOOL_HYPOTHESES, TOOL_SIGNALS
from tests.agents.test_customer_text_drafts import ALLOWLIST, AS_OF, FALLING, FLAT, _results

ALL = list(PLAY_LIBRARY)
RENEWAL_ONLY = [
    {
        "id": "renewal:acc-1-r03",
        "text": "Renewal on 2027-09-01 (305 days away), ARR $120,000.",
        "kind": "renewal",
        "customer": "Your renewal is on 2027-09-01 (305 days away).",
    },
    {"id": "health:acc-1@2026-10-31", "text": "Health score 97/100.", "kind": "health"},
]
CLOSED_HOW_TO = {
    "id": "ticket:acc-1-t0001",
    "text": "Ticket t0001: normal-priority how to ticket opened 2026-09-29, closed 2026-10-07.",
    "kind": "ticket",
    "category": "how_to",
    "status": "closed",
    "customer": "Your how-to ticket opened on 2026-09-29 was closed on 2026-10-07.",
}
SEATS = {
    "id": "acc-00036:expansion:1:seats",
    "kind": "expansion",
    "category": "expansion",
    "factor": "seats",
    "statement": "Seats near the ceiling: 58 of 60 seats used (97%)",
    "confidence": 0.7,
    "evidence_ids": ["factor:seats"],
}
USAGE = {
    "id": "acc-1:risk:1:engagement",
    "kind": "risk",
    "category": "usage_decline",
    "factor": "engagement",
    "statement": "Engagement is falling",
    "confidence": 0.6,
    "evidence_ids": ["metric:outcome_count"],
}


def test_a_renewal_date_alone_drafts_no_customer_play_but_a_kickoff() -> None:
    thin = thin_plays(ALL, {"fact_lines": RENEWAL_ONLY})
    for play in ("exec_sponsor_briefing", "expansion_conversation", "usage_drop_checkin"):
        assert "beyond the renewal date" in thin[play]
    assert "renewal_kickoff" not in thin
    assert "internal_escalation" not in thin  # the CS team's note is not the rule's


def test_a_usage_check_in_needs_a_fall_it_can_name() -> None:
    lines = [*RENEWAL_ONLY, CLOSED_HOW_TO]
    assert "usage_drop_checkin" in thin_plays(ALL, {"fact_lines": lines})
    facts: dict[str, Any] = {"health": {"risk": 0.1}, "hypotheses": [USAGE], "fact_lines": lines}
    assert "usage_drop_checkin" not in code_selected_plays(
        facts, ALL, max_plays=3, customer_slots=2
    )
    falling = {
        "id": "metric:active_users",
        "text": "Active users 42 -> 26 (-38%)",
        "kind": "signal",
        "trend": "down",
    }
    facts["fact_lines"] = [*lines, falling]
    assert "usage_drop_checkin" not in thin_plays(ALL, facts)
    assert "usage_drop_checkin" in code_selected_plays(facts, ALL, max_plays=3, customer_slots=2)


def test_growth_figures_are_read_from_the_hypotheses() -> None:
    figures = growth_figures(
        [
            SEATS,
            {
                "kind": "expansion",
                "statement": "Outcome volume near the contracted ceiling: 11,989 a month "
                "(107% of the contract)",
            },
            {
                "kind": "expansion",
                "statement": "Fast adoption: 1 new feature in 90 days (Shared Inbox)",
            },
        ]
    )
    customer = [f[2] for f in figures]
    assert customer == [
        "58 of your 60 purchased seats are in use.",
        "Your volume is about 11,989 a month, 107% of the contracted volume.",
        "Your team started using 1 new feature in the last 90 days: Shared Inbox.",
    ]


def test_a_seat_ceiling_expansion_states_the_seats_figure() -> None:
    results = _results(signals=[FLAT])
    results[TOOL_EVIDENCE] = {"hits": []}
    results[TOOL_HYPOTHESES] = {"hypotheses": [SEATS]}
    facts = build_facts(results, as_of=AS_OF)
    assert "expansion_conversation" not in thin_plays(ALL, facts)
    recipient = next(c for c in facts["contacts"] if c["id"] == 1)
    play = PLAY_LIBRARY["expansion_conversation"]
    messages = drafter_messages(
        play=play,
        item={
            "play": play.id,
            "rationale": "Seats near the ceiling.",
            "hypothesis_id": SEATS["id"],
            "draft_kind": play.draft_kind,
            "recipient_contact_id": 1,
        },
        facts=facts,
        briefing=Briefing(
            account_id=36,
            account_name="Northwind Labs",
            as_of=AS_OF,
            summary="Seats near the ceiling.",
            expansion_hypotheses=[
                Hypothesis.model_validate({k: v for k, v in SEATS.items() if k != "factor"})
            ],
        ),
        recipient=recipient,
        guidance=[],
        hints=StyleHints(),
        allowlist=ALLOWLIST,
        previous=None,
        feedback=None,
        revision=0,
    )
    content = invoke_structured(offline_model(), messages, DraftContent)
    assert "58 of your 60 purchased seats are in use" in content.body
    assert "metric:seat_ceiling" in content.evidence_ids


def test_without_the_figure_the_expansion_is_thin() -> None:
    results = _results(signals=[FLAT])
    results[TOOL_EVIDENCE] = {"hits": []}
    results[TOOL_SIGNALS] = {"signals": [FLAT]}
    facts = build_facts(results, as_of=AS_OF)
    assert "expansion_conversation" in thin_plays(ALL, facts)
    results[TOOL_SIGNALS] = {"signals": [FALLING]}
    assert "expansion_conversation" in thin_plays(ALL, build_facts(results, as_of=AS_OF))


def test_a_models_thin_play_is_dropped_with_the_reason() -> None:
    from keel.agents.planner import enforce_plan
    from keel.agents.schemas import Plan, PlannedPlay
    from keel.domain.policy import load_policy

    class _Account:
        external_id = "acc-1"
        segment = "mid_market"
        arr = 120_000.0

    allowed = {
        d.play_id: d for d in load_policy().allowed_plays_for(account=_Account(), today=AS_OF)
    }
    thin = thin_plays(list(allowed), {"fact_lines": RENEWAL_ONLY})
    briefing = Briefing(
        account_id=1,
        account_name="Acme",
        as_of=AS_OF,
        summary="A healthy account.",
        risk_hypotheses=[
            Hypothesis.model_validate({k: v for k, v in USAGE.items() if k != "factor"})
        ],
    )
    plan = Plan(
        plays=[PlannedPlay(play="exec_sponsor_briefing", rationale="r", hypothesis_id=USAGE["id"])]
    )
    contacts = [{"id": 2, "role": "executive_sponsor", "name": "Lars", "email": "l@x"}]
    items, dropped = enforce_plan(
        plan,
        briefing=briefing,
        allowed=allowed,
        contacts=contacts,
        customer_slots=2,
        max_plays=3,
        thin=thin,
    )
    assert items == []
    assert "beyond the renewal date" in dropped[0]["reason"]
