"""Write validated tables in order, inside the caller's transaction, and count what changed.

Order: accounts (with billing-derived contract fields), contacts, events (then the usage
roll-up), usage, features, tickets, notes, invoices, NPS, renewals, then derived feature
adoption and renewals. Each step records rows inserted (the table's row count difference)
and updated (rows sent minus inserted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection

from keel.memory.importers import analytics
from keel.memory.importers.prepare import db_frame, is_missing, row_groups, with_defaults
from keel.memory.importers.report import ImportReport, Written
from keel.memory.importers.upsert import (
    count_rows,
    external_ids,
    update_by_external_id,
    upsert_frame,
)
from keel.memory.importers.validate import TypedTable
from keel.memory.models import (
    Account,
    Contact,
    FeatureAdoption,
    LifecycleStage,
    Renewal,
    UsageDaily,
)
from keel.memory.snapshots import mark_stale

# (stage, done, total): e.g. ("write events", 40000, 2514998).
ProgressFn = Callable[[str, int, int], None]

# Account columns that billing periods can fill (see analytics._account_fields).
DERIVED_ACCOUNT_COLUMNS = (
    "contract_start",
    "arr",
    "plan",
    "seats_purchased",
    "renewal_date",
    "created_on",
    "lifecycle_stage",
)
# Entities written in one generic step, in this order, after accounts and contacts.
_PLAIN_CHILDREN = ("tickets", "notes", "invoices", "nps", "renewals")


@contextmanager
def _counted(
    conn: Connection, table: Table, what: str, report: ImportReport
) -> Iterator[list[int]]:
    """Record rows inserted (count difference) and updated (sent minus inserted)."""
    before = count_rows(conn, table)
    sent = [0, 0]  # rows sent, rows deleted
    yield sent
    inserted = count_rows(conn, table) - before + sent[1]
    if sent[0] or inserted:
        report.written.append(Written(what, inserted, max(sent[0] - inserted, 0)))


def write_all(
    conn: Connection,
    tables: dict[str, TypedTable],
    derived: analytics.SubscriptionDerivation | None,
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    account_table: Table = Account.__table__  # type: ignore[attr-defined]
    _write_accounts(conn, tables.get("accounts"), derived, report, notify)
    account_ids = external_ids(conn, account_table)
    contact_ids: dict[str, int] = {}
    if "contacts" in tables:
        _write_plain(conn, tables["contacts"], account_ids, contact_ids, report, notify)
    contact_ids = _contact_ids(conn)
    if "events" in tables:
        _write_events(conn, tables["events"], account_ids, report, notify)
    for name in ("usage", "features", *_PLAIN_CHILDREN):
        if name in tables:
            if name == "features":
                _drop_derived_features_colliding(conn, tables[name], account_ids)
            _write_plain(conn, tables[name], account_ids, contact_ids, report, notify)
    if "events" in tables:
        _write_first_use(conn, tables["events"], account_ids, report, notify)
    if derived is not None:
        _write_derived_renewals(conn, derived.renewals, account_ids, report, notify)
    # Scores rest on what was just written: the next read rescores (same transaction).
    mark_stale(conn)


def _write_plain(
    conn: Connection,
    table: TypedTable,
    account_ids: dict[str, int],
    contact_ids: dict[str, int],
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    model = table.entity.table
    assert model is not None
    target: Table = model.__table__  # type: ignore[attr-defined]
    prepared = db_frame(table, account_ids=account_ids, contact_ids=contact_ids)
    frame = with_defaults(prepared.frame, model)
    stage = f"write {table.entity.name}"
    with _counted(conn, target, table.entity.name, report) as sent:
        # Rows are sent in groups by the columns they give: an empty cell never overwrites.
        for columns, positions in row_groups(prepared.given, prepared.update_columns):
            part = frame if positions is None else frame.iloc[positions]
            sent[0] += upsert_frame(
                conn,
                target,
                part,
                conflict=prepared.conflict,
                update_columns=columns,
                on_progress=_progress(notify, stage, sent[0], len(frame)),
            )


def _progress(notify: ProgressFn, stage: str, done: int, total: int) -> Callable[[int], None]:
    """Progress of one group of rows, counted on from the rows sent before it."""
    return lambda n: notify(stage, done + n, total)


def _write_accounts(
    conn: Connection,
    table: TypedTable | None,
    derived: analytics.SubscriptionDerivation | None,
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    """Accounts from the file, completed by billing-derived fields the file leaves empty.

    Rows are written in groups by which derived fields they have, so a field the billing
    data says nothing about is never overwritten with an empty value.
    """
    target: Table = Account.__table__  # type: ignore[attr-defined]
    derived_accounts = (
        derived.accounts.set_index("external_id") if derived is not None else pd.DataFrame()
    )
    if table is not None:
        prepared = db_frame(table, account_ids={}, contact_ids={})
        frame, given = prepared.frame, prepared.given.copy()
        for column in DERIVED_ACCOUNT_COLUMNS:
            if column not in derived_accounts:
                continue
            values = frame["external_id"].map(derived_accounts[column])
            has = ~is_missing(values)
            if column in frame:
                # Derived values fill what the file does not give (a clear token gives).
                fill = has & ~given[column]
                frame[column] = frame[column].where(~fill, values)
                given[column] = given[column] | fill
            else:
                frame[column] = values
                given[column] = has
        candidates = [c for c in given.columns if c != "external_id"]
        with _counted(conn, target, "accounts", report) as sent:
            for columns, positions in row_groups(given, candidates):
                group = frame if positions is None else frame.iloc[positions]
                # Every column goes into an insert (new rows need their defaults); only
                # the given ones into the update. "name" is always there (db_frame).
                rows = with_defaults(group, Account)
                sent[0] += upsert_frame(
                    conn, target, rows, conflict=("external_id",), update_columns=columns
                )
            notify("write accounts", len(frame), len(frame))
    if derived is None:
        return
    in_file = set(table.frame["external_id"]) if table is not None else set()
    rest = derived.accounts[~derived.accounts["external_id"].isin(in_file)]
    if not rest.empty:
        # Accounts already in the database with new billing data: update derived fields.
        updated = 0
        for columns, group in _groups_by_present(rest, list(DERIVED_ACCOUNT_COLUMNS)):
            if columns:
                updated += update_by_external_id(conn, target, group[["external_id", *columns]])
        report.written.append(Written("accounts (contract from subscriptions)", 0, updated))
    stage_given: set[str] = set()
    if table is not None and "lifecycle_stage" in table.frame:
        has_stage = table.frame["lifecycle_stage"] != ""
        stage_given = set(table.frame.loc[has_stage, "external_id"])
    live = derived.accounts.loc[derived.accounts["lifecycle_stage"].isna(), "external_id"]
    _reopen_won_back(conn, [a for a in live if a not in stage_given])


def _reopen_won_back(conn: Connection, live_accounts: list[str]) -> None:
    """An account marked churned that is billed again (a win-back) is back in adoption."""
    target: Table = Account.__table__  # type: ignore[attr-defined]
    for start in range(0, len(live_accounts), analytics.ID_BATCH):
        conn.execute(
            update(target)
            .where(
                target.c.external_id.in_(live_accounts[start : start + analytics.ID_BATCH]),
                target.c.lifecycle_stage == LifecycleStage.CHURNED,
            )
            .values(lifecycle_stage=LifecycleStage.ADOPTION)
        )


def _groups_by_present(
    frame: pd.DataFrame, columns: list[str]
) -> Iterator[tuple[list[str], pd.DataFrame]]:
    """Split rows by which of ``columns`` they have a value in."""
    present = pd.DataFrame({c: ~is_missing(frame[c]) for c in columns}, index=frame.index)
    for chosen, positions in row_groups(present, columns):
        yield chosen, frame if positions is None else frame.iloc[positions]


def _write_events(
    conn: Connection,
    table: TypedTable,
    account_ids: dict[str, int],
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    """Store the daily event counts, then roll them up into daily usage."""
    _write_plain(conn, table, account_ids, {}, report, notify)
    ids = sorted({account_ids[a] for a in table.frame["account_id"].unique()})
    first, last = table.frame["day"].min().date(), table.frame["day"].max().date()
    usage: Table = UsageDaily.__table__  # type: ignore[attr-defined]
    notify("roll up usage", 0, 1)
    with _counted(conn, usage, "usage (rolled up from events)", report) as sent:
        sent[0] = analytics.rollup_usage(conn, ids, first, last)
    notify("roll up usage", 1, 1)


def _write_first_use(
    conn: Connection,
    table: TypedTable,
    account_ids: dict[str, int],
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    """One FeatureAdoption row per account and event name: its first day of use."""
    target: Table = FeatureAdoption.__table__  # type: ignore[attr-defined]
    ids = sorted({account_ids[a] for a in table.frame["account_id"].unique()})
    first = analytics.first_use_by_event(conn, ids)
    if first.empty:
        return
    external = {pk: ext for ext, pk in account_ids.items()}
    first["external_id"] = [
        analytics.derived_feature_id(external[int(a)], str(f))
        for a, f in zip(first["account_id"], first["feature"], strict=True)
    ]
    # A row the customer gave for the same account, feature and day wins over ours.
    explicit = pd.DataFrame(
        conn.execute(
            select(target.c.account_id, target.c.feature, target.c.day).where(
                ~target.c.external_id.startswith(analytics.DERIVED_FEATURE_PREFIX)
            )
        ).all(),
        columns=["account_id", "feature", "day"],
    )
    if not explicit.empty:
        explicit["day"] = pd.to_datetime(explicit["day"])
        clash = (
            first.merge(explicit, on=["account_id", "feature", "day"], how="left", indicator=True)[
                "_merge"
            ]
            .eq("both")
            .to_numpy()
        )
        first = first.loc[~clash]
    with _counted(conn, target, "features (first use of each event)", report) as sent:
        sent[0] = upsert_frame(
            conn,
            target,
            first[["external_id", "account_id", "feature", "day", "users"]],
            conflict=("external_id",),
            update_columns=["day", "users"],
        )
    notify("derive feature adoption", 1, 1)


def _drop_derived_features_colliding(
    conn: Connection, table: TypedTable, account_ids: dict[str, int]
) -> None:
    """Given feature rows replace derived first-use rows for the same account/feature/day."""
    target: Table = FeatureAdoption.__table__  # type: ignore[attr-defined]
    frame = table.frame
    keys = {
        (account_ids[a], str(f), d.date())
        for a, f, d in zip(frame["account_id"], frame["feature"], frame["day"], strict=True)
    }
    derived_rows = conn.execute(
        select(target.c.id, target.c.account_id, target.c.feature, target.c.day).where(
            target.c.external_id.startswith(analytics.DERIVED_FEATURE_PREFIX)
        )
    ).all()
    doomed = [row.id for row in derived_rows if (row.account_id, row.feature, row.day) in keys]
    for start in range(0, len(doomed), analytics.ID_BATCH):
        conn.execute(
            delete(target).where(target.c.id.in_(doomed[start : start + analytics.ID_BATCH]))
        )


def _write_derived_renewals(
    conn: Connection,
    renewals: pd.DataFrame,
    account_ids: dict[str, int],
    report: ImportReport,
    notify: ProgressFn,
) -> None:
    target: Table = Renewal.__table__  # type: ignore[attr-defined]
    frame = renewals.assign(account_id=renewals["account_ext"].map(account_ids)).drop(
        columns=["account_ext"]
    )
    stage = "write renewals (from subscriptions)"
    with _counted(conn, target, "renewals (from subscriptions)", report) as sent:
        sent[0] = upsert_frame(
            conn,
            target,
            frame,
            conflict=("external_id",),
            update_columns=["renewal_date", "outcome", "decided_on", "arr_before", "arr_after"],
            on_progress=lambda n: notify(stage, n, len(frame)),
        )


def _contact_ids(conn: Connection) -> dict[str, int]:
    table = Contact.__table__  # type: ignore[attr-defined]
    rows = conn.execute(select(table.c.id, table.c.external_id, table.c.email)).all()
    ids = {str(email).lower(): int(pk) for pk, _, email in rows}
    ids.update({str(ext): int(pk) for pk, ext, _ in rows})
    return ids
