"""Tables of the insight layer: fitted health models and cached risk-language matches.

A fitted model is stored with the date it was fitted on, the window of history it learnt
from and its calibration error on the most recent outcomes, so anyone reading a score can
see how old and how well calibrated the model behind it is.

Risk-language matches (semantic matches of ticket, note and NPS text against phrase
prototypes) are cached one row per (source document, label), dated by the document, so a
point-in-time query ("matches known as of a date") is a plain SQL filter on ``day``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utcnow() -> dt.datetime:
    # SQLModel stores timezone-aware datetimes only.
    return dt.datetime.now(dt.UTC)


class HealthModelRecord(SQLModel, table=True):
    """One fitted (or default) health model; ``params_json`` holds a ``HealthModel``."""

    __tablename__ = "health_model"
    __table_args__ = (Index("ix_health_model_lookup", "name", "horizon_days", "fitted_on"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)  # multi_signal | usage_only
    horizon_days: int
    source: str = Field(max_length=16)  # fitted | prior
    # Only outcomes known on this date were used to fit.
    fitted_on: dt.date
    created_at: dt.datetime = Field(default_factory=_utcnow)
    train_start: dt.date | None = None
    train_end: dt.date | None = None
    n_rows: int = 0
    n_positive: int = 0
    calibration_ece: float | None = None
    calibration_n: int = 0
    # Hash of the feature list, so a model fitted on another schema is never reused.
    feature_schema: str = Field(default="", max_length=64)
    params_json: str = Field(sa_column=Column(Text, nullable=False))


class RiskLanguageMatch(SQLModel, table=True):
    """A text record that matched a risk-language prototype (cached vector-store result)."""

    __tablename__ = "risk_language_match"
    __table_args__ = (
        UniqueConstraint("source_kind", "source_id", "label", name="uq_risk_match_source_label"),
        Index("ix_risk_match_account_day", "account_id", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_kind: str = Field(max_length=32)  # ticket | note | nps (the vector store's kind)
    source_id: int
    external_id: str = Field(default="", max_length=128)
    account_id: int = Field(index=True)
    day: dt.date
    label: str = Field(max_length=64)
    score: float
    snippet: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    prototype_version: str = Field(max_length=64)


class RiskLanguageScan(SQLModel, table=True):
    """A completed scan of the vector store for one version of the prototypes."""

    __tablename__ = "risk_language_scan"

    id: int | None = Field(default=None, primary_key=True)
    prototype_version: str = Field(max_length=64, index=True)
    scanned_at: dt.datetime = Field(default_factory=_utcnow)
    # How many indexed documents the store held, to notice new text since the scan.
    n_documents: int = 0
    n_matches: int = 0
    min_score: float = 0.5
