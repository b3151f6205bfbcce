"""Check an import against what is already stored: feature rows whose ids clash.

A feature adoption is unique both by its external id and by (account, feature, day). A
file row whose key is stored under another id (or whose generated id is taken by another
key) would make the database refuse the whole import with a constraint name and no row;
this check names the file, row and field instead, before anything is written.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from keel.errors import Problem
from keel.memory.importers import analytics
from keel.memory.importers.prepare import feature_ids, is_missing
from keel.memory.importers.validate import ProblemLog, TypedTable
from keel.memory.models import Account, FeatureAdoption

_Key = tuple[str, str, dt.date]


def check_feature_ids(conn: Connection, table: TypedTable, log: ProblemLog) -> None:
    """Log rows of a features file that would clash with stored feature rows.

    Rows derived from events (``evt:`` ids) are left out: a file row for the same key
    replaces them (see ``write._drop_derived_features_colliding``).
    """
    frame = table.frame
    accounts = sorted(set(frame["account_id"]))
    by_key, by_id = _stored(conn, accounts)
    if not by_key:
        return
    generated = feature_ids(frame)
    has_ids = "external_id" in table.headers
    ids = (
        frame["external_id"].where(~is_missing(frame["external_id"]), generated)
        if has_ids
        else generated
    )
    field = table.headers.get("external_id", table.headers["feature"])
    for pos, (account, feature, day, row_id) in enumerate(
        zip(frame["account_id"], frame["feature"], frame["day"], ids, strict=True)
    ):
        if pd.isna(day) or not account or not feature:
            continue  # already reported by the validator
        key = (str(account), str(feature), day.date())
        what = f"feature '{feature}' of account '{account}' on {key[2].isoformat()}"
        stored_id = by_key.get(key)
        if has_ids and stored_id is not None and stored_id != row_id:
            reason = (
                f"{what} is already stored under the id '{stored_id}', not '{row_id}'; "
                "give the stored id (or leave the id column out)"
            )
        elif not has_ids and row_id in by_id and by_id[row_id] != key:
            other = by_id[row_id]
            reason = (
                f"the id '{row_id}' Keel gives {what} is already used by feature "
                f"'{other[1]}' of account '{other[0]}' on {other[2].isoformat()}; "
                "add an id column"
            )
        else:
            continue
        log.add(Problem(table.label, int(table.rows[pos]), field, reason))


def _stored(conn: Connection, accounts: list[str]) -> tuple[dict[_Key, str], dict[str, _Key]]:
    """Stored feature rows of ``accounts`` (not derived): by key, and key by id."""
    feature: Table = FeatureAdoption.__table__  # type: ignore[attr-defined]
    account: Table = Account.__table__  # type: ignore[attr-defined]
    by_key: dict[_Key, str] = {}
    for start in range(0, len(accounts), analytics.ID_BATCH):
        rows = conn.execute(
            select(account.c.external_id, feature.c.feature, feature.c.day, feature.c.external_id)
            .join_from(feature, account, feature.c.account_id == account.c.id)
            .where(
                account.c.external_id.in_(accounts[start : start + analytics.ID_BATCH]),
                ~feature.c.external_id.startswith(analytics.DERIVED_FEATURE_PREFIX),
            )
        ).all()
        for acc, name, day, ext in rows:
            by_key[(str(acc), str(name), pd.Timestamp(day).date())] = str(ext)
    return by_key, {ext: key for key, ext in by_key.items()}
