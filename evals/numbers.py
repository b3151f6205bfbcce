"""Numbers, dates, percentages and amounts in prose, normalised so two spellings compare.

What counts as a number a reader would take as a claim, and what does not:

- ``1,200``, ``1200``, ``$1,200.50``, ``120k``, ``1.2m``, ``-9%``, ``3rd``, ``3/5``: claims.
  Signs are dropped (``-9%`` and "fell 9%" state the same change), thousands separators
  ignored, ``k``/``m`` multiplied out; an ordinal is its number.
- Dates (``2026-10-31``, ``31 October 2026``, ``October 31, 2026``, ``31 Oct``,
  ``10/31/2026``) are one claim each, compared as ISO dates (a date without a year
  matches any year); ``October 2026`` is grounded by a known date in that month, a bare
  year by a known date in that year. ``30 percent`` is ``30%``; ``48K`` is ``48k``.
- Numbers written as words ("two tickets") are not read: a known limit.
- A number after a slash is a scale, not a claim (``CSAT 3/5``, ``31/100``: the 3 and
  the 31 are checked).
- Not claims: digits inside identifiers (``acc-00038-t0020``, ``T-1042``, ``Q3``,
  ``acc-1:risk:2:nps``), inside
  citation brackets (``[ticket:T-1]``) and links, and *scheduling language*: a duration
  in minutes or hours ("a 30-minute session", "20 minutes"), and "within / every / in the
  next / next N days|weeks|months". Those propose what the writer will do; they say
  nothing about the account.

A number in a draft is grounded when it equals a number of the facts after normalising,
also as a percentage written as a fraction (``12%`` = ``0.12``) and at the precision the
draft wrote it (``32%`` is grounded by ``32.4%``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

_MONTHS: Final = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

_DATE_PATTERNS: Final = (
    re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])"),
    re.compile(
        rf"(?<![\w])(\d{{1,2}})(?:st|nd|rd|th)? ({_MONTH})\.?(?:,? (\d{{4}}))?(?![\w])", re.I
    ),
    re.compile(
        rf"(?<![\w])({_MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?(?![\w])", re.I
    ),
    re.compile(r"(?<![\w/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\w/])"),
    re.compile(rf"(?<![\w])({_MONTH})\.?,? (\d{{4}})(?![\w])", re.I),
)
# Digits glued to letters or joined to them by a hyphen are an identifier, not a number.
_NUMBER = re.compile(
    r"(?<![\w.])(?<!\w-)(?<!\w/)(?:[$€£]\s?)?[-+−]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:\s?((?i:k|m|bn|million|billion))\b)?(%|\s?(?i:percent|per cent)\b|st\b|nd\b|rd\b|th\b)?"
    r"(?![\w-]*[a-zA-Z]\d)"
)
_IDENTIFIER = re.compile(
    r"[\w-]+(?::[\w.@-]+)+|[A-Za-z][\w]*-\d[\w-]*|[A-Za-z]+\d[\w-]*|\d+[A-Za-z]+[\w-]*\d"
)
_BRACKETS = re.compile(r"\[[^\]\n]{1,120}\]")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.I)
_SCHEDULING = re.compile(
    r"\b\d+(?:\s?-\s?|\s)(?:minutes?|mins?|hours?|hrs?)\b"
    r"|\b(?:within|every|in the next|next|over the next)\s+(?:\d+|a|one|two|three|few)\s+"
    r"(?:business\s+)?(?:days?|weeks?|months?)\b",
    re.I,
)
_MULTIPLIERS: Final = {"k": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}


@dataclass(frozen=True)
class Found:
    """One claim-bearing number or date: ``text[start:end] == raw``."""

    raw: str
    start: int
    end: int
    value: float | None = None  # numbers
    percent: bool = False
    decimals: int = 0
    date: dt.date | None = None  # dates with a year
    month_day: tuple[int, int] | None = None  # dates, with or without a year
    year_month: tuple[int, int] | None = None  # "October 2026"


def _masked(text: str) -> str:
    """``text`` with what holds no claim blanked out (same length, so spans stay true)."""
    out = text
    for pattern in (_BRACKETS, _LINK, _SCHEDULING, _IDENTIFIER):
        out = pattern.sub(lambda m: " " * len(m.group(0)), out)
    return out


def _date(year: str | None, month: int, day: int) -> tuple[dt.date | None, tuple[int, int] | None]:
    try:
        probe = dt.date(int(year) if year else 2000, month, day)
    except ValueError:
        return None, None
    return (probe if year else None), (month, day)


def find_dates(text: str) -> list[Found]:
    """Every date in ``text`` (ISO, day-month, month-day, ``m/d/yyyy``)."""
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for index, pattern in enumerate(_DATE_PATTERNS):
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            if index == 0:
                full, md = _date(m.group(1), int(m.group(2)), int(m.group(3)))
            elif index == 1:
                full, md = _date(
                    m.group(3), _MONTHS[m.group(2).lower().rstrip(".")], int(m.group(1))
                )
            elif index == 2:
                full, md = _date(
                    m.group(3), _MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2))
                )
            elif index == 3:
                full, md = _date(m.group(3), int(m.group(1)), int(m.group(2)))
            else:
                month = _MONTHS[m.group(1).lower().rstrip(".")]
                taken.append((m.start(), m.end()))
                found.append(
                    Found(m.group(0), m.start(), m.end(), year_month=(int(m.group(2)), month))
                )
                continue
            if md is None:
                continue
            taken.append((m.start(), m.end()))
            found.append(Found(m.group(0), m.start(), m.end(), date=full, month_day=md))
    return sorted(found, key=lambda f: f.start)


def find_numbers(text: str) -> list[Found]:
    """Every claim-bearing number and date in ``text``, in order (see the module docstring)."""
    masked = _masked(text)
    dates = find_dates(masked)
    spans = [(d.start, d.end) for d in dates]
    found = list(dates)
    for m in _NUMBER.finditer(masked):
        if any(a < m.end() and m.start() < b for a, b in spans):
            continue
        digits = m.group(1).replace(",", "")
        decimals = len(m.group(2)) - 1 if m.group(2) else 0
        value = float(digits + (m.group(2) or ""))
        multiplier = (m.group(3) or "").lower()
        if multiplier:
            value *= _MULTIPLIERS[multiplier]
            decimals = 0
        found.append(
            Found(
                text[m.start() : m.end()].strip(),
                m.start(),
                m.start() + len(text[m.start() : m.end()].rstrip()),
                value=value,
                percent=(m.group(4) or "").strip().lower() in ("%", "percent", "per cent"),
                decimals=decimals,
            )
        )
    return sorted(found, key=lambda f: f.start)


@dataclass(frozen=True)
class Known:
    """The numbers and dates of a set of facts, for :func:`grounded`."""

    values: frozenset[float]
    dates: frozenset[dt.date]
    month_days: frozenset[tuple[int, int]]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Known:
        values: set[float] = set()
        dates: set[dt.date] = set()
        month_days: set[tuple[int, int]] = set()
        for text in texts:
            for found in find_numbers(text):
                if found.value is not None:
                    values.add(found.value)
                    # A fraction is also a percentage and a percentage a fraction.
                    values.add(found.value / 100 if found.percent else found.value * 100)
                if found.date is not None:
                    dates.add(found.date)
                if found.month_day is not None:
                    month_days.add(found.month_day)
        return cls(frozenset(values), frozenset(dates), frozenset(month_days))

    @property
    def years(self) -> set[int]:
        return {d.year for d in self.dates}

    @property
    def year_months(self) -> set[tuple[int, int]]:
        return {(d.year, d.month) for d in self.dates}


def grounded(found: Found, known: Known) -> bool:
    """Whether ``found`` is among the known numbers and dates (see the module docstring)."""
    if found.year_month is not None:
        return found.year_month in known.year_months
    if found.month_day is not None:
        if found.date is not None:
            return found.date in known.dates
        return found.month_day in known.month_days
    if found.value is None:
        return True
    # A bare year ("in 2026") is grounded by any known date in it.
    if not found.percent and found.decimals == 0 and int(found.value) in known.years:
        return True
    # (value, decimals it was written with): a percentage is also its fraction, two
    # decimals finer.
    candidates = [(found.value, found.decimals)]
    if found.percent:
        candidates.append((found.value / 100, found.decimals + 2))
    return any(
        round(fact, places) == round(value, places)
        for value, places in candidates
        for fact in known.values
    )
