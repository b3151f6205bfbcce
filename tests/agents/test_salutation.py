"""Drafts greet the contact by name, never by a bare title (issue 20, item 5).

Seen on a book written outside the project: an executive brief opening "Hello Dr.," (a
contact whose name was a bare title). Titles, single names, "Last, First", address-only
contacts and empty names, each through the greeting and a draft of the offline model.
"""

from __future__ import annotations

from typing import Any

import pytest

from keel.agents.compose_draft import greeting_for, salutation_name
from keel.agents.composers import offline_model
from keel.agents.drafter import assemble_draft, drafter_messages
from keel.agents.facts import build_facts
from keel.agents.feedback import StyleHints
from keel.agents.repair import invoke_structured
from keel.agents.schemas import DraftContent
from keel.domain.plays import PLAY_LIBRARY
from keel.tools.account_tools import TOOL_PROFILE
from tests.agents.test_customer_text_drafts import (
    ALLOWLIST,
    AS_OF,
    FALLING,
    _briefing,
    _results,
)

# ----------------------------------------------------------------------------- salutations


@pytest.mark.parametrize(
    ("name", "email", "greeted"),
    [
        ("Dr. Amara Okafor", "", "Amara"),
        ("Mr. John Doe", "", "John"),
        ("Ms Chen Wei", "", "Chen"),
        ("Prof. Alan Turing PhD", "", "Alan"),
        ("Madonna", "", "Madonna"),
        ("Mr. Bean", "", "Mr. Bean"),
        ("Okafor, Amara", "", "Amara"),
        ("Jane Smith, PhD", "", "Jane"),
        ("J. Smith", "", "J. Smith"),
        ("MARIA GARCIA", "", "Maria"),
        ("", "jane.smith@northwind.example", "Jane"),
        ("kwame.asante@northwind.example", "", "Kwame"),
        ("", "support@northwind.example", ""),
        ("Dr.", "", ""),
        ("Dr.", "amara.okafor@northwind.example", "Amara"),
        ("", "", ""),
        ("   ", "", ""),
    ],
)
def test_the_salutation_is_the_contacts_name_never_a_bare_title(
    name: str, email: str, greeted: str
) -> None:
    assert salutation_name(name, email) == greeted
    line = greeting_for({"name": name, "email": email}, formal=False, warm=False, key="k")
    if greeted:
        assert greeted in line and line.startswith(("Hi ", "Hello "))
    else:
        assert line == "Hello,"
    assert not any(t in line for t in ("Dr.,", "Mr.,", "Dr,", "there"))


def test_formal_and_warm_greetings_follow_the_same_rule() -> None:
    formal = greeting_for({"name": "Okafor, Dr. Amara"}, formal=True, warm=False, key="k")
    assert formal == "Dear Dr. Amara Okafor,"
    assert greeting_for({"name": "Dr."}, formal=True, warm=False, key="k") == "Hello,"
    warm = greeting_for({"name": "Prof. Alan Turing"}, formal=False, warm=True, key="k")
    assert warm.startswith("Hi Alan,")
    assert greeting_for({"name": ""}, formal=False, warm=True, key="k").startswith("Hello, ")


def _draft(
    play: str, results: dict[str, Any], *, contact: dict[str, Any] | None = None
) -> tuple[DraftContent, dict[str, Any]]:
    facts = build_facts(results, as_of=AS_OF)
    recipient = contact or next(c for c in facts["contacts"] if c["id"] == 1)
    messages = drafter_messages(
        play=PLAY_LIBRARY[play],
        item={
            "play": play,
            "rationale": "Usage fell.",
            "hypothesis_id": "acc-00036:risk:1:engagement",
            "draft_kind": PLAY_LIBRARY[play].draft_kind,
            "recipient_contact_id": recipient["id"],
        },
        facts=facts,
        briefing=_briefing([]),
        recipient=recipient,
        guidance=[],
        hints=StyleHints(),
        allowlist=ALLOWLIST,
        previous=None,
        feedback=None,
        revision=0,
    )
    return invoke_structured(offline_model(), messages, DraftContent), facts


def test_an_exec_brief_to_a_contact_named_only_by_title_opens_hello() -> None:
    results = _results(signals=[FALLING])
    sponsor = results[TOOL_PROFILE]
    sponsor["contacts"][0]["name"] = "Dr."
    sponsor["contacts"][0]["email"] = "cto@northwind.example"
    content, _ = _draft("exec_sponsor_briefing", results)
    assert content.body.split("\n", 1)[0] == "Hello,"
    sponsor["contacts"][0]["name"] = "Dr. Sofia Marsh"
    content, _ = _draft("exec_sponsor_briefing", results)
    first = content.body.split("\n", 1)[0]
    assert "Sofia" in first and "Dr.," not in first


def test_a_models_bare_title_greeting_is_fixed_after_the_model() -> None:
    # Any model's words: the greeting is checked by code after the model, not trusted.
    facts = build_facts(_results(signals=[FALLING]), as_of=AS_OF)
    contact = dict(facts["contacts"][0]) | {"name": "Dr. Sofia Marsh"}
    play = PLAY_LIBRARY["exec_sponsor_briefing"]
    item = {"play": play.id, "draft_kind": play.draft_kind, "recipient_contact_id": 1}

    def assembled(body: str, recipient: dict[str, Any]) -> str:
        content = DraftContent(subject="Brief", body=body, evidence_ids=[])
        return assemble_draft(
            content,
            play=play,
            item=item,
            facts=facts,
            recipient=recipient,
            allowlist=ALLOWLIST,
            label="test",
            revision=0,
        ).body

    assert assembled("Hello Dr.,\n\nWhere things stand.", contact).startswith("Hello Sofia,\n")
    nameless = contact | {"name": "Dr.", "email": "office@northwind.example"}
    assert assembled("Dear Dr.,\n\nWhere things stand.", nameless).startswith("Hello,\n")
    # A greeting that names the person is the model's and stays as written.
    assert assembled("Dear Dr. Marsh,\n\nText.", contact).startswith("Dear Dr. Marsh,\n")


def test_an_exec_brief_with_one_point_asks_about_it_not_about_each() -> None:
    """Seen on the demo: 'go through these points and name the owner on your side for each'
    under a brief that made one point."""
    from keel.agents.compose_draft import _customer_body

    names = {"account": "Northwind Labs", "accounts": "Northwind Labs'", "owner": "Dana Reyes"}
    request = {"recipient": {"name": "Sofia Marsh"}}
    usage = {"id": "metric:active_users", "text": "Active users 42 -> 26 (-38%)"}
    renewal = {"id": "renewal:r1", "text": "Your renewal is on 2026-12-15 (45 days away)"}

    def body(facts: list[dict[str, str]]) -> str:
        return _customer_body("exec_sponsor_briefing", "brief", request, facts, names, {}, "k")

    one = body([usage])
    assert "for each" not in one and "these points" not in one
    assert "name the owner on your side for it" in one
    assert "for each" in body([usage, renewal])
