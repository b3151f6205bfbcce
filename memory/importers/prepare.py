"""Turn validated tables into frames of database columns: references resolved, defaults filled.

Rules: a column the file does not have is never overwritten on re-import (it gets the
model's default only when the row is new). An empty (or ``NaN``, ``n/a`` ...) cell in a
column the file has means "not given": a new row gets the default, a stored row keeps its
value. Only the clear token removes a stored value (the default, or none where allowed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic_core import PydanticUndefined
from sqlmodel import SQLModel

from keel.memory.importers import derived
from keel.memory.importers.columns import Kind
from keel.memory.importers.validate import TypedTable
from keel.memory.models import TicketCategory


@dataclass
class DbFrame:
    """Rows ready for ``upsert_frame``.

    Attributes:
        frame: Database column names and values; missing cells are ``None``/``NaN``/``NaT``.
        provided: Database columns the file has.
        conflict: The unique columns a re-import matches on.
        given: Per provided column, the rows that give it: a value or the clear token.
            Only those cells overwrite a stored row.
    """

    frame: pd.DataFrame
    provided: tuple[str, ...]
    conflict: tuple[str, ...]
    given: pd.DataFrame

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
    given: dict[str, pd.Series] = {}
    for name in table.provided:
        col = entity.column(name)
        if not col.stored:
            continue
        values = table.frame[name]
        if col.kind == Kind.ACCOUNT:
            values = values.map(account_ids).astype("Int64")
        elif col.kind == Kind.CONTACT:
            by_id = values.map(contact_ids)
            by_email = values.str.lower().map(contact_ids)
            values = by_id.fillna(by_email).astype("Int64")
        columns[col.db_column] = values
        cleared = table.cleared.get(name)
        has = ~is_missing(values)
        given[col.db_column] = has if cleared is None else has | cleared
    frame = pd.DataFrame(columns, index=table.frame.index)
    provided = tuple(frame.columns)
    conflict: tuple[str, ...] = ("external_id",)
    if entity.name == "usage":
        conflict = ("account_id", "day")
    elif entity.name == "events":
        conflict = ("account_id", "day", "event_name")
    elif entity.name == "features":
        generated = feature_ids(table.frame)
        if "external_id" not in provided:
            # No ids in the file: match on the natural key; the generated id is kept stable.
            conflict = ("account_id", "feature", "day")
            frame["external_id"] = generated
        else:
            # A row without an id gets the generated one, never a shared empty id.
            frame["external_id"] = frame["external_id"].where(
                ~is_missing(frame["external_id"]), generated
            )
    elif entity.name == "invoices":
        # New rows only: the default is not "given", so a stored issue date is kept.
        frame["issued_on"] = derived.default_issue_dates(table.frame)
        # Likewise the status: a payment date means paid, no payment column means not late.
        frame["status"] = derived.default_invoice_status(table.frame)
    elif entity.name == "tickets":
        # New rows only: a ticket the export gives no category is "uncategorised", never a
        # guessed one (the model's default is for code that builds tickets itself).
        frame["category"] = (
            frame["category"].where(
                ~is_missing(frame["category"]), TicketCategory.UNCATEGORISED.value
            )
            if "category" in frame
            else TicketCategory.UNCATEGORISED.value
        )
    elif entity.name == "nps":
        generated = derived.nps_ids(table.frame)
        frame["external_id"] = (
            frame["external_id"].where(~is_missing(frame["external_id"]), generated)
            if "external_id" in provided
            else generated
        )
    if entity.name == "accounts":
        frame["name"] = _default_from(frame, "name", frame["external_id"])
    elif entity.name == "contacts":
        frame["name"] = _default_from(frame, "name", frame["email"])
    return DbFrame(frame, provided, conflict, pd.DataFrame(given, index=frame.index))


# The external id column's length (FeatureAdoption.external_id); longer ids are hashed.
_ID_LENGTH = 128


def feature_ids(frame: pd.DataFrame) -> pd.Series:
    """The id a feature row without one gets: ``account:feature:day`` (hashed if too long)."""
    ids = frame["account_id"] + ":" + frame["feature"] + ":" + frame["day"].dt.strftime("%Y-%m-%d")
    long = ids.str.len() > _ID_LENGTH
    if long.any():
        ids = ids.where(~long, ids[long].map(_hashed_id))
    return ids


def _hashed_id(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def row_groups(
    given: pd.DataFrame, columns: Sequence[str]
) -> Iterator[tuple[list[str], np.ndarray | None]]:
    """Split rows by which of ``columns`` they give, so each group updates only those.

    Yields:
        ``(columns given, row positions)``; the positions are ``None`` when every row
        gives every column (the common case: no copy is made).
    """
    if not columns:
        yield [], None
        return
    flags = given[list(columns)].to_numpy(dtype=bool)
    if flags.all():
        yield list(columns), None
        return
    # One integer per row, a bit per column: grouping stays vectorised for millions of rows.
    weights = np.left_shift(np.int64(1), np.arange(len(columns), dtype=np.int64))
    codes = flags.astype(np.int64) @ weights
    signatures, inverse = np.unique(codes, return_inverse=True)
    for index, signature in enumerate(signatures):
        chosen = [c for bit, c in enumerate(columns) if (int(signature) >> bit) & 1]
        yield chosen, np.flatnonzero(inverse == index)


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
