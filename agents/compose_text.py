"""Small text helpers shared by the offline composers."""

from __future__ import annotations

# The amount helper lives in the core (keel.text) so the tools' views say amounts the same way.
from keel.text import CURRENCY_SYMBOLS, configured_currency, money

__all__ = [
    "CURRENCY_SYMBOLS",
    "configured_currency",
    "first_name",
    "lower_first",
    "money",
    "percentile_phrase",
    "possessive",
    "strip_period",
]


def first_name(name: str) -> str:
    return name.split()[0] if name.strip() else "there"


def lower_first(text: str) -> str:
    """The text with its first letter lower-cased, unless it starts an acronym ("NPS")."""
    if not text or text[1:2].isupper():
        return text
    return text[:1].lower() + text[1:]


def possessive(name: str) -> str:
    """``Acme's``, ``Ashford Airways'``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def strip_period(text: str) -> str:
    return text.rstrip(" .")


def percentile_phrase(percentile: float) -> str:
    """Where a health percentile (100 = healthiest) sits in the book, in words a reader
    takes at face value: ``12th percentile of the book``; never "0th" or "100th":
    ``bottom 1% of the book`` and ``top 1% of the book``."""
    from keel.text import ordinal

    n = round(float(percentile))
    if n < 1:
        return "bottom 1% of the book"
    if n >= 100:
        return "top 1% of the book"
    return f"{ordinal(n)} percentile of the book"
