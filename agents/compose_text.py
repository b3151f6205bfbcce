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
    return text[:1].lower() + text[1:] if text else text


def strip_period(text: str) -> str:
    return text.rstrip(" .")
