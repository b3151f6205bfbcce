"""Backtest reports: one pydantic model, written as JSON and as readable text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, Field

from keel.tools.backtest.metrics import ModelMetrics
from keel.tools.risk_language import TEXT_UNAVAILABLE

KIND_LABELS = {"multi_signal": "multi-signal", "usage_only": "usage-only"}


class CutSummary(BaseModel):
    cut: dt.date
    accounts: int
    positives: int
    sources: dict[str, str] = Field(default_factory=dict)


class BlockSummary(BaseModel):
    """One out-of-time block of an observations backtest."""

    start: dt.date
    end: dt.date
    n_train: int
    n_train_positive: int
    n_scored: int
    n_scored_positive: int
    auc: dict[str, float | None] = Field(default_factory=dict)
    top_decile_lift: dict[str, float | None] = Field(default_factory=dict)


class AiProductCheck(BaseModel):
    """Where accounts whose hidden trajectory is AI-product ranked (ground truth, eval only)."""

    accounts: int
    rows: int
    rows_in_top_decile: int
    share_in_top_decile: float | None
    accounts_ever_in_top_decile: int
    last_cut: dt.date
    in_top_decile_at_last_cut: int
    mean_probability: float | None
    mean_probability_others: float
    # Rows where the pattern shows as of the cut (engagement down, outcomes held or up).
    pattern_rows: int = 0
    pattern_rows_in_top_decile: int = 0
    pattern_rows_in_top_decile_baseline: int | None = None


class BacktestReport(BaseModel):
    mode: str  # walk_forward | observations
    horizon_days: int
    threshold: float
    # How rows were flagged (``keel.tools.health.flags``); None: ``p >= threshold`` alone.
    flag_rule: str | None = None
    cuts: list[CutSummary] = Field(default_factory=list)
    evaluated_cuts: list[dt.date] = Field(default_factory=list)
    default_weight_cuts: int = 0
    blocks: list[BlockSummary] = Field(default_factory=list)
    metrics: dict[str, ModelMetrics]
    # Walk-forward only: the same over every cut, cold-start (default-weight) cuts included.
    metrics_all_cuts: dict[str, ModelMetrics] = Field(default_factory=dict)
    ai_product: AiProductCheck | None = None
    text_evidence: bool = False
    notes: list[str] = Field(default_factory=list)

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")


def _f(value: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _flags_text(report: BacktestReport) -> str:
    if report.flag_rule:
        return f"flags: {report.flag_rule}, each cut a book of its own"
    return f"flag threshold p >= {report.threshold:.2f}"


def _counts_text(report: BacktestReport) -> list[str]:
    """What was scored, in words: snapshots are not accounts, and a churn or contraction
    follows several monthly snapshots of the same account."""
    if not report.metrics:
        return []
    first = next(iter(report.metrics.values()))
    unit = "monthly snapshots" if report.mode == "walk_forward" else "observations"
    text = (
        f"Scored {first.n:,} {unit} (one per active account per cut); {first.n_positive:,} of "
        f"them were followed by a churn or contraction within {report.horizon_days} days"
    )
    if first.events is not None:
        text += f", from {first.events:,} churn or contraction events"
    return [text + "."]


def render_text(report: BacktestReport) -> str:
    """The report as aligned plain text, models side by side."""
    kinds = list(report.metrics)
    lines: list[str] = []
    if report.mode == "walk_forward":
        lines.append(
            f"Walk-forward backtest, horizon {report.horizon_days} days, {_flags_text(report)}"
        )
        if report.evaluated_cuts:
            lines.append(
                f"Evaluated cuts: {len(report.evaluated_cuts)} monthly, "
                f"{report.evaluated_cuts[0]} .. {report.evaluated_cuts[-1]} "
                f"(fitted only on outcomes known at each cut; {report.default_weight_cuts} "
                "earlier cuts had too little history and used default weights, not counted)"
            )
    else:
        lines.append(
            f"Observations backtest (out of time), label window {report.horizon_days} days, "
            f"{_flags_text(report)}"
        )
        for b in report.blocks:
            aucs = ", ".join(f"{KIND_LABELS.get(k, k)} {_f(v)}" for k, v in b.auc.items())
            lifts = ", ".join(
                f"{KIND_LABELS.get(k, k)} {_f(v, '{:.2f}')}" for k, v in b.top_decile_lift.items()
            )
            lines.append(
                f"  block {b.start} .. {b.end}: trained on {b.n_train} "
                f"({b.n_train_positive} positive), scored {b.n_scored} "
                f"({b.n_scored_positive} positive); AUC {aucs}; lift {lifts}"
            )
    if not report.text_evidence:
        lines.append(f"Note: {TEXT_UNAVAILABLE}.")
    lines += report.notes
    lines += _counts_text(report)
    lines.append("")
    header = f"{'metric':34s}" + "".join(f"{KIND_LABELS.get(k, k):>16s}" for k in kinds)
    lines.append(header)
    lines.append("-" * len(header))

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:34s}" + "".join(f"{v:>16s}" for v in values))

    m = [report.metrics[k] for k in kinds]
    row("snapshots (followed by a loss)", [f"{x.n:,} ({x.n_positive:,})" for x in m])
    row("AUC", [_f(x.auc) for x in m])
    row("top-decile lift", [_f(x.top_decile_lift, "{:.2f}") for x in m])
    row("flagged snapshots", [f"{x.flagged:,}" for x in m])
    row("precision of flags", [_f(x.precision) for x in m])
    row("recall of flags", [_f(x.recall) for x in m])
    if any(x.flagged_absolute is not None for x in m):
        at = f"p >= {report.threshold:.2f}"
        row(
            f"flagged snapshots, {at} alone",
            [f"{x.flagged_absolute:,}" if x.flagged_absolute is not None else "n/a" for x in m],
        )
        row(f"precision, {at} alone", [_f(x.precision_absolute) for x in m])
        row(f"recall, {at} alone", [_f(x.recall_absolute) for x in m])
    row("precision by account", [_f(x.account_precision) for x in m])
    if any(x.flag_accuracy_accounts is not None for x in m):
        row(
            "risk-flag accuracy (accounts)",
            [
                f"{_f(x.flag_accuracy)} ({x.flag_accuracy_accounts})"
                if x.flag_accuracy_accounts is not None
                else "n/a"
                for x in m
            ],
        )
    if any(x.events is not None for x in m):
        row(
            "events flagged before (of)",
            [
                f"{x.events_flagged_before} ({x.events})" if x.events is not None else "n/a"
                for x in m
            ],
        )
        row("median lead to churn date (days)", [_f(x.median_lead_days, "{:.0f}") for x in m])
        row(
            "median lead to decision (days)",
            [_f(x.median_lead_to_decision_days, "{:.0f}") for x in m],
        )
        row("share caught >= 90 days ahead", [_f(x.share_flagged_90d_ahead, "{:.0%}") for x in m])
    row("calibration error (ECE)", [_f(x.ece) for x in m])
    if len(kinds) >= 2 and m[0].auc is not None and m[1].auc is not None:
        lines.append("")
        lines.append(
            f"AUC gain of {KIND_LABELS.get(kinds[0], kinds[0])} over "
            f"{KIND_LABELS.get(kinds[1], kinds[1])}: {m[0].auc - m[1].auc:+.3f}"
        )
    if report.metrics_all_cuts:
        everything = [report.metrics_all_cuts[k] for k in kinds if k in report.metrics_all_cuts]
        lines.append("")
        lines.append(
            f"Over all {len(report.cuts)} cuts, the {report.default_weight_cuts} cold-start "
            "cuts (default weights) included:"
        )
        row("AUC", [_f(x.auc) for x in everything])
        row("top-decile lift", [_f(x.top_decile_lift, "{:.2f}") for x in everything])
        row(
            "precision of flags (flagged)",
            [f"{_f(x.precision)} ({x.flagged})" for x in everything],
        )
        row(
            "events flagged before (of)",
            [
                f"{x.events_flagged_before} ({x.events})" if x.events is not None else "n/a"
                for x in everything
            ],
        )
        row(
            "median lead to churn date (days)",
            [_f(x.median_lead_days, "{:.0f}") for x in everything],
        )
    lines.append("")
    lines.append(f"Reliability ({KIND_LABELS.get(kinds[0], kinds[0])}):")
    lines.append(f"  {'predicted':>14s} {'n':>7s} {'mean p':>8s} {'observed':>9s}")
    for rb in m[0].reliability:
        lines.append(
            f"  {rb.lower:5.1f} - {rb.upper:4.1f}   {rb.n:7d} {rb.mean_predicted:8.3f} "
            f"{rb.observed_rate:9.3f}"
        )
    if report.ai_product is not None:
        a = report.ai_product
        lines.append("")
        lines.append(
            "AI-product accounts (falling engagement, rising outcomes; from ground truth):"
        )
        lines.append(
            f"  {a.accounts} accounts, {a.rows:,} monthly snapshots scored; in the top risk "
            f"decile: {a.rows_in_top_decile:,} snapshots "
            f"({_f(a.share_in_top_decile, '{:.1%}')}), "
            f"{a.accounts_ever_in_top_decile} accounts ever; at the last cut ({a.last_cut}): "
            f"{a.in_top_decile_at_last_cut}"
        )
        lines.append(
            f"  mean risk {_f(a.mean_probability)} vs {_f(a.mean_probability_others)} for "
            "all other accounts"
        )
        baseline = (
            f"; usage-only baseline: {a.pattern_rows_in_top_decile_baseline}"
            if a.pattern_rows_in_top_decile_baseline is not None
            else ""
        )
        lines.append(
            "  snapshots showing the pattern at their cut (engagement down >= 10%, outcomes "
            "held): "
            f"{a.pattern_rows}; in the top risk decile: {a.pattern_rows_in_top_decile}"
            f"{baseline}"
        )
    return "\n".join(lines)
