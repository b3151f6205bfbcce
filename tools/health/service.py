"""Fit health models on a book's own history and score accounts as of a date.

The default horizon is 180 days: the issue asks to catch risk 90-180 days before renewal,
a save play (exec alignment, a success plan, a commercial offer) needs a quarter or more
to work, and the risk episodes that precede churn start 120-300 days before the renewal.
With a 90-day horizon, flags raised four to six months ahead would be counted as false
alarms. 30 and 90 remain available for shorter-cycle books (e.g. monthly plans).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.memory.intel_tables import RiskLanguageScan
from keel.tools.health.calibration import expected_calibration_error, reliability_table
from keel.tools.health.explain import Explanation, explain_rows
from keel.tools.health.known import known_labels
from keel.tools.health.labels import churned_by, labels, monthly_cuts, outcome_pending, panel
from keel.tools.health.model import Calibration, HealthModel, fit_model, prior_model
from keel.tools.health.priors import MIN_NEGATIVES, MIN_POSITIVES
from keel.tools.health.store import latest_model_record, save_model, schema_hash
from keel.tools.signals.book import Book, latest_data_date, load_book
from keel.tools.signals.catalog import SPECS, model_features
from keel.tools.signals.compute import compute_signals, event_names_by_coverage
from keel.tools.signals.windows import day_date, day_number

DEFAULT_HORIZON_DAYS = 180
HORIZONS = (30, 90, 180)
MODEL_KINDS = ("multi_signal", "usage_only")
# Training cuts start this long after the data does, so trend windows have some history.
WARMUP_DAYS = 60
# A stored model younger than this is reused; an older one is refitted.
REFIT_AFTER_DAYS = 30
# Calibration on recent outcomes: the last few monthly cuts with closed label windows.
RECENT_CALIBRATION_CUTS = 3
# Bump when signal definitions change, so models fitted on old definitions are not reused.
SIGNALS_VERSION = "1"


def model_schema(kind: str) -> str:
    return schema_hash(kind, [*SPECS, "version:" + SIGNALS_VERSION])


def data_span(book: Book) -> tuple[int, int] | None:
    """First and last day of the book's telemetry (usage or events; else any dated row)."""
    days: list[pd.Series] = [
        book.usage["day"],
        book.events["day"],
    ]
    if all(d.empty for d in days):
        days += [book.tickets["opened"], book.notes["day"], book.nps["day"]]
    values = (
        pd.concat([d.dropna() for d in days if not d.empty])
        if any(not d.empty for d in days)
        else pd.Series([], dtype=float)
    )
    if values.empty:
        return None
    return int(values.min()), int(values.max())


def active_panel(
    book: Book,
    cuts: Sequence[dt.date],
    *,
    horizon_days: int,
    event_names: Sequence[str] | None = None,
    account_ids: Sequence[int] | None = None,
    labelled: bool = True,
) -> pd.DataFrame:
    """Signals and labels for every account active at each cut (existed, not churned).

    Args:
        labelled: a panel to fit or judge on: also leave out rows whose churn or
            contraction was already known at the cut (``outcome_pending``). Live scoring
            passes ``False`` so that every account still under contract is scored.
    """
    if account_ids is None:
        acc, days = panel(book, list(cuts))
    else:
        ids = np.asarray(sorted(set(account_ids)), dtype=np.int64)
        cut_days = np.array([day_number(c) for c in cuts], dtype=np.int64)
        acc, days = np.tile(ids, len(cut_days)), np.repeat(cut_days, len(ids))
    frame = compute_signals(book, acc, days, event_names=event_names)
    active = frame["exists"].to_numpy(bool) & ~churned_by(book, acc, days)
    if labelled:
        active &= ~outcome_pending(book, acc, days)
    frame = frame[active].reset_index(drop=True)
    frame["y"] = labels(
        book,
        frame["account_id"].to_numpy(np.int64),
        frame["as_of"].to_numpy(np.int64),
        horizon_days,
    )
    return frame


def training_cuts(book: Book, as_of: dt.date, horizon_days: int) -> list[dt.date]:
    """Monthly cuts before ``as_of``: candidates for training rows.

    Which of their rows have a label known by ``as_of`` is :func:`known_training_rows`'
    question; a cut whose window is still open can hold many (contracts committed past
    it, churns already announced).
    """
    span = data_span(book)
    if span is None:
        return []
    first = day_date(span[0] + WARMUP_DAYS)
    return monthly_cuts(first, as_of - dt.timedelta(days=1))


def known_training_rows(
    history: pd.DataFrame, book: Book, *, cutoff: int, horizon_days: int
) -> pd.DataFrame:
    """The rows of ``history`` dated before ``cutoff`` whose label is known on that day.

    Known: the label window has closed, or the book already shows the outcome (a churn or
    contraction known inside the window, or a contract committed past the window; see
    :mod:`keel.tools.health.known`). A label known before its window closed is set to what
    was known then (1 for an outcome seen, else 0), so nothing dated after ``cutoff``
    can reach a fit even through a label.
    """
    past = history[history["as_of"] < cutoff]
    known = known_labels(
        book,
        past["account_id"].to_numpy(np.int64),
        past["as_of"].to_numpy(np.int64),
        horizon_days,
        cutoff,
    )
    train = past[known.known].copy()
    closed = known.closed[known.known]
    seen = known.observed[known.known].astype(np.int64)
    train["y"] = np.where(closed, train["y"].to_numpy(np.int64), seen)
    train["label_closed"] = closed
    return train


def _recent_calibration(
    train: pd.DataFrame, *, kind: str, features: list[str], horizon_days: int, model: HealthModel
) -> Calibration | None:
    cut_days = sorted(set(train["as_of"].tolist()))
    if len(cut_days) <= RECENT_CALIBRATION_CUTS:
        return None
    recent_start = cut_days[-RECENT_CALIBRATION_CUTS]
    recent = train[train["as_of"] >= recent_start]
    older = train[train["as_of"] + horizon_days <= recent_start]
    if int(older["y"].sum()) < MIN_POSITIVES // 2 or int(recent["y"].sum()) == 0:
        return None
    probe = fit_model(
        older,
        older["y"],
        kind=kind,
        features=features,
        horizon_days=horizon_days,
        fitted_on=day_date(recent_start),
        event_names=model.event_names,
        c=model.C,
    )
    p = probe.predict(recent)
    y = recent["y"].to_numpy()
    return Calibration(
        ece=expected_calibration_error(y, p),
        n=len(y),
        n_positive=int(y.sum()),
        start=day_date(recent_start),
        end=day_date(cut_days[-1]),
        bins=reliability_table(y, p),
    )


def fit_on_history(
    book: Book,
    *,
    as_of: dt.date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = "multi_signal",
    history: pd.DataFrame | None = None,
    event_names: Sequence[str] | None = None,
    c: float | None = None,
    calibrate: bool = True,
) -> HealthModel:
    """Fit on labels known by ``as_of``; fall back to default weights with too little history.

    Args:
        book: the book, loaded with all history up to ``as_of``.
        history: a precomputed :func:`active_panel` (rows beyond ``as_of`` are ignored).
        event_names: product events to use (default: every event name in the book).
        c: fixed regularisation strength (default: chosen by cross-validation).
        calibrate: also measure calibration error on the most recent labels.
    """
    cutoff = day_number(as_of)
    names = (
        list(event_names)
        if event_names is not None
        else event_names_by_coverage(book, until_day=cutoff)
    )
    if history is None:
        history = active_panel(
            book,
            training_cuts(book, as_of, horizon_days),
            horizon_days=horizon_days,
            event_names=names,
        )
    train = known_training_rows(history, book, cutoff=cutoff, horizon_days=horizon_days)
    features = model_features(list(history.columns), kind=kind) if len(history.columns) else []
    positives = int(train["y"].sum()) if len(train) else 0
    if positives < MIN_POSITIVES or len(train) - positives < MIN_NEGATIVES:
        now = active_panel(book, [as_of], horizon_days=horizon_days, event_names=names)
        features = model_features(list(now.columns), kind=kind)
        model = prior_model(
            now,
            kind=kind,
            features=features,
            horizon_days=horizon_days,
            fitted_on=as_of,
            event_names=names,
        )
        model.n_rows, model.n_positive = len(train), positives
        return model
    model = fit_model(
        train,
        train["y"],
        kind=kind,
        features=features,
        horizon_days=horizon_days,
        fitted_on=as_of,
        event_names=names,
        c=c,
    )
    model.train_start = day_date(int(train["as_of"].min()))
    model.train_end = day_date(int(train["as_of"].max()))
    if calibrate:
        # Judged on closed windows only: rows known early are a biased sample (committed
        # accounts and announced churns), fine to learn from but not to grade against.
        model.calibration = _recent_calibration(
            train[train["label_closed"]],
            kind=kind,
            features=features,
            horizon_days=horizon_days,
            model=model,
        )
    return model


def text_prototype_version(engine: Engine) -> str | None:
    """The risk-language prototype version whose matches are cached, if a scan completed."""
    from keel.tools.risk_language import PROTOTYPE_VERSION

    with Session(engine) as session:
        found = session.exec(
            select(func.count()).where(RiskLanguageScan.prototype_version == PROTOTYPE_VERSION)
        ).one()
    return PROTOTYPE_VERSION if found else None


def get_model(
    engine: Engine,
    *,
    as_of: dt.date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = "multi_signal",
    book: Book | None = None,
    refit: bool = False,
) -> HealthModel:
    """A stored model fitted within ``REFIT_AFTER_DAYS`` of ``as_of``, else a new fit (stored).

    Args:
        book: the full history up to ``as_of`` if already loaded (loaded when a fit is needed).
        refit: fit even if a recent stored model exists.
    """
    return get_model_record(
        engine, as_of=as_of, horizon_days=horizon_days, kind=kind, book=book, refit=refit
    )[1]


def get_model_record(
    engine: Engine,
    *,
    as_of: dt.date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = "multi_signal",
    book: Book | None = None,
    refit: bool = False,
) -> tuple[int, HealthModel]:
    """:func:`get_model` with the stored model's record id. Fits and stores a model, so
    only a scoring job calls it (:mod:`keel.tools.health.snapshot`), never a read."""
    schema = model_schema(kind)
    if not refit:
        stored = latest_model_record(
            engine, kind=kind, horizon_days=horizon_days, as_of=as_of, schema=schema
        )
        if stored is not None and (as_of - stored[1].fitted_on).days <= REFIT_AFTER_DAYS:
            return stored
    if book is None or book.since_day is not None:
        book = load_book(engine, until=as_of, prototype_version=text_prototype_version(engine))
    model = fit_on_history(book, as_of=as_of, horizon_days=horizon_days, kind=kind)
    return save_model(engine, model, schema=schema), model


@dataclass
class BookScores:
    """Every active account scored as of one date."""

    as_of: dt.date
    model: HealthModel
    frame: pd.DataFrame
    total_accounts: int
    text_evidence: bool
    book: Book = field(repr=False)

    @property
    def scored(self) -> int:
        return len(self.frame)

    def explain(self, account_ids: Sequence[int] | None = None) -> list[Explanation]:
        """Explanations for ``account_ids`` (default: all scored accounts)."""
        frame = self.frame
        if account_ids is not None:
            frame = frame[frame["account_id"].isin(list(account_ids))].reset_index(drop=True)
        return explain_rows(self.model, frame, self.as_of)


def score_book(
    engine: Engine,
    *,
    as_of: dt.date | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = "multi_signal",
    account_ids: Sequence[int] | None = None,
    model: HealthModel | None = None,
    refit: bool = False,
) -> BookScores:
    """Score every active account (or ``account_ids``) as of ``as_of`` (default: latest data).

    Uses the stored model when it is recent, otherwise fits one on the book's history and
    stores it. Risk-language features use cached matches when a scan has been run
    (``keel.tools.risk_language.refresh_matches``); otherwise they are zero.
    """
    when = as_of or latest_data_date(engine)
    if when is None:
        raise ValueError("the book has no telemetry yet: import or seed data first")
    version = text_prototype_version(engine)
    if model is None:
        model = get_model(engine, as_of=when, horizon_days=horizon_days, kind=kind, refit=refit)
    book = load_book(
        engine, until=when, since=when, account_ids=account_ids, prototype_version=version
    )
    frame = active_panel(
        book,
        [when],
        horizon_days=horizon_days,
        event_names=model.event_names,
        account_ids=account_ids,
        labelled=False,
    )
    contrib, base = model.contributions(frame)
    frame["logit"] = base + contrib.sum(axis=1)
    frame["p"] = 1.0 / (1.0 + np.exp(-frame["logit"].to_numpy()))
    total = len(book.accounts)
    return BookScores(
        as_of=when,
        model=model,
        frame=frame,
        total_accounts=total,
        text_evidence=version is not None,
        book=book,
    )
