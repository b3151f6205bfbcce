"""What the offline drafter writes to a customer: only what the customer should read.

Findings from a demo run (issue 19): emails carried evidence ids, ARR, NPS trends, ticket
priority labels and the offline model's footer; a billing follow-up went to an account
whose invoices were all paid; an adoption congratulation cited a flat seat count; a save
plan told the customer they needed "a plan to get back on track"; an executive brief ended
"to agree on the next steps". Each test drives the offline model through the drafter's own
prompt, over hand-written facts, and reads the draft as the customer would.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from keel.agents.composers import offline_model
from keel.agents.context import ReviewDeps
from keel.agents.drafter import drafter_messages, make_drafter, unsupported_claim
from keel.agents.facts import build_facts, lines_for_draft
from keel.agents.feedback import StyleHints
from keel.agents.offline import OFFLINE_NOTICE
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, DraftContent, Hypothesis
from keel.domain.plays import PLAY_LIBRARY
from keel.domain.policy import load_policy
from keel.settings import Settings
from keel.tools.account_tools import (
    TOOL_EVIDENCE,
    TOOL_HEALTH,
    TOOL_PROFILE,
    TOOL_RENEWAL,
    TOOL_SIGNALS,
)
from keel.tools.outbound.customer_text import find_internal

AS_OF = dt.date(2026, 10, 31)
ALLOWLIST = ["https://help.keel.example"]
CUSTOMER_PLAYS = sorted(p for p, play in PLAY_LIBRARY.items() if play.customer_facing)

FALLING = {
    "id": "metric:active_users",
    "name": "active_users",
    "text": "Active users 42 -> 26 (-38%) between 2026-08-01 and 2026-10-31",
    "before": 42.0,
    "after": 26.0,
    "change_pct": -0.38,
    "notable": True,
}
RISING = {
    "id": "metric:active_teams",
    "name": "active_teams",
    "text": "Active teams 4 -> 7 (+75%) between 2026-08-01 and 2026-10-31",
    "before": 4.0,
    "after": 7.0,
    "change_pct": 0.75,
    "notable": True,
}
FLAT = {
    "id": "metric:seats_used",
    "name": "seats_used",
    "text": "Seats used 28.46 -> 28.39 (-0%) between 2026-08-01 and 2026-10-31",
    "before": 28.46,
    "after": 28.39,
    "change_pct": -0.0025,
    "notable": False,
}
NPS_TREND = {
    "id": "metric:nps",
    "name": "nps",
    "text": "NPS (mean) 8 -> 6 (-25%) between 2026-05-01 and 2026-10-31",
    "before": 8.0,
    "after": 6.0,
    "change_pct": -0.25,
    "notable": True,
}
LATE_INVOICE = {
    "id": "invoice:acc-00036-i0007",
    "issued_on": "2026-09-01",
    "due_on": "2026-10-01",
    "amount": 12500.0,
    "status": "late",
    "days_overdue": 30,
}


def _results(
    *, signals: list[dict[str, Any]], billing: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        TOOL_PROFILE: {
            "account": {
                "id": 36,
                "evidence_id": "account:acc-00036",
                "external_id": "acc-00036",
                "name": "Northwind Labs",
                "segment": "enterprise",
                "arr": 703000.0,
                "plan": "Enterprise",
                "owner_csm": "dana.reyes@keel.example",
                "renewal_date": "2026-12-15",
            },
            "contacts": [
                {
                    "id": 1,
                    "evidence_id": "contact:acc-00036-c01",
                    "name": "Sofia Marsh",
                    "email": "sofia@northwind.example",
                    "title": "VP Operations",
                    "role": "executive_sponsor",
                    "left_company": False,
                },
                {
                    "id": 2,
                    "evidence_id": "contact:acc-00036-c02",
                    "name": "Omar Haddad",
                    "email": "omar@northwind.example",
                    "title": "Ops lead",
                    "role": "champion",
                    "left_company": True,
                    "left_on": "2026-09-20",
                },
            ],
        },
        TOOL_HEALTH: {
            "id": "health:acc-00036@2026-10-31",
            "score": 41.0,
            "risk": 0.38,
            "horizon_days": 180,
            "percentile": 9.0,
            "factors": [
                {
                    "factor": "engagement",
                    "text": "Engagement falls",
                    "direction": "raises risk",
                    "evidence_ids": ["factor:engagement"],
                }
            ],
        },
        TOOL_SIGNALS: {"signals": signals},
        TOOL_RENEWAL: {
            "upcoming_renewal": {
                "id": "renewal:acc-00036-r03",
                "renewal_date": "2026-12-15",
                "days_to_renewal": 45,
                "arr": 703000.0,
            },
            "billing_issues": billing or [],
        },
        TOOL_EVIDENCE: {
            "hits": [
                {
                    "id": "ticket:acc-00036-t0013",
                    "kind": "ticket",
                    "date": "2026-10-02",
                    "category": "bug",
                    "priority": "low",
                    "status": "closed",
                    "closed_on": "2026-10-09",
                    "csat": 2,
                },
                {
                    "id": "ticket:acc-00036-t0014",
                    "kind": "ticket",
                    "date": "2026-10-20",
                    "category": "account",
                    "priority": "normal",
                    "status": "open",
                },
            ]
        },
    }


def _briefing(evidence: list[str]) -> Briefing:
    return Briefing(
        account_id=36,
        account_name="Northwind Labs",
        as_of=AS_OF,
        summary="Usage is down.",
        risk_hypotheses=[
            Hypothesis(
                id="acc-00036:risk:1:engagement",
                kind="risk",
                category="usage_decline",
                statement="Engagement is falling",
                confidence=0.8,
                evidence_ids=evidence or ["metric:active_users"],
            )
        ],
    )


def _draft(
    play: str,
    *,
    signals: list[dict[str, Any]] | None = None,
    billing: list[dict[str, Any]] | None = None,
    evidence: list[str] | None = None,
    hints: StyleHints | None = None,
) -> tuple[DraftContent, dict[str, Any]]:
    facts = build_facts(
        _results(signals=signals or [FALLING, RISING, FLAT, NPS_TREND], billing=billing),
        as_of=AS_OF,
    )
    recipient = next(c for c in facts["contacts"] if c["id"] == 1)
    messages = drafter_messages(
        play=PLAY_LIBRARY[play],
        item={
            "play": play,
            "rationale": "Usage fell.",
            "hypothesis_id": "acc-00036:risk:1:engagement",
            "draft_kind": PLAY_LIBRARY[play].draft_kind,
            "recipient_contact_id": 1,
        },
        facts=facts,
        briefing=_briefing(list(evidence or [])),
        recipient=recipient,
        guidance=[],
        hints=hints or StyleHints(),
        allowlist=ALLOWLIST,
        previous=None,
        feedback=None,
        revision=0,
    )
    return invoke_structured(offline_model(), messages, DraftContent), facts


@pytest.mark.parametrize("play", CUSTOMER_PLAYS)
def test_a_customer_draft_holds_nothing_internal_and_one_concrete_ask(play: str) -> None:
    content, facts = _draft(play, billing=[LATE_INVOICE])
    text = f"{content.subject}\n{content.body}"

    assert find_internal(text) == [], text
    assert OFFLINE_NOTICE not in text and "offline model" not in text.lower()
    for line in facts["fact_lines"]:
        assert line["id"] not in text, line["id"]
    for internal in ("703,000", "ARR", "NPS", "priority", "health", "churn", "percentile"):
        assert internal not in text, internal
    assert "keel@localhost" not in text
    # One ask: exactly one question, and it names a next step.
    assert content.body.count("?") == 1, content.body
    # The citations are the reviewer's: beside the draft, and only facts it may use.
    usable = {line["id"] for line in lines_for_draft(facts["fact_lines"], "email")}
    assert set(content.evidence_ids) <= usable


def test_customer_fact_lines_are_in_the_customer_s_words() -> None:
    facts = build_facts(
        _results(signals=[FALLING, FLAT, NPS_TREND], billing=[LATE_INVOICE]), as_of=AS_OF
    )
    lines = {line["id"]: line for line in lines_for_draft(facts["fact_lines"], "email")}

    # No account line (ARR, segment), no NPS trend, no flat change presented as a claim.
    assert "account:acc-00036" not in lines
    assert "metric:nps" not in lines and "metric:seats_used" not in lines
    assert lines["renewal:acc-00036-r03"]["text"] == (
        "Your renewal is on 2026-12-15 (45 days away)."
    )
    ticket = lines["ticket:acc-00036-t0013"]["text"]
    assert ticket == "Your bug ticket opened on 2026-10-02 was closed on 2026-10-09."
    assert "priority" not in ticket and "acc-00036" not in ticket and "CSAT" not in ticket
    assert lines["contact:acc-00036-c02"]["text"].startswith("Omar Haddad (Ops lead) left the")
    assert "12,500" in lines["invoice:acc-00036-i0007"]["text"]
    # The CS team's note still reads everything.
    internal = {line["id"] for line in lines_for_draft(facts["fact_lines"], "internal_note")}
    assert {"account:acc-00036", "metric:nps", "health:acc-00036@2026-10-31"} <= internal


def test_a_billing_follow_up_needs_an_invoice_open_or_overdue_now() -> None:
    paid_up = build_facts(_results(signals=[FALLING]), as_of=AS_OF)
    owing = build_facts(_results(signals=[FALLING], billing=[LATE_INVOICE]), as_of=AS_OF)

    reason = unsupported_claim(
        "billing_followup", "email", lines_for_draft(paid_up["fact_lines"], "email")
    )
    assert "no invoice is open or overdue" in reason
    assert (
        unsupported_claim(
            "billing_followup", "email", lines_for_draft(owing["fact_lines"], "email")
        )
        == ""
    )
    content, _ = _draft("billing_followup", billing=[LATE_INVOICE])
    assert "12,500" in content.body and "2026-10-01" in content.body
    # The usage drop behind the hypothesis is not what a billing e-mail is about.
    assert "42 -> 26" not in content.body
    assert content.evidence_ids == ["invoice:acc-00036-i0007"]


def test_the_drafter_writes_no_billing_follow_up_when_nothing_is_owed(tmp_path: Path) -> None:
    facts = build_facts(_results(signals=[FALLING]), as_of=AS_OF)
    deps = ReviewDeps(
        engine=None,  # type: ignore[arg-type]  # not reached: the claim is refused first
        settings=Settings(data_dir=tmp_path, _env_file=None),  # type: ignore[call-arg]
        policy=load_policy(),
    )
    node = make_drafter(model=offline_model(), deps=deps)
    state: Any = {
        "item": {
            "play": "billing_followup",
            "rationale": "Payments are slipping.",
            "hypothesis_id": "acc-00036:risk:1:engagement",
            "draft_kind": "email",
            "recipient_contact_id": 1,
        },
        "facts": facts,
        "briefing": _briefing([]).model_dump(mode="json"),
    }

    result = node(state, SimpleNamespace(store=None))  # type: ignore[arg-type]

    assert result["draft"] is None
    (outcome,) = result["outcomes"]
    assert outcome["status"] == "blocked" and outcome["play"] == "billing_followup"
    assert "no invoice is open or overdue" in outcome["reasons"][0]


def test_an_adoption_congratulation_cites_only_what_rose() -> None:
    flat_only = build_facts(_results(signals=[FLAT, FALLING]), as_of=AS_OF)
    assert unsupported_claim(
        "adoption_congrats", "email", lines_for_draft(flat_only["fact_lines"], "email")
    ).startswith("no usage measure")

    content, _ = _draft("adoption_congrats", evidence=["metric:seats_used", "metric:active_users"])
    assert "Active teams 4 -> 7" in content.body
    assert "28.46" not in content.body and "42 -> 26" not in content.body
    assert "metric:active_teams" in content.evidence_ids


def test_a_usage_check_in_does_not_cite_growth_as_the_drop() -> None:
    content, _ = _draft("usage_drop_checkin")
    assert "42 -> 26" in content.body and "4 -> 7" not in content.body


def test_save_plan_and_exec_brief_say_what_happens_next() -> None:
    for _ in range(2):
        save, _ = _draft("save_plan")
        text = f"{save.subject}\n{save.body}".lower()
        assert "back on track" not in text
        assert "within 1 week" in text
    brief, _ = _draft("exec_sponsor_briefing")
    assert "agree on the next steps" not in brief.body
    assert "20 minutes in the next two weeks" in brief.body


def test_internal_escalation_keeps_its_citations_and_notice() -> None:
    content, _ = _draft("internal_escalation")
    assert "[health:acc-00036@2026-10-31]" in content.body
    assert OFFLINE_NOTICE in content.body


def test_the_citation_eval_reads_a_customer_draft_s_citations_beside_it() -> None:
    from keel.evals.scorers.citations import score_citations
    from tests.evals.support import GOOD_BODY, draft, outcome

    beside = GOOD_BODY.replace(" [metric:active_users]", "").replace(" [ticket:acc-1-t01]", "")
    assert "[" not in beside
    score = score_citations(outcome(draft(beside)))
    assert score.score == 1.0, score.reason
    # A number no declared id carries is still an uncited claim.
    invented = beside.replace("(-30%)", "(-45%)")
    assert score_citations(outcome(draft(invented))).score < 1.0


def test_an_expansion_email_claims_no_growth_it_cannot_show() -> None:
    # Seats at the ceiling with a flat seat count: worth the conversation, but not "your
    # usage has grown", and neither the flat count nor a fall is cited.
    facts = build_facts(_results(signals=[FLAT, FALLING]), as_of=AS_OF)
    lines = lines_for_draft(facts["fact_lines"], "email")
    assert unsupported_claim("expansion_conversation", "email", lines) == ""

    content, _ = _draft("expansion_conversation", signals=[FLAT, FALLING])
    assert "grown" not in content.body and "more widely" not in content.body
    # Whichever wording an account draws.
    from keel.agents import compose_draft

    for template in (
        *compose_draft._SUBJECTS["expansion_conversation"],
        *compose_draft._OPENINGS["expansion_conversation"],
    ):
        assert "grow" not in template and "more widely" not in template, template
    assert "28.46" not in content.body and "42 -> 26" not in content.body


def test_a_multithreading_email_names_the_champion_who_left() -> None:
    content, _ = _draft("champion_left_multithread")
    assert "Omar Haddad" in content.body and "previous main contact" not in content.body
    assert "Champion" not in content.body  # Keel's role label, not the customer's words

    # A user who left is no champion's departure.
    results = _results(signals=[FALLING])
    for contact in results[TOOL_PROFILE]["contacts"]:
        contact["role"] = "user" if contact["left_company"] else contact["role"]
    lines = lines_for_draft(build_facts(results, as_of=AS_OF)["fact_lines"], "email")
    assert "no champion" in unsupported_claim("champion_left_multithread", "email", lines)


TICKETS_UP = {
    "id": "metric:tickets",
    "name": "tickets",
    "text": "Tickets per 90 days 11 -> 13 (+18%) between 2026-08-02 and 2026-10-31",
    "before": 11.0,
    "after": 13.0,
    "change_pct": 0.18,
    "notable": True,
}


def test_more_tickets_is_no_growth_to_cite_in_an_expansion_email() -> None:
    """The demo's expansion e-mail to Ventura Underwriters cited 'Tickets per 90 days
    11 -> 13 (+18%)' as what it was seeing: a rising count of problems is not growth."""
    content, _ = _draft("expansion_conversation", signals=[TICKETS_UP, RISING])
    assert "Tickets per 90 days" not in content.body
    assert "metric:tickets" not in content.evidence_ids
    assert "4 -> 7" in content.body
