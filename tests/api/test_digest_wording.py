"""The digest says what its numbers are (issue 19).

Seen: "health: at risk (10% risk)". The band is a place in the book (a percentile), the
risk an absolute probability; side by side without words they read as a contradiction.
"""

from __future__ import annotations

import datetime as dt

import pytest

from keel.agents.compose_text import configured_currency
from keel.api.services.digest import Digest, _move, to_markdown
from keel.memory.snapshots import AccountHealthRow
from keel.tools.priorities import health_standing


def _row(percentile: float, p: float, *, flagged: bool) -> AccountHealthRow:
    return AccountHealthRow(
        snapshot_id=1,
        account_id=7,
        external_id="acc-00007",
        name="Hadley Hospitality",
        owner_csm="maya.chen@kitewing.example",
        probability=p,
        logit=0.0,
        percentile=percentile,
        band="at risk" if percentile < 25 else "watch" if percentile < 50 else "healthy",
        risk_rank=7,
        arr=120_000.0,
        arr_at_risk=p * 120_000.0,
        urgency=1.0,
        priority_score=0.0,
        days_to_renewal=40,
        renewal_date=dt.date(2026, 12, 10),
        flagged=flagged,
        reason="budget cut mentions (90 days) 2",
        explanation_json="{}",
    )


def test_the_standing_says_place_and_risk_for_what_they_are() -> None:
    assert health_standing(19.2, 0.1) == "health in the lowest 20% of the book, 10% churn risk"
    assert health_standing(0.0, 0.6) == "health in the lowest 1% of the book, 60% churn risk"
    assert health_standing(62.0, 0.02) == "health in the top 38% of the book, 2% churn risk"
    assert health_standing(100.0, 0.0) == "health in the top 1% of the book, 0% churn risk"


def test_the_digest_never_prints_a_bare_band_beside_a_risk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KEEL_CURRENCY", raising=False)
    configured_currency.cache_clear()
    now, then = _row(19.2, 0.1, flagged=True), _row(60.0, 0.03, flagged=False)
    move = _move(now, then)
    assert move is not None and move.into_risk
    digest = Digest(as_of=dt.date(2026, 10, 31), owner=None, previous=dt.date(2026, 10, 30))
    digest.into_risk.append(move)
    digest.renewals.append(now)
    text = to_markdown(digest)
    assert "at risk (10% risk)" not in text and "health: at risk" not in text
    assert "was health in the top 40% of the book, 3% churn risk" in text
    assert "health in the lowest 20% of the book, 10% churn risk, ARR $120,000" in text
