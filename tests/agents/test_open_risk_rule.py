"""One open-risk rule for the priority list and the planner (issue 19 item 3/4).

Seen on the demo: Hadley Hospitality, #7 with "budget cut mentions (90 days) 2", was kept
out of the list's expansion picks, but the planner still proposed an expansion conversation
because the risk-language hypothesis had been dropped by the cited-record check. The list's
reason is now stored with the scored account and read by the planner from the health tool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from keel.agents.composers import offline_model
from keel.agents.planner import enforce_plan, planner_messages
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, Hypothesis, Plan, PlannedPlay
from keel.agents.selection import code_selected_plays, open_risk_of, select_plays
from keel.domain.plays import PLAY_LIBRARY
from keel.domain.policy import load_policy
from keel.memory.db import init_db, make_engine
from keel.tools.account_intel import AccountIntel
from keel.tools.health.snapshot import current_snapshot, scored_accounts
from tests.tools.minibook import END, build_minibook

AS_OF = dt.date(2026, 10, 31)
ALL = list(PLAY_LIBRARY)
BUDGET_CUT = "flagged at risk; budget cut mentioned in the last 90 days"


def _h(hid: str, kind: str, category: str, confidence: float) -> dict[str, Any]:
    return {
        "id": hid,
        "kind": kind,
        "category": category,
        "confidence": confidence,
        "statement": f"{category} statement",
        "evidence_ids": [f"metric:{hid}"],
    }


# Hadley's hypotheses after the cited-record check: the budget-cut one is gone, the seats
# one is left, and the modelled risk is low enough for growth plays.
SEATS = _h("acc-7:expansion:1:seats", "expansion", "expansion", 0.7)
USAGE = _h("acc-7:risk:1:engagement", "risk", "usage_decline", 0.5)


def test_a_dropped_risk_language_hypothesis_still_leaves_no_expansion_play() -> None:
    before = select_plays([SEATS, USAGE], ALL, max_plays=3, customer_slots=2, account_risk=0.12)
    assert "expansion_conversation" in {s.play for s in before}  # what the demo did
    after = select_plays(
        [SEATS, USAGE],
        ALL,
        max_plays=3,
        customer_slots=2,
        account_risk=0.12,
        open_risk=BUDGET_CUT,
    )
    plays = {s.play for s in after}
    assert not plays & {"expansion_conversation", "renewal_kickoff", "exec_sponsor_briefing"}
    assert plays  # the usage decline is still answered
    facts = {"health": {"risk": 0.12, "open_risk": BUDGET_CUT}, "hypotheses": [SEATS, USAGE]}
    assert open_risk_of(facts) == BUDGET_CUT
    assert "expansion_conversation" not in code_selected_plays(
        facts, ALL, max_plays=3, customer_slots=2
    )


def _briefing() -> Briefing:
    def model(h: dict[str, Any]) -> Hypothesis:
        return Hypothesis.model_validate(h)

    return Briefing(
        account_id=7,
        account_name="Hadley Hospitality",
        as_of=AS_OF,
        summary="Seats near the ceiling; usage softening.",
        risk_hypotheses=[model(USAGE)],
        expansion_hypotheses=[model(SEATS)],
    )


class _Account:
    external_id = "acc-00007"
    segment = "mid_market"
    arr = 120_000.0


CONTACTS = [
    {"id": 1, "role": "champion", "name": "Kate", "email": "k@x", "left_company": False},
    {"id": 2, "role": "executive_sponsor", "name": "Lars", "email": "l@x"},
]


def test_the_offline_planner_withholds_growth_and_the_reviewer_sees_why() -> None:
    policy = load_policy()
    allowed = policy.allowed_plays_for(account=_Account(), today=AS_OF)
    prompt = planner_messages(
        _briefing(), allowed, max_plays=3, customer_slots=2, account_risk=0.12, open_risk=BUDGET_CUT
    )
    plan = invoke_structured(offline_model(), prompt, Plan)
    assert "expansion_conversation" not in [p.play for p in plan.plays]


def test_a_models_expansion_plan_over_an_open_risk_is_dropped_with_the_lists_reason() -> None:
    policy = load_policy()
    allowed = {d.play_id: d for d in policy.allowed_plays_for(account=_Account(), today=AS_OF)}
    plan = Plan(
        plays=[
            PlannedPlay(play="expansion_conversation", rationale="r", hypothesis_id=SEATS["id"]),
            PlannedPlay(play="exec_sponsor_briefing", rationale="r", hypothesis_id=SEATS["id"]),
        ]
    )
    items, dropped = enforce_plan(
        plan,
        briefing=_briefing(),
        allowed=allowed,
        contacts=CONTACTS,
        customer_slots=2,
        max_plays=3,
        account_risk=0.12,
        factors={},
        open_risk=BUDGET_CUT,
    )
    assert items == []
    reasons = {d["play"]: d["reason"] for d in dropped}
    assert "budget cut" in reasons["expansion_conversation"]
    assert "budget cut" in reasons["exec_sponsor_briefing"]


# ---------------------------------------------------------------- the list and the planner


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("open-risk") / "book.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    build_minibook(engine, n_healthy=30, n_decline=20, n_ai=2)
    yield engine
    engine.dispose()


def test_the_list_and_the_planner_agree_on_a_small_book(book: Engine) -> None:
    snapshot = current_snapshot(book, END)
    intel = AccountIntel(book)
    rows = [a.row for a in scored_accounts(book, snapshot)]
    with_risk = [r for r in rows if r.open_risk]
    picks = [r for r in rows if r.expansion_rank]
    assert with_risk and picks  # both kinds are on the book
    assert all(not r.open_risk for r in picks)  # the list's own rule
    for row in rows:
        health = intel.health(row.account_id, END, snapshot.id)
        assert health["open_risk"] == row.open_risk
        # The same strong seats hypothesis on every account, whatever its own: the planner
        # offers growth exactly where the list sees no open risk.
        facts = {"health": health, "hypotheses": [SEATS]}
        plays = code_selected_plays(facts, ALL, max_plays=3, customer_slots=2)
        growth = "expansion_conversation" in plays
        if row.open_risk:
            assert not growth, (row.name, row.open_risk)
        elif row.expansion_rank:
            assert growth, row.name
