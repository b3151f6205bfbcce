"""The offline composers' small text helpers, on what the demo showed: "Ashford Airways's
renewal" in a subject, "because nPS is falling" in a rationale."""

from __future__ import annotations

from keel.agents.compose_text import lower_first, possessive


def test_a_name_ending_in_s_takes_an_apostrophe_alone() -> None:
    assert possessive("Ashford Airways") == "Ashford Airways'"
    assert possessive("Tern Care") == "Tern Care's"


def test_an_acronym_keeps_its_capitals_when_a_sentence_is_joined_on() -> None:
    assert lower_first("NPS is falling") == "NPS is falling"
    assert lower_first("Seat use is dropping") == "seat use is dropping"
    assert lower_first("A payment ran late") == "a payment ran late"
    assert lower_first("") == ""
