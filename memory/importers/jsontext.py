"""Parse one JSON text safely: too deep, repeated keys and overlong numbers are refused.

``json`` recurses once per level (a file nested 100,000 deep ends in a ``RecursionError``),
keeps the last of a repeated key silently, and refuses integers of more than 4,300 digits
with a message about ``sys.set_int_max_str_digits``. Each becomes one ``Refused`` with a
reason a user can act on.
"""

from __future__ import annotations

import json
from typing import Any

from keel.memory.importers import jsondepth


class Refused(Exception):
    """The text cannot be imported; ``record`` is the array index when known."""

    def __init__(self, reason: str, *, record: int | None = None, field: str | None = None):
        self.reason = reason
        self.record = record
        self.field = field
        super().__init__(reason)


def parse(text: str, *, jsonl_line: bool = False) -> Any:
    """The parsed JSON document (``jsonl_line``: one line of a JSONL file, whose number
    the caller names, so a syntax error does not repeat "at line 1").

    Raises:
        Refused: The text is not JSON, nests more than ``jsondepth.MAX_DEPTH`` levels,
            names a key twice in one object, or holds a number too long to read.
    """
    deep = jsondepth.too_deep(text)
    if deep is not None:
        raise Refused(deep.reason(), record=deep.record)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        # Rare: parse again, marking objects instead of failing, to find the record.
        document = json.loads(text, object_pairs_hook=_marked_keys)
        raise Refused(
            f"the key '{exc.key}' appears twice in one record; keep one",
            record=_marked_record(document),
            field=exc.key,
        ) from exc
    except json.JSONDecodeError as exc:
        where = "" if jsonl_line else f" at line {exc.lineno}, column {exc.colno}"
        raise Refused(f"not valid JSON: {exc.msg}{where}") from exc
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits (int_max_str_digits).
        raise Refused("not valid JSON here: a number is too long to read") from exc
    except RecursionError as exc:  # pragma: no cover - too_deep stops this first
        raise Refused("nested too deeply to read") from exc


class _RepeatedKey(Exception):
    """A JSON object names a key twice (``json`` would keep the last one silently)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


class _Marked(dict[str, Any]):
    """An object that named ``repeated`` twice (used only to find the record)."""

    repeated = ""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        raise _RepeatedKey(_first_repeat(pairs))
    return record


def _marked_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = _Marked(pairs)
    if len(record) != len(pairs):
        record.repeated = _first_repeat(pairs)
    return record


def _first_repeat(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _marked_record(document: Any) -> int | None:
    """The 1-based index of the first record (of an array) that repeated a key."""
    if isinstance(document, list):
        for index, record in enumerate(document, start=1):
            if isinstance(record, _Marked) and record.repeated:
                return index
    return None
