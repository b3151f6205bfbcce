"""The scored book: one snapshot per as-of date, and each account's health and hypotheses.

A scoring job (:mod:`keel.tools.health.snapshot`) fits or loads the health model, scores
every active account as of a date and writes the result here in one transaction; the
priority list, ``keel health`` and the analyst's tools read these rows and never score
or fit themselves.

A snapshot is keyed by (as-of date, horizon, model kind): one row per key, ever. It is
``fresh`` while the data it was scored on is unchanged; an import or a re-seed marks it
``stale`` (:func:`mark_stale`) and the next read has the job rescore it in place (rows
upserted by account, accounts no longer scored removed). A cheap fingerprint of what an
import does not go through (the risk-language scan, the account table) is kept beside it
and compared on read, so a new scan of the text index also leads to a rescore.

Two processes scoring the same key at once both compute, then write under the database's
write lock (SQLite: the first write statement of the transaction; PostgreSQL: the row
lock of ``SELECT ... FOR UPDATE``): the second finds the first's fresh snapshot with the
same fingerprint and keeps it, so one snapshot remains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint, delete, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, col, select

from keel.errors import KeelError

FRESH: Final = "fresh"
STALE: Final = "stale"
SnapshotStatus = Literal["fresh", "stale"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BookSnapshot(SQLModel, table=True):
    """The book scored as of one date with one model; its accounts are in the tables below."""

    __tablename__ = "book_snapshot"
    __table_args__ = (
        UniqueConstraint("as_of", "horizon_days", "model_kind", name="uq_book_snapshot_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date
    horizon_days: int
    model_kind: str = Field(max_length=64)  # multi_signal | usage_only
    # The stored health model it was scored with (``health_model.id``) and its feature schema.
    model_id: int | None = None
    model_version: str = Field(default="", max_length=64)
    status: str = Field(default=FRESH, max_length=16)
    # What the scores rest on beyond the imported rows (see ``data_fingerprint``).
    fingerprint: str = Field(default="", max_length=256)
    created_at: dt.datetime = Field(default_factory=_utcnow)
    scored_at: dt.datetime = Field(default_factory=_utcnow)
    total_accounts: int = 0
    scored: int = 0
    text_evidence: bool = False
    flag_rule: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # ``keel.tools.health.explain.ModelInfo`` as JSON: age, source and calibration.
    model_info_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class AccountHealthRow(SQLModel, table=True):
    """One account's score in a snapshot, its place in the priority list and its reasons."""

    __tablename__ = "account_health"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "account_id", name="uq_account_health_snapshot_account"),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("book_snapshot.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    # No foreign key to ``account``: a re-seed replaces accounts while old snapshots stay.
    account_id: int
    external_id: str = Field(max_length=128)
    name: str = Field(default="", max_length=256)
    owner_csm: str = Field(default="", max_length=256)
    segment: str = Field(default="", max_length=64)
    probability: float
    logit: float
    # Health percentile among the scored (100 = healthiest) and its band.
    percentile: float
    band: str = Field(max_length=16)
    # Place in the whole book's priority order (1 = first), and in its expansion order.
    risk_rank: int
    expansion_rank: int | None = None
    arr: float
    arr_at_risk: float
    urgency: float
    priority_score: float
    days_to_renewal: int | None = None
    renewal_date: dt.date | None = None
    flagged: bool = False
    flag: str = Field(default="", max_length=128)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    expansion_score: float = 0.0
    expansion_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Why the account has an open risk ("" when none: ``keel.tools.health.ranking.open_risks``):
    # no expansion pick in the list, no growth play from the planner.
    open_risk: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="", server_default="")
    )
    # The first renewal on or after the date (the analyst's healthy-renewal moment).
    next_renewal_external_id: str | None = Field(default=None, max_length=128)
    next_renewal_date: dt.date | None = None
    # ``keel.tools.health.explain.Explanation`` as JSON: each factor's contribution.
    explanation_json: str = Field(sa_column=Column(Text, nullable=False))


class AccountHypothesesRow(SQLModel, table=True):
    """One account's risk and expansion hypotheses in a snapshot, with their evidence ids."""

    __tablename__ = "account_hypotheses"
    __table_args__ = (
        UniqueConstraint(
            "snapshot_id", "account_id", name="uq_account_hypotheses_snapshot_account"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("book_snapshot.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    account_id: int
    # ``keel.tools.hypotheses.AccountHypotheses`` as JSON.
    hypotheses_json: str = Field(sa_column=Column(Text, nullable=False))
    # Every churned account it resembles (``keel.tools.cohort.SimilarAccount`` list as JSON),
    # also below the similarity a pattern hypothesis needs.
    similar_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))


# ----------------------------------------------------------------------------- marking


def mark_stale(conn: Connection, *, since: dt.date | None = None) -> int:
    """Mark fresh snapshots stale (those dated ``since`` or later; default all).

    Called in the writer's own transaction (an import, a seed), so the mark commits or
    rolls back with the data. Returns how many were marked.
    """
    statement = update(BookSnapshot).where(col(BookSnapshot.status) == FRESH)
    if since is not None:
        statement = statement.where(col(BookSnapshot.as_of) >= since)
    result = conn.execute(statement.values(status=STALE))
    return int(result.rowcount or 0)


def data_fingerprint(engine: Engine) -> str:
    """What the scores rest on that an import does not mark: the risk-language scan (a
    new scan of the text index changes the text features) and the account table."""
    from keel.memory.intel_tables import RiskLanguageScan
    from keel.memory.models import Account

    with Session(engine) as session:
        scan = session.exec(
            select(RiskLanguageScan.id, RiskLanguageScan.prototype_version)
            .order_by(col(RiskLanguageScan.id).desc())
            .limit(1)
        ).first()
        n, top = session.exec(select(func.count(), func.max(Account.id))).one()
    scan_part = f"{scan[0]}:{scan[1]}" if scan else "none"
    return f"scan={scan_part};accounts={int(n)}/{int(top or 0)}"


# ----------------------------------------------------------------------------- reading


def find_snapshot(
    engine: Engine, *, as_of: dt.date, horizon_days: int, model_kind: str
) -> BookSnapshot | None:
    """The snapshot for this key, fresh or stale, if one was ever written."""
    with Session(engine) as session:
        return session.exec(
            select(BookSnapshot)
            .where(BookSnapshot.as_of == as_of)
            .where(BookSnapshot.horizon_days == horizon_days)
            .where(BookSnapshot.model_kind == model_kind)
        ).first()


def get_snapshot(engine: Engine, snapshot_id: int) -> BookSnapshot | None:
    """The snapshot with this id, fresh or stale."""
    with Session(engine) as session:
        return session.get(BookSnapshot, snapshot_id)


def is_current(snapshot: BookSnapshot | None, fingerprint: str) -> bool:
    return snapshot is not None and snapshot.status == FRESH and snapshot.fingerprint == fingerprint


def health_rows(
    engine: Engine, snapshot_id: int, account_ids: Sequence[int] | None = None
) -> list[AccountHealthRow]:
    """The snapshot's health rows (of ``account_ids``), in priority order."""
    query = select(AccountHealthRow).where(AccountHealthRow.snapshot_id == snapshot_id)
    if account_ids is not None:
        query = query.where(col(AccountHealthRow.account_id).in_(list(account_ids)))
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(AccountHealthRow.risk_rank))).all())


def health_row(engine: Engine, snapshot_id: int, account_id: int) -> AccountHealthRow | None:
    found = health_rows(engine, snapshot_id, [account_id])
    return found[0] if found else None


def hypotheses_row(
    engine: Engine, snapshot_id: int, account_id: int
) -> AccountHypothesesRow | None:
    with Session(engine) as session:
        return session.exec(
            select(AccountHypothesesRow)
            .where(AccountHypothesesRow.snapshot_id == snapshot_id)
            .where(AccountHypothesesRow.account_id == account_id)
        ).first()


# ----------------------------------------------------------------------------- writing


def _insert(conn: Connection, table: Any) -> sqlite.Insert | postgresql.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise KeelError(f"the scored book supports SQLite and PostgreSQL, not {conn.dialect.name}")


def _upsert(
    conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> None:
    if not rows:
        return
    statement = _insert(conn, table)
    columns = [c for c in rows[0] if c not in key]
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in columns}
    )
    conn.execute(statement, list(rows))


def write_snapshot(
    engine: Engine,
    header: Mapping[str, Any],
    health: Iterable[Mapping[str, Any]],
    hypotheses: Iterable[Mapping[str, Any]],
) -> tuple[int, bool]:
    """Write a scored book in one transaction; returns (snapshot id, whether it was written).

    ``header`` holds the :class:`BookSnapshot` columns (with ``as_of``, ``horizon_days``,
    ``model_kind`` and ``fingerprint``); ``health`` and ``hypotheses`` hold the rows per
    account, without ``snapshot_id``. When another process committed a fresh snapshot for
    the same key on the same fingerprint meanwhile, nothing is written and its id is
    returned.
    """
    table = BookSnapshot.__table__  # type: ignore[attr-defined]
    key = {k: header[k] for k in ("as_of", "horizon_days", "model_kind")}
    now = _utcnow()
    with engine.begin() as conn:
        # Claim the key first: this write takes SQLite's write lock (waiting for another
        # writer's commit) and, on PostgreSQL, waits on a concurrent insert of the same key.
        claim = _insert(conn, table).values(
            **key, status=STALE, fingerprint="", created_at=now, scored_at=now, model_info_json="{}"
        )
        conn.execute(claim.on_conflict_do_nothing(index_elements=list(key)))
        current = sa_select(table).where(*(table.c[k] == v for k, v in key.items()))
        if conn.dialect.name == "postgresql":
            current = current.with_for_update()
        row = conn.execute(current).mappings().one()
        snapshot_id = int(row["id"])
        if row["status"] == FRESH and row["fingerprint"] == header["fingerprint"]:
            return snapshot_id, False
        values = {k: v for k, v in header.items() if k not in key}
        conn.execute(
            update(table)
            .where(table.c.id == snapshot_id)
            .values(**values, status=FRESH, scored_at=now)
        )
        health_list = [{**r, "snapshot_id": snapshot_id} for r in health]
        hyp_list = [{**r, "snapshot_id": snapshot_id} for r in hypotheses]
        targets: tuple[tuple[Any, list[dict[str, Any]]], ...] = (
            (AccountHealthRow.__table__, health_list),  # type: ignore[attr-defined]
            (AccountHypothesesRow.__table__, hyp_list),  # type: ignore[attr-defined]
        )
        for target, rows in targets:
            _upsert(conn, target, rows, ("snapshot_id", "account_id"))
            # Accounts scored before but not now (churned since a re-import) go.
            keep = [r["account_id"] for r in rows]
            conn.execute(
                delete(target)
                .where(target.c.snapshot_id == snapshot_id)
                .where(target.c.account_id.not_in(keep))
            )
    return snapshot_id, True
