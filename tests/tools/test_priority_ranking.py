"""The book's priority order as a CS leader reads it (issue 19 item 3).

Accounts flagged at risk need attention and come first, each part by expected ARR loss (so
that column reads in order); a big healthy account never outranks one flagged at risk;
expansion picks carry no open risk; a CSM is named by e-mail or by name; an unknown owner
is a clear error listing the known ones; labels say what was counted.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from keel.errors import KeelError
from keel.tools.backtest.metrics import ModelMetrics
from keel.tools.backtest.report import BacktestReport, render_text
from keel.tools.health.ranking import rank_book
from keel.tools.health.service import BookScores
from keel.tools.priorities import match_owner, owner_name, urgency_label

TODAY = 46_000  # a day number

# name: (p, ARR, days to renewal, seat use, risk:budget_cut mentions, champion_left)
ACCOUNTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "big-healthy": (0.03, 700_000, 30, 0.5, 0, 0),
    "risky": (0.70, 20_000, 100, 0.5, 0, 0),
    "risky-small": (0.55, 10_000, 20, 0.5, 0, 0),
    "recent-cut": (0.01, 50_000, 200, 0.99, 0, 0),
    "grower": (0.01, 60_000, 250, 0.98, 0, 0),
    "budget-talk": (0.02, 300_000, 150, 0.97, 1, 0),
    "champion-gone": (0.02, 40_000, 120, 0.99, 0, 1),
    "above-mean": (0.20, 90_000, 300, 0.99, 0, 0),
}


def _scores() -> BookScores:
    names = list(ACCOUNTS)
    ids = list(range(1, len(names) + 1))
    frame = pd.DataFrame(
        {
            "account_id": ids,
            "as_of": TODAY,
            "segment": "smb",
            "p": [ACCOUNTS[n][0] for n in names],
            "days_to_renewal": [ACCOUNTS[n][2] for n in names],
            "usage_seat_utilisation": [ACCOUNTS[n][3] for n in names],
            "risk:budget_cut": [ACCOUNTS[n][4] for n in names],
            "champion_left": [ACCOUNTS[n][5] for n in names],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "external_id": names,
            "arr": [ACCOUNTS[n][1] for n in names],
            "owner_csm": "maya.chen@kitewing.example",
        }
    )
    cut = names.index("recent-cut") + 1
    renewals = pd.DataFrame(
        {
            "account_id": [cut],
            "renewal": [TODAY - 60],
            "decided": [float(TODAY - 70)],
            "outcome": ["contracted"],
            "arr_before": [80_000.0],
            "arr_after": [50_000.0],
        }
    )
    book = SimpleNamespace(accounts=accounts, renewals=renewals)
    model = SimpleNamespace(threshold=0.5)
    return cast(BookScores, SimpleNamespace(frame=frame, book=book, model=model))


@pytest.fixture(scope="module")
def ranked() -> pd.DataFrame:
    frame = rank_book(_scores())
    frame["name"] = [list(ACCOUNTS)[int(a) - 1] for a in frame["account_id"]]
    return frame.sort_values("risk_rank")


def test_accounts_flagged_at_risk_come_before_big_healthy_ones(ranked: pd.DataFrame) -> None:
    order = ranked["name"].tolist()
    assert order[:2] == ["risky", "risky-small"]
    assert order.index("big-healthy") > order.index("risky-small")
    flagged = ranked["flagged"].tolist()
    assert flagged == sorted(flagged, reverse=True)  # no unflagged account above a flagged one


def test_expected_loss_reads_in_order_within_each_part(ranked: pd.DataFrame) -> None:
    for _, part in ranked.groupby("flagged"):
        loss = part["arr_at_risk"].tolist()
        assert loss == sorted(loss, reverse=True)
    assert np.allclose(ranked["arr_at_risk"], ranked["p"] * ranked["arr"])
    # The stored score sorts the same way as the rank (the nightly run reads it).
    assert ranked["priority"].tolist() == sorted(ranked["priority"], reverse=True)


def test_expansion_picks_carry_no_open_risk(ranked: pd.DataFrame) -> None:
    picks = ranked[ranked["expansion_rank"] > 0]["name"].tolist()
    assert picks == ["grower"]
    reasons = dict(zip(ranked["name"], ranked["open_risk"], strict=True))
    assert "contracted" in reasons["recent-cut"]
    assert "budget cut" in reasons["budget-talk"]
    assert "champion" in reasons["champion-gone"]
    assert "above the book's mean" in reasons["above-mean"]
    assert reasons["grower"] == ""


def test_urgency_is_a_column_of_its_own() -> None:
    assert urgency_label(1, 180).startswith("high")
    assert urgency_label(60, 180).startswith("medium")
    assert urgency_label(179, 180).startswith("low")
    assert urgency_label(200, 180).startswith("later")
    assert urgency_label(None, 180) == "unknown"


def test_owner_by_name_or_email_in_any_case() -> None:
    owners = ["maya.chen@kitewing.example", "olga.petrova@kitewing.example", "csm-probe"]
    assert owner_name("maya.chen@kitewing.example") == "Maya Chen"
    for query in ("Maya Chen", "maya chen", "  MAYA   CHEN ", "Maya.Chen@Kitewing.Example"):
        assert match_owner(query, owners) == "maya.chen@kitewing.example"
    assert match_owner("CSM-Probe", owners) == "csm-probe"


def test_unknown_owner_is_an_error_listing_known_owners() -> None:
    owners = ["maya.chen@kitewing.example", "olga.petrova@kitewing.example"]
    with pytest.raises(KeelError) as caught:
        match_owner("Dana Reyes", owners)
    message = str(caught.value)
    assert "Dana Reyes" in message
    assert "Maya Chen (maya.chen@kitewing.example)" in message
    assert "Olga Petrova" in message


def _metrics(**extra: Any) -> ModelMetrics:
    base: dict[str, Any] = {
        "kind": "multi_signal",
        "base_rate": 0.066,
        "top_decile_rate": 0.2,
        "threshold": 0.5,
        "n": 2637,
        "n_positive": 175,
        "auc": 0.8,
        "top_decile_lift": 3.0,
        "flagged": 200,
        "precision": 0.4,
        "recall": 0.5,
        "ece": 0.02,
        "events": 18,
    }
    base.update(extra)
    return ModelMetrics.model_validate(base)


def test_backtest_counts_are_in_plain_words() -> None:
    report = BacktestReport.model_construct(
        mode="walk_forward",
        horizon_days=180,
        threshold=0.5,
        flag_rule="",
        cuts=[],
        evaluated_cuts=[dt.date(2025, 1, 1)],
        default_weight_cuts=0,
        blocks=[],
        metrics={"multi_signal": _metrics()},
        metrics_all_cuts={},
        ai_product=None,
        text_evidence=True,
        notes=[],
    )
    text = render_text(report)
    assert (
        "Scored 2,637 monthly snapshots (one per active account per cut); 175 of them were "
        "followed by a churn or contraction within 180 days, from 18 churn or contraction "
        "events." in text
    )
    assert "rows" not in text and "churns/contractions" not in text
