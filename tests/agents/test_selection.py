"""The deterministic play selection: what the signals alone choose, and what it guards."""

from __future__ import annotations

from typing import Any

from keel.agents.planner import mark_code_selected
from keel.agents.selection import code_selected_plays, select_plays


def _h(hid: str, kind: str, category: str, confidence: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": hid,
        "kind": kind,
        "category": category,
        "confidence": confidence,
        "evidence_ids": [f"metric:{hid}"],
        **extra,
    }


ALL = [
    "usage_drop_checkin",
    "champion_left_multithread",
    "save_plan",
    "adoption_congrats",
    "ticket_satisfaction_pulse",
    "internal_escalation",
    "expansion_conversation",
    "renewal_kickoff",
]


def test_strong_risk_gets_a_save_plan_and_an_escalation() -> None:
    chosen = select_plays(
        [_h("h1", "risk", "usage_decline", 0.8)], ALL, max_plays=3, customer_slots=None
    )
    assert [s.play for s in chosen] == ["save_plan", "internal_escalation"]


def test_weak_hypotheses_select_nothing() -> None:
    assert (
        select_plays(
            [_h("h1", "risk", "usage_decline", 0.3)], ALL, max_plays=3, customer_slots=None
        )
        == []
    )


def test_caps_and_policy_limit_the_choice() -> None:
    hypotheses = [_h("h1", "risk", "usage_decline", 0.6), _h("h2", "risk", "champion_left", 0.55)]
    chosen = select_plays(hypotheses, ALL, max_plays=1, customer_slots=None)
    assert [s.play for s in chosen] == ["usage_drop_checkin"]
    # No customer-facing slot left: only internal plays answer.
    chosen = select_plays(hypotheses, ALL, max_plays=3, customer_slots=0)
    assert [s.play for s in chosen] == ["internal_escalation"]
    # A play the policy does not allow is never selected.
    allowed = [p for p in ALL if p != "usage_drop_checkin"]
    chosen = select_plays(hypotheses[:1], allowed, max_plays=3, customer_slots=None)
    assert "usage_drop_checkin" not in {s.play for s in chosen}


def test_code_selection_reads_only_hypotheses_that_cite_evidence() -> None:
    facts = {
        "hypotheses": [
            _h("h1", "risk", "champion_left", 0.7),
            {**_h("h2", "expansion", "adoption_win", 0.9), "evidence_ids": []},
        ]
    }
    selected = code_selected_plays(facts, ALL, max_plays=3, customer_slots=None)
    assert "champion_left_multithread" in selected
    assert "adoption_congrats" not in selected


def test_a_play_only_the_model_chose_always_needs_a_human() -> None:
    items = [
        {"play": "adoption_congrats", "needs_approval": False},
        {"play": "usage_drop_checkin", "needs_approval": False},
    ]
    mark_code_selected(items, {"usage_drop_checkin"})
    assert items[0] == {"play": "adoption_congrats", "needs_approval": True, "code_selected": False}
    assert items[1]["needs_approval"] is False and items[1]["code_selected"] is True
