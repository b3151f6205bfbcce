"""Backtest: the health model walked forward over the book's history, or scored on given
observations out of time, beside a usage-only baseline.

Used by ``keel backtest`` and, next, by the web app. It fits models at each past cut on
what was known then (:mod:`keel.tools.backtest`); it reads the book and writes nothing
but the risk-language cache, when the text index changed since the last scan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from keel.api.services.portfolio import ScanHook, refresh_risk_language
from keel.errors import KeelError
from keel.tools.backtest import BacktestReport

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["BacktestQuery", "BacktestReport", "BacktestRun", "run_backtest"]

# Called as ``progress(cuts_done, cuts_total)``.
ProgressFn = Callable[[int, int], None]


class BacktestQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    horizon_days: int | None = None
    """Label horizon (default 180); with observations, the label window (default:
    inferred from the observation spacing)."""
    observations: Path | None = None
    """A CSV of (account, date, label) to score out of time instead of walking forward."""
    truth_dir: Path | None = None
    """Ground truth of a synthetic book (default: ``<data dir>/truth`` if present), used
    only to report where AI-product accounts rank."""
    splits: int = Field(default=2, ge=1)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class BacktestRun(BaseModel):
    report: BacktestReport
    scan_note: str | None = None
    """Why the risk-language cache could not be brought up to date, if it could not."""


def _trajectories(app: App, truth_dir: Path | None) -> dict[str, str] | None:
    """Trajectories by account external id from a synthetic book's ground truth, if any."""
    from keel.memory.truth import TRUTH_FILE, load_truth

    directory = truth_dir or app.settings.data_dir / "truth"
    if not (directory / TRUTH_FILE).exists():
        if truth_dir is not None:
            raise KeelError(f"{directory / TRUTH_FILE}: no ground truth here")
        return None
    return {ext: t.trajectory for ext, t in load_truth(directory).items()}


def run_backtest(
    app: App,
    query: BacktestQuery,
    *,
    progress: ProgressFn | None = None,
    on_scan: ScanHook | None = None,
) -> BacktestRun:
    """Run the backtest ``query`` describes on the app's book."""
    from keel.tools.backtest import run_backtest as backtest

    scan_note = refresh_risk_language(app, on_scan=on_scan)
    trajectories = None if query.observations else _trajectories(app, query.truth_dir)
    report = backtest(
        app.engine,
        horizon_days=query.horizon_days,
        observations=query.observations,
        threshold=query.threshold,
        trajectories=trajectories,
        splits=query.splits,
        progress=progress,
    )
    return BacktestRun(report=report, scan_note=scan_note)
