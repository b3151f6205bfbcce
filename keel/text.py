"""Small text helpers every layer may use (core: imports nothing from Keel).

They live here, at the bottom, so that a tool and an agent can share one without one
importing the other (``ordinal`` used to sit in ``keel.agents.facts``, which made
``tools.account_intel`` reach up into the agents).
"""

from __future__ import annotations


def ordinal(value: float) -> str:
    """``3`` -> ``3rd``, ``11`` -> ``11th``, ``22`` -> ``22nd``."""
    n = round(value)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
