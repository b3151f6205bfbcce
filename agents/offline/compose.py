"""Composers: how the offline model writes structured output and replies from facts.

A *composer* builds one schema from a :class:`ComposeRequest`: the conversation (tool
results as JSON), the schema asked for, and the typed facts the caller passed with the
prompt (:class:`keel.agents.offline.request.TypedPrompt`)::

    def compose_briefing(ask: ComposeRequest) -> dict:
        facts = collect_facts(ask.messages)
        ...
        return {"summary": ..., "account_id": facts["account_id"], ...}

    OfflineChatModel(composers={Briefing: compose_briefing})

There is no global registry: each offline model is built with its composers. Schemas
without one get :func:`compose_from_facts`, which fills fields whose names match facts and
fails clearly otherwise. Plain text replies come from the model's reply composer for the
calling step, else from :func:`default_reply`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ValidationError

from keel.agents.offline.facts import (
    MISSING,
    collect_facts,
    find_fact,
    latest_request,
    tool_results,
)
from keel.agents.offline.text import OFFLINE_NOTICE, format_value, humanise, vary
from keel.agents.repair import StructuredOutputError, parse_structured, schema_tool_name

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F")


@dataclass(frozen=True)
class ComposeRequest:
    """What a composer writes from.

    Attributes:
        messages: The conversation (tool results are facts too).
        schema: The pydantic model asked for.
        facts: The typed facts the caller attached to the prompt, or ``None``.
    """

    messages: list[BaseMessage]
    schema: type[BaseModel]
    facts: Any = None

    def facts_as(self, kind: type[F]) -> F:
        """The attached facts, which must be a ``kind``.

        Raises:
            StructuredOutputError: the caller attached no ``kind`` (so there is nothing to
                write from; the prompt's words are never parsed instead).
        """
        if not isinstance(self.facts, kind):
            got = "no facts" if self.facts is None else type(self.facts).__name__
            raise StructuredOutputError(
                self.schema.__name__, [f"the request carries {got}, not {kind.__name__}"]
            )
        return self.facts


Composer = Callable[[ComposeRequest], dict[str, Any] | BaseModel]
Composers = Mapping[type[BaseModel], Composer]
ReplyComposer = Callable[[list[BaseMessage]], str]

_MAX_FACTS_PER_RESULT = 6
# Facts a CSM reads first in a summary: state, risk and what is driving it.
_HEADLINE_KEYS = re.compile(
    r"band|score|risk|driver|reason|change|trend|status|renewal|(?:^|_)arr(?:_|$)"
)


def schema_for_tool(composers: Composers, name: str) -> type[BaseModel] | None:
    """The schema among ``composers`` bound under tool name ``name`` (as ``create_agent``
    binds a response format)."""
    return next((s for s in composers if schema_tool_name(s) == name), None)


def compose(request: ComposeRequest, composers: Composers) -> BaseModel:
    """Build ``request.schema`` with its composer in ``composers``, else from the facts.

    Raises:
        StructuredOutputError: the composer's output does not fit the schema.
    """
    schema = request.schema
    built = composers.get(schema, compose_from_facts)(request)
    if isinstance(built, schema):
        return built
    if isinstance(built, BaseModel):
        built = built.model_dump()
    return parse_structured(built, schema)


def compose_from_facts(request: ComposeRequest) -> dict[str, Any]:
    """Fill the schema from facts whose keys match its field names (or aliases).

    Facts are the conversation's (tool results, JSON in the prompt) and the attached ones.

    Raises:
        StructuredOutputError: a required field has no matching fact, or a value is invalid.
    """
    schema = request.schema
    facts = collect_facts(request.messages)
    attached = request.facts
    if isinstance(attached, BaseModel):
        attached = attached.model_dump(mode="json")
    if isinstance(attached, Mapping):
        facts.update(attached)
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
            + [f"give the offline model a composer for {schema.__name__} (composers=...)"],
        )
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise StructuredOutputError(
            schema.__name__, [f"facts do not fit: {err['msg']}" for err in exc.errors()]
        ) from exc
    return data


# --- plain replies -------------------------------------------------------------------------


def compose_reply(messages: Sequence[BaseMessage], composer: ReplyComposer | None = None) -> str:
    """The offline text reply: ``composer``'s when given, else :func:`default_reply`."""
    return (composer or default_reply)(list(messages))


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
