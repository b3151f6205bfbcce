"""Amounts carry their currency; percentiles never read "0th" (issue 19).

Seen on the demo: "invoice of 1,308" (in what currency?) in drafts and notes, and "the 0th
percentile of the book" in an internal note.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keel.agents.compose_text import configured_currency, money, percentile_phrase
from keel.agents.facts import fact_lines, lines_for_draft
from keel.settings import Settings


def test_amounts_carry_the_currency() -> None:
    assert money(1308, "USD") == "$1,308"
    assert money(1308.4, "eur") == "\u20ac1,308"
    assert money(-250, "GBP") == "-\u00a3250"
    assert money(703_000, "CHF") == "CHF 703,000"
    assert money(None, "USD") == "n/a"
    assert money(float("nan"), "USD") == "n/a"


def test_the_currency_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEEL_CURRENCY", raising=False)
    assert Settings().currency == "USD"
    monkeypatch.setenv("KEEL_CURRENCY", " chf ")
    assert Settings().currency == "CHF"
    configured_currency.cache_clear()
    try:
        assert money(1308) == "CHF 1,308"
    finally:
        configured_currency.cache_clear()
    monkeypatch.setenv("KEEL_CURRENCY", "dollars")
    with pytest.raises(ValidationError, match="three-letter code"):
        Settings()


def test_facts_state_amounts_with_the_currency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEEL_CURRENCY", raising=False)
    configured_currency.cache_clear()
    facts = {
        "account": {"name": "Acme", "evidence_id": "account:a", "arr": 64000, "segment": "smb"},
        "billing_issues": [
            {
                "id": "invoice:i1",
                "amount": 1308,
                "due_on": "2026-10-01",
                "status": "overdue",
                "days_overdue": 30,
            }
        ],
    }
    lines = {line["id"]: line for line in fact_lines(facts)}
    assert "ARR $64,000" in lines["account:a"]["text"]
    assert "Invoice of $1,308 due 2026-10-01" in lines["invoice:i1"]["text"]
    customer = lines_for_draft(fact_lines(facts), "email")
    assert customer[0]["text"].startswith("The invoice of $1,308 due 2026-10-01 is still unpaid")


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [
        (0.0, "bottom 1% of the book"),
        (0.4, "bottom 1% of the book"),
        (0.6, "1st percentile of the book"),
        (12.0, "12th percentile of the book"),
        (99.4, "99th percentile of the book"),
        (100.0, "top 1% of the book"),
    ],
)
def test_a_percentile_never_reads_0th(percentile: float, expected: str) -> None:
    assert percentile_phrase(percentile) == expected


def test_the_internal_notes_health_line_never_says_0th() -> None:
    facts = {"health": {"id": "health:a", "score": 12, "percentile": 0.0, "risk": 0.61}}
    (line,) = fact_lines(facts)
    assert "0th" not in line["text"]
    assert "bottom 1% of the book" in line["text"]


def test_hypothesis_evidence_and_the_chat_say_amounts_with_their_currency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The billing hypothesis's record line and the offline chat's amounts carry the
    configured currency too (they read '35,000' before), like drafts and notes."""
    from keel.agents.offline import chat

    monkeypatch.setenv("KEEL_CURRENCY", "EUR")
    configured_currency.cache_clear()
    try:
        assert chat._money(35000) == "\u20ac35,000"
    finally:
        configured_currency.cache_clear()
    monkeypatch.delenv("KEEL_CURRENCY", raising=False)
    assert chat._money(1308.4) == "$1,308"


def test_a_departed_contact_left_on_a_date_not_has_left_on_it() -> None:
    # Seen in the demo's outbox: "Connor Weber (Support Operations Manager) has left the
    # company on 2026-05-21".
    contact = {
        "evidence_id": "contact:c9",
        "name": "Connor Weber",
        "title": "Support Operations Manager",
        "role": "champion",
        "left_company": True,
    }
    dated = lines_for_draft(
        fact_lines({"contacts": [contact | {"left_on": "2026-05-21"}]}), "email"
    )
    assert [line["text"] for line in dated] == [
        "Connor Weber (Support Operations Manager) left the company on 2026-05-21."
    ]
    undated = lines_for_draft(fact_lines({"contacts": [contact]}), "email")
    assert undated[0]["text"] == "Connor Weber (Support Operations Manager) has left the company."
