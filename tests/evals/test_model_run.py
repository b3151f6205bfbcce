"""Running the suite on a real model: choosing it (``--model``), counting how its structured
answers held up (first try, after repair, failed), the run's time per draft, and the
schema the local server decodes JSON answers under."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, SecretStr

from keel.agents.llm import RetryPolicy, make_chat_model
from keel.agents.repair import StructuredOutputError, counting_structured, invoke_structured
from keel.errors import KeelError
from keel.evals.json_constraint import (
    DATE_PATTERN,
    MAX_ARRAY_ITEMS,
    MAX_STRING_CHARS,
    enforceable,
)
from keel.evals.local_model import parse_request, skeleton
from keel.evals.model_choice import settings_for_model
from keel.evals.runner import model_stats
from keel.settings import Settings
from tests.openai_server import OpenAIServer, reply, tool_call


class Verdict(BaseModel):
    account_name: str
    at_risk: bool


# --- counting structured answers ----------------------------------------------------------


@pytest.mark.service
def test_structured_answers_are_counted_first_try_repaired_or_failed(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(
        tool_call("Verdict", {"account_name": "Acme", "at_risk": True}),  # usable at once
        tool_call("Verdict", {"account_name": "Acme"}),  # missing a field: fed back
        tool_call("Verdict", {"account_name": "Acme", "at_risk": False}),  # repaired
        reply("I will not."),  # unusable
        reply("Still no."),  # unusable again: failed
    )
    settings = Settings(data_dir=tmp_path, llm_base_url=openai_server.base_url, llm_model="m")
    model = make_chat_model(
        settings, retry=RetryPolicy(max_retries=0, initial_wait_s=0.01, max_wait_s=0.01)
    )
    ask = [HumanMessage("Is Acme at risk?")]
    with counting_structured() as tally:
        invoke_structured(model, ask, Verdict)
        invoke_structured(model, ask, Verdict)
        with pytest.raises(StructuredOutputError):
            invoke_structured(model, ask, Verdict)
    assert tally.as_json() == {"Verdict": {"first_try": 1, "repaired": 1, "failed": 1}}
    # Outside the block nothing is counted (and nothing breaks).
    openai_server.script.push(tool_call("Verdict", {"account_name": "A", "at_risk": True}))
    invoke_structured(model, ask, Verdict)
    assert tally.as_json()["Verdict"]["first_try"] == 1


def test_model_stats_give_rates_and_time_per_draft_without_the_chat() -> None:
    results: list[dict[str, Any]] = [
        {
            "seconds": 30.0,
            "errors": [],
            "artefacts": [{"key": "briefing"}, {"key": "draft:save_plan"}],
            "chat": [{"seconds": 10.0}],
            "structured": {
                "Briefing": {"first_try": 1, "repaired": 0, "failed": 0},
                "DraftContent": {"first_try": 0, "repaired": 1, "failed": 0},
            },
        },
        {
            "seconds": 20.0,
            "errors": ["analyst: The model's output for Briefing is unusable"],
            "artefacts": [],
            "structured": {"Briefing": {"first_try": 0, "repaired": 0, "failed": 1}},
        },
    ]
    stats = model_stats(results)
    structured = stats["structured"]
    assert (structured["asked"], structured["first_try"], structured["repaired"]) == (3, 1, 1)
    assert structured["failed"] == 1
    assert structured["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert structured["repair_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert structured["repair_success"] == 0.5
    assert structured["by_schema"]["Briefing"] == {"first_try": 1, "repaired": 0, "failed": 1}
    assert stats["reviews_failed"] == 1 and stats["drafts"] == 1
    # 50 s of scenarios, 10 of them the chat question: 40 s for the one draft.
    assert stats["seconds_per_draft"] == 40.0
    assert stats["seconds_per_chat_answer"] == 10.0


# --- choosing the model ---------------------------------------------------------------------


def test_model_choice_offline_url_and_name(tmp_path: Path) -> None:
    configured = Settings(
        data_dir=tmp_path,
        llm_base_url="https://llm.example/v1",
        openai_api_key=SecretStr("sk-x"),
        llm_model="big-model",
    )
    offline = settings_for_model(configured, "offline")
    assert not offline.llm_configured
    assert settings_for_model(configured, None) is configured
    named = settings_for_model(configured, "other-model")
    assert (named.llm_model, named.llm_base_url) == ("other-model", "https://llm.example/v1")
    both = settings_for_model(Settings(data_dir=tmp_path), "smol@http://127.0.0.1:9/v1/")
    assert (both.llm_model, both.llm_base_url) == ("smol", "http://127.0.0.1:9/v1")
    assert both.llm_configured and both.openai_api_key is not None
    # Nothing listens there: the name comes from the settings.
    url_only = settings_for_model(configured, "http://127.0.0.1:9/v1")
    assert url_only.llm_model == "big-model" and url_only.llm_base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(KeelError, match="http"):
        settings_for_model(configured, "smol@ftp://host/v1")
    with pytest.raises(KeelError, match="needs a value"):
        settings_for_model(configured, " ")


# --- what the local server decodes JSON answers under -----------------------------------------

BRIEFING_LIKE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "as_of": {"type": "string", "format": "date"},
        "summary": {"type": "string"},
        "title": {"type": "string", "maxLength": 40},
        "kind": {"type": "string", "enum": ["risk", "expansion"]},
        "ids": {"type": "array", "items": {"type": "string"}},
        "few": {"type": "array", "items": {"type": "integer"}, "maxItems": 1},
    },
    "required": ["as_of", "summary"],
}


def test_the_schema_is_tightened_for_a_small_model_and_kept_otherwise() -> None:
    tight = enforceable(BRIEFING_LIKE)
    props = tight["properties"]
    assert props["as_of"]["pattern"] == DATE_PATTERN
    assert props["summary"]["maxLength"] == MAX_STRING_CHARS
    assert props["title"]["maxLength"] == 40  # the schema's own bound stays
    assert "maxLength" not in props["kind"]  # an enum is bounded already
    assert props["ids"]["maxItems"] == MAX_ARRAY_ITEMS
    assert props["ids"]["items"]["maxLength"] == MAX_STRING_CHARS
    assert props["few"]["maxItems"] == 1
    assert "maxItems" not in BRIEFING_LIKE["properties"]["ids"]  # the request is not changed
    assert enforceable(None) == {"type": "object"} == enforceable({})


def test_a_constrained_server_shows_placeholders_not_values_to_copy() -> None:
    body = {
        "messages": [{"role": "user", "content": "Rate it"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": BRIEFING_LIKE},
        },
    }
    free = parse_request(body)
    constrained = parse_request(body, constrained=True)
    assert free.json_schema == constrained.json_schema == BRIEFING_LIKE
    assert '"kind": "risk"' in free.messages[-1]["content"]
    assert '"kind": "<risk|expansion>"' in constrained.messages[-1]["content"]
    assert skeleton(BRIEFING_LIKE, hints=True)["as_of"] == "<YYYY-MM-DD>"
    plain = parse_request({"messages": [{"role": "user", "content": "hi"}]})
    assert plain.json_schema is None  # a text reply is never constrained
    forced = parse_request(
        {
            "messages": [{"role": "user", "content": "Go"}],
            "tools": [{"type": "function", "function": {"name": "Plan"}}],
            "tool_choice": {"type": "function", "function": {"name": "Plan"}},
        }
    )
    assert forced.json_schema == {}  # a tool without parameters: any JSON object
    json_mode = parse_request(
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    )
    assert json_mode.json_schema == {}


def test_a_long_conversation_is_trimmed_to_the_system_start_and_the_latest_messages() -> None:
    from keel.evals.local_model import fit_messages

    def words(text: str) -> int:
        return len(text.split())

    system = " ".join(f"s{i}" for i in range(100))
    old = " ".join(f"a{i}" for i in range(100))
    recent = " ".join(f"b{i}" for i in range(50))
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": old},
        {"role": "user", "content": recent},
        {"role": "user", "content": "Reply with JSON."},
    ]
    assert fit_messages(messages, 10_000, words) == messages  # it fits: unchanged
    trimmed = fit_messages(messages, 120, words)
    assert [m["role"] for m in trimmed] == ["system", "user", "user", "user"]
    assert trimmed[0]["content"].startswith("s0 s1") and "s99" not in trimmed[0]["content"]
    assert trimmed[1]["content"].endswith("a99") and "a0 " not in trimmed[1]["content"]
    assert trimmed[2]["content"] == recent and trimmed[3]["content"] == "Reply with JSON."
    assert sum(words(m["content"]) + 8 for m in trimmed) <= 125
