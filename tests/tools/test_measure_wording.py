"""A factor's words follow the measure that moved and the way it moved (issue 20, item 5).

Two cases seen on books written outside the project, rebuilt here as one-account books:
"Outcomes are slipping: outcomes per day 222 -> 231 (+4%)" where the volume rose and the
quality fell, and an outcome drop labelled a quality regression while quality held (0.90 ->
0.85, inside the model's own 0.05 "outcomes are holding" band). Then the explanation's
factor lines: the signals named beside "raises risk" are the ones raising it, and a large
account's counts lowering its risk are said to be its size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from keel.tools.account_intel import _category
from keel.tools.claims import check_claim, moved, problems
from keel.tools.health.explain import SIZE_NOTE, SignalContribution, _factor_text
from keel.tools.hypotheses import Hypothesis, MetricDelta, _Evidence, _risk_hypothesis
from tests.tools.test_hypothesis_claims import ACCOUNT, AS_OF, TODAY, _book, _factor, _signal


def _outcome_usage(
    count: tuple[float, float], quality: tuple[float, float]
) -> list[dict[str, Any]]:
    """Daily usage rows: outcome volume and quality ``(before, after)`` the last 28 days."""
    rows = []
    for day in range(TODAY - 130, TODAY + 1):
        recent = day > TODAY - 28
        rows.append(
            {
                "account_id": ACCOUNT,
                "day": day,
                "active_users": 20.0,
                "sessions": 50.0,
                "outcome_count": count[recent],
                "outcome_quality": quality[recent],
                "seats_purchased": 100.0,
                "seats_used": 60.0,
                "active_teams": 3.0,
            }
        )
    return rows


def _outcomes_hypothesis(
    count: tuple[float, float], quality: tuple[float, float], *signals: SignalContribution
) -> Hypothesis | None:
    book = _book(usage=_outcome_usage(count, quality))
    built = _risk_hypothesis(
        _factor("outcomes", *signals), _Evidence(book, ACCOUNT, AS_OF), "acc-7", 1, book
    )
    return check_claim(built) if built is not None else None


def test_volume_up_and_quality_down_is_named_a_quality_drop() -> None:
    h = _outcomes_hypothesis(
        (222, 231),
        (0.90, 0.70),
        _signal("quality_change", "-0.20", 0.6),
        _signal("outcome_change", "+4%", -0.1, weight=0.1),
    )
    assert h is not None
    assert h.claim.startswith("Outcome quality is slipping: outcome quality 0.90 -> 0.70 (-22%)")
    # The volume that rose is neither named nor cited as evidence of the drop.
    assert "Outcomes are" not in h.claim and "outcomes per day" not in h.claim
    assert [m.metric for m in h.metrics] == ["outcome_quality"]
    assert _category(h) == "quality_regression"


def test_a_volume_drop_with_quality_held_is_no_quality_regression() -> None:
    h = _outcomes_hypothesis(
        (222, 150),
        (0.90, 0.85),
        _signal("outcome_change", "-32%", 0.6),
        _signal("quality_change", "-0.05", 0.05),
    )
    assert h is not None
    assert h.claim.startswith("Outcome volume is slipping: outcomes per day 222 -> 150 (-32%)")
    assert "quality" not in h.claim
    assert [m.metric for m in h.metrics] == ["outcome_count"]
    assert _category(h) != "quality_regression"


def test_both_measures_falling_are_both_named() -> None:
    h = _outcomes_hypothesis(
        (222, 150),
        (0.90, 0.70),
        _signal("outcome_change", "-32%", 0.6),
        _signal("quality_change", "-0.20", 0.4),
    )
    assert h is not None
    assert h.claim.startswith("Outcome volume and quality are slipping: outcomes per day 222")
    assert "; outcome quality 0.90 -> 0.70 (-22%)" in h.claim
    assert _category(h) == "quality_regression"


def _delta(metric: str, label: str, before: float, after: float) -> MetricDelta:
    pct = (after - before) / before
    return MetricDelta(
        metric=metric,
        label=label,
        start=dt.date(2026, 4, 1),
        end=AS_OF,
        before=before,
        after=after,
        change_pct=pct,
        text=f"{label} {before:g} -> {after:g} ({pct:+.0%})",
    )


def _hyp(claim: str, *metrics: MetricDelta) -> Hypothesis:
    return Hypothesis(
        id="acc-7:risk:1:outcomes",
        account_external_id="acc-7",
        kind="risk",
        factor="outcomes",
        claim=claim,
        strength=0.5,
        metrics=list(metrics),
    )


def test_the_check_rewords_or_drops_a_statement_naming_the_wrong_measure() -> None:
    volume_up = _delta("outcome_count", "outcomes per day", 222, 231)
    quality_down = _delta("outcome_quality", "outcome quality", 0.9, 0.7)
    quality_held = _delta("outcome_quality", "outcome quality", 0.9, 0.85)
    # The seen statement: the volume rose, so it cannot be cited as slipping.
    seen = _hyp(f"Outcomes are slipping: {volume_up.text}", volume_up, quality_down)
    assert problems(seen)
    fixed = check_claim(seen)
    assert fixed is not None
    assert fixed.claim == f"Outcome quality is slipping: {quality_down.text}"
    # A quality change inside the holding band is no drop, even at -6%.
    assert quality_held.trend == "down" and moved(quality_held) == "flat"
    assert (
        check_claim(_hyp(f"Outcome quality is slipping: {quality_held.text}", quality_held)) is None
    )
    # A headline naming one measure while citing the other is a problem the check names.
    volume_down = _delta("outcome_count", "outcomes per day", 222, 150)
    assert problems(_hyp(f"Outcome quality is slipping: {volume_down.text}", volume_down))
    # A level statement is headed by the measure its evidence reads.
    level = check_claim(_hyp("Outcomes are low: outcome quality (28-day mean) 0.71 (typical 0.84)"))
    assert level is not None and level.claim.startswith("Outcome quality is low: ")
    level = check_claim(_hyp("Outcomes are low: outcomes delivered (28 days) 40 (typical 90)"))
    assert level is not None and level.claim.startswith("Outcome volume is low: ")


def _contribution(
    name: str, display: str, z: float, weight: float, **extra: Any
) -> SignalContribution:
    return SignalContribution(
        name=name,
        label=extra.pop("label", name.replace("_", " ")),
        value=1.0,
        display=display,
        typical=extra.pop("typical", None),
        z=z,
        weight=weight,
        contribution=z * weight,
    )


def test_a_factor_names_the_signals_moving_it_the_way_it_says() -> None:
    # Volume up (lowers risk a little), quality down (raises it more): the factor raises risk
    # and names the quality drop, the volume rise is named as pulling the other way.
    quality = _contribution("quality_change", "-0.20", z=-2.0, weight=-0.3, typical="+0.00")
    volume = _contribution("outcome_change", "+4%", z=0.5, weight=-0.3, typical="+1%")
    text = _factor_text("Outcomes", quality.contribution + volume.contribution, [volume, quality])
    assert text.startswith("Outcomes (quality change -0.20, typical +0.00) raises risk (+0.45")
    assert text.endswith("; outcome change +4%, typical +1% lowers it")


def test_a_large_accounts_counts_lowering_its_risk_are_called_its_size() -> None:
    level = _contribution(
        "outcome_level",
        "66,234",
        z=2.5,
        weight=-0.1,
        label="outcomes delivered (28 days)",
        typical="4,269",
    )
    text = _factor_text("Outcomes", level.contribution, [level])
    assert f"outcomes delivered (28 days) 66,234, typical 4,269 ({SIZE_NOTE})) lowers risk" in text
    # A rate is no size: a quality above typical lowering the risk is said plainly.
    quality = _contribution("outcome_quality", "0.95", z=1.0, weight=-0.2, typical="0.84")
    assert SIZE_NOTE not in _factor_text("Outcomes", quality.contribution, [quality])
    # A small account's low counts raising the risk are no size note either.
    low = _contribution("outcome_level", "40", z=-1.5, weight=-0.1, typical="4,269")
    assert SIZE_NOTE not in _factor_text("Outcomes", low.contribution, [low])


def test_a_weight_the_book_turned_around_is_not_the_stated_reason() -> None:
    # Fewer features adopted lowering risk (a contrary weight) beside more features adopted
    # lowering it (documented): only the documented one is the reason.
    velocity = _contribution("adoption_velocity", "0", z=-1.0, weight=0.1, typical="1")
    breadth = _contribution("adoption_breadth", "12", z=1.0, weight=-0.08, typical="9")
    text = _factor_text(
        "Feature adoption", velocity.contribution + breadth.contribution, [velocity, breadth]
    )
    assert "adoption breadth 12, typical 9" in text and "adoption velocity" not in text


def test_a_level_at_or_above_typical_is_never_called_low() -> None:
    # Seen on the demo book: "Outcome quality is low: ... 0.84 (typical 0.84)".
    same = _hyp("Outcomes are low: outcome quality (28-day mean) 0.84 (typical 0.84)")
    assert problems(same) and check_claim(same) is None
    kept = check_claim(_hyp("Outcomes are low: outcome quality (28-day mean) 0.79 (typical 0.84)"))
    assert kept is not None and kept.claim.startswith("Outcome quality is low: ")
