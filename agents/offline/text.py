"""Small text helpers for offline prose: stable variation, labels, readable facts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

OFFLINE_MODEL_NAME = "keel-offline-1"
OFFLINE_NOTICE = "Written by Keel's offline model (deterministic templates; no LLM was used)."

_MAX_LIST_ITEMS = 4
_MAX_TEXT = 160


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (unlike ``hash()``, which is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def vary(options: Sequence[str], key: str) -> str:
    """Pick one of ``options`` by the hash of ``key``.

    Prose then varies across accounts (different keys) but is stable for one account, so
    two runs over the same facts write the same text.

    Raises:
        ValueError: ``options`` is empty.
    """
    if not options:
        raise ValueError("vary() needs at least one option")
    return options[stable_hash(key) % len(options)]


def humanise(key: str) -> str:
    """``health_score`` -> ``health score``; ``getAccountHealth`` -> ``get account health``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key)
    return re.sub(r"[_\-\s]+", " ", spaced).strip().lower()


def format_value(value: Any) -> str:
    """A fact value as a short readable string."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, Mapping):
        pairs = [f"{humanise(str(k))} {format_value(v)}" for k, v in list(value.items())[:3]]
        return "; ".join(pairs)
    if isinstance(value, Sequence):
        items = [format_value(v) for v in value[:_MAX_LIST_ITEMS]]
        more = f" (+{len(value) - _MAX_LIST_ITEMS} more)" if len(value) > _MAX_LIST_ITEMS else ""
        return ", ".join(items) + more
    text = json.dumps(value, default=str)
    return text[:_MAX_TEXT]
