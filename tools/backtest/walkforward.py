"""Walk forward over a book's own history: at each monthly cut, fit only on the past, score.

Cuts are the first day of each month from ``WARMUP_DAYS`` after the data starts to
``horizon`` days before it ends (later cuts cannot be judged yet: their label window is
still open). At each cut both models (multi-signal and usage-only, same fitting code) are
fitted on earlier rows whose label was known at the cut: the window had closed, or the
book already showed the outcome (a churn or contraction announced, or a contract
committed past the window; ``keel.tools.health.known``), so no outcome after the cut is ever
seen; with too little known history the documented default weights score instead, and
the report says how many cuts that was. Signals are computed once for every
(account, cut) pair and reused by every fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from keel.tools.backtest.metrics import (
    LEAD_LOOKBACK_DAYS,
    add_flag_columns,
    model_metrics,
    top_decile_positions,
)
from keel.tools.backtest.report import AiProductCheck, BacktestReport, CutSummary
from keel.tools.health.flags import FlagRule
from keel.tools.health.labels import monthly_cuts, outcome_events
from keel.tools.health.service import (
    MODEL_KINDS,
    WARMUP_DAYS,
    active_panel,
    data_span,
    fit_on_history,
)
from keel.tools.signals.book import Book
from keel.tools.signals.compute import event_names_by_coverage
from keel.tools.signals.windows import day_date, day_number

DEFAULT_THRESHOLD = 0.5
AI_PRODUCT_TRAJECTORY = "ai_product"
# Log change of engagement (recent vs prior window) at or below minus this shows the
# AI-product pattern when outcomes held: about a 10% fall.
AI_PATTERN_ENGAGEMENT_DROP = 0.1


def _cuts(book: Book, horizon_days: int) -> tuple[list[dt.date], list[dt.date]]:
    span = data_span(book)
    if span is None:
        return [], []
    first = day_date(span[0] + WARMUP_DAYS)
    every = monthly_cuts(first, day_date(span[1]))
    scored = [c for c in every if day_number(c) + horizon_days <= span[1]]
    return every, scored


def walk_forward(
    book: Book,
    *,
    horizon_days: int,
    threshold: float = DEFAULT_THRESHOLD,
    kinds: Sequence[str] = MODEL_KINDS,
    trajectories: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """Backtest every model kind on ``book`` (loaded with its full history).

    Args:
        horizon_days: label horizon (30, 90 or 180).
        threshold: probability at or above which an account is flagged.
        trajectories: account external id -> hidden trajectory, from a synthetic book's
            ground truth; used only to report where AI-product accounts rank.
        progress: called with (cuts done, cuts total).
    """
    every, scored_cuts = _cuts(book, horizon_days)
    if not scored_cuts:
        raise ValueError(
            f"not enough history for a {horizon_days}-day backtest: need more than "
            f"{WARMUP_DAYS + horizon_days} days of telemetry"
        )
    # Which product events become columns is decided once, from events up to the last
    # scored cut (column choice only: every value is still computed as of its own cut).
    names = event_names_by_coverage(book, until_day=day_number(scored_cuts[-1]))
    history = active_panel(book, every, horizon_days=horizon_days, event_names=names)
    rows: list[pd.DataFrame] = []
    summaries: list[CutSummary] = []
    for i, cut in enumerate(scored_cuts):
        day = day_number(cut)
        at_cut = history[history["as_of"] == day].copy()
        sources: dict[str, str] = {}
        for kind in kinds:
            model = fit_on_history(
                book,
                as_of=cut,
                horizon_days=horizon_days,
                kind=kind,
                history=history,
                event_names=names,
                calibrate=False,
            )
            at_cut["p_" + kind] = model.predict(at_cut)
            sources[kind] = model.source
        at_cut["fitted"] = all(s == "fitted" for s in sources.values())
        rows.append(at_cut)
        summaries.append(
            CutSummary(
                cut=cut,
                accounts=len(at_cut),
                positives=int(at_cut["y"].sum()),
                sources=sources,
            )
        )
        if progress:
            progress(i + 1, len(scored_cuts))
    scored = pd.concat(rows, ignore_index=True)
    return _report(book, scored, summaries, kinds, horizon_days, threshold, trajectories)


def _report(
    book: Book,
    scored: pd.DataFrame,
    summaries: list[CutSummary],
    kinds: Sequence[str],
    horizon_days: int,
    threshold: float,
    trajectories: Mapping[str, str] | None,
) -> BacktestReport:
    events = outcome_events(book)
    rule = FlagRule(threshold=threshold)
    add_flag_columns(scored, kinds, rule)
    fitted = scored[scored["fitted"]]
    evaluated = fitted if len(fitted) else scored
    first_cut = int(evaluated["as_of"].min())
    # Lead time is judged only for events a flag could have preceded by the full horizon.
    min_event_day = first_cut + horizon_days
    span = data_span(book)
    end_day = span[1] if span else None
    metrics = {
        kind: model_metrics(
            kind,
            evaluated,
            p_column="p_" + kind,
            threshold=threshold,
            events=events,
            min_event_day=min_event_day,
            data_end_day=end_day,
            flag_column="flag_" + kind,
            flag_rule=rule.describe(),
        )
        for kind in kinds
    }
    # The same, over every cut, cold-start cuts (default weights) included: what Keel would
    # have shown at each cut since the data began.
    all_first = int(scored["as_of"].min())
    metrics_all = {
        kind: model_metrics(
            kind,
            scored,
            p_column="p_" + kind,
            threshold=threshold,
            events=events,
            min_event_day=all_first + horizon_days,
            data_end_day=end_day,
            flag_column="flag_" + kind,
            flag_rule=rule.describe(),
        )
        for kind in kinds
    }
    ai_check = None
    if trajectories:
        ai_check = ai_product_check(
            book,
            evaluated,
            trajectories,
            p_column="p_" + kinds[0],
            baseline_column="p_" + kinds[1] if len(kinds) > 1 else None,
        )
    return BacktestReport(
        mode="walk_forward",
        horizon_days=horizon_days,
        threshold=threshold,
        flag_rule=rule.describe(),
        cuts=summaries,
        evaluated_cuts=sorted({day_date(int(d)) for d in evaluated["as_of"]}),
        default_weight_cuts=sum(1 for s in summaries if "prior" in s.sources.values()),
        metrics=metrics,
        metrics_all_cuts=metrics_all if len(fitted) < len(scored) else {},
        ai_product=ai_check,
        text_evidence=book.has_text_evidence,
        notes=[
            "Precision of flags: a flagged snapshot counts as right when a churn or contraction "
            f"became known within {horizon_days} days after its cut. Risk-flag accuracy: of "
            "accounts flagged, the share that churned or contracted at a renewal within "
            f"{LEAD_LOOKBACK_DAYS} days of a flag (flags whose year had not passed by the end "
            "of the data, with nothing yet, are not judged)."
        ],
    )


def ai_product_check(
    book: Book,
    scored: pd.DataFrame,
    trajectories: Mapping[str, str],
    *,
    p_column: str,
    baseline_column: str | None = None,
) -> AiProductCheck:
    """Where accounts whose true trajectory is AI-product rank: in the top risk decile?

    Besides every row of those accounts, the rows where the pattern shows as of the cut
    (engagement down by ``AI_PATTERN_ENGAGEMENT_DROP`` or more while outcome volume held
    or rose) are counted apart, and for the baseline model too: those are the rows a
    usage-only score reads as risk and the multi-signal model must not.
    """
    external = dict(
        zip(
            book.accounts["account_id"].tolist(), book.accounts["external_id"].tolist(), strict=True
        )
    )
    is_ai = (
        scored["account_id"]
        .map(lambda a: trajectories.get(str(external.get(a, ""))) == AI_PRODUCT_TRAJECTORY)
        .to_numpy(bool)
    )
    in_top = _top_decile_rows(scored, p_column)
    pattern = is_ai & _ai_pattern(scored)
    base_top = _top_decile_rows(scored, baseline_column) if baseline_column else None
    last_day = int(scored["as_of"].max())
    last = scored["as_of"].to_numpy() == last_day
    ai_rows = int(is_ai.sum())
    return AiProductCheck(
        accounts=int(scored.loc[is_ai, "account_id"].nunique()),
        rows=ai_rows,
        rows_in_top_decile=int((is_ai & in_top).sum()),
        share_in_top_decile=float((is_ai & in_top).sum() / ai_rows) if ai_rows else None,
        accounts_ever_in_top_decile=int(scored.loc[is_ai & in_top, "account_id"].nunique()),
        last_cut=day_date(last_day),
        in_top_decile_at_last_cut=int((is_ai & in_top & last).sum()),
        mean_probability=float(scored.loc[is_ai, p_column].mean()) if ai_rows else None,
        mean_probability_others=float(scored.loc[~is_ai, p_column].mean()),
        pattern_rows=int(pattern.sum()),
        pattern_rows_in_top_decile=int((pattern & in_top).sum()),
        pattern_rows_in_top_decile_baseline=(
            int((pattern & base_top).sum()) if base_top is not None else None
        ),
    )


def _top_decile_rows(scored: pd.DataFrame, p_column: str) -> np.ndarray:
    """Rows in the riskiest 10% of their own cut."""
    in_top = np.zeros(len(scored), dtype=bool)
    for _, idx in scored.groupby("as_of").groups.items():
        positions = scored.index.get_indexer(idx)
        in_top[positions[top_decile_positions(scored[p_column].to_numpy()[positions])]] = True
    return in_top


def _ai_pattern(scored: pd.DataFrame) -> np.ndarray:
    """Rows whose engagement fell while outcomes held or rose (signals as of the cut)."""
    if "usage_engagement_change" not in scored.columns or "outcome_change" not in scored.columns:
        return np.zeros(len(scored), dtype=bool)
    engagement = scored["usage_engagement_change"].to_numpy(dtype=np.float64)
    outcomes = scored["outcome_change"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray((engagement <= -AI_PATTERN_ENGAGEMENT_DROP) & (outcomes >= 0.0))
