"""Diagnose a CSV file's shape for messages: its delimiter, decimal commas, open quotes, header.

pandas reads the cells; these helpers only look again when something went wrong (or to
name the header as written), so that a message can say what the user should change.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

# Enough of a file to see its header and a few hundred rows.
SAMPLE_CHARS = 64 * 1024
# Delimiters a spreadsheet may save instead of commas, and how messages name them.
_OTHER_DELIMITERS = {";": "semicolon-separated (';')", "\t": "tab-separated"}
# "1.234,50", "-12,5": a number written with a decimal comma (and maybe dots for thousands).
DECIMAL_COMMA = re.compile(r"^[-+]?\d{1,3}(?:\.\d{3})+,\d+$|^[-+]?\d+,\d+$")
DECIMAL_COMMA_HINT = "write numbers with a decimal point and no thousands separator, e.g. 1234.50"


def header_cells(first_line: str) -> list[str]:
    """The header's cells as written (pandas renames a repeated header to ``x.1``)."""
    try:
        cells = next(csv.reader([first_line]), [])
    except csv.Error:
        return []
    return [c.strip() for c in cells]


def delimiter_hint(sample: str) -> str:
    """A hint when the header reads as one column holding ``;`` or tabs, else ``""``.

    Args:
        sample: The start of the file (header and a few rows).

    Returns:
        E.g. ``"the file looks semicolon-separated (';'): save it comma-separated; its
        numbers use decimal commas (e.g. '1.234,50'): write ..."``.
    """
    lines = sample.splitlines()
    if not lines:
        return ""
    header = header_cells(lines[0])
    if len(header) != 1:
        return ""
    counts = {d: header[0].count(d) for d in _OTHER_DELIMITERS}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        return ""
    hint = f"the file looks {_OTHER_DELIMITERS[delimiter]}: save it comma-separated"
    example = _decimal_comma_example(line.split(delimiter) for line in lines[1:])
    if example:
        hint += f"; its numbers use decimal commas (e.g. '{example}'): {DECIMAL_COMMA_HINT}"
    return hint


def _decimal_comma_example(rows: Iterable[list[str]]) -> str:
    for row in rows:
        for cell in row:
            if DECIMAL_COMMA.match(cell.strip().strip('"')):
                return cell.strip().strip('"')
    return ""


def unterminated_quote_row(lines: Iterable[str]) -> tuple[int, int] | None:
    """Where the quote that is never closed opened: ``(row, line)``, or ``None``.

    Rows count records as the importer does (header = row 1, blank lines included); the
    line is the physical line, which differs only after fields that span lines. Python's
    ``csv`` module splits records the way pandas does; a quote still open at the end of
    the file swallows the rest into the last record, so that record holds it.

    Args:
        lines: The file's text, line by line with line endings (an open text file).
    """
    reader = csv.reader(lines)
    row, start_line, previous_end = 0, 1, 0
    fields: list[str] = []
    try:
        for record in reader:
            row += 1
            # Each record starts on the line after the previous one ended.
            start_line, previous_end = previous_end + 1, reader.line_num
            fields = record
    except csv.Error:
        # A field longer than the csv module's limit: the open quote is in the next record.
        return row + 1, previous_end + 1
    if not fields:
        return None
    # The unclosed field is the last one; lines before it belong to earlier, closed fields.
    return row, start_line + _newlines(fields[:-1])


def _newlines(fields: list[str]) -> int:
    return sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in fields)


def misquoted_row(lines: Iterable[str]) -> tuple[int, int, int] | None:
    """Where a quoted cell closes and more text follows: ``(row, line opened, line closed)``.

    pandas reads ``A1,"Acme`` ... ``A3,"Gamma"`` silently as one cell spanning three rows,
    so the rows in between disappear. Python's strict ``csv`` refuses text after a closing
    quote, which is how such a stray quote shows. Only worth running when some cell spans
    lines (it costs a second pass over the file).

    Args:
        lines: The file's text, line by line with line endings (an open text file).
    """
    reader = csv.reader(lines, strict=True)
    row, previous_end = 0, 0
    try:
        for _record in reader:
            row += 1
            previous_end = reader.line_num
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            return None  # a legitimately huge cell: nothing to say about its quotes
        return row + 1, previous_end + 1, reader.line_num
    return None
