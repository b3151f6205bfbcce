"""Composers: how the offline model writes structured output and replies from facts.

A *composer* builds one schema from the structured facts in the conversation (tool results
as JSON, JSON fact blocks in the prompt)::

    def compose_briefing(messages: list[BaseMessage], schema: type[Briefing]) -> dict:
        facts = collect_facts(messages)
        ...
        return {"summary": ..., "account_id": facts["account_id"], ...}

    register_composer(Briefing, compose_briefing)

Schemas without a composer get :func:`compose_from_facts`, which fills fields whose names
match facts and fails clearly otherwise. Plain text replies come from a *reply composer*
registered for a system-prompt pattern, else from :func:`default_reply`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ValidationError

from keel.agents.offline.facts import (
    MISSING,
    collect_facts,
    find_fact,
    latest_request,
    system_text,
    tool_results,
)
from keel.agents.offline.text import OFFLINE_NOTICE, format_value, humanise, vary
from keel.agents.repair import StructuredOutputError, parse_structured, schema_tool_name

M = TypeVar("M", bound=BaseModel)

Composer = Callable[[list[BaseMessage], type[Any]], dict[str, Any] | BaseModel]
ReplyComposer = Callable[[list[BaseMessage]], str]

_MAX_FACTS_PER_RESULT = 6
# Facts a CSM reads first in a summary: state, risk and what is driving it.
_HEADLINE_KEYS = re.compile(
    r"band|score|risk|driver|reason|change|trend|status|renewal|(?:^|_)arr(?:_|$)"
)

_composers: dict[type[BaseModel], Composer] = {}
_replies: list[tuple[re.Pattern[str], ReplyComposer]] = []
_lock = threading.Lock()


def register_composer(schema: type[M], composer: Composer) -> Composer:
    """Use ``composer`` whenever the offline model is asked for ``schema``."""
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError(f"composers are registered for pydantic models, not {schema!r}")
    with _lock:
        _composers[schema] = composer
    return composer


def composer_for(schema: type[BaseModel]) -> Composer:
    """The registered composer for ``schema``, else the generic :func:`compose_from_facts`."""
    with _lock:
        return _composers.get(schema, compose_from_facts)


def schema_for_tool(name: str) -> type[BaseModel] | None:
    """The registered schema bound under tool name ``name`` (as ``create_agent`` binds it)."""
    with _lock:
        schemas = list(_composers)
    return next((s for s in schemas if schema_tool_name(s) == name), None)


def compose(messages: Sequence[BaseMessage], schema: type[M]) -> M:
    """Build ``schema`` with its composer.

    Raises:
        StructuredOutputError: the composer's output does not fit the schema.
    """
    built = composer_for(schema)(list(messages), schema)
    if isinstance(built, schema):
        return built
    if isinstance(built, BaseModel):
        built = built.model_dump()
    return parse_structured(built, schema)


def compose_from_facts(messages: list[BaseMessage], schema: type[BaseModel]) -> dict[str, Any]:
    """Fill ``schema`` from facts whose keys match its field names (or aliases).

    Raises:
        StructuredOutputError: a required field has no matching fact, or a value is invalid.
    """
    facts = collect_facts(messages)
    data: dict[str, Any] = {}
    missing: list[str] = []
    for name, info in schema.model_fields.items():
        value = find_fact(facts, name)
        if value is MISSING and info.alias:
            value = find_fact(facts, info.alias)
        if value is not MISSING:
            data[name] = value
        elif info.is_required():
            missing.append(name)
    if missing:
        raise StructuredOutputError(
            schema.__name__,
            [f"no fact named '{name}' to fill it offline" for name in missing]
            + [f"register a composer for {schema.__name__} with register_composer()"],
        )
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise StructuredOutputError(
            schema.__name__, [f"facts do not fit: {err['msg']}" for err in exc.errors()]
        ) from exc
    return data


# --- plain replies -------------------------------------------------------------------------


def register_reply_composer(system_pattern: str, composer: ReplyComposer) -> ReplyComposer:
    """Write text replies with ``composer`` when the system prompt matches the pattern."""
    with _lock:
        _replies.append((re.compile(system_pattern, re.IGNORECASE), composer))
    return composer


def compose_reply(messages: Sequence[BaseMessage]) -> str:
    """The offline text reply: a registered reply composer's, else :func:`default_reply`."""
    system = system_text(messages)
    with _lock:
        match = next((fn for pattern, fn in reversed(_replies) if pattern.search(system)), None)
    return (match or default_reply)(list(messages))


_OPENINGS = (
    "Here is what the data says about {subject}.",
    "A quick read on {subject}, from the facts I was given.",
    "On {subject}, this is what the records show.",
    "What I can tell you about {subject} from the data at hand:",
)
_NO_FACTS = (
    "This is Keel's offline model. I only report facts I am given, and {subject} came "
    "with none, so there is nothing to summarise yet.",
    "Keel's offline model here: no tool results or facts came with {subject}, so I have "
    "nothing to report. Ask about an account to get its data.",
)
_CLOSINGS = (
    "Check the figures above before you act on them.",
    "The numbers above come straight from the tools; nothing was inferred beyond them.",
    "Ask me about a specific signal to see its details.",
)


def default_reply(messages: list[BaseMessage]) -> str:
    """A short, specific summary of the facts in the conversation, labelled as offline."""
    facts = collect_facts(messages)
    request = latest_request(messages).strip()
    subject = _subject(facts, request)
    key = f"{subject}|{request}"
    results = tool_results(messages) or tool_results(messages, whole_conversation=True)
    lines = [
        f"- {humanise(result.name).capitalize()}: {_summarise(result.data, skip=subject)}"
        for result in results
    ]
    if not results:
        prompt_facts = {k: v for k, v in facts.items() if not isinstance(v, Mapping | list)}
        if prompt_facts:
            lines.append(f"- Facts provided: {_summarise(prompt_facts, skip=subject)}")
    if lines:
        lines.insert(0, vary(_OPENINGS, key).format(subject=subject))
    else:
        lines.append(vary(_NO_FACTS, key).format(subject=subject))
    if results:
        lines.append(vary(_CLOSINGS, key))
    lines.append(f"_{OFFLINE_NOTICE}_")
    return "\n".join(lines)


def _subject(facts: Mapping[str, Any], request: str) -> str:
    for key in ("account_name", "name", "company"):
        value = find_fact(facts, key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    short = request.splitlines()[0][:80] if request else ""
    return f"\u201c{short}\u201d" if short else "this request"


def _summarise(data: Any, *, skip: str = "") -> str:
    """Up to a few ``key value`` pairs of ``data``, what a CSM looks at first leading.

    The subject's own name is left out (it is already in the opening line).
    """
    if isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items() if v != skip]
        # Stable sort: headline facts first, then scalars, then lists and objects.
        items.sort(
            key=lambda kv: (not _HEADLINE_KEYS.search(kv[0]), isinstance(kv[1], Mapping | list))
        )
        shown = items[:_MAX_FACTS_PER_RESULT]
        text = "; ".join(f"{humanise(k)} {format_value(v)}" for k, v in shown)
        hidden = len(items) - len(shown)
        return text + (f" (+{hidden} more)" if hidden > 0 else "") if text else "no data"
    if isinstance(data, list):
        return f"{len(data)} item(s): {format_value(data)}" if data else "nothing found"
    return format_value(data) or "no data"
