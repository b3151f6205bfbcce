"""Load a book's telemetry once, as day-numbered pandas frames, for vectorised signals.

Every dated column is read as a day number (days since 1900-01-01) computed by the
database, which is much cheaper than parsing millions of date strings in Python. Windowed
tables are read only as far back as the longest window that uses them needs, counted from
the earliest as-of date asked for; nothing dated after the latest as-of date is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from keel.tools.signals.constants import LOOKBACK_DAYS
from keel.tools.signals.windows import day_date, day_number

# julianday('1900-01-01') in SQLite.
_SQLITE_EPOCH_JULIAN = 2415020.5


def _day(column: str, dialect: str) -> str:
    """SQL for the day number of a date or datetime column."""
    if dialect == "sqlite":
        return f"CAST(julianday({column}) - {_SQLITE_EPOCH_JULIAN} AS INTEGER)"
    return f"(CAST({column} AS DATE) - DATE '1900-01-01')"


@dataclass(frozen=True)
class Book:
    """Telemetry frames of one book (or part of one), dated as day numbers.

    ``since_day``/``until_day`` record what was read: windowed tables hold rows dated in
    (roughly) [since_day, until_day]; accounts, contacts, renewals and feature adoption
    are complete up to ``until_day``.
    """

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    usage: pd.DataFrame
    events: pd.DataFrame
    features: pd.DataFrame
    tickets: pd.DataFrame
    notes: pd.DataFrame
    invoices: pd.DataFrame
    nps: pd.DataFrame
    renewals: pd.DataFrame
    risk_matches: pd.DataFrame
    since_day: int | None = None
    until_day: int | None = None
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_text_evidence(self) -> bool:
        """Whether risk-language matches were available (scanned) for this book."""
        return bool(self.cache.get("text_scanned", False))


def _queries(dialect: str) -> dict[str, str]:
    d = lambda c: _day(c, dialect)  # noqa: E731
    return {
        "accounts": (
            "SELECT id AS account_id, external_id, name, segment, arr, pricing_model, "
            f"owner_csm, seats_purchased, outcome_ceiling_monthly, {d('created_on')} AS created, "
            f"{d('contract_start')} AS contract_start, {d('renewal_date')} AS renewal "
            "FROM account WHERE {acc}"
        ),
        "contacts": (
            "SELECT id AS contact_id, external_id, account_id, name, email, role, "
            f"{d('added_on')} AS added, {d('left_on')} AS left_day, left_company "
            "FROM contact WHERE {acc}"
        ),
        "usage": (
            f"SELECT account_id, {d('day')} AS day, active_users, sessions, key_feature_events, "
            "outcome_count, outcome_quality, seats_purchased, seats_used, active_teams "
            "FROM usage_daily WHERE day >= :since_usage AND day <= :until AND {acc}"
        ),
        "events": (
            f"SELECT account_id, {d('day')} AS day, event_name, n_events "
            "FROM product_event_daily WHERE day >= :since_events AND day <= :until AND {acc}"
        ),
        "features": (
            f"SELECT account_id, feature, {d('day')} AS day "
            "FROM feature_adoption WHERE day <= :until AND {acc}"
        ),
        "tickets": (
            "SELECT id AS ticket_id, external_id, account_id, requester_contact_id, "
            f"{d('opened_at')} AS opened, {d('closed_at')} AS closed, priority, category, "
            "csat, subject, body FROM ticket WHERE opened_at < :until_next "
            "AND (closed_at IS NULL OR closed_at >= :since_tickets) AND {acc}"
        ),
        "notes": (
            f"SELECT id AS note_id, external_id, account_id, {d('occurred_on')} AS day, "
            "attendees FROM call_note "
            "WHERE occurred_on >= :since_notes AND occurred_on <= :until AND {acc}"
        ),
        "invoices": (
            f"SELECT id AS invoice_id, external_id, account_id, {d('issued_on')} AS issued, "
            f"{d('due_on')} AS due, {d('paid_on')} AS paid, amount, status FROM invoice "
            "WHERE due_on >= :since_invoices AND issued_on <= :until AND {acc}"
        ),
        "nps": (
            f"SELECT id AS nps_id, external_id, account_id, {d('responded_on')} AS day, score "
            "FROM nps_response "
            "WHERE responded_on >= :since_nps AND responded_on <= :until AND {acc}"
        ),
        "renewals": (
            "SELECT id AS renewal_id, external_id, account_id, "
            f"{d('renewal_date')} AS renewal, outcome, {d('decided_on')} AS decided, "
            "arr_before, arr_after FROM renewal WHERE {acc}"
        ),
        "risk_matches": (
            f"SELECT account_id, {d('day')} AS day, label, source_kind, source_id, external_id, "
            "score, snippet FROM risk_language_match "
            "WHERE day >= :since_risk AND day <= :until AND prototype_version = :version AND {acc}"
        ),
    }


def _account_filter(account_ids: Sequence[int] | None, column: str) -> str:
    if account_ids is None:
        return "1 = 1"
    ids = sorted({int(a) for a in account_ids})
    if not ids:
        return "1 = 0"
    return f"{column} IN ({', '.join(str(i) for i in ids)})"


# Enum columns: SQLAlchemy stores enum *names* (``MID_MARKET``); signals use the values.
_ENUM_COLUMNS = ("segment", "pricing_model", "role", "priority", "category", "status", "outcome")


def _read(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    frame = pd.read_sql_query(text(sql), conn, params=params)
    for column in _ENUM_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(str).str.lower()
    return frame


def book_queries(
    engine: Engine,
    *,
    until: dt.date | None = None,
    since: dt.date | None = None,
    account_ids: Sequence[int] | None = None,
    prototype_version: str | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """The SQL (per table) and parameters :func:`load_book` runs; benchmarks reuse them."""
    dialect = engine.dialect.name
    until_day = day_number(until) if until else day_number(dt.date(9000, 1, 1))
    since_day = day_number(since) if since else 0
    params: dict[str, Any] = {
        "until": day_date(until_day),
        "until_next": day_date(until_day + 1),
        "version": prototype_version or "",
    }
    for table, lookback in LOOKBACK_DAYS.items():
        params[f"since_{table}"] = day_date(max(since_day - lookback, 0))
    queries: dict[str, str] = {}
    for name, sql in _queries(dialect).items():
        column = "id" if name == "accounts" else "account_id"
        sql = sql.replace("{acc}", _account_filter(account_ids, column))
        if name == "risk_matches" and prototype_version is None:
            sql = sql.replace("WHERE", "WHERE 1 = 0 AND", 1)
        queries[name] = sql
    return queries, params


def load_book(
    engine: Engine,
    *,
    until: dt.date | None = None,
    since: dt.date | None = None,
    account_ids: Sequence[int] | None = None,
    prototype_version: str | None = None,
) -> Book:
    """Read the rows that signals as of dates in ``[since, until]`` can use.

    Args:
        engine: the book's database.
        until: the latest as-of date that will be asked for (default: no upper bound).
        since: the earliest as-of date that will be asked for (default: all history).
        account_ids: restrict to these internal account ids.
        prototype_version: risk-language prototype version whose cached matches to read;
            ``None`` reads none (the risk-language features are then zero).
    """
    queries, params = book_queries(
        engine,
        until=until,
        since=since,
        account_ids=account_ids,
        prototype_version=prototype_version,
    )
    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for name, sql in queries.items():
            frames[name] = _read(conn, sql, params)
    until_day = day_number(until) if until else None
    since_day = day_number(since) if since else None
    book = Book(
        accounts=frames["accounts"],
        contacts=frames["contacts"],
        usage=frames["usage"],
        events=frames["events"],
        features=frames["features"],
        tickets=frames["tickets"],
        notes=frames["notes"],
        invoices=frames["invoices"],
        nps=frames["nps"],
        renewals=frames["renewals"],
        risk_matches=frames["risk_matches"],
        since_day=since_day,
        until_day=until_day,
    )
    book.cache["text_scanned"] = prototype_version is not None
    return book


def latest_data_date(engine: Engine) -> dt.date | None:
    """The latest date any telemetry row is dated (the default "today" of a book)."""
    parts = [
        "SELECT MAX(day) FROM usage_daily",
        "SELECT MAX(day) FROM product_event_daily",
        "SELECT MAX(occurred_on) FROM call_note",
        "SELECT MAX(responded_on) FROM nps_response",
        "SELECT MAX(issued_on) FROM invoice",
        "SELECT MAX(opened_at) FROM ticket",
    ]
    best: dt.date | None = None
    with engine.connect() as conn:
        for sql in parts:
            value = conn.execute(text(sql)).scalar()
            if value is None:
                continue
            day = pd.Timestamp(value).date()
            best = day if best is None or day > best else best
    return best
