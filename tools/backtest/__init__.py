"""Backtests: walk forward over a book's history, or score given observations out of time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.engine import Engine

from keel.tools.backtest.observations import read_observations, score_observations
from keel.tools.backtest.report import BacktestReport, render_text
from keel.tools.backtest.walkforward import DEFAULT_THRESHOLD, walk_forward
from keel.tools.health.service import DEFAULT_HORIZON_DAYS, text_prototype_version
from keel.tools.signals.book import load_book

__all__ = [
    "BacktestReport",
    "read_observations",
    "render_text",
    "run_backtest",
    "score_observations",
    "walk_forward",
]


def run_backtest(
    engine: Engine,
    *,
    horizon_days: int | None = None,
    observations: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    trajectories: Mapping[str, str] | None = None,
    splits: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """Backtest the book in ``engine``: walk forward, or on ``observations`` when given.

    Args:
        horizon_days: label horizon for the walk-forward (default 180); with observations,
            the label window (default: inferred from the observation spacing).
        observations: a CSV of (account, date, label) to score out of time.
        trajectories: ground-truth trajectories by account external id (synthetic books
            only; evaluation only).
        splits: out-of-time blocks scored in observations mode.
    """
    if observations is not None:
        obs = read_observations(observations)
        book = load_book(engine, prototype_version=text_prototype_version(engine))
        return score_observations(
            book,
            obs,
            path=observations,
            label_window_days=horizon_days,
            splits=splits,
            threshold=threshold,
        )
    book = load_book(engine, prototype_version=text_prototype_version(engine))
    return walk_forward(
        book,
        horizon_days=horizon_days or DEFAULT_HORIZON_DAYS,
        threshold=threshold,
        trajectories=trajectories,
        progress=progress,
    )
