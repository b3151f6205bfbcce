"""Reading a conversation: the current request, tool results, and the facts it carries.

Facts are JSON: tool results (``ToolMessage`` content) and JSON objects embedded in the
system or human prompt (a "facts" block). They are what offline composers write from.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from keel.agents.repair import find_json_objects

MISSING: Any = object()

# "account_id: 42", "- As of = 2024-05-01": one key/value per line of a prompt.
_KEY_VALUE = re.compile(
    r"^[ \t]*[-*]?[ \t]*([A-Za-z][\w \t]{0,40}?)[ \t]*[:=][ \t]*(\S.*?)[ \t]*$", re.M
)


@dataclass(frozen=True)
class ToolResult:
    """One tool's answer in the current turn: parsed JSON when it is JSON, else text."""

    name: str
    tool_call_id: str
    data: Any


def message_text(message: BaseMessage) -> str:
    return message.text if isinstance(message.content, list) else str(message.content)


def last_human_index(messages: Sequence[BaseMessage]) -> int:
    """Index of the last human message (the current request), or -1."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index
    return -1


def latest_request(messages: Sequence[BaseMessage]) -> str:
    """The current request: the last human message, else the last system message."""
    index = last_human_index(messages)
    if index >= 0:
        return message_text(messages[index])
    systems = [m for m in messages if isinstance(m, SystemMessage)]
    return message_text(systems[-1]) if systems else ""


def system_text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(message_text(m) for m in messages if isinstance(m, SystemMessage))


def current_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Messages after the current request (the tool calls and results answering it)."""
    return list(messages[last_human_index(messages) + 1 :])


def called_tools(messages: Sequence[BaseMessage]) -> list[str]:
    """Names of the tools already called for the current request."""
    return [
        call["name"]
        for message in current_turn(messages)
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    ]


def tool_results(
    messages: Sequence[BaseMessage], *, whole_conversation: bool = False
) -> list[ToolResult]:
    """Tool results for the current request (or the whole conversation)."""
    scope = list(messages) if whole_conversation else current_turn(messages)
    names = {
        call["id"]: call["name"]
        for message in scope
        if isinstance(message, AIMessage)
        for call in message.tool_calls
        if call.get("id")
    }
    results = []
    for message in scope:
        if isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id, "tool")
            results.append(ToolResult(name, message.tool_call_id, _decode(message_text(message))))
    return results


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        objects = find_json_objects(text)
        return objects[0] if len(objects) == 1 else text


def collect_facts(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """Every fact in the conversation, later ones winning.

    JSON objects in system and human messages are merged key by key; each tool result is
    stored under the tool's name and, when it is an object, merged too.
    """
    facts: dict[str, Any] = {}
    for message in messages:
        if isinstance(message, SystemMessage | HumanMessage):
            for block in find_json_objects(message_text(message)):
                facts.update(block)
    for result in tool_results(messages, whole_conversation=True):
        facts[result.name] = result.data
        if isinstance(result.data, dict):
            facts.update(result.data)
    return facts


def find_fact(facts: Mapping[str, Any], key: str) -> Any:
    """``facts[key]``, else the shallowest nested value under ``key``, else :data:`MISSING`."""
    queue: deque[Any] = deque([facts])
    while queue:
        node = queue.popleft()
        if isinstance(node, Mapping):
            if key in node:
                return node[key]
            queue.extend(v for v in node.values() if isinstance(v, Mapping | list))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, Mapping))
    return MISSING


def key_values(text: str) -> dict[str, str]:
    """``key: value`` lines of a prompt, keys in snake_case (``Account ID`` -> ``account_id``)."""
    pairs: dict[str, str] = {}
    for key, value in _KEY_VALUE.findall(text):
        pairs.setdefault(re.sub(r"\s+", "_", key.strip().lower()), value)
    return pairs
