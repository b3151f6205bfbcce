"""Risk order within an ARR band (issue 19 item 3, issue 20 item 5).

Seen: ranking by revenue at risk put a 4%-risk account above an 18%-risk one in the top
four, with nothing saying why. The list still ranks by expected ARR loss (so that column
reads in order), but an account above a higher-risk one of the same ARR band says why.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keel.memory.db import init_db, make_engine
from keel.memory.snapshots import AccountHealthRow
from keel.text import configured_currency
from keel.tools.priorities import arr_band, compute_priorities, order_notes
from tests.tools.minibook import END, build_minibook


def _row(name: str, p: float, arr: float, days: int, *, flagged: bool = False) -> AccountHealthRow:
    return AccountHealthRow(
        snapshot_id=1,
        account_id=hash(name) % 10_000,
        external_id=name,
        name=name,
        probability=p,
        logit=0.0,
        percentile=50.0,
        band="watch",
        risk_rank=1,
        arr=arr,
        arr_at_risk=p * arr,
        urgency=1.0,
        priority_score=0.0,
        days_to_renewal=days,
        renewal_date=dt.date(2026, 12, 1),
        flagged=flagged,
        explanation_json="{}",
    )


@pytest.fixture(autouse=True)
def _usd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEEL_CURRENCY", raising=False)
    configured_currency.cache_clear()


def test_arr_bands() -> None:
    assert arr_band(10_000) == "under $25,000"
    assert arr_band(120_000) == "$100,000-$250,000"
    assert arr_band(240_000) == "$100,000-$250,000"
    assert arr_band(5_000_000) == "$1,000,000 and over"


def test_a_lower_risk_account_above_a_higher_risk_one_of_its_band_says_why() -> None:
    rows = [
        _row("Bigger", 0.12, 240_000, 20),  # expected loss 28,800
        _row("Riskier", 0.18, 120_000, 200),  # 21,600
        _row("Small", 0.30, 20_000, 50),  # another band: no note owed to it
    ]
    notes = order_notes(rows)
    assert notes[0] == (
        "above higher-risk #2 Riskier (18% vs 12%, same ARR band $100,000-$250,000): "
        "larger expected loss ($28,800 vs $21,600); renews in 20 d vs 200 d"
    )
    assert notes[1:] == ["", ""]


def test_every_inversion_within_a_band_on_a_small_book_is_explained(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'book.db'}")
    init_db(engine)
    build_minibook(engine, n_healthy=30, n_decline=20, n_ai=2)
    listing = compute_priorities(engine, as_of=END, top=1000)
    items = listing.risks
    inversions = 0
    for i, item in enumerate(items):
        owed = any(
            later.probability > item.probability and later.arr_band == item.arr_band
            for later in items[i + 1 :]
        )
        inversions += owed
        assert bool(item.order_note) == owed, (item.name, item.order_note)
    assert inversions  # the book has such pairs: the rule is exercised
    engine.dispose()
