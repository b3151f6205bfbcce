"""The test server's fixed response delay (bench/nightly_llm.py's delayed model): every
answer comes that long after its request arrived, and requests in flight wait side by side."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.openai_server import OpenAIScript, reply, serve

DELAY_S = 0.3
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _post(base_url: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/chat/completions", json=BODY, timeout=10)
    response.raise_for_status()
    return time.perf_counter() - started, response.json()["choices"][0]["message"]["content"]


def test_every_response_waits_the_delay_and_concurrent_requests_overlap() -> None:
    with serve(OpenAIScript(default=reply("ok")), delay_s=DELAY_S) as server:
        _post(server.base_url)  # the first connection's setup is not the delay's
        with ThreadPoolExecutor(max_workers=4) as pool:
            started = time.perf_counter()
            results = list(pool.map(lambda _: _post(server.base_url), range(4)))
            wall = time.perf_counter() - started
    assert [text for _, text in results] == ["ok"] * 4
    assert all(seconds >= DELAY_S for seconds, _ in results)
    # Waited side by side, not one after another (4 x 0.3 s = 1.2 s).
    assert wall < 3 * DELAY_S
    assert len(server.script.requests) == 5


def test_no_delay_by_default() -> None:
    script = OpenAIScript(default=reply("ok"))
    with serve(script) as server:
        _post(server.base_url)
        seconds, text = _post(server.base_url)
    assert script.response_delay_s == 0.0
    assert text == "ok"
    assert seconds < DELAY_S
