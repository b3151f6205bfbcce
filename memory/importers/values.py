"""What a cell's text means before it is typed: "not given", "clear", bad characters, limits.

The validator reads these rules; docs/import-format.md states them for users.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

import pandas as pd

from keel.memory.importers.csvshape import DECIMAL_COMMA, DECIMAL_COMMA_HINT

# Spellings of "not given" in typed (non-text) columns: exports write missing numbers and
# dates as NaN, None, n/a or a dash. Matched as written (a set lookup keeps millions of
# cells fast), so the common casings are listed.
NULL_TOKENS = frozenset(
    {
        "",
        "-",
        "null",
        "NULL",
        "Null",
        "none",
        "None",
        "NONE",
        "nan",
        "NaN",
        "NAN",
        "na",
        "NA",
        "n/a",
        "N/A",
    }
)
# In text columns "NA" is a real value (Namibia, North America), so it is kept as text.
TEXT_NULL_TOKENS = NULL_TOKENS - {"na", "NA"}
# Says explicitly "remove the stored value": the field gets its default (or none).
CLEAR_TOKEN = "(clear)"
CLEAR_TOKENS = frozenset({CLEAR_TOKEN, "(CLEAR)", "(Clear)"})

# Keel's whole-number columns are 32-bit on PostgreSQL (INTEGER); SQLite would take more,
# but an import must mean the same on both.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
# Money and other amounts: far above any real contract, far below where sums (12 x MRR,
# a book's ARR) would overflow to infinity.
FLOAT_LIMIT = 1e15

# Amounts as billing and spreadsheet exports write them: a currency before or after the
# number, as a symbol ("$120,000", "120 €", "US$ 99") or an ISO code ("USD 1,200",
# "1200 EUR"), and commas between groups of three digits ("120,000.50"). A comma followed
# by anything but groups of three is a decimal comma, refused with a hint (see
# csvshape.DECIMAL_COMMA). The codes are a fixed list: any three capitals would also read
# "ABC 100" as 100.
CURRENCY_CODES: Final = (
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN",
    "CZK", "INR", "CNY", "HKD", "SGD", "BRL", "MXN", "ZAR",
)  # fmt: skip
# Symbols as written -> the currency they stand for ("$" is read as US dollars).
_SYMBOLS: Final = {
    "$": "USD", "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
    "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "€": "EUR", "£": "GBP", "¥": "JPY",
}  # fmt: skip
_MARK = (
    "(?:"
    + "|".join(re.escape(m) for m in sorted([*_SYMBOLS, *CURRENCY_CODES], key=len, reverse=True))
    + ")"
)
_CURRENCY = re.compile(rf"^([-+]?)\s*{_MARK}\s*(?=\d)|(?<=\d)\s*{_MARK}$")
_CURRENCY_OF = re.compile(rf"^[-+]?\s*({_MARK})\s*\d|\d\s*({_MARK})$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_AMOUNT_MARKS = re.compile(rf"[,$€£¥]|{_MARK}")

# C0 control characters other than tab, line feed and carriage return, DEL, and lone
# UTF-16 surrogates (JSON can spell them; no database can store them). PostgreSQL refuses
# NUL in text where SQLite keeps it silently: both are refused before anything is written.
BAD_TEXT_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_CHAR_NAMES = {"\x00": "a NUL byte", "\x7f": "a DEL character"}
# Longest value quoted in a message before it is cut.
_SHOWN_CHARS = 60


def shown(value: str) -> str:
    """A cell quoted for a message: control characters escaped, long values cut."""
    text = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "..."
    text = BAD_TEXT_CHARS.sub(lambda m: _escaped(m.group()), text)
    return f"'{text}'"


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def bad_text_reason(value: str) -> str:
    """Why a text cell holding a control character is refused (it holds one)."""
    match = BAD_TEXT_CHARS.search(value)
    if match is None:  # pragma: no cover - only called for cells that matched
        return "contains a character that cannot be stored"
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        name = f"an unpaired surrogate (U+{ord(char):04X})"
    else:
        name = _CHAR_NAMES.get(char, f"the control character U+{ord(char):04X}")
    return (
        f"contains {name} at character {match.start() + 1}; text may hold tabs and line "
        "breaks but no other control characters: remove it"
    )


def not_a_number_reason(value: str, *, whole: bool) -> str:
    """Why a cell is not a (whole) number, with what to write instead where that is clear."""
    text = value.strip()
    if DECIMAL_COMMA.match(text):
        return f"{shown(value)} is not a number; {DECIMAL_COMMA_HINT}"
    number = _as_float(text)
    if number is not None and math.isinf(number):
        if text.lstrip("+-").lower() in ("inf", "infinity"):
            return f"{shown(value)} is not a finite number"
        return f"{shown(value)} is out of range: too large to store"
    return f"{shown(value)} is not a {'whole number' if whole else 'number'}"


def int_range_reason(value: str) -> str:
    """Why a whole number beyond what Keel's integer columns hold is refused."""
    bound = f"at least {INT_MIN:,}" if value.strip().startswith("-") else f"at most {INT_MAX:,}"
    return f"{shown(value)} is out of range: whole numbers here are {bound}"


def float_range_reason(value: str) -> str:
    """Why a finite number too large to be an amount is refused."""
    return f"{shown(value)} is out of range: numbers here are at most {FLOAT_LIMIT:,.0f} in size"


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def plain_numbers(cells: pd.Series) -> pd.Series:
    """``cells`` with currency symbols and thousands separators taken out of amounts.

    A column that also holds a decimal comma (``2,5``, ``1.234,50``) keeps its commas:
    there ``1,500`` may mean 1.5, so it is refused with the decimal-comma hint rather than
    read as 1500. The validator passes only the cells a plain parse could not read (every
    cell with a comma or a currency symbol is among them).
    """
    marked = cells.str.contains(_AMOUNT_MARKS, regex=True)
    if not marked.any():
        return cells
    part = cells[marked].str.replace(_CURRENCY, r"\1", regex=True)
    grouped = part.str.match(_THOUSANDS)
    decimal_commas = part.str.match(DECIMAL_COMMA) & ~grouped
    if not decimal_commas.any():
        part = part.where(~grouped, part.str.replace(",", "", regex=False))
    out = cells.copy()
    out[marked] = part
    return out


def currencies(cells: pd.Series) -> pd.Series:
    """The currency each amount is written in (``USD``, ``EUR`` ...; ``$`` is ``USD``), or
    NaN where a cell names none."""
    found = cells.str.strip().str.extract(_CURRENCY_OF)
    mark = found[0].fillna(found[1])
    return mark.map(lambda m: _SYMBOLS.get(m, m), na_action="ignore")


def other_currency_reason(first: str) -> Callable[[str], str]:
    """Why an amount in a second currency is refused (``first`` is the column's first)."""
    return lambda v: (
        f"{shown(v)} is in another currency than the column's first amount ({first}); "
        "Keel does not convert currencies: give every amount of a column in one currency"
    )
