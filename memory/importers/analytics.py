"""Derive Keel's entities from product-analytics and billing exports.

Two shapes are understood (the mapping is documented in docs/import-format.md):

* **events** — a long table of daily counts per account and event name, with distinct
  users. Stored as ``ProductEventDaily`` and rolled up here into ``UsageDaily`` (SQL over
  the stored events, so a partial re-import still sums every event of a day) and into
  ``FeatureAdoption`` (the first day each event name was used by each account).
* **subscriptions** — billing periods (account, product, start, end, mrr, quantity). From
  them: the account's contract fields and one ``Renewal`` per period boundary with its
  historical outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Integer, and_, case, func, literal, select
from sqlalchemy.engine import Connection

from keel.memory.importers.upsert import dialect_insert
from keel.memory.models import (
    FeatureAdoption,
    ProductEventDaily,
    Renewal,
    RenewalOutcome,
    UsageDaily,
)

# A period that starts within this many days after another ends continues it (exports
# with inclusive end dates leave a one-day gap between consecutive periods).
GRACE_DAYS = 1
MONTHS_PER_YEAR = 12
# Events whose count is a number of sessions, when a product emits one (compared lower-case).
SESSION_EVENT_NAMES: tuple[str, ...] = (
    "session",
    "sessions",
    "session_start",
    "session_started",
    "login",
    "logins",
    "sign_in",
    "signin",
    "app_open",
)
DERIVED_FEATURE_PREFIX = "evt:"
DERIVED_RENEWAL_PREFIX = "sub:"
# Accounts per SQL ``IN`` list (well under SQLite's bound-parameter limit).
ID_BATCH = 5_000
_MRR_TOLERANCE = 0.005


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    mrr: float
    product: str
    quantity: int | None


@dataclass(frozen=True)
class SubscriptionDerivation:
    """What billing periods say about accounts and renewals.

    Attributes:
        accounts: ``external_id`` plus derived Account columns; a cell is missing
            (``None``/``NaT``/``NaN``) where the periods say nothing about it.
        renewals: Renewal rows with ``account_ext`` (the account's external id).
    """

    accounts: pd.DataFrame
    renewals: pd.DataFrame


def last_data_day(frames: Iterable[tuple[pd.DataFrame, str]]) -> dt.date | None:
    """The latest day the import has data for: the max of the given date columns."""
    days = [
        frame[column].max()
        for frame, column in frames
        if column in frame and frame[column].notna().any()
    ]
    return max(days).date() if days else None


def derive_from_subscriptions(subs: pd.DataFrame, last_day: dt.date) -> SubscriptionDerivation:
    """Contract fields and renewal history from billing periods.

    Args:
        subs: Validated rows: ``account_id`` (external id), ``start_date``, ``end_date``,
            ``mrr`` and optionally ``product`` and ``quantity``.
        last_day: The last day the data covers; a period ending on or before it with no
            continuation is a churn, one ending after it is a pending renewal.
    """
    by_account: dict[str, list[Period]] = {}
    products = subs["product"] if "product" in subs else pd.Series("", index=subs.index)
    quantities = subs["quantity"] if "quantity" in subs else pd.Series(pd.NA, index=subs.index)
    for account, start, end, mrr, product, quantity in zip(
        subs["account_id"],
        subs["start_date"],
        subs["end_date"],
        subs["mrr"],
        products,
        quantities,
        strict=True,
    ):
        by_account.setdefault(str(account), []).append(
            Period(
                start.date(),
                end.date(),
                float(mrr),
                str(product),
                None if pd.isna(quantity) else int(quantity),
            )
        )
    account_rows = []
    renewal_rows = []
    for account, periods in by_account.items():
        periods.sort(key=lambda p: (p.start, p.end))
        renewals = _renewals(account, periods, last_day)
        renewal_rows += renewals
        account_rows.append(_account_fields(account, periods, renewals, last_day))
    accounts = pd.DataFrame(account_rows, columns=_ACCOUNT_COLUMNS)
    for column in ("contract_start", "renewal_date", "created_on"):
        accounts[column] = pd.to_datetime(accounts[column])
    accounts["arr"] = accounts["arr"].astype("float64")
    accounts["seats_purchased"] = accounts["seats_purchased"].astype("Int64")
    renewals_frame = pd.DataFrame(renewal_rows, columns=_RENEWAL_COLUMNS)
    for column in ("renewal_date", "decided_on"):
        renewals_frame[column] = pd.to_datetime(renewals_frame[column])
    for column in ("arr_before", "arr_after"):
        renewals_frame[column] = renewals_frame[column].astype("float64")
    return SubscriptionDerivation(accounts, renewals_frame)


_ACCOUNT_COLUMNS = [
    "external_id",
    "contract_start",
    "arr",
    "plan",
    "seats_purchased",
    "renewal_date",
    "created_on",
    "lifecycle_stage",
]
_RENEWAL_COLUMNS = [
    "external_id",
    "account_ext",
    "renewal_date",
    "outcome",
    "decided_on",
    "arr_before",
    "arr_after",
]


def _mrr_on(periods: Sequence[Period], day: dt.date) -> float:
    """Monthly revenue billed for ``day`` (periods are half-open: [start, end))."""
    return sum(p.mrr for p in periods if p.start <= day < p.end)


def _renewals(
    account: str, periods: Sequence[Period], last_day: dt.date
) -> list[dict[str, object]]:
    grace = dt.timedelta(days=GRACE_DAYS)
    rows: list[dict[str, object]] = []
    pending_seen = False
    for boundary in sorted({p.end for p in periods}):
        before = _mrr_on(periods, boundary - dt.timedelta(days=1))
        following = [p for p in periods if p.start <= boundary + grace and p.end > boundary]
        after = sum(p.mrr for p in following)
        if following:
            if after > before + _MRR_TOLERANCE:
                outcome = RenewalOutcome.EXPANDED
            elif after < before - _MRR_TOLERANCE:
                outcome = RenewalOutcome.CONTRACTED
            else:
                outcome = RenewalOutcome.RENEWED
            decided: dt.date | None = boundary
            arr_after: float | None = after * MONTHS_PER_YEAR
        elif boundary <= last_day:
            outcome, decided, arr_after = RenewalOutcome.CHURNED, boundary, 0.0
        else:
            if pending_seen:
                continue  # only the next renewal is pending; later ends are not yet known
            pending_seen = True
            outcome, decided, arr_after = RenewalOutcome.PENDING, None, None
        rows.append(
            {
                "external_id": derived_renewal_id(account, boundary),
                "account_ext": account,
                "renewal_date": boundary,
                "outcome": outcome.value,
                "decided_on": decided,
                "arr_before": before * MONTHS_PER_YEAR,
                "arr_after": arr_after,
            }
        )
    return rows


def _account_fields(
    account: str,
    periods: Sequence[Period],
    renewals: Sequence[dict[str, object]],
    last_day: dt.date,
) -> dict[str, object]:
    grace = dt.timedelta(days=GRACE_DAYS)
    # The current run of periods: it starts after the last gap longer than the grace.
    run_start = periods[0].start
    covered_until = periods[0].end
    for p in periods[1:]:
        if p.start > covered_until + grace:
            run_start = p.start
        covered_until = max(covered_until, p.end)
    # The latest day billed, up to the data's last day: "now" for a live account, the
    # last paid day for a churned one.
    current = min(last_day, covered_until - dt.timedelta(days=1))
    active = [p for p in periods if p.start <= current < p.end] or [periods[-1]]
    quantities = [p.quantity for p in active if p.quantity is not None]
    main = max(active, key=lambda p: p.mrr)
    next_renewal = min((p.end for p in periods if p.end > current), default=covered_until)
    churned = bool(renewals) and renewals[-1]["outcome"] == RenewalOutcome.CHURNED.value
    return {
        "external_id": account,
        "contract_start": run_start,
        "arr": sum(p.mrr for p in active) * MONTHS_PER_YEAR,
        "plan": main.product or None,
        "seats_purchased": sum(quantities) if quantities else None,
        "renewal_date": next_renewal,
        "created_on": periods[0].start,
        "lifecycle_stage": "churned" if churned else None,
    }


def _batches(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), ID_BATCH):
        yield list(ids[start : start + ID_BATCH])


def rollup_usage(
    conn: Connection, account_ids: Sequence[int], first_day: dt.date, last_day: dt.date
) -> int:
    """Recompute ``UsageDaily`` activity columns from stored events for these accounts/days.

    ``active_users`` = the largest distinct-user count of any event that day (0 when the
    export has none); ``key_feature_events`` = the sum of all event counts;
    ``sessions`` = the count of session events (``SESSION_EVENT_NAMES``) or, when higher
    or absent, ``active_users`` (every active user had at least one session). Other usage
    columns are left as they are (an explicit usage file is written after this).

    Returns:
        Rows inserted or updated.
    """
    events = ProductEventDaily.__table__  # type: ignore[attr-defined]
    usage = UsageDaily.__table__  # type: ignore[attr-defined]
    session_events = func.sum(
        case(
            (func.lower(events.c.event_name).in_(SESSION_EVENT_NAMES), events.c.n_events),
            else_=0,
        )
    )
    users = func.max(func.coalesce(events.c.n_users, 0))
    written = 0
    for batch in _batches(sorted(account_ids)):
        query = (
            select(
                events.c.account_id,
                events.c.day,
                users,
                case((session_events > users, session_events), else_=users),
                func.sum(events.c.n_events),
                literal(0, type_=Integer),
            )
            .where(
                events.c.day >= first_day,
                events.c.day <= last_day,
                events.c.account_id.in_(batch),
            )
            .group_by(events.c.account_id, events.c.day)
        )
        insert = dialect_insert(conn, usage).from_select(
            [
                "account_id",
                "day",
                "active_users",
                "sessions",
                "key_feature_events",
                "outcome_count",
            ],
            query,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["account_id", "day"],
            set_={
                c: insert.excluded[c] for c in ("active_users", "sessions", "key_feature_events")
            },
        )
        # rowcount of an INSERT is only kept on request (PostgreSQL otherwise reports 0).
        result = conn.execute(stmt.execution_options(preserve_rowcount=True))
        written += max(result.rowcount, 0)
    return written


def first_use_by_event(conn: Connection, account_ids: Sequence[int]) -> pd.DataFrame:
    """For each account and event name, the first day it was used and its users that day.

    Returns:
        Columns ``account_id``, ``feature`` (the event name), ``day``, ``users`` (distinct
        users that day, 1 when the export has none).
    """
    events = ProductEventDaily.__table__  # type: ignore[attr-defined]
    frames = []
    for batch in _batches(sorted(account_ids)):
        first = (
            select(
                events.c.account_id,
                events.c.event_name,
                func.min(events.c.day).label("first_day"),
            )
            .where(events.c.n_events > 0, events.c.account_id.in_(batch))
            .group_by(events.c.account_id, events.c.event_name)
            .subquery()
        )
        query = select(
            events.c.account_id, events.c.event_name, events.c.day, events.c.n_users
        ).join(
            first,
            and_(
                events.c.account_id == first.c.account_id,
                events.c.event_name == first.c.event_name,
                events.c.day == first.c.first_day,
            ),
        )
        frames.append(
            pd.DataFrame(
                conn.execute(query).all(), columns=["account_id", "feature", "day", "users"]
            )
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["account_id", "feature", "day", "users"])
    frame["day"] = pd.to_datetime(frame["day"])
    frame["users"] = frame["users"].fillna(1).clip(lower=1).astype("Int64")
    return frame


def derived_feature_id(account_external_id: str, feature: str) -> str:
    """A stable external id for the derived first-use row (at most 128 characters)."""
    text = f"{DERIVED_FEATURE_PREFIX}{account_external_id}:{feature}"
    limit = FeatureAdoption.__table__.c.external_id.type.length  # type: ignore[attr-defined]
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(f"{account_external_id}\0{feature}".encode()).hexdigest()
    return f"{DERIVED_FEATURE_PREFIX}{digest}"


def derived_renewal_id(account_external_id: str, boundary: dt.date) -> str:
    """A stable external id for a renewal derived from billing (at most 128 characters).

    A long account id is hashed, as for features: PostgreSQL refuses a longer id where
    SQLite would keep it, and an import must mean the same on both.
    """
    text = f"{DERIVED_RENEWAL_PREFIX}{account_external_id}:{boundary.isoformat()}"
    limit = Renewal.__table__.c.external_id.type.length  # type: ignore[attr-defined]
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(f"{account_external_id}\0{boundary.isoformat()}".encode()).hexdigest()
    return f"{DERIVED_RENEWAL_PREFIX}{digest}"
