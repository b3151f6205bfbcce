"""Check and parse import tables before anything is written.

Checks are vectorised (pandas) so that millions of event rows validate in seconds. Every
problem names the file, the row a user sees, the field as headed in the file, and the
reason with what was expected. Problems are collected (capped), not raised one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from keel.errors import Problem
from keel.memory.importers.columns import Column, Entity, Kind, normalise_header
from keel.memory.importers.derived import nps_ids, parse_terms, terms_reason
from keel.memory.importers.readers import RawTable
from keel.memory.importers.values import (
    BAD_TEXT_CHARS,
    CLEAR_TOKEN,
    CLEAR_TOKENS,
    FLOAT_LIMIT,
    INT_MAX,
    INT_MIN,
    NULL_TOKENS,
    TEXT_NULL_TOKENS,
    bad_text_reason,
    currencies,
    float_range_reason,
    int_range_reason,
    not_a_number_reason,
    other_currency_reason,
    plain_numbers,
    shown,
)

MAX_PROBLEMS = 200
# Rows listed for one field and one kind of problem before the rest are summarised.
ROWS_PER_CHECK = 10

TRUE_TOKENS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TOKENS = frozenset({"false", "f", "no", "n", "0"})

DATE_HINT = "expected an ISO date YYYY-MM-DD, e.g. 2024-03-31"
DATETIME_HINT = "expected an ISO 8601 date-time, e.g. 2024-03-31T14:05:00Z (or a date)"


@dataclass
class ProblemLog:
    """Problems found so far, capped at ``limit`` (the count keeps going)."""

    limit: int = MAX_PROBLEMS
    items: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(problem)

    def add_rows(
        self,
        label: str,
        rows: np.ndarray,
        header: str,
        values: pd.Series,
        bad: np.ndarray,
        reason: Callable[[str], str],
    ) -> None:
        """Log the first bad rows of one check and summarise the rest."""
        positions = np.flatnonzero(bad)
        for pos in positions[:ROWS_PER_CHECK]:
            self.add(Problem(label, int(rows[pos]), header, reason(str(values.iloc[pos]))))
        if len(positions) > ROWS_PER_CHECK:
            extra = len(positions) - ROWS_PER_CHECK
            self.add(Problem(label, None, header, f"... and {extra} more row(s) like these"))

    def __bool__(self) -> bool:
        return self.total > 0


@dataclass
class TypedTable:
    """A validated table: canonical columns holding parsed values.

    Attributes:
        entity: What the file holds.
        label: The file name for messages.
        frame: Canonical column names; ints as ``Int64``, floats as ``float64``, dates and
            date-times as ``datetime64``, booleans as objects, enums and text as ``str``
            (``""`` where empty), references as the external id text.
        rows: The user-visible row number of each frame row.
        headers: Canonical column -> the header as written in the file.
        cleared: Canonical column -> the rows whose cell is the clear token: the stored
            value is removed (an empty cell, by contrast, leaves it as it is).
    """

    entity: Entity
    label: str
    frame: pd.DataFrame
    rows: np.ndarray
    headers: dict[str, str]
    cleared: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def provided(self) -> tuple[str, ...]:
        return tuple(self.headers)


def map_headers(raw: RawTable, entity: Entity, log: ProblemLog) -> dict[str, str]:
    """Canonical column -> file header; logs required columns that are missing and columns
    given twice (the same header, or two spellings of one column such as ``arr``/``ARR``)."""
    written = raw.header_as_written
    if raw.hint:
        # One column named "a;b;c": every required column would be "missing"; say why once.
        log.add(
            Problem(
                raw.label,
                raw.header_row,
                None,
                f"the header reads as one column ({shown(written[0])}); {raw.hint}",
            )
        )
        return {}
    names = [str(c) for c in raw.frame.columns]
    normalised = [normalise_header(h) for h in written]
    mapping: dict[str, str] = {}
    for col in entity.columns:
        accepted = (col.name, *col.aliases)
        wanted = {normalise_header(n) for n in accepted}
        matches = [i for i, h in enumerate(normalised) if h in wanted]
        if matches:
            mapping[col.name] = names[matches[0]]
            if len(matches) > 1:
                log.add(_given_twice(raw, col, written, matches[:2]))
        elif col.required:
            found = ", ".join(written) or "none"
            log.add(
                Problem(
                    raw.label,
                    raw.header_row,
                    col.name,
                    f"required column is missing (accepted headers: {', '.join(accepted)}; "
                    f"found: {found})",
                )
            )
    return mapping


def _given_twice(raw: RawTable, col: Column, written: tuple[str, ...], at: list[int]) -> Problem:
    first, second = (written[i] for i in at)
    # CSV columns have positions a user can find; a JSON file's keys do not.
    where = f" (columns {at[0] + 1} and {at[1] + 1})" if raw.header else ""
    what = (
        f"the header has '{first}' twice{where}"
        if first == second
        else f"the header has both '{first}' and '{second}'{where}, which both mean {col.name}"
    )
    return Problem(raw.label, raw.header_row, second, f"{what}; keep one of them")


def validate_table(raw: RawTable, entity: Entity, log: ProblemLog) -> TypedTable:
    """Parse and check every column of ``raw`` as ``entity``; problems go to ``log``."""
    headers = map_headers(raw, entity, log)
    parsed: dict[str, pd.Series] = {}
    cleared: dict[str, np.ndarray] = {}
    for name, header in headers.items():
        col = entity.column(name)
        cells = raw.frame[header].astype(str)
        clear = cells.isin(CLEAR_TOKENS)
        clear_mask = clear.to_numpy()
        if clear_mask.any():
            refused = _clearing_refused(entity, col)
            if refused:
                log.add_rows(raw.label, raw.rows, header, cells, clear_mask, refused)
            else:
                cleared[name] = clear_mask
            cells = cells.where(~clear, "")
        values, checks = parse_column(col, cells, _max_length(entity, col))
        for bad, reason in checks:
            # A refused clear token is reported once, not again as an empty required cell.
            log.add_rows(raw.label, raw.rows, header, cells, bad & ~clear_mask, reason)
        parsed[name] = values
    frame = pd.DataFrame(parsed, index=raw.frame.index)
    table = TypedTable(entity, raw.label, frame, raw.rows, headers, cleared)
    _check_duplicates(table, log)
    _check_row_rules(table, log)
    return table


def _clearing_refused(entity: Entity, col: Column) -> Callable[[str], str] | None:
    """Why the clear token is refused in this column, or ``None`` when it may be cleared."""
    if col.required:
        return lambda _v: f"{CLEAR_TOKEN} cannot clear {col.name}: the field is required"
    if col.name in entity.key or col.name == "external_id":
        return lambda _v: f"{CLEAR_TOKEN} cannot clear {col.name}: it identifies the row"
    if entity.table is None:
        return lambda _v: (
            f"{CLEAR_TOKEN} has nothing to clear: {entity.name} are not stored; "
            "leave the cell empty"
        )
    return None


def parse_column(
    col: Column, cells: pd.Series, max_length: int | None
) -> tuple[pd.Series, list[tuple[np.ndarray, Callable[[str], str]]]]:
    """Parse one column; returns the values and ``(bad mask, reason)`` checks."""
    text_like = col.kind in (Kind.TEXT, Kind.ACCOUNT, Kind.CONTACT)
    empty = cells.isin(TEXT_NULL_TOKENS if text_like else NULL_TOKENS)
    empty_mask = empty.to_numpy()
    checks: list[tuple[np.ndarray, Callable[[str], str]]] = []
    if col.required:
        checks.append((empty_mask, lambda _v: "is empty but a value is required"))
    values: pd.Series
    if text_like:
        values = cells.where(~empty, "")
        # One search over the joined column first: millions of clean cells stay cheap.
        if BAD_TEXT_CHARS.search("".join(cells.to_numpy())):
            control = cells.str.contains(BAD_TEXT_CHARS, regex=True).to_numpy(dtype=bool)
            checks.append((control, bad_text_reason))
        if max_length is not None:
            too_long = (cells.str.len() > max_length).to_numpy()
            checks.append(
                (too_long, lambda v: f"is {len(v)} characters long; at most {max_length} allowed")
            )
    elif col.kind in (Kind.INT, Kind.FLOAT):
        values, more = _parse_number(col, cells, empty)
        checks += more
    elif col.kind == Kind.DATE:
        values = _parse_date(cells, empty)
        bad = (~empty & values.isna()).to_numpy()
        checks.append((bad, lambda v: f"{shown(v)} is not a valid date; {DATE_HINT}"))
    elif col.kind == Kind.DATETIME:
        values = _parse_datetime(cells, empty)
        bad = (~empty & values.isna()).to_numpy()
        checks.append((bad, lambda v: f"{shown(v)} is not a valid date-time; {DATETIME_HINT}"))
    elif col.kind == Kind.TERMS:
        values, bad = parse_terms(cells, empty)
        checks.append((bad, terms_reason))
    elif col.kind == Kind.BOOL:
        lowered = cells.str.lower()
        yes, no = lowered.isin(TRUE_TOKENS), lowered.isin(FALSE_TOKENS)
        values = pd.Series(None, index=cells.index, dtype=object)
        values[yes] = True
        values[no] = False
        bad = (~empty & ~yes & ~no).to_numpy()
        checks.append((bad, lambda v: f"{shown(v)} is not a boolean; expected true or false"))
    else:
        values, bad = _parse_enum(col, cells, empty)
        allowed = ", ".join(col.choices)
        checks.append((bad, lambda v: f"{shown(v)} is not one of the allowed values: {allowed}"))
    return values, checks


def _other_currency(
    cells: pd.Series, unread: np.ndarray
) -> tuple[np.ndarray, Callable[[str], str]] | None:
    """Cells written in another currency than the column's first one, and why (``None``
    when the column names at most one currency)."""
    if not unread.any():
        return None
    named = currencies(cells[unread])
    kinds = named.dropna().unique()
    if len(kinds) < 2:
        return None
    first = str(named.dropna().iloc[0])
    bad = np.zeros(len(cells), dtype=bool)
    bad[np.flatnonzero(unread)] = (named.notna() & named.ne(first)).to_numpy(dtype=bool)
    return bad, other_currency_reason(first)


def _parse_number(
    col: Column, cells: pd.Series, empty: pd.Series
) -> tuple[pd.Series, list[tuple[np.ndarray, Callable[[str], str]]]]:
    numbers = pd.to_numeric(cells.where(~empty, None), errors="coerce").astype("float64")
    unread = (numbers.isna() & ~empty).to_numpy()
    if unread.any():
        # Amounts written "$120,000" or "120,000.50": only cells plain parsing could not
        # read are looked at again, so clean columns of millions of counts cost nothing.
        again = pd.to_numeric(plain_numbers(cells[unread]), errors="coerce")
        numbers[unread] = again.astype("float64").to_numpy()
    mixed = _other_currency(cells, unread)
    raw = numbers.to_numpy()
    finite = np.isfinite(raw)
    nonempty = ~empty.to_numpy()
    checks: list[tuple[np.ndarray, Callable[[str], str]]] = []
    if mixed is not None:
        # Sums of such a column (ARR, MRR) would add dollars to euros: truly broken.
        checks.append(mixed)
        nonempty = nonempty & ~mixed[0]
    if col.kind == Kind.INT:
        safe = np.where(finite, raw, 0.0)
        whole = finite & (np.mod(safe, 1.0) == 0.0)
        checks.append((nonempty & ~whole, lambda v: not_a_number_reason(v, whole=True)))
        # Beyond 32 bits PostgreSQL's INTEGER refuses the row; refuse it here on both.
        fits = (safe >= INT_MIN) & (safe <= INT_MAX)
        checks.append((nonempty & whole & ~fits, int_range_reason))
        valid = nonempty & whole & fits
    else:
        checks.append((nonempty & ~finite, lambda v: not_a_number_reason(v, whole=False)))
        fits = np.abs(np.where(finite, raw, 0.0)) <= FLOAT_LIMIT
        checks.append((nonempty & finite & ~fits, float_range_reason))
        valid = nonempty & finite & fits
    if col.minimum is not None:
        lo = col.minimum
        below = valid & (np.where(valid, raw, lo) < lo)
        checks.append((below, lambda v: f"{v} is below the minimum {lo:g}"))
    if col.maximum is not None:
        hi = col.maximum
        above = valid & (np.where(valid, raw, hi) > hi)
        checks.append((above, lambda v: f"{v} is above the maximum {hi:g}"))
    cleaned = numbers.where(valid)
    values = cleaned.round().astype("Int64") if col.kind == Kind.INT else cleaned
    return values, checks


def _parse_date(cells: pd.Series, empty: pd.Series) -> pd.Series:
    head = cells.str.slice(0, 10).where(~empty)
    parsed = pd.to_datetime(head, format="%Y-%m-%d", errors="coerce")
    if (cells.str.len() > 10).any():
        # A date-time is accepted for a date column (its date part is kept).
        rest = cells.str.slice(10)
        bad_rest = (rest != "") & ~rest.str.match(r"^[T ]\d\d:\d\d")
        parsed = parsed.where(~bad_rest)
    return parsed.dt.normalize()


def _parse_datetime(cells: pd.Series, empty: pd.Series) -> pd.Series:
    # Times without a zone are taken as UTC; all are stored as aware UTC date-times.
    return pd.to_datetime(cells.where(~empty), format="ISO8601", errors="coerce", utc=True)


def _parse_enum(col: Column, cells: pd.Series, empty: pd.Series) -> tuple[pd.Series, np.ndarray]:
    uniques = {v: normalise_header(v) for v in cells[~empty].unique()}
    keyed = {v: col.synonyms.get(k, k) for v, k in uniques.items()}
    values = cells.map(keyed).fillna("").astype(str)
    bad = (~empty & ~values.isin(col.choices)).to_numpy()
    return values.where(~bad, ""), bad


def _max_length(entity: Entity, col: Column) -> int | None:
    if entity.table is None:
        return None
    column = entity.table.__table__.c.get(col.db_column)  # type: ignore[attr-defined]
    if column is None or col.kind not in (Kind.TEXT, Kind.ACCOUNT, Kind.CONTACT):
        return None
    length = getattr(column.type, "length", None)
    return int(length) if length else None


def _key_sets(table: TypedTable) -> Iterable[tuple[str, ...]]:
    """The column sets that must be unique: the entity key (optional parts left out when
    the file lacks them) and the external id when given."""
    entity = table.entity
    keys = []
    key = tuple(c for c in entity.key if c in table.headers)
    if key and all(c in table.headers for c in entity.key if entity.column(c).required):
        keys.append(key)
    if "external_id" in table.headers and key != ("external_id",):
        keys.append(("external_id",))
    return keys


def _check_duplicates(table: TypedTable, log: ProblemLog) -> None:
    frame = table.frame
    for key in _key_sets(table):
        usable = pd.Series(True, index=frame.index)
        for name in key:
            column = frame[name]
            usable &= column.notna()
            if column.dtype == object or pd.api.types.is_string_dtype(column):
                usable &= column != ""
        subset = frame.loc[usable, list(key)]
        later = subset.duplicated(keep="first")
        if not later.any():
            continue
        first_rows: dict[tuple[object, ...], int] = {}
        for idx, record in zip(subset.index, subset.itertuples(index=False), strict=True):
            first_rows.setdefault(tuple(record), int(table.rows[frame.index.get_loc(idx)]))
        shown = 0
        for idx in subset.index[later.to_numpy()]:
            pos = frame.index.get_loc(idx)
            values = tuple(subset.loc[idx])
            described = ", ".join(f"{c}={_show(v)}" for c, v in zip(key, values, strict=True))
            what = (
                f"duplicate id '{values[0]}'"
                if key == ("external_id",)
                else (f"duplicate row for {described}")
            )
            if shown < ROWS_PER_CHECK:
                log.add(
                    Problem(
                        table.label,
                        int(table.rows[pos]),
                        table.headers[key[0]],
                        f"{what}: also on row {first_rows[values]}",
                    )
                )
            shown += 1
        if shown > ROWS_PER_CHECK:
            log.add(
                Problem(
                    table.label,
                    None,
                    table.headers[key[0]],
                    f"... and {shown - ROWS_PER_CHECK} more duplicate(s)",
                )
            )


def _show(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def _check_row_rules(table: TypedTable, log: ProblemLog) -> None:
    """Rules across columns of one row (a period must not end before it starts)."""
    frame = table.frame
    if {"start_date", "end_date"} <= set(frame.columns):
        bad = (frame["end_date"] < frame["start_date"]).to_numpy()
        cells = frame["end_date"].map(_show)
        log.add_rows(
            table.label,
            table.rows,
            table.headers["end_date"],
            cells,
            bad,
            lambda v: f"end date {v} is before the start date",
        )
    if table.entity.name == "nps" and {"external_id", "account_id", "responded_on"} <= set(
        frame.columns
    ):
        _check_generated_nps_ids(table, log)
    if {"issued_on", "due_on"} <= set(frame.columns):
        # Due before it was issued: a swapped or mistyped date, not a shape to guess at.
        bad = (frame["due_on"] < frame["issued_on"]).fillna(False).to_numpy(dtype=bool)
        cells = frame["issued_on"].map(_show)
        log.add_rows(
            table.label,
            table.rows,
            table.headers["issued_on"],
            cells,
            bad,
            lambda v: f"issue date {v} is after the due date",
        )


def _check_generated_nps_ids(table: TypedTable, log: ProblemLog) -> None:
    """A response without an id must not get one another row of the file gives: the two
    would be one row, and one response lost without a word."""
    frame = table.frame
    ids = frame["external_id"].astype(object)
    given = ids.notna() & ids.astype(str).ne("")
    if given.all() or not given.any():
        return
    generated = nps_ids(frame)  # as the writer makes them (prepare.db_frame)
    clash = (~given & generated.isin(set(ids[given]))).to_numpy(dtype=bool)
    log.add_rows(
        table.label,
        table.rows,
        table.headers["external_id"],
        generated,
        clash,
        lambda v: f"is empty, and the id it would get ({v}) is another row's id; give it an id",
    )


def check_references(
    tables: dict[str, TypedTable],
    *,
    known_accounts: set[str],
    known_contacts: set[str],
    log: ProblemLog,
) -> None:
    """Every account or contact a row refers to must be in this import or in the database.

    Args:
        tables: The validated tables by entity name.
        known_accounts: Account external ids already in the database.
        known_contacts: Contact external ids and lower-cased emails already in the database.
        log: Where problems go.
    """
    accounts = set(known_accounts)
    if "accounts" in tables and "external_id" in tables["accounts"].frame:
        accounts |= set(tables["accounts"].frame["external_id"])
    contacts = set(known_contacts)
    if "contacts" in tables:
        frame = tables["contacts"].frame
        if "external_id" in frame:
            contacts |= set(frame["external_id"])
        if "email" in frame:
            contacts |= set(frame["email"].str.lower())
    for table in tables.values():
        for name, header in table.headers.items():
            kind = table.entity.column(name).kind
            if kind == Kind.ACCOUNT:
                values = table.frame[name]
                bad = ((values != "") & ~values.isin(accounts)).to_numpy()
                log.add_rows(
                    table.label,
                    table.rows,
                    header,
                    values,
                    bad,
                    lambda v: (
                        f"unknown account '{v}': not in this import's accounts file "
                        "nor in the database"
                    ),
                )
            elif kind == Kind.CONTACT:
                values = table.frame[name]
                known = values.isin(contacts) | values.str.lower().isin(contacts)
                bad = ((values != "") & ~known).to_numpy()
                log.add_rows(
                    table.label,
                    table.rows,
                    header,
                    values,
                    bad,
                    lambda v: (
                        f"unknown contact '{v}': no contact with this id or email in "
                        "this import's contacts file nor in the database"
                    ),
                )
