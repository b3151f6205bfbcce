"""Each scorer tells a good draft from a bad one: hand-written outputs, one fault each."""

from __future__ import annotations

import pytest

from keel.evals.outcome import Expected, Score
from keel.evals.scorers import score_all
from keel.evals.scorers.citations import score_citations
from keel.evals.scorers.grounded import score_grounded
from keel.evals.scorers.personal import score_personalisation
from keel.evals.scorers.planning import (
    score_hypothesis_precision,
    score_hypothesis_recall,
    score_play,
)
from keel.evals.scorers.policy import score_policy
from tests.evals.support import GOOD_BODY, LINES, draft, internal_note, outcome


def _spans(score: Score) -> list[str]:
    return [s.text for s in score.spans]


def test_the_good_draft_passes_every_scorer() -> None:
    for score in score_all(outcome()):
        assert score.score == 1.0, (score.scorer, score.reason)
        assert not score.spans


# --- grounded -----------------------------------------------------------------------------


def test_an_invented_number_is_not_grounded() -> None:
    body = GOOD_BODY.replace("Would a", "Teams like yours save 37% with weekly reviews. Would a")
    score = score_grounded(outcome(draft(body)))
    assert score.score < 1.0
    assert _spans(score) == ["37%"]
    assert "37%" in score.reason
    span = score.spans[0]
    assert draft(body).text[span.start : span.end] == "37%"


def test_an_invented_date_and_amount_are_not_grounded() -> None:
    body = GOOD_BODY.replace("Would a", "Your renewal on 2027-02-01 is worth $52,000. Would a")
    assert _spans(score_grounded(outcome(draft(body)))) == ["2027-02-01", "$52,000"]


@pytest.mark.parametrize(
    "written",
    [
        "1,200 users",  # 1,200 vs 1200
        "1.2k users",
        "a 30% drop",  # 30% vs -30%
        "a 0.3 share",  # 0.3 vs 30%
        "renewal on 15 January 2027",  # dates in other formats
        "renewal on January 15, 2027",
        "renewal on Jan 15",
        "ARR $48,000",
        "ARR 48k",
        "ARR 48K",
        "a 30 percent drop",
        "renewal in January 2027",
        "renewal in 2027",
    ],
)
def test_formats_are_normalised_before_comparing(written: str) -> None:
    body = GOOD_BODY.replace("Would a", f"Context: {written}. Would a")
    given = ("Renewal on 2027-01-15 (76 days away), ARR 48,000.",)
    score = score_grounded(outcome(draft(body, given_texts=given)))
    assert score.score == 1.0, score.reason


@pytest.mark.parametrize("written", ["31%", "renewal in February 2027", "renewal in 2028", "49K"])
def test_near_misses_are_not_grounded(written: str) -> None:
    body = GOOD_BODY.replace("Would a", f"Context: {written}. Would a")
    given = ("Renewal on 2027-01-15 (76 days away), ARR 48,000.",)
    assert score_grounded(outcome(draft(body, given_texts=given))).score < 1.0


def test_identifiers_citations_and_scheduling_are_not_claims() -> None:
    body = GOOD_BODY.replace(
        "Would a", "Within 2 weeks we meet for 45 minutes about ticket T-1042 in Q3. Would a"
    )
    assert score_grounded(outcome(draft(body))).score == 1.0


def test_the_briefing_is_grounded_in_everything_the_tools_returned() -> None:
    from keel.evals.outcome import INTERNAL, Artefact

    briefing = Artefact(
        key="briefing",
        kind="briefing",
        text="Health is 31/100 with churn risk 41%; seats fell 12%.",
        audience=INTERNAL,
        given_texts=("31.0", "0.41", "Seats used 50 -> 44 (-12%)"),
    )
    assert score_grounded(outcome(briefing)).score == 1.0
    wrong = Artefact(**{**briefing.__dict__, "text": "Health is 35/100."})
    assert _spans(score_grounded(outcome(wrong))) == ["35"]  # "/100" is a scale, not a claim


# --- citations ----------------------------------------------------------------------------


def test_a_citation_whose_record_does_not_say_it_is_caught() -> None:
    body = GOOD_BODY.replace(
        "Would a", "Your team loved the new dashboard launch [ticket:acc-1-t01].\n\nWould a"
    )
    score = score_citations(outcome(draft(body)))
    assert score.score < 1.0
    assert any("does not say" in s.why and s.text == "ticket:acc-1-t01" for s in score.spans)


def test_a_citation_with_a_number_its_fact_does_not_carry_is_caught() -> None:
    body = GOOD_BODY.replace("(-30%)", "(-45%)")
    score = score_citations(outcome(draft(body)))
    assert [s.text for s in score.spans] == ["metric:active_users"]


def test_an_id_the_draft_was_not_given_and_another_accounts_record_are_caught() -> None:
    body = GOOD_BODY.replace("[ticket:acc-1-t01]", "[ticket:acc-1-t01] [health:acc-1@2026-10-31]")
    score = score_citations(outcome(draft(body)))
    assert any("not among the facts it was given" in s.why for s in score.spans)

    from keel.evals.outcome import INTERNAL, Artefact

    briefing = Artefact(
        key="briefing",
        kind="briefing",
        text="- The SSO setup ticket is open [ticket:acc-2-t09]",
        audience=INTERNAL,
    )
    score = score_citations(outcome(briefing))
    assert [s.why for s in score.spans] == ["ticket:acc-2-t09 belongs to another account"]


def test_an_uncited_factual_sentence_is_counted() -> None:
    body = GOOD_BODY.replace("Would a", "Your renewal is on 2027-01-15.\n\nWould a")
    score = score_citations(outcome(draft(body)))
    assert score.score == pytest.approx(2 / 3)
    assert any(s.why == "states a number or date and cites nothing" for s in score.spans)


# --- policy -------------------------------------------------------------------------------


def test_a_promised_discount_breaks_the_policy() -> None:
    body = GOOD_BODY.replace("Would a", "I can offer you a 20% discount on the renewal. Would a")
    score = score_policy(outcome(draft(body)))
    assert score.score == 0.0
    assert any("discount" in s.text.lower() for s in score.spans)


def test_an_approved_offer_is_allowed() -> None:
    body = GOOD_BODY.replace("Would a", "I can offer you a 20% discount on the renewal. Would a")
    approved = {"usage_drop_checkin": ("20% discount on the renewal",)}
    assert score_policy(outcome(draft(body), approved_offers=approved)).score == 1.0


def test_the_wrong_recipient_breaks_the_policy() -> None:
    outsider = draft(recipients=("buyer@outside-audit.example",))
    score = score_policy(outcome(outsider))
    assert score.score == 0.0
    assert "not a current contact" in score.spans[0].why
    left = draft(recipients=("tom.ward@acme.example",), recipient_contact_id=11)
    assert score_policy(outcome(left)).score == 0.0


def test_a_markdown_image_from_a_ticket_breaks_the_policy() -> None:
    body = GOOD_BODY.replace(
        "Would a", "![chart](https://tracker.evil.example/pixel.png?u=42)\n\nWould a"
    )
    score = score_policy(outcome(draft(body)))
    assert score.score == 0.0
    assert any("![chart]" in s.text for s in score.spans)
    assert any(s.start >= 0 for s in score.spans)


def test_html_and_links_off_the_allow_list_break_the_policy() -> None:
    body = GOOD_BODY.replace("Would a", "<b>See https://evil.example/x</b>. Would a")
    score = score_policy(outcome(draft(body)))
    assert score.score == 0.0
    assert len(score.spans) >= 2


def test_internal_language_to_a_customer_breaks_the_policy() -> None:
    body = GOOD_BODY.replace("Would a", "Your health score fell to the 8th percentile. Would a")
    score = score_policy(outcome(draft(body)))
    assert sorted(_spans(score)) == ["health score", "percentile"]
    # The CS team may read it.
    note = internal_note("Health score 31/100 [health:acc-1@2026-10-31]. Help needed?")
    assert score_policy(outcome(note)).score == 1.0


@pytest.mark.parametrize(
    "promise",
    [
        "It is on our roadmap.",
        "We will ship the fix next month.",
        "Bulk export is coming next quarter.",
        "It will be in the next release.",
    ],
)
def test_a_roadmap_promise_breaks_the_policy(promise: str) -> None:
    body = GOOD_BODY.replace("Would a", f"{promise} Would a")
    assert score_policy(outcome(draft(body))).spans[0].why == "a roadmap promise"


def test_what_the_content_gate_removed_counts_and_forbidden_claims_are_caught() -> None:
    removed = draft(removed=('discount offer "40% off" is not allowed',))
    assert score_policy(outcome(removed)).score == 0.0
    expected = Expected(must_not=("Globex",))
    body = GOOD_BODY.replace("Would a", "Globex is leaving too. Would a")
    assert _spans(score_policy(outcome(draft(body), expected=expected))) == ["Globex"]


# --- personalisation ----------------------------------------------------------------------


def test_a_placeholder_is_caught() -> None:
    for bad in ("Hi {first_name},", "Hi [NAME],", "Hi Maya, TODO: add the numbers."):
        body = GOOD_BODY.replace("Hi Maya,", bad)
        score = score_personalisation(outcome(draft(body)))
        assert score.score < 1.0, bad
        assert any(s.why == "a placeholder left in" for s in score.spans), bad


def test_the_wrong_contact_and_greeting_are_caught() -> None:
    wrong_name = score_personalisation(outcome(draft(GOOD_BODY.replace("Hi Maya", "Hi Tom"))))
    assert any("greeting" in s.why for s in wrong_name.spans)
    formal = draft(GOOD_BODY.replace("Hi Maya,", "Dear Ms Chen,"))
    assert score_personalisation(outcome(formal)).score == 1.0
    no_greeting = draft(GOOD_BODY.replace("Hi Maya,", "Maya,"))
    assert score_personalisation(outcome(no_greeting)).score < 1.0
    # The play addresses the champion, admin or user: not the executive sponsor.
    sponsor = draft(
        recipient_contact_id=12, recipient_name="Ines Roth", recipients=("ines.roth@acme.example",)
    )
    score = score_personalisation(outcome(sponsor))
    assert any("executive_sponsor" in s.why for s in score.spans)


def test_several_asks_no_specifics_and_length_are_caught() -> None:
    body = GOOD_BODY.replace("Best,", "Could you also send the logs? Please reply today.\n\nBest,")
    assert any("asks" in s.why for s in score_personalisation(outcome(draft(body))).spans)
    generic = "Hi Maya,\n\nJust checking in. Would a call help?\n\nBest,\nLena"
    score = score_personalisation(outcome(draft(generic, cited=())))
    whys = " ".join(s.why for s in score.spans)
    assert "not specific to the account" in whys and "words" in whys


def test_a_fact_the_scenario_requires_must_be_used() -> None:
    expected = Expected(must_use=("renewal",))
    score = score_personalisation(outcome(draft(), expected=expected))
    assert score.score < 1.0
    assert score.spans[-1].why == "no draft uses a renewal fact"


# --- hypotheses and plays -----------------------------------------------------------------


def test_hypotheses_and_play_against_the_expert_list() -> None:
    expected = Expected(
        hypotheses=("champion_left", "usage_decline"),
        acceptable_hypotheses=("renewal_risk",),
        plays=("champion_left_multithread",),
        acceptable_plays=("internal_escalation",),
        forbidden_plays=("adoption_congrats",),
    )
    raised = ({"category": "champion_left"}, {"category": "renewal_risk"}, {"category": "billing"})
    found = outcome(hypotheses=raised, expected=expected, plays=("champion_left_multithread",))
    assert score_hypothesis_recall(found).score == 0.5
    assert score_hypothesis_precision(found).score == pytest.approx(2 / 3)
    assert score_play(found).score == 1.0
    assert score_play(outcome(expected=expected, plays=("internal_escalation",))).score == 0.5
    assert score_play(outcome(expected=expected, plays=("save_plan",))).score == 0.0
    forbidden = outcome(expected=expected, plays=("champion_left_multithread", "adoption_congrats"))
    assert score_play(forbidden).score == 0.0
    assert not score_hypothesis_recall(outcome()).applicable


def test_a_missed_open_request_is_caught() -> None:
    """The customer waits on an open SSO outage ticket: a draft that never mentions it
    fails; one that acknowledges it passes; a billing reminder is about the invoice."""
    sso = {
        "id": "ticket:acc-1-t09",
        "kind": "ticket",
        "status": "open",
        "topic": "SSO outage",
        "text": "Your SSO outage ticket opened on 2026-10-20 is still open.",
    }
    given = (*LINES, sso)
    silent = GOOD_BODY.replace(
        "- Your high-priority bug ticket opened 2026-10-14 is still open [ticket:acc-1-t01]\n", ""
    )
    missed = score_personalisation(outcome(draft(silent, given=given)))
    assert any("open request is not acknowledged" in s.why for s in missed.spans)
    assert "SSO outage" in " ".join(s.why for s in missed.spans)
    acknowledged = silent.replace(
        "Would a 30", "I know your SSO outage ticket is still open; I'm on it.\n\nWould a 30"
    )
    assert score_personalisation(outcome(draft(acknowledged, given=given))).score == 1.0
    billing = score_personalisation(outcome(draft(silent, given=given, play="billing_followup")))
    assert not any("open request" in s.why for s in billing.spans)


def test_a_feature_named_reply_is_no_second_ask() -> None:
    body = GOOD_BODY.replace(
        "Would a 30", "Your team also started using Reply Drafts last month.\n\nWould a 30"
    )
    assert score_personalisation(outcome(draft(body))).score == 1.0
