"""Small text helpers shared by the offline composers."""

from __future__ import annotations

from typing import Any


def money(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return "n/a"


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
