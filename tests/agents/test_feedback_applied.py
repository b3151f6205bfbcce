"""A reviewer's `respond` feedback applied to the revised draft (issue 19, item 6).

On the offline model the elements the feedback names are removed or changed ("drop the
ticket ids", "shorter", "more formal", "mention the SSO fix", "remove the second
paragraph"); with any model, code checks the revision afterwards and removes what is still
there or tells the reviewer what was not done. A fragment of the feedback is never pasted
into the draft.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from keel.agents.composers import offline_model
from keel.agents.feedback import (
    checked_revision,
    feedback_hints,
    paragraphs_of,
    parse_feedback,
    revision_checked,
)
from keel.agents.offline import typed_prompt
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Draft, DraftContent
from keel.agents.step_requests import DraftRequest

TICKET = {
    "id": "ticket:T-9",
    "text": "Ticket T-9: high-priority bug ticket opened 2026-06-01, still open.",
    "kind": "ticket",
    "category": "bug",
    "status": "open",
}
SSO = {
    "id": "ticket:T-12",
    "text": "Ticket T-12: the SSO login fix shipped on 2026-06-20, closed.",
    "kind": "ticket",
    "category": "bug",
    "status": "closed",
}
SIGNAL = {
    "id": "metric:active_users",
    "text": "Active users 42 -> 26 (-38%) between 2026-03-31 and 2026-06-30",
    "kind": "signal",
}
RENEWAL = {
    "id": "renewal:ACME-1-r1",
    "text": "Renewal on 2026-09-15 (77 days away).",
    "kind": "renewal",
}


def _request(
    play: str = "usage_drop_checkin",
    kind: str = "email",
    *,
    lines: list[dict[str, str]] | None = None,
    feedback: str | None = None,
    previous: dict[str, str] | None = None,
) -> DraftRequest:
    hints = feedback_hints(feedback).as_facts() if feedback else {}
    return DraftRequest(
        play=play,
        play_title=play.replace("_", " "),
        kind=kind,
        revision=1 if feedback else 0,
        account={
            "id": 7,
            "external_id": "ACME-1",
            "name": "Acme Freight",
            "owner_name": "Dana Reyes",
            "renewal_date": "2026-09-15",
        },
        recipient=None
        if kind == "internal_note"
        else {"id": 70, "name": "Priya Nair", "title": "VP Operations", "role": "champion"},
        rationale="Usage fell",
        hypothesis={
            "id": "ACME-1:risk:1",
            "kind": "risk",
            "statement": "Usage is falling",
            "evidence_ids": ["metric:active_users"],
        },
        fact_lines=lines if lines is not None else [SIGNAL, TICKET, RENEWAL],
        hints=hints,
        allowed_links=[],
        approved_offers=[],
        previous=previous,
        feedback=feedback,
    )


def _write(request: DraftRequest) -> DraftContent:
    prompt = typed_prompt([SystemMessage("draft"), HumanMessage("draft")], request)
    return invoke_structured(offline_model(), prompt, DraftContent)


def _revise(feedback: str, **kwargs: Any) -> tuple[DraftContent, DraftContent, Draft]:
    """The first draft, the offline revision, and the revision as the drafter node leaves
    it after the code check."""
    first = _write(_request(**kwargs))
    previous = {"subject": first.subject, "body": first.body}
    revised = _write(_request(feedback=feedback, previous=previous, **kwargs))
    draft = Draft(
        kind=kwargs.get("kind", "email"),
        play=kwargs.get("play", "usage_drop_checkin"),
        account_id=7,
        subject=revised.subject,
        body=revised.body,
    )
    return first, revised, revision_checked(draft, feedback, previous)


# --------------------------------------------------------------------------- reading asks


@pytest.mark.parametrize(
    ("feedback", "expected"),
    [
        ("drop the ticket ids", {"drop_ids": "ticket"}),
        ("Please remove the ids.", {"drop_ids": "any"}),
        ("no ticket numbers please", {"drop_ids": "ticket"}),
        ("Shorter", {"shorter": True}),
        ("cut it down a bit", {"shorter": True}),
        ("more formal please", {"formal": True}),
        ("mention the SSO fix", {"mentions": ("the SSO fix",)}),
        ("remove the second paragraph", {"drop_paragraphs": (1,)}),
        ("cut the last paragraph", {"drop_paragraphs": (-1,)}),
        ("don't mention the renewal", {"drop_topics": ("the renewal",)}),
        ("drop the renewal date", {"drop_topics": ("the renewal date",)}),
        (
            "Shorter, drop the ticket ids and mention the SSO fix",
            {"shorter": True, "drop_ids": "ticket", "mentions": ("the SSO fix",)},
        ),
    ],
)
def test_the_asks_in_a_reviewers_answer(feedback: str, expected: dict[str, Any]) -> None:
    asks = parse_feedback(feedback)
    for name, value in expected.items():
        assert getattr(asks, name) == value, (feedback, name, asks)
    if "drop_topics" not in expected:
        assert asks.drop_topics == ()


# --------------------------------------------------------------------------- offline revisions


def test_drop_the_ticket_ids_removes_them_from_the_revision() -> None:
    first, revised, checked = _revise(
        "drop the ticket ids", play="internal_escalation", kind="internal_note"
    )
    assert "T-9" in first.body  # the internal note cited the ticket
    assert "T-9" not in revised.body and "ticket:" not in revised.body
    assert "high-priority bug ticket opened 2026-06-01" in revised.body.lower()  # fact stays
    assert "[metric:active_users]" in revised.body  # other citations stay
    assert checked.body == revised.body and not checked.content_problems


def test_shorter_gives_fewer_words() -> None:
    first, revised, checked = _revise("Shorter please")
    assert len(revised.body.split()) < len(first.body.split())
    assert not checked.content_problems


def test_more_formal_changes_greeting_closing_and_contractions() -> None:
    first, revised, _ = _revise("more formal")
    assert first.body.startswith(("Hi", "Hello"))
    assert revised.body.startswith("Dear Priya Nair,")
    assert "Kind regards," in revised.body
    assert not re.search(r"\b(I'd|I'm|it's|don't|we'll)\b", revised.body)
    assert "!" not in revised.body


def test_mention_the_sso_fix_uses_the_fact_never_the_feedback_words() -> None:
    lines = [SIGNAL, SSO, RENEWAL]
    first, revised, checked = _revise("mention the SSO fix", lines=lines, play="renewal_kickoff")
    assert "SSO" not in first.body
    assert "the SSO login fix shipped on 2026-06-20" in revised.body
    assert "The SSO fix." not in revised.body
    # The mention comes before the ask and the sign-off.
    paragraphs = paragraphs_of(revised.body)
    at = next(i for i, p in enumerate(paragraphs) if "SSO" in p)
    assert at < len(paragraphs) - 2
    assert not checked.content_problems


def test_a_mention_with_no_fact_is_reported_not_pasted() -> None:
    feedback = "add that the SSO fix shipped last week"
    _, revised, checked = _revise(feedback, lines=[SIGNAL, RENEWAL], play="renewal_kickoff")
    assert "shipped last week" not in revised.body
    assert "SSO" not in revised.body
    assert any("mention 'the SSO fix shipped last week'" in p for p in checked.content_problems)


def test_remove_the_second_paragraph() -> None:
    first, revised, checked = _revise("remove the second paragraph")
    second = paragraphs_of(first.body)[1]
    assert second not in revised.body
    assert len(paragraphs_of(revised.body)) == len(paragraphs_of(first.body)) - 1
    assert paragraphs_of(revised.body)[0].startswith(("Hi", "Hello"))  # the greeting stays
    assert not checked.content_problems


def test_dont_mention_a_topic_removes_its_sentences() -> None:
    first, revised, checked = _revise("don't mention the bug ticket")
    assert "bug ticket" in first.body
    assert "bug ticket" not in revised.body
    assert "Active users 42 -> 26" in revised.body  # the rest of the facts stay
    assert not checked.content_problems


# --------------------------------------------------------------------------- any model


def test_code_checks_a_models_revision_that_ignored_the_feedback() -> None:
    previous = (
        "Hi Priya,\n\nI noticed a change in usage.\n\n- Ticket T-9: a bug [ticket:T-9]\n\n"
        "Could we talk next week?\n\nBest,\nDana"
    )
    # A model that kept the ids, kept the paragraph, pasted the feedback and made no mention.
    ignored = (
        "Hi Priya,\n\nI noticed a change in usage.\n\n- Ticket T-9: a bug [ticket:T-9]\n\n"
        "Please drop the ticket ids and mention the roadmap.\n\nCould we talk next week?"
        "\n\nBest,\nDana"
    )
    feedback = "Please drop the ticket ids and mention the roadmap. Remove the second paragraph"
    _, body, problems = checked_revision("Usage at Acme", ignored, feedback, previous_body=previous)
    assert "T-9" not in body and "[ticket:" not in body
    assert "I noticed a change in usage." not in body
    assert "drop the ticket ids" not in body.lower()
    assert body.startswith("Hi Priya,") and body.endswith("Best,\nDana")
    assert any("ticket ids" in p and "removed" in p for p in problems)
    assert any("second paragraph" in p for p in problems)
    assert any("copied from the reviewer's feedback" in p for p in problems)
    assert any("mention 'the roadmap'" in p for p in problems)


def test_a_revision_that_did_the_job_passes_the_check_unchanged() -> None:
    previous = "Hi Priya,\n\nUsage fell [ticket:T-9].\n\nCould we talk?\n\nBest,\nDana"
    done = "Hi Priya,\n\nUsage fell.\n\nCould we talk?\n\nBest,\nDana"
    assert checked_revision("S", done, "drop the ticket ids", previous_body=previous) == (
        "S",
        done,
        [],
    )


def test_shorter_and_remove_the_second_paragraph_keep_the_facts() -> None:
    """Shorter already leaves the opening (the second paragraph) out: the paragraph after it,
    the facts, is not removed in its place."""
    first, revised, _ = _revise("Shorter, more formal, and remove the second paragraph")
    assert paragraphs_of(first.body)[1] not in revised.body
    assert "Active users 42 -> 26" in revised.body
    assert revised.body.startswith("Dear Priya Nair,")
