"""Write a synthetic book into the telemetry database, and its ground truth apart.

Accounts are generated a chunk at a time and written with core ``executemany`` inserts
inside one transaction: a failure anywhere leaves the database as it was (all or nothing),
and memory stays bounded however big the book is.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from keel.errors import KeelError
from keel.memory.db import init_db
from keel.memory.models import ENTITY_TABLES
from keel.memory.snapshots import mark_stale
from keel.memory.synth.book import Book, check_params, iter_accounts
from keel.memory.synth.calendar import DEFAULT_END, DEFAULT_MONTHS
from keel.memory.truth import AccountTruth, write_truth

Row = dict[str, Any]
ProgressFn = Callable[[int, int], None]

ACCOUNTS_PER_CHUNK = 100
ROWS_PER_INSERT = 20_000


@dataclass(frozen=True)
class BookSummary:
    """What was written (no ground truth in here: it is safe to show anyone)."""

    n_accounts: int
    seed: int
    as_of: dt.date
    months: int
    seconds: float
    counts: dict[str, int]
    arr_total: float
    accounts_by_segment: dict[str, int]
    arr_by_segment: dict[str, float]
    lifecycle: dict[str, int]
    renewals_by_outcome: dict[str, int]
    truth_path: Path | None = None
    dialect: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _table(name: str) -> Table:
    return ENTITY_TABLES[name].__table__  # type: ignore[attr-defined]


def _reset(conn: Connection) -> None:
    for name in reversed(list(ENTITY_TABLES)):
        conn.execute(delete(_table(name)))


def _ids(conn: Connection, table: Table, external_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in range(0, len(external_ids), 5_000):
        part = external_ids[k : k + 5_000]
        stmt = select(table.c.external_id, table.c.id).where(table.c.external_id.in_(part))
        out.update({e: i for e, i in conn.execute(stmt).all()})
    return out


def _insert(conn: Connection, name: str, rows: list[Row]) -> None:
    table = _table(name)
    for k in range(0, len(rows), ROWS_PER_INSERT):
        conn.execute(insert(table), rows[k : k + ROWS_PER_INSERT])


def _resolve(rows: list[Row], key: str, target: str, ids: dict[str, int]) -> None:
    """Replace an external-id reference by the internal id, in place."""
    for r in rows:
        ext = r.pop(key)
        r[target] = None if ext is None else ids[ext]


def _write(conn: Connection, batch: Book) -> None:
    _insert(conn, "accounts", batch.accounts)
    acc = _ids(conn, _table("accounts"), [a["external_id"] for a in batch.accounts])
    _resolve(batch.contacts, "account_external_id", "account_id", acc)
    _insert(conn, "contacts", batch.contacts)
    con = _ids(conn, _table("contacts"), [c["external_id"] for c in batch.contacts])
    for name in ("usage", "events", "features", "tickets", "notes", "invoices", "nps", "renewals"):
        rows: list[Row] = getattr(batch, name)
        if not rows:
            continue
        _resolve(rows, "account_external_id", "account_id", acc)
        if name == "tickets":
            _resolve(rows, "requester_contact_external_id", "requester_contact_id", con)
        elif name == "nps":
            _resolve(rows, "contact_external_id", "contact_id", con)
        _insert(conn, name, rows)


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.segments: Counter[str] = Counter()
        self.arr: Counter[str] = Counter()
        self.lifecycle: Counter[str] = Counter()
        self.renewals: Counter[str] = Counter()

    def add(self, part: Book) -> None:
        self.counts.update(part.counts())
        for a in part.accounts:
            self.segments[a["segment"]] += 1
            self.arr[a["segment"]] += a["arr"]
            self.lifecycle[a["lifecycle_stage"]] += 1
        for r in part.renewals:
            self.renewals[r["outcome"]] += 1


def seed_book(
    engine: Engine,
    *,
    n_accounts: int = 300,
    seed: int = 7,
    end: dt.date = DEFAULT_END,
    months: int = DEFAULT_MONTHS,
    truth_dir: Path | None = None,
    reset: bool = True,
    progress: ProgressFn | None = None,
    accounts_per_chunk: int = ACCOUNTS_PER_CHUNK,
) -> BookSummary:
    """Generate a book and write it; the truth file is written only once the data is in.

    Args:
        engine: the telemetry database (SQLite or PostgreSQL); tables are created if missing.
        truth_dir: where ``book.json`` goes (``<data_dir>/truth``); None writes no truth.
        reset: delete every telemetry row first (the book replaces what was there).
        progress: called as ``progress(accounts_done, n_accounts)`` after each chunk.

    Raises:
        KeelError: bad parameters, or the database refused the rows (nothing was written).
    """
    check_params(n_accounts, months)
    init_db(engine)
    started = time.perf_counter()
    tally = _Tally()
    truth: list[AccountTruth] = []
    try:
        with engine.begin() as conn:
            if reset:
                _reset(conn)
            mark_stale(conn)  # the book changed: every scored snapshot is rescored on read
            batch = Book(as_of=end)
            for done, part in enumerate(iter_accounts(n_accounts, seed, end, months), start=1):
                tally.add(part)
                truth.extend(part.truth)
                batch.extend(part)
                if len(batch.accounts) >= accounts_per_chunk or done == n_accounts:
                    _write(conn, batch)
                    batch = Book(as_of=end)
                    if progress:
                        progress(done, n_accounts)
    except IntegrityError as exc:
        hint = (
            "other records still refer to the accounts being replaced"
            if reset
            else "the database already holds rows with these external ids; seed with reset"
        )
        raise KeelError(
            f"seeding {engine.url.render_as_string(hide_password=True)} failed and nothing was "
            f"written: {hint} ({exc.orig})"
        ) from exc
    truth_path = (
        write_truth(
            truth_dir,
            truth,
            as_of=end,
            meta={"seed": seed, "n_accounts": n_accounts, "months": months},
        )
        if truth_dir is not None
        else None
    )
    return BookSummary(
        n_accounts=n_accounts,
        seed=seed,
        as_of=end,
        months=months,
        seconds=time.perf_counter() - started,
        counts=dict(tally.counts),
        arr_total=float(sum(tally.arr.values())),
        accounts_by_segment=dict(tally.segments),
        arr_by_segment={k: float(v) for k, v in tally.arr.items()},
        lifecycle=dict(tally.lifecycle),
        renewals_by_outcome=dict(tally.renewals),
        truth_path=truth_path,
        dialect=engine.dialect.name,
    )
