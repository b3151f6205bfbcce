"""What a cell's text means before it is typed: "not given", "clear", bad characters, limits.

The validator reads these rules; docs/import-format.md states them for users.
"""

from __future__ import annotations

import math
import re

from memory.importers.csvshape import DECIMAL_COMMA, DECIMAL_COMMA_HINT

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
