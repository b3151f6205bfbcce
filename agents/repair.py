"""Malformed model output: repair what can be repaired, retry once, then fail one step clearly.

Models answer with JSON in code fences, JSON inside prose, trailing commas, Python-style
single quotes, tool-call arguments as a string, or a missing ``Optional`` field. These
are repaired here. What cannot be repaired raises :class:`StructuredOutputError`, naming
the schema and every missing or invalid field, so the graph node that asked fails that
one step and the run goes on.
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import re
import threading
import types
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    InvalidToolCall,
    ToolCall,
    ToolMessage,
)
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from pydantic import BaseModel, ValidationError

from keel.errors import KeelError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# Sent back to the model after an invalid answer, so its second attempt can fix it.
REPAIR_PROMPT = (
    "Your previous answer could not be used: {error}\n"
    "Answer again with {schema} only, as valid JSON with these fields: {fields}."
)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_WORDS = re.compile(r"\b(true|false|null)\b")
# Typographic quotes some models emit around keys and strings.
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class StructuredOutputError(KeelError):
    """The model's output does not fit the schema, even after repair.

    Attributes:
        schema_name: The schema that was asked for.
        problems: One line per missing or invalid field (or why nothing could be parsed).
    """

    def __init__(
        self, schema_name: str, problems: Sequence[str], *, attempts: int | None = None
    ) -> None:
        self.schema_name = schema_name
        self.problems = list(problems)
        after = f" after {attempts} attempt(s)" if attempts else ""
        super().__init__(
            f"The model's output for {schema_name} is unusable{after}: " + "; ".join(problems)
        )


class ToolCallError(KeelError):
    """A model asked for tools it may not use, or with arguments that are not JSON."""


# --- JSON repair ---------------------------------------------------------------------------


def repair_json(text: str) -> Any:
    """Parse JSON from model text, repairing common malformations.

    Handles code fences, JSON embedded in prose, trailing commas, single quotes and
    Python literals (``True``/``None``), and typographic quotes.

    Raises:
        ValueError: no JSON object or array could be recovered.
    """
    for candidate in _candidates(text):
        value = _loads_lenient(candidate)
        if value is not _NOTHING:
            return value
    preview = text.strip().replace("\n", " ")
    preview = preview[:120] + ("..." if len(preview) > 120 else "")
    raise ValueError(f"no JSON object found in the model's text: {preview!r}")


_NOTHING = object()


def _loads_lenient(text: str) -> Any:
    attempts = [text]
    fixed = _TRAILING_COMMA.sub(r"\1", text.translate(_SMART_QUOTES))
    if fixed != text:
        attempts.append(fixed)
    for attempt in attempts:
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            continue
        # A bare string or number is valid JSON but never a structured answer.
        return value if isinstance(value, dict | list) else _NOTHING
    # Single quotes and Python literals: a literal (never code) evaluation is safe.
    python_like = _JSON_WORDS.sub(
        lambda m: {"true": "True", "false": "False", "null": "None"}[m.group(1)], fixed
    )
    try:
        value = ast.literal_eval(python_like)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _NOTHING
    return value if isinstance(value, dict | list) else _NOTHING


def find_json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in ``text`` (strict JSON only, so prose is never mistaken).

    Used to read fact blocks that a prompt embeds in its text.
    """
    found: list[dict[str, Any]] = []
    end = -1
    for start, char in enumerate(text):
        if char != "{" or start <= end:
            continue
        close = _matching_close(text, start)
        if close is None:
            continue
        try:
            value = json.loads(text[start : close + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
            end = close
    return found


def _candidates(text: str) -> Iterator[str]:
    stripped = text.strip()
    yield stripped
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    yield from _balanced_spans(text)


def _balanced_spans(text: str) -> Iterator[str]:
    """Every balanced ``{...}`` or ``[...]`` span, outermost first, skipping string contents."""
    for start, char in enumerate(text):
        if char not in "{[":
            continue
        end = _matching_close(text, start)
        if end is not None:
            yield text[start : end + 1]


def _matching_close(text: str, start: int) -> int | None:
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index
    return None


# --- how structured output held up ---------------------------------------------------------


@dataclass
class StructuredTally:
    """How structured answers went while counting (:func:`counting_structured`), by schema:
    usable at the first attempt, usable only after the error was fed back (repaired), or
    unusable after every attempt (failed)."""

    first_try: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, schema: str, attempt: int, ok: bool) -> None:
        bucket = self.failed if not ok else self.first_try if attempt == 1 else self.repaired
        with self._lock:
            bucket[schema] = bucket.get(schema, 0) + 1

    def as_json(self) -> dict[str, Any]:
        schemas = sorted({*self.first_try, *self.repaired, *self.failed})
        return {
            name: {
                "first_try": self.first_try.get(name, 0),
                "repaired": self.repaired.get(name, 0),
                "failed": self.failed.get(name, 0),
            }
            for name in schemas
        }


# Set while an eval counts; graph nodes run in copied contexts, which share the same tally.
_TALLY: ContextVar[StructuredTally | None] = ContextVar("keel_structured_tally", default=None)


@contextmanager
def counting_structured() -> Iterator[StructuredTally]:
    """Count every structured answer asked for in this context (the eval's report of how
    structured output and its repair held up on a model)."""
    tally = StructuredTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def _count(schema: type[BaseModel], attempt: int, ok: bool) -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally.add(schema.__name__, attempt, ok)


# --- structured output ---------------------------------------------------------------------


@functools.cache
def schema_tool_name(schema: type[BaseModel]) -> str:
    """The tool name LangChain gives a pydantic schema bound as a tool.

    Cached: converting the schema to a tool spec is costly and a schema's name never
    changes, and offline runs ask for it on every structured call.
    """
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return str(convert_to_openai_tool(schema)["function"]["name"])


def parse_structured(raw: str | dict[str, Any] | BaseMessage, schema: type[M]) -> M:
    """Build ``schema`` from a model's output, repairing what can be repaired.

    Args:
        raw: Model text, an already-decoded dict, or the model's message (its tool call
            for the schema, an invalid tool call whose arguments are a string, or its text).
        schema: The pydantic model to build.

    Raises:
        StructuredOutputError: nothing fits the schema; the message names each field.
    """
    name = schema.__name__
    try:
        payload = _payload(raw, schema)
    except ValueError as exc:
        raise StructuredOutputError(name, [str(exc)]) from exc
    first_error: ValidationError | None = None
    for candidate in _unwrapped(payload):
        if not isinstance(candidate, dict):
            continue
        try:
            return schema.model_validate(_fill_optional(candidate, schema))
        except ValidationError as exc:
            first_error = first_error or exc
    if first_error is None:
        kind = type(payload).__name__
        raise StructuredOutputError(name, [f"expected a JSON object, got {kind}"])
    raise StructuredOutputError(name, _describe(first_error)) from first_error


def _payload(raw: str | dict[str, Any] | BaseMessage, schema: type[BaseModel]) -> Any:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        return repair_json(raw)
    if isinstance(raw, AIMessage):
        wanted = schema_tool_name(schema)
        calls = sorted(raw.tool_calls, key=lambda call: call["name"] != wanted)
        if calls:
            return calls[0]["args"]
        invalid = sorted(raw.invalid_tool_calls, key=lambda call: call.get("name") != wanted)
        if invalid and invalid[0].get("args"):
            return repair_json(str(invalid[0]["args"]))
        parsed = raw.additional_kwargs.get("parsed")
        if isinstance(parsed, BaseModel):
            return parsed.model_dump()
        if isinstance(parsed, dict):
            return parsed
    text = raw.text if isinstance(raw, BaseMessage) else str(raw)
    if not text.strip():
        raise ValueError("the model returned neither a tool call nor any text")
    return repair_json(text)


def _unwrapped(payload: Any) -> Iterator[Any]:
    """The payload, then what models often wrap it in: a one-item list or a one-key dict."""
    yield payload
    if isinstance(payload, list) and len(payload) == 1:
        yield payload[0]
    if isinstance(payload, dict) and len(payload) == 1:
        inner = next(iter(payload.values()))
        if isinstance(inner, dict):
            yield inner


def _fill_optional(data: dict[str, Any], schema: type[BaseModel]) -> dict[str, Any]:
    """Set required-but-nullable fields the model left out to ``None``."""
    filled = dict(data)
    for name, info in schema.model_fields.items():
        present = name in filled or (info.alias is not None and info.alias in filled)
        if not present and info.is_required() and _admits_none(info.annotation):
            filled[name] = None
    return filled


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_admits_none(arg) for arg in typing.get_args(annotation))
    return False


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        if item["type"] == "missing":
            problems.append(f"missing field '{where}'")
        else:
            problems.append(f"field '{where}': {item['msg']}")
    return problems


def structured_parser(schema: type[M]) -> Runnable[BaseMessage, M]:
    """A runnable turning a model message into ``schema`` via :func:`parse_structured`."""
    return RunnableLambda(partial(parse_structured, schema=schema)).with_types(output_type=schema)


def attach_parser(
    model: Runnable[LanguageModelInput, BaseMessage], schema: type[BaseModel], *, include_raw: bool
) -> Runnable[LanguageModelInput, Any]:
    """``model | parser``, or with ``include_raw`` the ``raw/parsed/parsing_error`` dict.

    This mirrors ``BaseChatModel.with_structured_output`` so both Keel models keep its
    contract while parsing through the repairing parser.
    """
    parser = structured_parser(schema)
    if not include_raw:
        return model | parser
    parser_assign = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
    with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
    # ``model | {"raw": ...}`` rather than LangChain's ``RunnableMap(raw=model)``: a map of
    # one branch still starts a thread pool on every call (a third of a review's time
    # outside the model and the tools on the offline model, see bench/review.py).
    return model | RunnableLambda(_as_raw) | with_fallback


def _as_raw(message: BaseMessage) -> dict[str, Any]:
    return {"raw": message}


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage] | ChatPromptValue,
    schema: type[M],
    *,
    attempts: int = 2,
) -> M:
    """Ask ``model`` for ``schema``; repair, retry with the error fed back, then fail clearly.

    Args:
        model: Any chat model supporting ``with_structured_output(include_raw=True)``.
        messages: The prompt: messages, or a chat prompt value (a subclass that carries
            more, such as :class:`keel.agents.offline.TypedPrompt`, is kept across retries).
        schema: The pydantic model wanted.
        attempts: Model calls at most (the first plus retries).

    Raises:
        StructuredOutputError: every attempt gave unusable output.
    """
    runnable = model.with_structured_output(schema, include_raw=True)
    prompt = _prompt(messages)
    problems: list[str] = []
    for attempt in range(1, attempts + 1):
        parsed, raw, problems = _outcome(runnable.invoke(prompt), schema)
        if parsed is not None:
            _count(schema, attempt, ok=True)
            return parsed
        prompt = _followed_by(prompt, _feedback(raw, schema, problems, attempt, attempts))
    _count(schema, attempts, ok=False)
    raise StructuredOutputError(schema.__name__, problems, attempts=attempts)


async def ainvoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage] | ChatPromptValue,
    schema: type[M],
    *,
    attempts: int = 2,
) -> M:
    """Async :func:`invoke_structured`."""
    runnable = model.with_structured_output(schema, include_raw=True)
    prompt = _prompt(messages)
    problems: list[str] = []
    for attempt in range(1, attempts + 1):
        parsed, raw, problems = _outcome(await runnable.ainvoke(prompt), schema)
        if parsed is not None:
            _count(schema, attempt, ok=True)
            return parsed
        prompt = _followed_by(prompt, _feedback(raw, schema, problems, attempt, attempts))
    _count(schema, attempts, ok=False)
    raise StructuredOutputError(schema.__name__, problems, attempts=attempts)


def _prompt(messages: Sequence[BaseMessage] | ChatPromptValue) -> ChatPromptValue:
    if isinstance(messages, ChatPromptValue):
        return messages
    return ChatPromptValue(messages=list(messages))


def _followed_by(prompt: ChatPromptValue, more: Sequence[BaseMessage]) -> ChatPromptValue:
    """``prompt`` with ``more`` appended; its type and any other fields kept."""
    return prompt.model_copy(update={"messages": [*prompt.messages, *more]})


def _outcome(result: Any, schema: type[M]) -> tuple[M | None, Any, list[str]]:
    """``(parsed, raw, problems)`` from a ``with_structured_output(include_raw=True)`` result."""
    if isinstance(result, schema):
        return result, None, []
    if not isinstance(result, dict):
        return None, None, [f"expected {schema.__name__}, got {type(result).__name__}"]
    raw = result.get("raw")
    if isinstance(result.get("parsed"), schema):
        return result["parsed"], raw, []
    try:
        return parse_structured(raw if raw is not None else "", schema), raw, []
    except StructuredOutputError as exc:
        return None, raw, exc.problems


def _feedback(
    raw: Any, schema: type[BaseModel], problems: list[str], attempt: int, attempts: int
) -> list[BaseMessage]:
    logger.warning(
        "Model output for %s unusable (attempt %d of %d): %s",
        schema.__name__,
        attempt,
        attempts,
        "; ".join(problems),
    )
    text = REPAIR_PROMPT.format(
        error="; ".join(problems),
        schema=schema.__name__,
        fields=", ".join(schema.model_fields),
    )
    if not isinstance(raw, AIMessage):
        return [HumanMessage(text)]
    ids = [call.get("id") for call in [*raw.tool_calls, *raw.invalid_tool_calls]]
    if not ids:
        return [raw, HumanMessage(text)]
    # A tool call must be answered by a tool message before the conversation can go on.
    return [raw, *(ToolMessage(content=text, tool_call_id=i or "unknown") for i in ids)]


# --- tool calls ----------------------------------------------------------------------------


def repair_tool_calls(message: AIMessage) -> AIMessage:
    """Move invalid tool calls whose arguments can be repaired into ``tool_calls``."""
    if not message.invalid_tool_calls:
        return message
    repaired, still_invalid = _repair_invalid(message.invalid_tool_calls)
    if not repaired:
        return message
    return message.model_copy(
        update={
            "tool_calls": [*message.tool_calls, *repaired],
            "invalid_tool_calls": still_invalid,
        }
    )


def _repair_invalid(
    calls: Sequence[InvalidToolCall],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    repaired: list[ToolCall] = []
    still_invalid: list[InvalidToolCall] = []
    for call in calls:
        name = call.get("name")
        try:
            args = repair_json(call.get("args") or "{}") if name else None
        except ValueError:
            args = None
        if name and isinstance(args, dict):
            repaired.append(ToolCall(name=name, args=args, id=call.get("id"), type="tool_call"))
        else:
            still_invalid.append(call)
    return repaired, still_invalid


@dataclass
class ToolCallReview:
    """A model message with only the usable tool calls, and what was dropped and why."""

    message: AIMessage
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_tool_calls(
    message: AIMessage, allowed_tool_names: Sequence[str], *, strict: bool = False
) -> ToolCallReview:
    """Keep tool calls to allowed tools with JSON arguments; drop and describe the rest.

    Args:
        message: The model's message.
        allowed_tool_names: The tools this step may call.
        strict: Raise instead of returning the errors.

    Raises:
        ToolCallError: with ``strict``, when any call was dropped.
    """
    allowed = set(allowed_tool_names)
    repaired, still_invalid = _repair_invalid(message.invalid_tool_calls)
    errors = [
        f"tool call '{call.get('name') or '?'}' has arguments that are not valid JSON: "
        f"{(call.get('args') or '')[:80]!r}"
        for call in still_invalid
    ]
    kept: list[ToolCall] = []
    for call in [*message.tool_calls, *repaired]:
        if call["name"] in allowed:
            kept.append(call)
        else:
            errors.append(
                f"unknown tool '{call['name']}' (allowed: {', '.join(sorted(allowed)) or 'none'})"
            )
    if errors and strict:
        raise ToolCallError("The model asked for tools it cannot use: " + "; ".join(errors))
    cleaned = message.model_copy(update={"tool_calls": kept, "invalid_tool_calls": []})
    return ToolCallReview(message=cleaned, errors=errors)
