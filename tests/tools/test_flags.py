"""Risk flags relative to the book as well as absolute (``keel.tools.health.flags``).

The rule on given probabilities, then on a small book with rare churn through the real
scoring path (``score_book`` and the priority list) and the walk-forward backtest.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from keel.tools.backtest import render_text, run_backtest
from keel.tools.health.flags import FlagRule, flag
from keel.tools.health.service import score_book
from keel.tools.priorities import compute_priorities
from tests.tools.minibook import build_minibook


def test_top_decile_at_twice_the_base_rate_is_flagged_below_the_threshold() -> None:
    # A book of 100 with rare churn: base rate about 2%, nobody near 0.5.
    p = np.full(100, 0.01)
    p[:10] = [0.20, 0.15, 0.12, 0.10, 0.09, 0.08, 0.07, 0.06, 0.05, 0.011]
    flags = flag(p)
    base = p.mean()
    assert not flags.absolute.any()
    # The top ten, except the one at barely the base rate (lift < 2).
    assert np.flatnonzero(flags.relative).tolist() == list(range(9))
    assert flags.lift[0] == pytest.approx(0.20 / base)
    assert flags.reason(0, FlagRule()) == f"top 10% ({0.20 / base:.1f}x)"
    assert flags.reason(50, FlagRule()) == ""


def test_absolute_flags_stand_on_their_own() -> None:
    p = np.array([0.9, 0.6, 0.55, 0.5, 0.49])
    flags = flag(p)
    assert flags.absolute.tolist() == [True, True, True, True, False]
    assert flags.any.tolist() == [True, True, True, True, False]
    assert flags.reason(3, FlagRule()) == "p >= 0.50"


def test_a_book_whose_accounts_all_look_alike_flags_nobody() -> None:
    flags = flag(np.full(50, 0.04) + np.linspace(0, 0.01, 50))
    assert not flags.any.any()


def test_each_group_is_a_book_of_its_own() -> None:
    # The same probability is high in one month and ordinary in the other.
    p = np.array([0.1] + [0.01] * 19 + [0.1] * 20)
    groups = np.array([1] * 20 + [2] * 20)
    flags = flag(p, groups=groups)
    assert flags.relative.tolist() == [True] + [False] * 39


@pytest.fixture()
def rare_churn(engine: Engine) -> Engine:
    # Rare churn: 6 declining accounts among 150.
    build_minibook(engine, n_healthy=144, n_decline=6, n_ai=0, seed=3)
    return engine


def test_a_book_with_rare_churn_gets_relative_flags(rare_churn: Engine) -> None:
    scores = score_book(rare_churn)
    p = scores.frame["p"].to_numpy()
    flags = flag(p)
    assert flags.relative.any(), "the riskiest accounts must be flagged"
    assert (flags.relative & (p < 0.5)).any(), "below the absolute threshold"
    cutoff = np.sort(p)[-int(np.ceil(0.1 * len(p)))]
    assert (p[flags.relative] >= cutoff).all()
    assert (p[flags.relative] >= 2 * p.mean()).all()

    listing = compute_priorities(rare_churn, top=len(p))
    assert listing.flagged == int(flags.any.sum())
    assert "top 10% by risk" in listing.flag_rule
    by_id = {i.account_id: i for i in listing.risks}
    ids = scores.frame["account_id"].to_numpy()
    for account, flagged in zip(ids, flags.any, strict=True):
        item = by_id[int(account)]
        assert item.flagged == bool(flagged)
        assert bool(item.flag) == bool(flagged)
    # An account flagged at risk is never offered as an expansion opportunity.
    flagged_ids = {int(a) for a in ids[flags.any]}
    assert not flagged_ids & {e.account_id for e in listing.expansions}


def test_the_backtest_reports_the_rule_beside_the_threshold_alone(rare_churn: Engine) -> None:
    report = run_backtest(rare_churn, horizon_days=90)
    multi = report.metrics["multi_signal"]
    assert report.flag_rule and multi.flag_rule == report.flag_rule
    assert multi.flagged_absolute is not None
    assert multi.flagged >= multi.flagged_absolute
    assert multi.flagged > 0
    text = render_text(report)
    assert "flags: p >= 0.50, or in the book's top 10% by risk" in text
    assert "flagged snapshots, p >= 0.50 alone" in text
