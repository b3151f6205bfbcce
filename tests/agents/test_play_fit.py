"""Plays that fit the account (issue 19, item 4).

The cases the issue found on the demo book: a 0%-risk account given an internal escalation
and an exec brief "because renewal is close"; three expansion hypotheses and no expansion
play; a departed champion and no multi-threading play; escalations addressed to the
account's own CSM. The rule is the shared one (agents.selection): the offline planner
writes its plan with it, and the real model's plan is held to it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from keel.agents.composers import offline_model
from keel.agents.planner import address_escalations, enforce_plan, planner_messages
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, Hypothesis, Plan, PlannedPlay
from keel.agents.selection import code_selected_plays, misfit, select_plays
from keel.domain.policy import TEAM_CHANNEL, load_policy

AS_OF = dt.date(2026, 10, 31)
OWNER = "sofia.marino@kitewing.example"

ALL = [
    "usage_drop_checkin",
    "champion_left_multithread",
    "exec_sponsor_briefing",
    "renewal_kickoff",
    "save_plan",
    "expansion_conversation",
    "billing_followup",
    "internal_escalation",
    "quality_regression_followup",
]


def _h(hid: str, kind: str, category: str, confidence: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": hid,
        "kind": kind,
        "category": category,
        "confidence": confidence,
        "statement": f"{category} statement",
        "evidence_ids": [f"metric:{hid}"],
        **extra,
    }


# The demo's Selby Hotels: 3% risk, renewal in 31 days, three expansion signals.
RENEWAL_CLOSE = _h("acc-6:risk:1:renewal", "risk", "renewal_risk", 0.72)
HEALTHY_RENEWAL = _h("acc-6:expansion:renewal", "expansion", "healthy_renewal", 0.65)
EXPANSIONS = [
    _h("acc-6:expansion:1:seats", "expansion", "expansion", 0.6),
    _h("acc-6:expansion:2:outcome_ceiling", "expansion", "expansion", 0.6),
    _h("acc-6:expansion:3:teams", "expansion", "expansion", 0.6),
]


def _plays(hypotheses: list[dict[str, Any]], risk: float | None, **kw: Any) -> list[str]:
    chosen = select_plays(
        hypotheses,
        kw.pop("allowed", ALL),
        max_plays=kw.pop("max_plays", 3),
        customer_slots=kw.pop("customer_slots", 2),
        account_risk=risk,
    )
    return [s.play for s in chosen]


def test_a_healthy_renewal_gets_a_kickoff_not_an_escalation_or_exec_brief() -> None:
    plays = _plays([RENEWAL_CLOSE, HEALTHY_RENEWAL], risk=0.0)
    assert plays == ["renewal_kickoff"]
    # Whatever the risk, a renewal date alone calls for no risk play.
    assert "exec_sponsor_briefing" not in _plays([RENEWAL_CLOSE], risk=None)
    assert "internal_escalation" not in _plays([RENEWAL_CLOSE], risk=None)


def test_expansion_hypotheses_get_the_expansion_play() -> None:
    risks = [
        _h("acc-6:risk:2:engagement", "risk", "usage_decline", 0.8),
        _h("acc-6:risk:3:nps", "risk", "renewal_risk", 0.7),
    ]
    plays = _plays([RENEWAL_CLOSE, *risks, *EXPANSIONS, HEALTHY_RENEWAL], risk=0.03)
    assert "expansion_conversation" in plays and "renewal_kickoff" in plays
    assert "save_plan" not in plays and "internal_escalation" not in plays
    # One play per kind of hypothesis: three expansion signals are one conversation.
    assert plays.count("expansion_conversation") == 1 and "exec_sponsor_briefing" not in plays


def test_no_growth_play_over_the_customers_own_words_of_risk() -> None:
    """The demo's Ventura Underwriters: 17% risk, flagged for a competitor mention, was
    offered an expansion conversation; risk language (or a departed champion) is an open
    risk no growth play talks over, whatever the modelled risk."""
    words = _h("acc-23:risk:1:risk_language", "risk", "renewal_risk", 0.7)
    plays = _plays([words, *EXPANSIONS, HEALTHY_RENEWAL], risk=0.17)
    assert plays and not {"expansion_conversation", "adoption_congrats"} & set(plays)
    # An NPS dip on a healthy account is no such risk: the expansion still comes first.
    nps = _h("acc-23:risk:1:nps", "risk", "renewal_risk", 0.7)
    assert _plays([nps, *EXPANSIONS], risk=0.17)[0] == "expansion_conversation"


def test_an_account_at_serious_risk_is_not_sold_more() -> None:
    risks = [_h("acc-6:risk:2:engagement", "risk", "usage_decline", 0.8)]
    plays = _plays([*risks, *EXPANSIONS, HEALTHY_RENEWAL], risk=0.45)
    assert plays == ["save_plan", "internal_escalation"]


def test_a_departed_champion_gets_multithreading_even_at_high_risk() -> None:
    champion = _h("acc-9:risk:1:relationships", "risk", "champion_left", 0.85)
    usage = _h("acc-9:risk:2:engagement", "risk", "usage_decline", 0.8)
    plays = _plays([champion, usage], risk=0.35)
    assert plays[0] == "champion_left_multithread"
    assert "save_plan" in plays  # the next strong risk still gets its save plan
    assert _plays([champion], risk=0.05) == ["champion_left_multithread"]


def test_code_selection_reads_the_accounts_risk_from_the_facts() -> None:
    facts = {"health": {"risk": 0.02}, "hypotheses": [RENEWAL_CLOSE, HEALTHY_RENEWAL]}
    assert code_selected_plays(facts, ALL, max_plays=3, customer_slots=2) == {"renewal_kickoff"}


def _briefing(*hypotheses: dict[str, Any]) -> Briefing:
    def model(h: dict[str, Any]) -> Hypothesis:
        return Hypothesis.model_validate({k: v for k, v in h.items() if k != "factor"})

    return Briefing(
        account_id=6,
        account_name="Selby Hotels",
        as_of=AS_OF,
        summary="A healthy account with a renewal coming.",
        risk_hypotheses=[model(h) for h in hypotheses if h["kind"] == "risk"],
        expansion_hypotheses=[model(h) for h in hypotheses if h["kind"] == "expansion"],
    )


class _Account:
    external_id = "acc-00006"
    segment = "mid_market"
    arr = 62600.0


def test_the_offline_planner_follows_the_rule_through_its_request() -> None:
    policy = load_policy()
    briefing = _briefing(RENEWAL_CLOSE, HEALTHY_RENEWAL, *EXPANSIONS)
    allowed = policy.allowed_plays_for(account=_Account(), today=AS_OF)
    prompt = planner_messages(briefing, allowed, max_plays=3, customer_slots=2, account_risk=0.03)
    plan = invoke_structured(offline_model(), prompt, Plan)
    plays = [p.play for p in plan.plays]
    assert set(plays) == {"renewal_kickoff", "expansion_conversation"}


def test_a_models_plan_that_does_not_fit_is_dropped() -> None:
    policy = load_policy()
    briefing = _briefing(RENEWAL_CLOSE, HEALTHY_RENEWAL)
    allowed = {d.play_id: d for d in policy.allowed_plays_for(account=_Account(), today=AS_OF)}
    contacts = [
        {"id": 1, "role": "champion", "name": "Kate", "email": "k@x", "left_company": False},
        {"id": 2, "role": "executive_sponsor", "name": "Lars", "email": "l@x"},
    ]
    plan = Plan(
        plays=[
            PlannedPlay(
                play="internal_escalation", rationale="r", hypothesis_id=RENEWAL_CLOSE["id"]
            ),
            PlannedPlay(
                play="exec_sponsor_briefing", rationale="r", hypothesis_id=RENEWAL_CLOSE["id"]
            ),
            PlannedPlay(play="renewal_kickoff", rationale="r", hypothesis_id=HEALTHY_RENEWAL["id"]),
        ]
    )
    items, dropped = enforce_plan(
        plan,
        briefing=briefing,
        allowed=allowed,
        contacts=contacts,
        customer_slots=2,
        max_plays=3,
        account_risk=0.0,
    )
    assert [i["play"] for i in items] == ["renewal_kickoff"]
    reasons = {d["play"]: d["reason"] for d in dropped}
    assert "below the 30%" in reasons["internal_escalation"]
    assert "renewal date alone" in reasons["exec_sponsor_briefing"]
    assert misfit("expansion_conversation", EXPANSIONS[0], account_risk=0.6) is not None


def test_escalations_go_to_the_policys_contact_never_the_owner(tmp_path: Path) -> None:
    policy = load_policy()
    items: list[dict[str, Any]] = [{"play": "internal_escalation"}, {"play": "renewal_kickoff"}]
    address_escalations(items, policy, OWNER)
    recipient = items[0]["internal_recipient"]
    assert recipient["name"] == "CS leadership" and recipient["address"] != OWNER
    assert "internal_recipient" not in items[1]
    # A policy naming the owner as the escalation contact: the CS team channel instead.
    text = Path(policy.source).read_text()
    text = text.replace(
        '  name: CS leadership\n  address: ""', f'  name: Sofia\n  address: "{OWNER}"'
    )
    custom = tmp_path / "policy.yaml"
    custom.write_text(text)
    mine = load_policy(custom)
    assert mine.escalation.address == OWNER
    assert mine.escalation_for(OWNER.upper()) == TEAM_CHANNEL
    assert mine.escalation_for("someone.else@kitewing.example").address == OWNER


def test_a_renewal_coming_is_a_kickoff_only_when_nothing_else_is_wrong() -> None:
    # Low modelled risk, nothing else: the renewal date is the moment for a kickoff.
    assert _plays([RENEWAL_CLOSE], risk=0.02) == ["renewal_kickoff"]
    # A declining account with a renewal coming is no healthy renewal.
    usage = _h("acc-6:risk:2:engagement", "risk", "usage_decline", 0.6)
    plays = _plays([RENEWAL_CLOSE, usage], risk=0.12)
    assert plays == ["usage_drop_checkin"]


def test_an_account_at_high_risk_gets_its_save_plan_first() -> None:
    # At 45% modelled risk the save plan (to the sponsor) takes the first slot, whatever
    # each hypothesis's own confidence; the usage check-in follows.
    champion = _h("acc-9:risk:1:relationships", "risk", "champion_left", 0.6)
    usage = _h("acc-9:risk:2:engagement", "risk", "usage_decline", 0.55)
    plays = _plays([usage, champion], risk=0.45)
    assert plays == ["save_plan", "usage_drop_checkin", "internal_escalation"]
    # With one customer slot left, the save plan still goes first.
    assert _plays([usage, champion], risk=0.45, customer_slots=1)[0] == "save_plan"
