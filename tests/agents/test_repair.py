"""Repair of malformed model output, and clear errors when it cannot be repaired."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field

from keel.agents.repair import (
    StructuredOutputError,
    ToolCallError,
    find_json_objects,
    parse_structured,
    repair_json,
    validate_tool_calls,
)


class Play(BaseModel):
    play_id: str
    reason: str
    owner: str | None  # required but nullable: filled with None when left out
    priority: int = Field(default=2, ge=1, le=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ("{'a': 'x', 'b': True, 'c': None}", {"a": "x", "b": True, "c": None}),
        ("{'a': true, 'b': null}", {"a": True, "b": None}),
        ('Sure! Here it is: {"a": "it\'s {fine}"} Hope that helps.', {"a": "it's {fine}"}),
        ("\u201ca\u201d", None),
        ("42", None),
        ("{\u201ca\u201d: 1}", {"a": 1}),
    ],
)
def test_repair_json(text: str, expected: Any) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="no JSON object"):
            repair_json(text)
    else:
        assert repair_json(text) == expected


def test_find_json_objects_reads_fact_blocks_but_not_prose() -> None:
    text = 'Facts: {"account_id": 4, "tags": {"x": 1}} and {not json} then {"b": 2}.'

    assert find_json_objects(text) == [{"account_id": 4, "tags": {"x": 1}}, {"b": 2}]


def test_parse_structured_from_messages_and_text() -> None:
    expected = Play(play_id="p1", reason="usage drop", owner=None)
    as_tool_call = AIMessage(
        "",
        tool_calls=[{"name": "Play", "args": {"play_id": "p1", "reason": "usage drop"}, "id": "1"}],
    )
    as_invalid_call = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "name": "Play",
                "args": "{'play_id': 'p1', 'reason': 'usage drop',}",
                "id": "1",
                "error": "bad json",
                "type": "invalid_tool_call",
            }
        ],
    )
    in_prose = AIMessage('I chose: ```json\n{"play_id": "p1", "reason": "usage drop"}\n```')
    wrapped = {"Play": {"play_id": "p1", "reason": "usage drop"}}

    for raw in (as_tool_call, as_invalid_call, in_prose, wrapped):
        assert parse_structured(raw, Play) == expected


def test_parse_structured_names_the_schema_and_every_bad_field() -> None:
    with pytest.raises(StructuredOutputError) as failed:
        parse_structured('{"reason": 5, "priority": 9}', Play)

    message = str(failed.value)
    assert failed.value.schema_name == "Play"
    assert "missing field 'play_id'" in message
    assert "field 'reason'" in message and "field 'priority'" in message


def test_parse_structured_without_any_json() -> None:
    with pytest.raises(StructuredOutputError, match=r"Play.*no JSON object"):
        parse_structured(AIMessage("I cannot help with that."), Play)
    with pytest.raises(StructuredOutputError, match="neither a tool call nor any text"):
        parse_structured(AIMessage(""), Play)


def test_validate_tool_calls_drops_unknown_tools_and_repairs_arguments() -> None:
    message = AIMessage(
        "",
        tool_calls=[
            {"name": "get_health", "args": {"account_id": 1}, "id": "a"},
            {"name": "delete_everything", "args": {}, "id": "b"},
        ],
        invalid_tool_calls=[
            {
                "name": "get_contacts",
                "args": "{'account_id': 1,}",
                "id": "c",
                "error": None,
                "type": "invalid_tool_call",
            },
            {
                "name": "get_health",
                "args": "account one please",
                "id": "d",
                "error": None,
                "type": "invalid_tool_call",
            },
        ],
    )

    review = validate_tool_calls(message, ["get_health", "get_contacts"])

    assert [c["id"] for c in review.message.tool_calls] == ["a", "c"]
    assert review.message.tool_calls[1]["args"] == {"account_id": 1}
    assert not review.ok and len(review.errors) == 2
    assert any("unknown tool 'delete_everything'" in e for e in review.errors)
    assert any("not valid JSON" in e for e in review.errors)
    with pytest.raises(ToolCallError, match="delete_everything"):
        validate_tool_calls(message, ["get_health", "get_contacts"], strict=True)
