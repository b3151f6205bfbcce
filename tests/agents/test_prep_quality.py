"""Meeting prep and call summaries that do a CSM's job (issue 19, item 6).

On the offline model: a call summary picks the sentences that carry a risk, an ask, a
decision or a date and never drops a price or competitor remark; action items come one per
action, owned by whoever committed (the CSM or the customer's person); talking points are
questions a CSM would ask, not "Probe: <hypothesis>".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from keel.agents.call_note import read_note, split_actions
from keel.agents.composers import offline_model
from keel.agents.prep import summarise_call, write_meeting_prep
from keel.agents.schemas import Briefing, CallSummary, Hypothesis

AS_OF = dt.date(2026, 6, 30)
CSM = "Dana Reyes"


def _facts(**extra: Any) -> dict[str, Any]:
    contacts = [
        {"name": "Sofia Marquez", "title": "Support Director", "role": "champion"},
        {"name": "Tom Reed", "title": "COO", "role": "executive_sponsor"},
        {"name": "Chloe Clarke", "title": "Analyst", "role": "user"},
        {
            "name": "Lena Ode",
            "title": "Ops lead",
            "role": "admin",
            "left_company": True,
        },
    ]
    facts: dict[str, Any] = {
        "account": {
            "id": 7,
            "external_id": "ACME-1",
            "name": "Acme Freight",
            "segment": "mid_market",
            "owner_csm": "dana.reyes@keel.example",
            "owner_name": CSM,
        },
        "contacts": contacts,
        "fact_lines": [
            {
                "id": "account:ACME-1",
                "text": "Acme Freight: mid-market account, ARR 64,000, plan Business, owner "
                "CSM Dana Reyes, renews 2026-09-15.",
                "kind": "account",
            },
            {
                "id": "renewal:ACME-1-r1",
                "text": "Renewal on 2026-09-15 (77 days away), ARR 64,000.",
                "kind": "renewal",
            },
        ],
    }
    facts.update(extra)
    return facts


def _summary(note: str) -> CallSummary:
    return summarise_call(
        offline_model(), note=note, facts=_facts(), source="call note", label="offline:x"
    )


def _owners(summary: CallSummary) -> list[tuple[str, str]]:
    return [(item.owner, _unmarked(item.task)) for item in summary.action_items]


def _unmarked(text: str) -> str:
    """A text without Keel's quotation marks around customer words."""
    return re.sub(r"“([^“”]*)”\s*\[customer text[^\]]*\]", r"\1", text)


# --------------------------------------------------------------------------- summaries

ISSUE_NOTE = """\
Call with Sofia and Tom on 2026-06-28. Sofia said the team is happy with reporting overall.
Onboarding of the EMEA team is still stuck because SSO setup keeps failing.
Tom mentioned they are looking at a cheaper tool.
Renewal is due on 2026-09-15 and Tom needs sign-off from their CFO.
Next steps: Sofia to send the EMEA user list by 2026-07-03; we'll set up SSO training for \
the onboarding team; Tom will confirm the budget with finance.
"""


def test_the_summary_picks_what_matters_not_the_first_two_sentences() -> None:
    summary = _unmarked(_summary(ISSUE_NOTE).summary)
    # Not the note's opening copied: the header and small talk are not news.
    assert "happy with reporting overall" not in summary
    assert "Call with Sofia and Tom on 2026-06-28" not in summary
    # The risk, the competitor remark and the dated ask are there, under headings.
    assert "SSO setup keeps failing" in summary
    assert "looking at a cheaper tool" in summary
    assert "Renewal is due on 2026-09-15" in summary
    assert "Risks:" in summary and "Price and competition:" in summary
    assert "Acme Freight (Sofia Marquez, Tom Reed)" in summary


def test_a_price_or_competitor_remark_is_never_dropped_however_long_the_note() -> None:
    risks = "\n".join(f"- Ticket {n} about the export failing is still open." for n in range(12))
    note = (
        "Catch-up w/ Sofia\n"
        "- Tom's daughter ran a marathon last weekend\n"
        f"{risks}\n"
        "- Sofia mentioned they are piloting another vendor for the AP team\n"
        "- Mei grumbled re the price increase\n"
        "- Finance wants every tool justified line by line"
    )
    summary = _unmarked(_summary(note).summary)
    assert "piloting another vendor" in summary
    assert "grumbled about the price increase" in summary
    assert "every tool justified" in summary
    assert "marathon" not in summary
    # Summarised, not copied: at most a handful of the twelve risk lines.
    assert summary.count("export failing") <= 6


def test_action_items_are_split_one_per_action_with_the_person_who_committed() -> None:
    items = _owners(_summary(ISSUE_NOTE))
    assert items == [
        ("Sofia Marquez", "send the EMEA user list by 2026-07-03"),
        (CSM, "set up SSO training for the onboarding team"),
        ("Tom Reed", "confirm the budget with finance"),
    ]
    summary = _summary(ISSUE_NOTE)
    assert summary.action_items[0].due == dt.date(2026, 7, 3)
    assert "3 (1 for Sofia Marquez, 1 for Dana Reyes, 1 for Tom Reed)" in summary.summary


def test_a_next_steps_list_is_the_csms_even_when_it_names_customers() -> None:
    note = (
        "Catch-up w/ Sofia\n"
        "Sofia asked re timelines on Public API, promised to send the Q2 plan\n"
        "NS: send Chloe the Analytics dashboards guide, check in w/ Sofia in a week and "
        "book Routing Rules training for the AP team"
    )
    items = _owners(_summary(note))
    assert [owner for owner, _ in items] == [CSM] * 4
    tasks = [task for _, task in items]
    assert tasks[0].startswith("send the Q2 plan")
    assert tasks[1:] == [
        "send Chloe the Analytics dashboards guide",
        "check in with Sofia in a week",
        "book Routing Rules training for the AP team",
    ]


def test_next_steps_under_a_heading_and_the_customers_own_commitments() -> None:
    note = (
        "QBR with Tom Reed\n"
        "- They will invite two more teams to the pilot.\n"
        "- I'll send the renewal quote by Friday.\n"
        "Next steps:\n"
        "- share the roadmap for SSO with Sofia\n"
        "- Chloe to export the Q2 tickets\n"
    )
    items = _owners(_summary(note))
    assert items == [
        ("Acme Freight (customer)", "invite two more teams to the pilot"),
        (CSM, "send the renewal quote by Friday"),
        (CSM, "share the roadmap for SSO with Sofia"),
        ("Chloe Clarke", "export the Q2 tickets"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "send the report and the deck, book training",
            ["send the report and the deck", "book training"],
        ),
        (
            "follow up on ticket #1; confirm the renewal paperwork w/ procurement",
            ["follow up on ticket #1", "confirm the renewal paperwork with procurement"],
        ),
    ],
)
def test_split_actions_keeps_one_action_whole(line: str, expected: list[str]) -> None:
    assert split_actions(line) == expected


def test_small_talk_alone_is_not_a_summary_of_risks() -> None:
    read = read_note("Spoke with Tom\n- Tom ran a marathon last weekend\n- Usage is steady")
    assert all(not s.labels for s in read.sentences)
    summary = _unmarked(_summary("Spoke with Tom\n- Tom ran a marathon last weekend").summary)
    assert "Risks:" not in summary and "marathon" not in summary


# --------------------------------------------------------------------------- talking points


def _briefing(*hypotheses: Hypothesis) -> Briefing:
    return Briefing(
        account_id=7,
        account_name="Acme Freight",
        as_of=AS_OF,
        summary="Acme Freight renews on 2026-09-15.",
        risk_hypotheses=[h for h in hypotheses if h.kind == "risk"],
        expansion_hypotheses=[h for h in hypotheses if h.kind == "expansion"],
    )


def _hypothesis(category: str, kind: str, confidence: float, ids: list[str]) -> Hypothesis:
    return Hypothesis(
        id=f"ACME-1:{kind}:{category}",
        kind=kind,  # type: ignore[arg-type]
        category=category,
        statement=f"{category.replace('_', ' ').capitalize()} is close",
        confidence=confidence,
        evidence_ids=ids,
    )


def test_talking_points_are_questions_a_csm_would_ask() -> None:
    briefing = _briefing(
        _hypothesis("healthy_renewal", "risk", 0.9, ["renewal:ACME-1-r1"]),
        _hypothesis("champion_left", "risk", 0.8, ["contact:C-72"]),
        _hypothesis("expansion", "expansion", 0.6, ["metric:seats_used"]),
    )
    prep = write_meeting_prep(
        offline_model(), briefing=briefing, facts=_facts(), as_of=AS_OF, label="offline:x"
    )
    points = prep.talking_points
    assert points[0] == "Is the renewal on track for 2026-09-15, and who signs? [renewal:ACME-1-r1]"
    assert points[1].startswith("Now that Lena Ode has left, who owns the product day to day")
    assert "which other teams" in points[2]
    for point in points:
        question = point.split(" [", 1)[0]
        assert question.endswith("?"), point
        assert not re.match(r"^(Probe|Explore|Raise):", point)
        assert "is close" not in point  # the hypothesis is not read back


def test_talking_points_fill_from_facts_then_general_questions() -> None:
    prep = write_meeting_prep(
        offline_model(), briefing=_briefing(), facts=_facts(), as_of=AS_OF, label="offline:x"
    )
    assert prep.talking_points[0].startswith("Is the renewal on track for 2026-09-15")
    assert all("?" in p for p in prep.talking_points)
    assert len(set(prep.talking_points)) == 3


def test_a_models_summary_that_drops_a_price_remark_gets_it_back() -> None:
    from keel.agents.prep import PRICE_REMARKS_ADDED, with_price_remarks

    note = "Sofia is happy overall. Tom mentioned they are looking at a cheaper tool."
    kept = with_price_remarks("Sofia is happy; Tom is looking at a cheaper tool.", note)
    assert PRICE_REMARKS_ADDED not in kept
    added = with_price_remarks("Sofia is happy overall.", note)
    assert added.endswith(
        f"{PRICE_REMARKS_ADDED} Tom mentioned they are looking at a cheaper tool."
    )
