"""Hypotheses: short claims with cited evidence; the cohort match to churned accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from keel.errors import KeelError
from keel.tools.cohort import similar_churned
from keel.tools.health.service import BookScores, score_book
from keel.tools.hypotheses import build_hypotheses
from keel.tools.signals import load_book
from tests.tools.minibook import ProbeBook, make_probe_book


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeBook]:
    pb = make_probe_book(str(tmp_path_factory.mktemp("hypotheses") / "keel.db"))
    yield pb
    pb.engine.dispose()


@pytest.fixture(scope="module")
def scores(probes: ProbeBook) -> BookScores:
    return score_book(probes.engine, as_of=probes.end)


def _factor(hyps: object, factor: str) -> object:
    found = [h for h in hyps.risk if h.factor == factor]  # type: ignore[attr-defined]
    assert found, f"no {factor} hypothesis in {[h.factor for h in hyps.risk]}"  # type: ignore[attr-defined]
    return found[0]


def test_champion_departure_cites_the_contact(probes: ProbeBook, scores: BookScores) -> None:
    hyps = build_hypotheses(probes.engine, "probe-champion", scores=scores)
    h = _factor(hyps, "relationships")
    assert any(r.kind == "contact" and r.external_id.startswith("c-") for r in h.records)  # type: ignore[attr-defined]
    assert "left" in h.claim  # type: ignore[attr-defined]


def test_billing_and_nps_cite_their_records(probes: ProbeBook, scores: BookScores) -> None:
    billing = _factor(build_hypotheses(probes.engine, "probe-billing", scores=scores), "billing")
    assert billing.records and all(r.kind == "invoice" for r in billing.records)  # type: ignore[attr-defined]
    assert all(r.external_id.startswith("inv-probe-billing") for r in billing.records)  # type: ignore[attr-defined]
    nps = _factor(build_hypotheses(probes.engine, "probe-nps", scores=scores), "nps")
    assert nps.records and all(r.kind == "nps" for r in nps.records)  # type: ignore[attr-defined]
    delta = nps.metrics[0]  # type: ignore[attr-defined]
    assert delta.before > delta.after and "->" in delta.text and str(delta.end) in delta.text


def test_engagement_decline_is_a_dated_metric_delta(probes: ProbeBook, scores: BookScores) -> None:
    hyps = build_hypotheses(probes.engine, "probe-usage", scores=scores)
    claims = [h for h in hyps.risk if h.factor in ("engagement", "outcomes")]
    assert claims
    deltas = [m for h in claims for m in h.metrics]
    assert deltas and all(m.after < m.before for m in deltas if m.metric == "outcome_count")
    assert all(m.start < m.end for m in deltas)


def test_risk_language_cites_the_matching_records(probes: ProbeBook, scores: BookScores) -> None:
    hyps = build_hypotheses(probes.engine, "probe-risk_language", scores=scores)
    h = _factor(hyps, "risk_language")
    assert h.records and all(r.external_id.startswith("n-probe-risk_language") for r in h.records)  # type: ignore[attr-defined]
    assert "competitor evaluation" in h.claim or "budget cut" in h.claim  # type: ignore[attr-defined]


def test_hypotheses_are_json_serialisable_with_stable_ids(
    probes: ProbeBook, scores: BookScores
) -> None:
    hyps = build_hypotheses(probes.engine, "probe-sentiment", scores=scores)
    payload = json.loads(hyps.model_dump_json())
    assert payload["external_id"] == "probe-sentiment"
    ids = [h["id"] for h in payload["risk"]]
    assert (
        ids
        and len(set(ids)) == len(ids)
        and all(i.startswith("probe-sentiment:risk:") for i in ids)
    )
    assert 0 <= payload["probability"] <= 1


def test_expansion_hypotheses(probes: ProbeBook, scores: BookScores) -> None:
    # Probes use 40 of 50 seats and 80 outcomes a day of a 3,000 a month ceiling (80%):
    # no expansion signal. The AI probe's outcomes grew 60%: past the ceiling.
    assert build_hypotheses(probes.engine, "probe-base", scores=scores).expansion == []
    hyps = build_hypotheses(probes.engine, "probe-ai", scores=scores)
    assert [h.factor for h in hyps.expansion] == ["outcome_ceiling"]
    assert "ceiling" in hyps.expansion[0].claim and hyps.expansion[0].metrics


def test_resembles_churned_accounts_named_with_similarity(
    probes: ProbeBook, scores: BookScores
) -> None:
    book = load_book(probes.engine, until=probes.end)
    ids = [probes.book.ids["probe-usage"], probes.book.ids["probe-base"]]
    similar = similar_churned(book, ids, probes.end, min_similarity=-1.0)
    churned = {probes.book.ids[e] for e in probes.book.events if probes.book.ids[e] % 2 == 1}
    for account in ids:
        assert similar[account], "every probe has some nearest churned history"
        sims = [s.similarity for s in similar[account]]
        assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
        for s in similar[account]:
            assert s.account_id in churned and s.event_date <= probes.end
            assert s.name and s.external_id
    # A declining account resembles churned run-ups more than a steady one does.
    assert similar[ids[0]][0].similarity > similar[ids[1]][0].similarity


def test_unknown_account_is_a_clear_error(probes: ProbeBook, scores: BookScores) -> None:
    with pytest.raises(KeelError, match="no account matches"):
        build_hypotheses(probes.engine, "nobody", scores=scores)


def test_support_claim_follows_the_direction_of_the_ticket_counts() -> None:
    from keel.tools.hypotheses import support_headline

    assert support_headline(prior=10, recent=19) == "Support load is rising"
    assert "easing" in support_headline(prior=25, recent=19)
    assert "rising" not in support_headline(prior=25, recent=19)
    assert support_headline(prior=12, recent=12) == "Support load stays heavy"


def test_soured_sentiment_rests_on_the_tone_of_the_tickets(
    probes: ProbeBook, scores: BookScores
) -> None:
    h = _factor(build_hypotheses(probes.engine, "probe-sentiment", scores=scores), "sentiment")
    assert h.claim.startswith("Ticket sentiment has soured")  # type: ignore[attr-defined]
    tone = h.metrics[0]  # type: ignore[attr-defined]
    assert tone.metric == "ticket_sentiment" and tone.after < tone.before
    # A score that can cross zero changes by points, not by a percentage.
    assert tone.change_pct is None and f"({tone.after - tone.before:+.2f})" in tone.text
    # Volume is cited only when it rose with the souring; it did not here.
    assert "tickets" not in [m.metric for m in h.metrics]  # type: ignore[attr-defined]
    assert h.records and all("broken" in r.summary.lower() for r in h.records)  # type: ignore[attr-defined]


def test_low_csat_is_claimed_as_low_satisfaction_with_the_rated_tickets(
    probes: ProbeBook, scores: BookScores
) -> None:
    h = _factor(build_hypotheses(probes.engine, "probe-csat", scores=scores), "sentiment")
    assert h.claim.startswith("Support satisfaction is low: CSAT")  # type: ignore[attr-defined]
    assert [m.metric for m in h.metrics] == ["csat"]  # type: ignore[attr-defined]
    assert h.metrics[0].after < h.metrics[0].before  # type: ignore[attr-defined]
    assert h.records and all(  # type: ignore[attr-defined]
        int(r.summary.split("CSAT ")[1][0]) <= 3
        for r in h.records  # type: ignore[attr-defined]
    )


def test_no_claim_rests_on_a_weight_against_its_documented_direction(
    probes: ProbeBook, scores: BookScores
) -> None:
    from keel.tools.health.explain import contrary

    for ext in ("probe-base", "probe-usage", "probe-tickets", "probe-csat"):
        hyps = build_hypotheses(probes.engine, ext, scores=scores)
        (e,) = scores.explain([probes.book.ids[ext]])
        factors = {f.factor: f for f in e.factors}
        for h in hyps.risk:
            if h.factor == "pattern":
                continue
            acting = sum(s.contribution for s in factors[h.factor].signals if not contrary(s))
            assert acting > 0, (ext, h.factor, h.claim)


def test_stalled_adoption_is_claimed_from_the_signal_that_stalled(
    probes: ProbeBook, scores: BookScores
) -> None:
    h = _factor(build_hypotheses(probes.engine, "probe-adoption", scores=scores), "adoption")
    (e,) = scores.explain([probes.book.ids["probe-adoption"]])
    velocity = next(s for f in e.factors for s in f.signals if s.name == "adoption_velocity")
    assert velocity.display == "0" and velocity.contribution > 0
    assert h.claim == (  # type: ignore[attr-defined]
        f"Feature adoption has stalled: no new feature in 90 days (typical {velocity.typical} "
        "in 90 days)"
    )
