"""The model factory through the real ``ChatOpenAI`` client against a local OpenAI-compatible
server: replies, tool calls, retries (429, 5xx, timeouts, malformed bodies), structured
output with repair, the per-run budget, streaming, async, and an agent graph."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from keel.agents.budget import RunBudget
from keel.agents.llm import (
    LLMCallFailed,
    ResilientChatOpenAI,
    RetryPolicy,
    make_chat_model,
    model_label,
)
from keel.agents.offline import OfflineChatModel
from keel.agents.repair import StructuredOutputError, invoke_structured
from keel.errors import BudgetExceeded
from keel.settings import Settings
from tests.fakes import FakeWordEmbedder
from tests.openai_server import (
    OpenAIServer,
    RawBody,
    error,
    json_reply,
    reply,
    slow,
    tool_call,
)

FAST_RETRY = RetryPolicy(max_retries=2, initial_wait_s=0.01, max_wait_s=0.05)


class Verdict(BaseModel):
    """A structured answer used to test structured output."""

    account_name: str
    at_risk: bool
    reason: str


@tool
def get_account_health(account_id: int) -> dict[str, Any]:
    """Health score, band and main drivers for one customer account."""
    return {"account_id": account_id, "account_name": "Acme", "score": 41, "band": "red"}


def _model(
    server: OpenAIServer,
    tmp_path: Path,
    *,
    budget: RunBudget | None = None,
    timeout_s: float = 2.0,
    retry: RetryPolicy = FAST_RETRY,
) -> ResilientChatOpenAI:
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url=server.base_url,
        llm_model="test-model",
        llm_timeout_s=timeout_s,
    )
    model = make_chat_model(settings, budget=budget, retry=retry)
    assert isinstance(model, ResilientChatOpenAI)
    return model


@pytest.mark.service
def test_plain_reply_is_charged_to_the_budget(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(reply("Acme looks healthy.", prompt_tokens=12, completion_tokens=4))
    budget = RunBudget(max_calls=5, max_tokens=1_000)
    model = _model(openai_server, tmp_path, budget=budget)

    answer = model.invoke([SystemMessage("You are terse."), HumanMessage("How is Acme?")])

    assert answer.content == "Acme looks healthy."
    assert answer.usage_metadata is not None and answer.usage_metadata["total_tokens"] == 16
    assert (budget.calls_used, budget.tokens_used) == (1, 16)
    sent = openai_server.script.requests[0]
    assert sent["model"] == "test-model"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert model_label(model) == f"openai:test-model@{openai_server.base_url}"
    assert model_label(model.bind_tools([get_account_health])) == model_label(model)


@pytest.mark.service
def test_tool_calls_are_parsed_and_repaired(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(
        tool_call("get_account_health", {"account_id": 42}),
        # single quotes and a trailing comma: repaired rather than left as an invalid call
        tool_call("get_account_health", "{'account_id': 7,}"),
    )
    model = _model(openai_server, tmp_path).bind_tools([get_account_health])

    first = model.invoke("Why is account 42 at risk?")
    second = model.invoke("And account 7?")

    assert isinstance(first, AIMessage) and isinstance(second, AIMessage)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("get_account_health", {"account_id": 42})
    ]
    assert [c["args"] for c in second.tool_calls] == [{"account_id": 7}]
    assert not second.invalid_tool_calls
    sent_tools = openai_server.script.requests[0]["tools"]
    assert sent_tools[0]["function"]["name"] == "get_account_health"


@pytest.mark.service
def test_rate_limit_is_retried_and_logged(
    openai_server: OpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keel.agents.llm")
    openai_server.script.push(error(429, retry_after=0), reply("ok after 429"))

    answer = _model(openai_server, tmp_path).invoke("hi")

    assert answer.content == "ok after 429"
    assert len(openai_server.script.requests) == 2
    retries = [r.getMessage() for r in caplog.records if r.name == "keel.agents.llm"]
    assert len(retries) == 1
    assert "rate limited (HTTP 429)" in retries[0] and "retry 1 of 2" in retries[0]


@pytest.mark.service
def test_retry_after_header_is_honoured(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(error(429, retry_after=0.3), reply("waited"))
    patient = RetryPolicy(max_retries=1, initial_wait_s=0.01, max_wait_s=1.0)

    started = time.monotonic()
    answer = _model(openai_server, tmp_path, retry=patient).invoke("hi")

    assert answer.content == "waited"
    assert time.monotonic() - started >= 0.3


@pytest.mark.service
def test_server_errors_are_retried(
    openai_server: OpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keel.agents.llm")
    openai_server.script.push(error(500), error(503), reply("ok after 5xx"))

    answer = _model(openai_server, tmp_path).invoke("hi")

    assert answer.content == "ok after 5xx"
    assert len(openai_server.script.requests) == 3
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "keel.agents.llm")
    assert "HTTP 500" in logged and "HTTP 503" in logged


@pytest.mark.service
def test_timeout_is_retried(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(slow(1.5), reply("ok after timeout"))

    answer = _model(openai_server, tmp_path, timeout_s=0.3).invoke("hi")

    assert answer.content == "ok after timeout"
    assert len(openai_server.script.requests) == 2


@pytest.mark.service
def test_gives_up_after_the_bound_with_a_clear_error(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(*[error(429, retry_after=0) for _ in range(5)])
    budget = RunBudget(max_calls=10, max_tokens=10_000)

    with pytest.raises(LLMCallFailed) as failed:
        _model(openai_server, tmp_path, budget=budget).invoke("hi")

    message = str(failed.value)
    assert "did not answer after 3 attempt(s)" in message
    assert "rate limited (HTTP 429)" in message and "test-model" in message
    assert len(openai_server.script.requests) == 3  # 1 + max_retries, then stop
    assert budget.calls_used == 1 and budget.tokens_used == 0  # failed calls are not billed


@pytest.mark.service
def test_client_errors_are_not_retried(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(error(401, message="bad key"), reply("never sent"))

    with pytest.raises(LLMCallFailed, match=r"refused the request \(HTTP 401\).*OPENAI_API_KEY"):
        _model(openai_server, tmp_path).invoke("hi")

    assert len(openai_server.script.requests) == 1


@pytest.mark.service
def test_malformed_body_is_retried_then_fails_clearly(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(RawBody("{not json"), reply("ok after garbage"))
    model = _model(openai_server, tmp_path)

    assert model.invoke("hi").content == "ok after garbage"

    openai_server.script.push(*[RawBody("<html>proxy error</html>", content_type="text/html")] * 3)
    with pytest.raises(LLMCallFailed, match="malformed response body"):
        model.invoke("hi")


@pytest.mark.service
def test_structured_output_repairs_malformed_json(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    fenced = '```json\n{"account_name": "Acme", "at_risk": true, "reason": "usage down",}\n```'
    openai_server.script.push(tool_call("Verdict", fenced))
    model = _model(openai_server, tmp_path)

    verdict = model.with_structured_output(Verdict).invoke("Is Acme at risk?")

    assert verdict == Verdict(account_name="Acme", at_risk=True, reason="usage down")
    sent = openai_server.script.requests[0]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}


@pytest.mark.service
def test_structured_output_json_schema_method(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(
        json_reply('Here you go: {"account_name": "Acme", "at_risk": false, "reason": "fine"}')
    )
    model = _model(openai_server, tmp_path)

    result = model.with_structured_output(Verdict, method="json_schema", include_raw=True).invoke(
        "Is Acme at risk?"
    )

    assert result["parsed"] == Verdict(account_name="Acme", at_risk=False, reason="fine")
    assert isinstance(result["raw"], AIMessage) and result["parsing_error"] is None
    assert openai_server.script.requests[0]["response_format"]["type"] == "json_schema"


@pytest.mark.service
def test_invalid_structured_output_is_retried_with_the_error_fed_back(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(
        tool_call("Verdict", {"account_name": "Acme"}),
        tool_call("Verdict", {"account_name": "Acme", "at_risk": True, "reason": "tickets"}),
    )
    model = _model(openai_server, tmp_path)

    verdict = invoke_structured(model, [HumanMessage("Is Acme at risk?")], Verdict)

    assert verdict.reason == "tickets"
    retry_messages = openai_server.script.requests[1]["messages"]
    assert retry_messages[-1]["role"] == "tool"
    assert "missing field 'at_risk'" in retry_messages[-1]["content"]


@pytest.mark.service
def test_unusable_structured_output_fails_the_step_clearly(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(
        tool_call("Verdict", "not json at all"), reply("I refuse to use tools.")
    )
    model = _model(openai_server, tmp_path)

    with pytest.raises(StructuredOutputError) as failed:
        invoke_structured(model, [HumanMessage("Is Acme at risk?")], Verdict, attempts=2)

    assert failed.value.schema_name == "Verdict"
    assert "Verdict" in str(failed.value) and "after 2 attempt(s)" in str(failed.value)
    assert len(openai_server.script.requests) == 2


@pytest.mark.service
def test_budget_stops_before_the_call_that_would_exceed_calls(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    budget = RunBudget(max_calls=2, max_tokens=100_000)
    model = _model(openai_server, tmp_path, budget=budget)
    model.invoke("one")
    model.invoke("two")

    with pytest.raises(BudgetExceeded, match=r"2 of 2 calls used.*KEEL_LLM_MAX_CALLS"):
        model.invoke("three")

    assert len(openai_server.script.requests) == 2
    assert budget.remaining().calls == 0


@pytest.mark.service
def test_budget_stops_before_the_call_that_would_exceed_tokens(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(reply("ok", prompt_tokens=70, completion_tokens=20))
    budget = RunBudget(max_calls=100, max_tokens=100)
    model = _model(openai_server, tmp_path, budget=budget)
    model.invoke("short")

    with pytest.raises(BudgetExceeded, match="KEEL_LLM_MAX_TOKENS"):
        model.invoke("a longer question " * 20)

    assert budget.tokens_used == 90
    assert len(openai_server.script.requests) == 1


@pytest.mark.service
def test_streaming_retries_until_the_first_chunk(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(error(500), reply("streamed words here"))
    budget = RunBudget(max_calls=5, max_tokens=1_000)
    model = _model(openai_server, tmp_path, budget=budget)

    text = "".join(str(chunk.content) for chunk in model.stream("hi"))

    assert text.split() == ["streamed", "words", "here"]
    assert openai_server.script.requests[-1]["stream"] is True
    assert (budget.calls_used, budget.tokens_used) == (1, 15)  # usage from the stream


@pytest.mark.service
def test_async_calls_are_retried(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.script.push(error(502), reply("async ok"), error(500), reply("async stream"))
    model = _model(openai_server, tmp_path)

    async def run() -> tuple[str, str]:
        answer = await model.ainvoke("hi")
        chunks = [str(chunk.content) async for chunk in model.astream("hi")]
        return str(answer.content), "".join(chunks).strip()

    assert asyncio.run(run()) == ("async ok", "async stream")
    assert len(openai_server.script.requests) == 4


@pytest.mark.service
def test_agent_graph_runs_through_the_real_client(
    openai_server: OpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keel.agents.llm")
    openai_server.script.push(
        error(429, retry_after=0),
        tool_call("get_account_health", {"account_id": 42}),
        error(500),
        reply("Acme (42) is red: score 41."),
    )
    agent = create_agent(_model(openai_server, tmp_path), [get_account_health])

    result = agent.invoke({"messages": [HumanMessage("Why is account 42 at risk?")]})

    messages = result["messages"]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1 and '"score": 41' in str(tool_messages[0].content)
    assert messages[-1].content == "Acme (42) is red: score 41."
    final_request = openai_server.script.requests[-1]["messages"]
    assert final_request[-1]["role"] == "tool" and final_request[-1]["tool_call_id"] == "call_0"
    assert len([r for r in caplog.records if r.name == "keel.agents.llm"]) == 2


def test_factory_returns_the_offline_model_when_nothing_is_configured(tmp_path: Path) -> None:
    embedder = FakeWordEmbedder()

    model = make_chat_model(Settings(data_dir=tmp_path), embedder=embedder)

    assert isinstance(model, OfflineChatModel)
    assert model.embedder is embedder
    assert model_label(model) == "offline:keel-offline-1"
    assert model_label(model.with_structured_output(Verdict)) == "offline:keel-offline-1"


def test_factory_reads_the_endpoint_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="llama3",
        llm_timeout_s=7,
        llm_max_retries=3,
        llm_max_calls=9,
        llm_max_tokens=99,
    )

    model = make_chat_model(settings)

    assert isinstance(model, ResilientChatOpenAI)
    assert (model.model_name, model.request_timeout, model.max_retries) == ("llama3", 7, 0)
    assert model.retry_policy.max_retries == 3
    assert model.budget is not None and (model.budget.max_calls, model.budget.max_tokens) == (
        9,
        99,
    )
