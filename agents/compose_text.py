"""Small text helpers shared by the offline composers."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

# Currencies written with a symbol; any other code is written before the amount ("CHF 1,308").
CURRENCY_SYMBOLS: Final = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5"}


@lru_cache(maxsize=1)
def configured_currency() -> str:
    """The book's currency (``KEEL_CURRENCY``, default USD), read once per process."""
    from keel.settings import get_settings

    return get_settings().currency


def money(value: Any, currency: str | None = None) -> str:
    """An amount with its currency, whole units: ``$1,308``, ``\u20ac1,308``, ``CHF 1,308``.

    ``currency``: an ISO 4217 code; default the configured one (:func:`configured_currency`).
    """
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(amount):
        return "n/a"
    code = (currency or configured_currency()).upper()
    sign = "-" if amount < 0 else ""
    number = f"{abs(amount):,.0f}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{code} {number}"


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
