"""Small text helpers every layer may use (core: imports nothing from Keel).

They live here, at the bottom, so that a tool and an agent can share one without one
importing the other (``ordinal`` used to sit in ``keel.agents.facts``, which made
``tools.account_intel`` reach up into the agents).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

# Currencies written with a symbol; any other code is written before the amount ("CHF 1,308").
CURRENCY_SYMBOLS: Final = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5"}


def ordinal(value: float) -> str:
    """``3`` -> ``3rd``, ``11`` -> ``11th``, ``22`` -> ``22nd``."""
    n = round(value)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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
