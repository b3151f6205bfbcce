"""Persist fitted health models and find the one to score with."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.memory.db import session_scope
from keel.memory.intel_tables import HealthModelRecord
from keel.tools.health.model import HealthModel


def schema_hash(kind: str, candidates: Sequence[str]) -> str:
    """A short hash of a model kind and its candidate signal columns."""
    digest = hashlib.sha256((kind + "|" + "|".join(sorted(candidates))).encode()).hexdigest()
    return digest[:16]


def save_model(engine: Engine, model: HealthModel, *, schema: str) -> int:
    """Store ``model``; returns the record id."""
    record = HealthModelRecord(
        name=model.kind,
        horizon_days=model.horizon_days,
        source=model.source,
        fitted_on=model.fitted_on,
        train_start=model.train_start,
        train_end=model.train_end,
        n_rows=model.n_rows,
        n_positive=model.n_positive,
        calibration_ece=model.calibration.ece if model.calibration else None,
        calibration_n=model.calibration.n if model.calibration else 0,
        feature_schema=schema,
        params_json=model.model_dump_json(),
    )
    with session_scope(engine) as session:
        session.add(record)
        session.flush()
        assert record.id is not None
        return record.id


def latest_model(
    engine: Engine, *, kind: str, horizon_days: int, as_of: dt.date, schema: str | None = None
) -> HealthModel | None:
    """The most recently fitted stored model usable as of ``as_of`` (fitted on or before it)."""
    found = latest_model_record(
        engine, kind=kind, horizon_days=horizon_days, as_of=as_of, schema=schema
    )
    return found[1] if found else None


def latest_model_record(
    engine: Engine, *, kind: str, horizon_days: int, as_of: dt.date, schema: str | None = None
) -> tuple[int, HealthModel] | None:
    """:func:`latest_model` with its record id."""
    query = (
        select(HealthModelRecord)
        .where(HealthModelRecord.name == kind)
        .where(HealthModelRecord.horizon_days == horizon_days)
        .where(HealthModelRecord.fitted_on <= as_of)
    )
    if schema is not None:
        query = query.where(HealthModelRecord.feature_schema == schema)
    query = query.order_by(
        col(HealthModelRecord.fitted_on).desc(), col(HealthModelRecord.id).desc()
    ).limit(1)
    with Session(engine) as session:
        record = session.exec(query).first()
        if record is None or record.id is None:
            return None
        return record.id, HealthModel.model_validate_json(record.params_json)
