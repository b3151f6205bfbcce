"""Turn validated tables into frames of database columns: references resolved, defaults filled.

Rules: a column the file does not have is never overwritten on re-import (it gets the
model's default only when the row is new); an empty cell in a column the file has means
the default (or no value, where the column allows none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic_core import PydanticUndefined
from sqlmodel import SQLModel

from memory.importers.columns import Kind
from memory.importers.validate import TypedTable


@dataclass
class DbFrame:
    """Rows ready for ``upsert_frame``.

    Attributes:
        frame: Database column names and values; missing cells are ``None``/``NaN``/``NaT``.
        provided: Database columns the file gave (overwritten on re-import).
        conflict: The unique columns a re-import matches on.
    """

    frame: pd.DataFrame
    provided: tuple[str, ...]
    conflict: tuple[str, ...]

    @property
    def update_columns(self) -> list[str]:
        return [c for c in self.provided if c not in self.conflict]


def is_missing(series: pd.Series) -> pd.Series:
    """Missing cells: ``None``/``NaN``/``NaT`` and empty text."""
    missing = series.isna()
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        missing |= series.astype(str).eq("")
    return missing


def db_frame(
    table: TypedTable,
    *,
    account_ids: Mapping[str, int],
    contact_ids: Mapping[str, int],
) -> DbFrame:
    """Database columns for ``table``: refs to ids, external ids generated where allowed.

    Args:
        table: A validated table of an entity that has a database table.
        account_ids: Account external id -> id (every referenced account is present).
        contact_ids: Contact external id and lower-cased email -> id.
    """
    entity = table.entity
    columns: dict[str, pd.Series] = {}
    for name in table.provided:
        col = entity.column(name)
        values = table.frame[name]
        if col.kind == Kind.ACCOUNT:
            values = values.map(account_ids).astype("Int64")
        elif col.kind == Kind.CONTACT:
            by_id = values.map(contact_ids)
            by_email = values.str.lower().map(contact_ids)
            values = by_id.fillna(by_email).astype("Int64")
        columns[col.db_column] = values
    frame = pd.DataFrame(columns, index=table.frame.index)
    provided = tuple(frame.columns)
    conflict: tuple[str, ...] = ("external_id",)
    if entity.name == "usage":
        conflict = ("account_id", "day")
    elif entity.name == "events":
        conflict = ("account_id", "day", "event_name")
    elif entity.name == "features" and "external_id" not in provided:
        # No ids in the file: match on the natural key; the generated id is kept stable.
        conflict = ("account_id", "feature", "day")
        frame["external_id"] = (
            table.frame["account_id"]
            + ":"
            + table.frame["feature"]
            + ":"
            + table.frame["day"].dt.strftime("%Y-%m-%d")
        )
    if entity.name == "accounts":
        frame["name"] = _default_from(frame, "name", frame["external_id"])
    elif entity.name == "contacts":
        frame["name"] = _default_from(frame, "name", frame["email"])
    return DbFrame(frame, provided, conflict)


def _default_from(frame: pd.DataFrame, column: str, fallback: pd.Series) -> pd.Series:
    if column not in frame:
        return fallback
    return frame[column].where(~is_missing(frame[column]), fallback)


def with_defaults(frame: pd.DataFrame, model: type[SQLModel]) -> pd.DataFrame:
    """Fill what a NOT NULL column needs: missing cells and absent columns get the default.

    Columns that allow NULL and are absent stay absent (the insert leaves them NULL and an
    update leaves them alone).
    """
    table = model.__table__  # type: ignore[attr-defined]
    out = frame.copy()
    for column in table.columns:
        if column.primary_key or column.nullable:
            continue
        default = _model_default(model, column.name)
        if default is None:
            continue
        value: Any = default.value if hasattr(default, "value") else default
        if column.name not in out:
            out[column.name] = value
            continue
        missing = is_missing(out[column.name])
        if missing.any():
            out[column.name] = out[column.name].where(~missing, value)
            if isinstance(value, bool):
                out[column.name] = out[column.name].astype(bool)
    return out


def _model_default(model: type[SQLModel], name: str) -> object | None:
    info = model.model_fields.get(name)
    if info is None or info.default is PydanticUndefined:
        return None
    return info.default
