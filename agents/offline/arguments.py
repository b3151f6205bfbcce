"""Filling a tool call's arguments from the request, the prompt's context and its facts.

For each parameter of the tool's JSON schema, in order: a fact with that name (JSON in
the prompt or an earlier tool result), a ``name: value`` line in the prompt, a pattern in
the request text (``id 42``, ``as of 2024-05-01``, the request itself for a ``query``),
then the schema's default. A tool whose required parameter cannot be filled is not called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from keel.agents.offline.facts import MISSING, find_fact
from keel.agents.offline.intents import ToolSpec

# Parameters that take the user's words as they are.
FREE_TEXT_PARAMETERS = frozenset(
    {"query", "question", "text", "q", "search", "request", "topic", "prompt", "input"}
)
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_AS_OF = re.compile(r"\bas[ _]of[:=]?\s*(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)


def fill_arguments(
    tool: ToolSpec, *, request: str, context: Mapping[str, str], facts: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Arguments for ``tool``, or ``None`` when a required one cannot be found."""
    properties: Mapping[str, Any] = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required") or [])
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        value = _find(name, request=request, context=context, facts=facts)
        if value is MISSING and "default" in schema:
            value = schema["default"]
        if value is MISSING:
            if name in required:
                return None
            continue
        coerced = _coerce(value, schema)
        if coerced is MISSING:
            if name in required:
                return None
            continue
        args[name] = coerced
    return args


def _find(name: str, *, request: str, context: Mapping[str, str], facts: Mapping[str, Any]) -> Any:
    value = find_fact(facts, name)
    if value is not MISSING:
        return value
    if name in context:
        return context[name]
    return _from_text(name, request)


def _from_text(name: str, request: str) -> Any:
    lowered = name.lower()
    if lowered in FREE_TEXT_PARAMETERS:
        return request
    if lowered in {"as_of", "date", "day", "on"}:
        match = _AS_OF.search(request) or _DATE.search(request)
        return match.group(1) if match else MISSING
    if lowered == "id" or lowered.endswith("_id"):
        entity = lowered.removesuffix("_id").removesuffix("id").replace("_", " ").strip()
        patterns = [rf"\b{re.escape(lowered)}\s*[:=#]?\s*([\w-]+)"]
        if entity:
            patterns.append(rf"\b{re.escape(entity)}\s+(?:id\s*)?[:=#]?\s*(\d[\w-]*)")
        patterns.append(r"\(\s*id\s*[:=#]?\s*([\w-]+)\s*\)")
        patterns.append(r"\bid\s*[:=#]?\s*([\w-]+)")
        for pattern in patterns:
            match = re.search(pattern, request, re.IGNORECASE)
            if match:
                return match.group(1)
    return MISSING


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` in the JSON type the schema asks for, or :data:`MISSING` if it cannot be."""
    kind = schema.get("type")
    if kind is None:
        options = [s.get("type") for s in schema.get("anyOf", []) if isinstance(s, Mapping)]
        kind = next((k for k in options if k and k != "null"), None)
    try:
        if kind == "integer":
            return int(value) if not isinstance(value, bool) else MISSING
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).lower() in {"true", "yes", "1"}
        if kind == "string":
            return value if isinstance(value, str) else str(value)
        if kind == "array":
            return value if isinstance(value, list) else [value]
    except (TypeError, ValueError):
        return MISSING
    return value
