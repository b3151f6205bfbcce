"""Backtests: walk-forward on small books, out-of-time scoring of given observations, metrics."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from keel.errors import ValidationFailed
from keel.tools.backtest import read_observations, render_text, run_backtest
from keel.tools.backtest.metrics import lead_times, top_decile
from keel.tools.backtest.report import BacktestReport
from keel.tools.signals import day_number
from tests.tools.minibook import START, build_minibook, write_observations


def test_top_decile_lift_and_lead_times() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)
    p = np.tile(np.array([0.9, 0.8] + [0.1] * 7 + [0.05]), 2)
    lift, rate = top_decile(y, p)
    # The top 10% (2 of 20 rows) are both positive; 4 of 20 are positive overall.
    assert rate == 1.0 and lift == pytest.approx(1.0 / 0.2)
    scored = pd.DataFrame(
        {"account_id": [1, 1, 1, 2], "as_of": [100, 130, 160, 100], "p": [0.2, 0.7, 0.9, 0.9]}
    )
    # Decisions on days 200/500/50; the contracts end (churn dates) 40 days later.
    events = pd.DataFrame(
        {"account_id": [1, 2, 3], "day": [200, 500, 50], "renewal": [240, 540, 90]}
    )
    n, caught, leads = lead_times(scored, events, p_column="p", threshold=0.5, min_event_day=60)
    # Account 1: first flag at 130 -> 110 days before its churn date; account 2's flag is
    # more than a year before; account 3's decision is before the first scored cut.
    assert (n, caught, leads) == (2, 1, [110])
    _, _, to_decision = lead_times(
        scored, events, p_column="p", threshold=0.5, min_event_day=60, to_column="day"
    )
    assert to_decision == [70]
    # A flag raised after the customer told us is not a prediction.
    late = pd.DataFrame({"account_id": [1], "as_of": [210], "p": [0.9]})
    assert lead_times(late, events, p_column="p", threshold=0.5, min_event_day=60)[1] == 0


@pytest.fixture()
def mini(engine: Engine):  # type: ignore[no-untyped-def]
    return build_minibook(engine, n_healthy=50, n_decline=30, n_ai=6)


def test_walk_forward_on_a_small_book(engine: Engine, mini, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trajectories = {ext: ("ai_product" if k == "ai" else k) for ext, k in mini.kinds.items()}
    report = run_backtest(engine, horizon_days=90, trajectories=trajectories)
    assert set(report.metrics) == {"multi_signal", "usage_only"}
    multi, usage = report.metrics["multi_signal"], report.metrics["usage_only"]
    assert multi.n == usage.n > 0 and multi.n_positive >= 10
    # Usage is one symptom of thirteen in this book: the multi-signal model must do better.
    assert multi.auc is not None and usage.auc is not None
    assert multi.auc > 0.75 and multi.auc > usage.auc
    # Early cuts had no closed label windows: default weights, reported and not evaluated.
    assert report.default_weight_cuts >= 1
    assert report.evaluated_cuts and all(
        day_number(c) + 90 <= day_number(START) + 540 for c in report.evaluated_cuts
    )
    assert report.ai_product is not None and report.ai_product.accounts == 6
    assert report.ai_product.in_top_decile_at_last_cut == 0
    ai = report.ai_product
    assert ai.pattern_rows_in_top_decile == 0
    assert ai.pattern_rows_in_top_decile_baseline is not None
    assert multi.flag_accuracy_accounts is not None and multi.flag_accuracy_accounts > 0
    text = render_text(report)
    for needle in (
        "AUC",
        "top-decile lift",
        "precision of flags",
        "risk-flag accuracy (accounts)",
        "snapshots showing the pattern",
        "median lead to churn date",
        "usage-only",
    ):
        assert needle in text
    path = tmp_path / "report.json"
    report.write_json(path)
    again = BacktestReport.model_validate(json.loads(path.read_text()))
    assert again.metrics["multi_signal"].auc == multi.auc


def test_observations_are_scored_out_of_time(engine: Engine, mini, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "observation.csv"
    obs = write_observations(mini, path)
    report = run_backtest(engine, observations=path, horizon_days=60, splits=2)
    assert report.mode == "observations" and report.horizon_days == 60
    assert len(report.blocks) == 2
    days = pd.to_datetime(obs["observation_date"]).dt.date
    for block in report.blocks:
        # Every observation whose label window closed before the block is trained on, and
        # nothing dated in or after it (which rows are known early: test_observations_known).
        closed = sum(d + dt.timedelta(days=60) <= block.start for d in days)
        earlier = sum(d < block.start for d in days)
        assert closed <= block.n_train <= earlier
        assert block.n_scored == sum(block.start <= d <= block.end for d in days)
    multi = report.metrics["multi_signal"]
    assert multi.n == sum(b.n_scored for b in report.blocks)
    assert multi.auc is not None and multi.auc > 0.7
    assert "label window 60 days" in render_text(report)


def test_label_window_is_inferred_from_the_observation_spacing(
    engine: Engine,
    mini,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "observation.csv"
    write_observations(mini, path)
    report = run_backtest(engine, observations=path)
    assert report.horizon_days == 30 and "inferred" in render_text(report)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("account,when,label\n", "no date column"),
        (
            "account_id,observation_date,is_churn\nacc-000,2025-13-01,0\n",
            "row 1, field 'observation_date'",
        ),
        (
            "account_id,observation_date,is_churn\nacc-000,2025-06-01,maybe\n",
            "row 1, field 'is_churn'",
        ),
        ("account_id,observation_date,is_churn\nacc-000,2025-06-01\n", "row 1: expected 3 fields"),
    ],
)
def test_bad_observation_files_are_rejected_clearly(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "obs.csv"
    path.write_text(content)
    with pytest.raises(ValidationFailed) as info:
        read_observations(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_unknown_accounts_in_observations_are_named(engine: Engine, mini, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "obs.csv"
    path.write_text(
        "account_id,observation_date,is_churn\nacc-000,2025-06-01,0\nghost,2025-06-01,1\n"
    )
    with pytest.raises(ValidationFailed, match="row 2, field 'account': unknown account 'ghost'"):
        run_backtest(engine, observations=path)


@pytest.mark.slow
def test_backtest_on_a_small_synthetic_book(engine: Engine, tmp_path: Path) -> None:
    from keel.memory.synth import seed_book
    from keel.memory.truth import load_truth

    seed_book(engine, n_accounts=80, seed=11, truth_dir=tmp_path / "truth")
    truth = {ext: t.trajectory for ext, t in load_truth(tmp_path / "truth").items()}
    report = run_backtest(engine, horizon_days=180, trajectories=truth)
    multi = report.metrics["multi_signal"]
    assert multi.n > 0 and report.ai_product is not None
    assert multi.ece is not None and multi.ece < 0.2
    # Where the AI pattern shows (engagement down, outcomes held), the usage-only baseline
    # reads it as risk more often than the multi-signal model does.
    ai = report.ai_product
    assert ai.pattern_rows > 0 and ai.pattern_rows_in_top_decile_baseline is not None
    assert ai.pattern_rows_in_top_decile < max(ai.pattern_rows_in_top_decile_baseline, 1)
    assert "multi-signal" in render_text(report)


def test_risk_flag_accuracy_counts_accounts_whose_flag_was_borne_out() -> None:
    from keel.tools.backtest.metrics import flag_accuracy

    scored = pd.DataFrame(
        {
            "account_id": [1, 1, 2, 3, 4, 5],
            "as_of": [100, 130, 100, 100, 100, 900],
            "p": [0.6, 0.8, 0.7, 0.9, 0.2, 0.9],
        }
    )
    # Account 1 churns (decided 300, contract ends 340): its flags are borne out. Account
    # 2's contraction ends 600 days after its flag: too far to be what it warned about.
    # Account 3: nothing happens within the year. Account 4 is never flagged. Account 5's
    # flag is too recent to judge (its year runs past the end of the data, day 1000).
    events = pd.DataFrame({"account_id": [1, 2], "day": [300, 650], "renewal": [340, 700]})
    judged, share = flag_accuracy(scored, events, p_column="p", threshold=0.5, data_end_day=1000)
    assert (judged, share) == (3, pytest.approx(1 / 3))
    # A flag raised after the customer told us is not a prediction.
    late = pd.DataFrame({"account_id": [1], "as_of": [310], "p": [0.9]})
    assert flag_accuracy(late, events, p_column="p", threshold=0.5, data_end_day=1000) == (
        1,
        0.0,
    )
    assert flag_accuracy(scored, events, p_column="p", threshold=0.95, data_end_day=1000) == (
        0,
        None,
    )


def test_ai_pattern_rows_are_engagement_down_with_outcomes_held() -> None:
    from keel.tools.backtest.walkforward import _ai_pattern

    frame = pd.DataFrame(
        {
            "usage_engagement_change": [-0.3, -0.3, -0.05, np.nan],
            "outcome_change": [0.1, -0.2, 0.2, 0.1],
        }
    )
    assert _ai_pattern(frame).tolist() == [True, False, False, False]
