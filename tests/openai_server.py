"""A scriptable OpenAI-compatible server for tests, run on loopback under uvicorn.

Each test pushes the responses it wants (text, tool calls, JSON content, HTTP errors with
``Retry-After``, slow replies, malformed bodies) and reads back the requests received::

    from tests.openai_server import OpenAIServer, openai_server, openai_server_process  # noqa

    def test_x(openai_server: OpenAIServer) -> None:
        openai_server.script.push(error(429, retry_after=0), reply("hi"))
        ...  # ChatOpenAI(base_url=openai_server.base_url, ...)
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

# --- scripted responses --------------------------------------------------------------------


@dataclass
class Reply:
    """A normal completion: text and/or tool calls (arguments given as dict or raw string)."""

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    prompt_tokens: int = 10
    completion_tokens: int = 5
    delay_s: float = 0.0
    token_delay_s: float = 0.0  # between streamed chunks (a model's per-token pace)


@dataclass
class Failure:
    """An HTTP error in OpenAI's error format, optionally with ``Retry-After``."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass
class RawBody:
    """A body sent as is: for malformed JSON or non-JSON responses."""

    body: str
    status: int = 200
    content_type: str = "application/json"
    delay_s: float = 0.0


Scripted = Reply | Failure | RawBody


def reply(
    content: str, *, prompt_tokens: int = 10, completion_tokens: int = 5, delay_s: float = 0.0
) -> Reply:
    return Reply(
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        delay_s=delay_s,
    )


def tool_call(name: str, args: dict[str, Any] | str, **kwargs: Any) -> Reply:
    return Reply(tool_calls=[(name, args)], **kwargs)


def json_reply(value: Any, **kwargs: Any) -> Reply:
    return Reply(content=value if isinstance(value, str) else json.dumps(value), **kwargs)


def error(status: int, *, retry_after: float | None = None, message: str | None = None) -> Failure:
    return Failure(status=status, retry_after=retry_after, message=message or f"HTTP {status}")


def slow(seconds: float, then: Scripted | None = None) -> Scripted:
    """``then`` (default a plain reply) sent after ``seconds``: longer than a client timeout."""
    entry = then or reply("too late")
    entry.delay_s = seconds
    return entry


class OpenAIScript:
    """The queue of responses to send, and the requests received (thread-safe)."""

    def __init__(self, default: Scripted | None = None) -> None:
        self.default = default or reply("(no scripted response)")
        # A fixed latency for every response, counted from the request's arrival and
        # including the time to work out the answer (see make_app); 0: none.
        self.response_delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Scripted] = deque()
        self._lock = threading.Lock()

    def push(self, *entries: Scripted) -> OpenAIScript:
        with self._lock:
            self._queue.extend(entries)
        return self

    def next(self, request: dict[str, Any]) -> Scripted:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self.default

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()


def unanswered_tool_calls(request: dict[str, Any]) -> list[str]:
    """Ids of the assistant tool calls in a received request that no ``tool`` message
    answers (OpenAI rejects such a request with HTTP 400; this server does not)."""
    answered = {
        m.get("tool_call_id") for m in request.get("messages") or [] if m.get("role") == "tool"
    }
    return [
        call["id"]
        for message in request.get("messages") or []
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
        if call.get("id") not in answered
    ]


# --- the app -------------------------------------------------------------------------------


def make_app(script: OpenAIScript) -> FastAPI:
    """``POST /v1/chat/completions`` answering from ``script``."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        if script.response_delay_s > 0:
            # A model that answers a fixed time after the request arrives: the answer is
            # worked out off the event loop (other requests' clocks keep running), then
            # the rest of the delay is waited.
            arrived = time.perf_counter()
            entry = await asyncio.to_thread(script.next, body)
            remaining = script.response_delay_s - (time.perf_counter() - arrived)
            if remaining > 0:
                await asyncio.sleep(remaining)
        else:
            entry = script.next(body)
        if entry.delay_s:
            await asyncio.sleep(entry.delay_s)
        if isinstance(entry, Failure):
            headers = {}
            if entry.retry_after is not None:
                headers["retry-after"] = f"{entry.retry_after:g}"
            payload = {"error": {"message": entry.message, "type": "scripted", "code": None}}
            return JSONResponse(payload, status_code=entry.status, headers=headers)
        if isinstance(entry, RawBody):
            return Response(entry.body, status_code=entry.status, media_type=entry.content_type)
        model = str(body.get("model", "test-model"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(entry, model, include_usage), media_type="text/event-stream"
            )
        return JSONResponse(_completion(entry, model))

    return app


def _tool_calls_json(entry: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{index}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for index, (name, args) in enumerate(entry.tool_calls)
    ]


def _usage(entry: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens,
        "total_tokens": entry.prompt_tokens + entry.completion_tokens,
    }


def _completion(entry: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": entry.content}
    if entry.tool_calls:
        message["tool_calls"] = _tool_calls_json(entry)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if entry.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(entry),
    }


async def _sse(entry: Reply, model: str, include_usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta else [],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for word in (entry.content or "").split(" ") if entry.content else []:
        if entry.token_delay_s:
            await asyncio.sleep(entry.token_delay_s)
        yield chunk({"content": word + " "})
    if entry.tool_calls:
        calls = [{"index": i, **call} for i, call in enumerate(_tool_calls_json(entry))]
        yield chunk({"tool_calls": calls})
    yield chunk({"content": None}, "tool_calls" if entry.tool_calls else "stop")
    if include_usage:
        yield chunk({}, usage=_usage(entry))
    yield "data: [DONE]\n\n"


# --- running it ----------------------------------------------------------------------------


@dataclass
class OpenAIServer:
    """A running test server: its ``/v1`` base URL and its script."""

    base_url: str
    script: OpenAIScript


@contextmanager
def serve(script: OpenAIScript, *, delay_s: float = 0.0) -> Iterator[OpenAIServer]:
    """Run the app on 127.0.0.1 with an ephemeral port in a background thread.

    ``delay_s``: every response is sent that long after its request arrived (the
    script's ``response_delay_s``); 0 (the default) answers as soon as it can.
    """
    if delay_s:
        script.response_delay_s = delay_s
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        make_app(script), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the OpenAI test server did not start")
        time.sleep(0.01)
    try:
        yield OpenAIServer(base_url=f"http://127.0.0.1:{port}/v1", script=script)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="module")
def openai_server_process() -> Iterator[OpenAIServer]:
    """One server per test module (starting one costs ~0.2 s)."""
    with serve(OpenAIScript()) as running:
        yield running


@pytest.fixture()
def openai_server(openai_server_process: OpenAIServer) -> OpenAIServer:
    """The module's server with an empty script and request log."""
    openai_server_process.script.reset()
    return openai_server_process
