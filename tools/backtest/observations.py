"""Score given observations (account, date, label) out of time, with the book's own data.

The CSV has one row per observation: an account's external id, an observation date and a
0/1 label (e.g. fightchurn's ``observation.csv``: account_id, observation_date, is_churn).
Signals are computed as of each observation date from data dated on or before it.

Out-of-time protocol: observations are sorted by date and cut at date boundaries into
``splits + 1`` blocks of (about) equal size, as scikit-learn's ``TimeSeriesSplit`` does
(the reference study uses two splits). Block *k* (k >= 1) is scored by a model fitted
only on earlier observations whose label was already determined, by the book's own data
dated on or before the day block *k* starts (:mod:`keel.tools.health.known`): the label
window had closed (``observation date + label window <= block start``), or a churn or
contraction inside the window was already known, or the account was committed to a
contract term running past the window. So no label the model learns from could have
been unknown on the day it scores; the given label itself never decides which rows are
known. Metrics are reported per block and pooled; the notes say how many training rows
were known before their window closed.

The label window is ``label_window_days`` when given, else the median gap between an
account's consecutive observations (a panel of monthly observations with "churns before
the next one" labels has a 30-day window), else 30 days.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from keel.errors import Problem, ValidationFailed
from keel.tools.backtest.metrics import add_flag_columns, auc, model_metrics, top_decile
from keel.tools.backtest.report import BacktestReport, BlockSummary
from keel.tools.health.flags import FlagRule
from keel.tools.health.known import KnownLabels, known_labels
from keel.tools.health.model import fit_model
from keel.tools.health.service import MODEL_KINDS
from keel.tools.signals.book import Book
from keel.tools.signals.catalog import model_features
from keel.tools.signals.compute import compute_signals, event_names_by_coverage
from keel.tools.signals.windows import day_date, day_number

ACCOUNT_COLUMNS = ("account_id", "account", "account_external_id", "external_id")
DATE_COLUMNS = ("observation_date", "date", "as_of", "observed_on")
LABEL_COLUMNS = ("is_churn", "label", "churn", "churned", "y")
DEFAULT_SPLITS = 2
DEFAULT_LABEL_WINDOW_DAYS = 30
MAX_PROBLEMS = 20


def _pick(header: list[str], options: Sequence[str], path: Path, what: str) -> str:
    lowered = {h.strip().lower(): h for h in header}
    for option in options:
        if option in lowered:
            return lowered[option]
    raise ValidationFailed(
        [
            Problem(
                str(path),
                None,
                None,
                f"no {what} column; expected one of {', '.join(options)} "
                f"(found {', '.join(header)})",
            )
        ]
    )


def read_observations(path: Path) -> pd.DataFrame:
    """Read and validate an observations CSV.

    Returns:
        Columns ``account`` (external id, str), ``day`` (day number), ``label`` (0/1),
        ``row`` (1-based data row in the file).

    Raises:
        ValidationFailed: naming file, row, field and reason for every bad row.
    """
    if not path.exists():
        raise ValidationFailed([Problem(str(path), None, None, "file not found")])
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationFailed([Problem(str(path), None, None, "empty file")]) from None
        acc_col = _pick(header, ACCOUNT_COLUMNS, path, "account")
        date_col = _pick(header, DATE_COLUMNS, path, "date")
        label_col = _pick(header, LABEL_COLUMNS, path, "label")
        index = {name: i for i, name in enumerate(header)}
        accounts: list[str] = []
        days: list[int] = []
        labels: list[int] = []
        rows: list[int] = []
        problems: list[Problem] = []
        for n, record in enumerate(reader, start=1):
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(
                    Problem(str(path), n, None, f"expected {len(header)} fields, got {len(record)}")
                )
                continue
            account = record[index[acc_col]].strip()
            if not account:
                problems.append(Problem(str(path), n, acc_col, "empty account id"))
            raw_date = record[index[date_col]].strip()
            try:
                day = day_number(dt.date.fromisoformat(raw_date[:10]))
            except ValueError:
                problems.append(Problem(str(path), n, date_col, f"not a date: {raw_date!r}"))
                day = -1
            raw_label = record[index[label_col]].strip().lower()
            if raw_label in ("1", "1.0", "true", "yes"):
                label = 1
            elif raw_label in ("0", "0.0", "false", "no"):
                label = 0
            else:
                problems.append(Problem(str(path), n, label_col, f"not 0/1: {raw_label!r}"))
                label = -1
            accounts.append(account)
            days.append(day)
            labels.append(label)
            rows.append(n)
    if problems:
        raise ValidationFailed(problems, limit=MAX_PROBLEMS)
    if not rows:
        raise ValidationFailed([Problem(str(path), None, None, "no observations")])
    return pd.DataFrame({"account": accounts, "day": days, "label": labels, "row": rows})


def infer_label_window(observations: pd.DataFrame) -> int:
    """Median gap in days between an account's consecutive observations (30 if none)."""
    ordered = observations.sort_values(["account", "day"])
    gaps = ordered.groupby("account")["day"].diff().dropna()
    if gaps.empty:
        return DEFAULT_LABEL_WINDOW_DAYS
    return max(round(float(gaps.median())), 1)


def _resolve(book: Book, observations: pd.DataFrame, path: Path) -> np.ndarray:
    ids = dict(
        zip(
            book.accounts["external_id"].astype(str).tolist(),
            book.accounts["account_id"].tolist(),
            strict=True,
        )
    )
    resolved = observations["account"].map(ids)
    missing = observations[resolved.isna()]
    if not missing.empty:
        problems = [
            Problem(str(path), int(row), "account", f"unknown account {account!r} (not imported)")
            for row, account in zip(
                missing["row"].head(MAX_PROBLEMS).tolist(),
                missing["account"].head(MAX_PROBLEMS).tolist(),
                strict=True,
            )
        ]
        if len(missing) > MAX_PROBLEMS:
            problems.append(
                Problem(str(path), None, "account", f"{len(missing)} rows name unknown accounts")
            )
        raise ValidationFailed(problems, limit=MAX_PROBLEMS + 1)
    return resolved.to_numpy(dtype=np.int64)


def _blocks(days: np.ndarray, splits: int) -> list[tuple[int, int]]:
    """(start, end) day ranges of ``splits + 1`` near-equal blocks, cut at date changes."""
    ordered = np.sort(days)
    edges = [int(ordered[0])]
    for k in range(1, splits + 1):
        edge = int(ordered[min(round(k * len(ordered) / (splits + 1)), len(ordered) - 1)])
        if edge > edges[-1]:
            edges.append(edge)
    bounds = [*edges, int(ordered[-1]) + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(len(bounds) - 1)]


def score_observations(
    book: Book,
    observations: pd.DataFrame,
    *,
    path: Path,
    label_window_days: int | None = None,
    splits: int = DEFAULT_SPLITS,
    threshold: float = 0.5,
    kinds: Sequence[str] = MODEL_KINDS,
) -> BacktestReport:
    """Out-of-time scores and metrics for ``observations`` (see the module docstring)."""
    window = label_window_days or infer_label_window(observations)
    acc = _resolve(book, observations, path)
    days = observations["day"].to_numpy(np.int64)
    blocks = _blocks(days, splits)
    # Event columns are chosen from events before the first scored block.
    first_scored = blocks[1][0] if len(blocks) > 1 else int(days.max())
    names = event_names_by_coverage(book, until_day=first_scored - 1)
    frame = compute_signals(book, acc, days, event_names=names)
    frame["y"] = observations["label"].to_numpy(np.int64)
    summaries: list[BlockSummary] = []
    scored_parts: list[pd.DataFrame] = []
    early: list[str] = []
    acc_ids = frame["account_id"].to_numpy(np.int64)
    as_of = frame["as_of"].to_numpy(np.int64)
    for start, end in blocks[1:]:
        known = known_labels(book, acc_ids, as_of, window, start)
        train = frame[known.known]
        early.append(_early_note(known, frame["y"].to_numpy(np.int64)))
        block = frame[(frame["as_of"] >= start) & (frame["as_of"] <= end)].copy()
        summary = BlockSummary(
            start=day_date(start),
            end=day_date(end),
            n_train=len(train),
            n_train_positive=int(train["y"].sum()),
            n_scored=len(block),
            n_scored_positive=int(block["y"].sum()),
        )
        for kind in kinds:
            features = model_features(list(frame.columns), kind=kind)
            model = fit_model(
                train,
                train["y"],
                kind=kind,
                features=features,
                horizon_days=window,
                fitted_on=day_date(start),
                event_names=names,
            )
            block["p_" + kind] = model.predict(block)
            summary.auc[kind] = auc(block["y"], block["p_" + kind])
            summary.top_decile_lift[kind] = top_decile(block["y"], block["p_" + kind])[0]
        summaries.append(summary)
        scored_parts.append(block)
    if not scored_parts:
        raise ValidationFailed(
            [Problem(str(path), None, None, "observations span too few dates to split out of time")]
        )
    scored = pd.concat(scored_parts, ignore_index=True)
    rule = FlagRule(threshold=threshold)
    add_flag_columns(scored, kinds, rule)
    metrics = {
        kind: model_metrics(
            kind,
            scored,
            p_column="p_" + kind,
            threshold=threshold,
            flag_column="flag_" + kind,
            flag_rule=rule.describe(),
        )
        for kind in kinds
    }
    notes = [
        f"{len(observations)} observations, {int(frame['y'].sum())} positive; "
        f"{len(blocks)} date-ordered blocks, first used for training only; label window "
        f"{window} days{' (inferred from observation spacing)' if not label_window_days else ''}.",
        "Pooled AUC/lift over all scored blocks; per-block figures above "
        f"(mean AUC {_mean([s.auc.get(kinds[0]) for s in summaries])}, mean lift "
        f"{_mean([s.top_decile_lift.get(kinds[0]) for s in summaries], '{:.2f}')} for "
        f"{kinds[0].replace('_', '-')}).",
        "Training rows known before their label window closed, by block: " + "; ".join(early) + ".",
    ]
    return BacktestReport(
        mode="observations",
        horizon_days=window,
        threshold=threshold,
        flag_rule=rule.describe(),
        blocks=summaries,
        metrics=metrics,
        text_evidence=book.has_text_evidence,
        notes=notes,
    )


def _mean(values: list[float | None], fmt: str = "{:.3f}") -> str:
    clean = [v for v in values if v is not None]
    return fmt.format(float(np.mean(clean))) if clean else "n/a"


def _early_note(known: KnownLabels, y: np.ndarray) -> str:
    """How many training rows were known early, and why (labels only checked, not used).

    A given label that disagrees with what the book says about a row known early means
    the observations define churn differently from the book's renewal outcomes.
    """
    early = known.known & ~known.closed
    observed = early & known.observed
    committed = early & known.committed & ~known.observed
    disagree = int((observed & (y == 0)).sum() + (committed & (y == 1)).sum())
    text = (
        f"{int(early.sum())} of {int(known.known.sum())} ({int(observed.sum())} churn or "
        f"contraction already known, {int(committed.sum())} committed past the window"
    )
    if known.lead_days:
        text += f" by more than a {known.lead_days}-day decision lead"
    if disagree:
        text += f"; the given label disagrees with the book on {disagree}"
    return text + ")"
