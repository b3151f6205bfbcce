"""Read import files (CSV, CSV.gz, JSON, JSONL) into string tables with user-visible row numbers.

Every cell is read as text: parsing and checking types is the validator's job, so that a
bad cell is reported with its file, row and field instead of being coerced silently.
"""

from __future__ import annotations

import gzip
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import Problem
from keel.memory.importers import csvshape, jsontext

# Longest first, so ``x.csv.gz`` is not taken for ``x.csv`` + ``.gz``.
SUFFIXES: tuple[str, ...] = (".csv.gz", ".jsonl.gz", ".json.gz", ".csv", ".jsonl", ".json")
# Keys under which a JSON document may hold its list of records.
_JSON_LIST_KEYS = ("records", "data", "rows", "items", "results")


class ReadError(Exception):
    """A file could not be read as a table; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


@dataclass
class RawTable:
    """A file's cells as stripped strings (``""`` for empty) and their row numbers.

    Attributes:
        label: The file name as messages show it.
        frame: One column per header, every cell a ``str``.
        rows: For each frame row, the row number a user sees (CSV: header = 1, first data
            row = 2; JSON: the 1-based record index; JSONL: the line number).
        header_row: The row to name when a whole column is wrong (CSV header, first record).
        header: The column names as written, repeats included (the frame's columns are
            unique: pandas renames a second ``arr`` to ``arr.1``).
        hint: What the file's shape suggests is wrong with it (a CSV whose header is one
            column holding semicolons), added to messages about missing columns.
    """

    label: str
    frame: pd.DataFrame
    rows: np.ndarray
    header_row: int = 1
    header: tuple[str, ...] = ()
    hint: str = ""

    @property
    def header_as_written(self) -> tuple[str, ...]:
        return self.header or tuple(str(c) for c in self.frame.columns)


def split_suffix(path: Path) -> tuple[str, str] | None:
    """``(stem, suffix)`` for a supported file name, else ``None``."""
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.name[: -len(suffix)], suffix
    return None


def list_files(path: Path) -> list[Path]:
    """The file itself, or a folder's entries (not recursive, hidden ones left out), sorted."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if not p.name.startswith("."))
    return [path]


def read_table(path: Path) -> RawTable:
    """Read one supported file.

    Raises:
        ReadError: The file is not readable as a table (encoding, CSV shape, JSON syntax).
    """
    split = split_suffix(path)
    if split is None:
        raise ReadError(Problem(path.name, None, None, "unsupported file type"))
    suffix = split[1]
    try:
        if suffix.startswith(".csv"):
            return _read_csv(path)
        return _read_json(path, lines=suffix.startswith(".jsonl"))
    except ReadError:
        raise
    except UnicodeDecodeError as exc:
        raise ReadError(
            Problem(path.name, None, None, f"not UTF-8 text ({exc.reason}); save it as UTF-8")
        ) from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ReadError(Problem(path.name, None, None, f"cannot be read: {exc}")) from exc


def _read_csv(path: Path) -> RawTable:
    with _open_text(path) as handle:
        sample = handle.read(csvshape.SAMPLE_CHARS)
    hint = csvshape.delimiter_hint(sample)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                # Keep blank lines so row numbers match what an editor shows; dropped below.
                skip_blank_lines=False,
                # Never take a first column as the index when rows are longer than the header.
                index_col=False,
                encoding="utf-8-sig",
                compression="infer",
            )
    except pd.errors.EmptyDataError as exc:
        raise ReadError(Problem(path.name, None, None, "the file is empty")) from exc
    except pd.errors.ParserError as exc:
        raise ReadError(_parser_problem(path, exc, hint)) from exc
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        # pandas only warns (and drops cells) when the first data row is the longer one.
        reason = f"not a well-formed CSV: more fields than the {len(frame.columns)} header columns"
        raise ReadError(Problem(path.name, 2, None, _with_hint(reason, hint)))
    frame = frame.fillna("")
    header = tuple(csvshape.header_cells(sample.splitlines()[0] if sample else ""))
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    rows = np.arange(2, len(frame) + 2)
    nonblank = (frame != "").any(axis=1).to_numpy() if len(frame.columns) else np.array([])
    if len(frame) and not nonblank.all():
        frame = frame.loc[nonblank].reset_index(drop=True)
        rows = rows[nonblank]
    if len(header) != len(frame.columns):
        header = ()  # a header spanning lines: the frame's names are the best we have
    if _has_line_breaks(frame):
        _check_quotes(path)
    return RawTable(path.name, frame, rows, header_row=1, header=header, hint=hint)


def _has_line_breaks(frame: pd.DataFrame) -> bool:
    # One search per column over its joined cells: cheap for millions of rows.
    return any(
        "\n" in joined or "\r" in joined
        for joined in ("".join(frame[c].to_numpy()) for c in frame.columns)
    )


def _check_quotes(path: Path) -> None:
    """Refuse a quoted cell that swallowed rows: it closes, and more text follows."""
    with _open_text(path) as handle:
        where = csvshape.misquoted_row(handle)
    if where is None:
        return
    row, opened, closed = where
    on_line = "" if opened == row else f" (line {opened})"
    raise ReadError(
        Problem(
            path.name,
            row,
            None,
            f"not a well-formed CSV: a quote opened in this row{on_line} closes on line "
            f"{closed} with more text after it, so the rows between would be read as one "
            'cell; close the quote where the cell ends (a quote inside a cell is written "")',
        )
    )


def _parser_problem(path: Path, exc: pd.errors.ParserError, hint: str) -> Problem:
    message = str(exc)
    if "EOF inside string" in message:
        # pandas counts this row differently; find the record where the quote opened.
        with _open_text(path) as handle:
            where = csvshape.unterminated_quote_row(handle)
        if where is not None:
            row, line = where
            on_line = "" if line == row else f" (line {line})"
            return Problem(
                path.name,
                row,
                None,
                f"not a well-formed CSV: a quote opened in this row{on_line} is never closed",
            )
    return Problem(path.name, _parser_error_row(message), None, _with_hint(_short(exc), hint))


def _with_hint(reason: str, hint: str) -> str:
    return f"{reason}; {hint}" if hint else reason


def _parser_error_row(message: str) -> int | None:
    # pandas says "Expected 3 fields in line 7, saw 4": line 7 is the row the user sees.
    marker = " in line "
    if marker in message:
        digits = message.split(marker, 1)[1].split(",", 1)[0].strip()
        if digits.isdigit():
            return int(digits)
    return None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"not a well-formed CSV: {text.removeprefix('Error tokenizing data. C error: ')}"


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def _read_json(path: Path, *, lines: bool) -> RawTable:
    records: list[Any] = []
    rows: list[int] = []
    with _open_text(path) as handle:
        if lines:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                records.append(_parse_json(path.name, line, number))
                rows.append(number)
        else:
            document = _parse_json(path.name, handle.read(), None)
            records = _records_of(path.name, document)
            rows = list(range(1, len(records) + 1))
    flat = [_flatten(path.name, row, record) for row, record in zip(rows, records, strict=True)]
    frame = pd.DataFrame.from_records(flat) if flat else pd.DataFrame()
    frame = frame.fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(path.name, frame, np.asarray(rows, dtype=int), header_row=1)


def _parse_json(label: str, text: str, line: int | None) -> Any:
    """Parse one JSON text (a whole file, or one JSONL line numbered ``line``).

    Raises:
        ReadError: See ``jsontext.parse``; the row is the JSONL line, or the record of a
            JSON array when it is known.
    """
    try:
        return jsontext.parse(text, jsonl_line=line is not None)
    except jsontext.Refused as exc:
        raise ReadError(Problem(label, line or exc.record, exc.field, exc.reason)) from exc


def _records_of(label: str, document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _JSON_LIST_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return list(lists[0])
    raise ReadError(
        Problem(
            label,
            None,
            None,
            "expected a JSON array of objects (or an object holding one under 'records')",
        )
    )


def _flatten(label: str, row: int, record: Any) -> dict[str, str]:
    if not isinstance(record, dict):
        raise ReadError(Problem(label, row, None, "expected a JSON object for each record"))
    return {str(k): _cell(v) for k, v in record.items()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return repr(value)
    # Nested values stay visible as JSON text; typed columns then reject them clearly.
    return json.dumps(value)
