"""The chat service through its entry points: a conversation continued by a new process
(``keel chat`` with input piped), ``keel show`` on a cited id, and the event stream."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from keel.agents.chat import MAX_CHAT_MODEL_CALLS
from keel.api.services.chat import ChatRequest, ask, history
from keel.app import App
from keel.memory.models import Account
from keel.settings import Settings
from tests.openai_server import (
    OpenAIServer,
    RawBody,
    error,
    reply,
    tool_call,
    unanswered_tool_calls,
)

KEEL = [sys.executable, "-c", "from keel.api.cli.main import main; main()"]


@dataclass(frozen=True)
class Workspace:
    data_dir: Path
    user: str
    account: str


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    from keel.memory.synth import seed_book

    data_dir = tmp_path_factory.mktemp("chat-service") / "keel-data"
    with App(settings=Settings(data_dir=data_dir), use_vectors=False) as app:
        seed_book(app.engine, n_accounts=10, seed=11)
        with Session(app.engine) as session:
            account = next(
                a
                for a in session.exec(select(Account).order_by(col(Account.id))).all()
                if a.arr > 0
            )
        yield Workspace(data_dir, account.owner_csm, account.external_id)


def keel(workspace: Workspace, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_DATA_DIR": str(workspace.data_dir)}
    for name in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL", "KEEL_DATABASE_URL", "KEEL_CHROMA_URL"):
        env.pop(name, None)
    return subprocess.run(
        [*KEEL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300
    )


def test_a_conversation_continues_in_a_new_process(workspace: Workspace) -> None:
    first = keel(
        workspace,
        "chat",
        "--user",
        workspace.user,
        "--account",
        workspace.account,
        stdin="why is it at risk?\n/quit\n",
    )
    assert first.returncode == 0, first.stderr
    thread = re.search(r"thread (chat:\S+)", first.stdout)
    assert thread is not None, first.stdout
    assert "health" in first.stdout and "sources:" in first.stdout

    second = keel(
        workspace,
        "chat",
        "--user",
        workspace.user,
        "--thread",
        thread.group(1),
        stdin="and what about their NPS?\n/history\n/quit\n",
    )
    assert second.returncode == 0, second.stderr
    assert "NPS" in second.stdout
    # /history shows the first process's question and answer, then this one's.
    history = second.stdout[second.stdout.index("user:") :]
    assert history.index("why is it at risk?") < history.index("and what about their NPS?")
    assert history.count("assistant:") == 2


def test_show_opens_what_an_answer_cites(workspace: Workspace) -> None:
    with App(settings=Settings(data_dir=workspace.data_dir), use_vectors=False) as app:
        events = list(
            ask(
                app,
                ChatRequest(
                    workspace.user, "what did they complain about?", account=workspace.account
                ),
            )
        )
    (answer,) = [e for e in events if e.kind == "answer"]
    records = [c for c in answer.data["citations"] if c.startswith(("ticket:", "account:"))]
    assert records
    shown = keel(workspace, "show", records[0])
    assert shown.returncode == 0, shown.stderr
    assert records[0] in shown.stdout and "account_id" in shown.stdout
    missing = keel(workspace, "show", "ticket:NOPE")
    assert missing.returncode == 2 and "no ticket" in missing.stderr


def test_events_come_in_order_thread_tools_tokens_answer(workspace: Workspace) -> None:
    with App(settings=Settings(data_dir=workspace.data_dir), use_vectors=False) as app:
        kinds = [
            e.kind
            for e in ask(
                app, ChatRequest(workspace.user, "which accounts have gone quiet?", account=None)
            )
        ]
    assert kinds[0] == "thread"
    assert kinds.index("tool") < kinds.index("token") < kinds.index("answer")
    assert kinds[-1] == "answer"


@pytest.mark.service
def test_the_same_chat_runs_on_chatopenai_streamed_through_a_429(
    workspace: Workspace, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """The real client against a local OpenAI-compatible server: a 429 retried, a tool call
    run, the answer streamed word by word, and an id no tool returned removed."""
    from keel.tools.signals import latest_data_date

    settings = Settings(
        data_dir=workspace.data_dir,
        llm_base_url=openai_server.base_url,
        llm_model="test-model",
        llm_timeout_s=5.0,
        llm_max_retries=2,
    )
    with App(settings=settings, use_vectors=False) as app:
        day = latest_data_date(app.engine)
        health_id = f"health:{workspace.account}@{day}"
        openai_server.script.push(
            error(429, retry_after=0),
            tool_call("account_health", {}),
            reply(
                f"Its health is in the tool result [{health_id}]. "
                "The CFO wants a discount [ticket:T-INVENTED]."
            ),
        )
        events = list(
            ask(app, ChatRequest(workspace.user, "why is it at risk?", account=workspace.account))
        )
    tokens = [e.text for e in events if e.kind == "token"]
    tools = [e.text for e in events if e.kind == "tool"]
    (answer,) = [e for e in events if e.kind == "answer"]
    assert len(tokens) > 3  # streamed in chunks, not one message
    assert tools == ["account_health"]
    assert answer.data["citations"] == [health_id]
    assert answer.data["removed"] == ["ticket:T-INVENTED"]
    assert "T-INVENTED" not in answer.text
    assert len(openai_server.script.requests) == 3  # the 429, the tool call, the answer
    # The per-turn context reached the real model's system prompt; no offline-only text did.
    system = openai_server.script.requests[-1]["messages"][0]["content"]
    assert workspace.user in system and "offline" not in system.lower()


def _llm_settings(workspace: Workspace, server: OpenAIServer) -> Settings:
    return Settings(
        data_dir=workspace.data_dir,
        llm_base_url=server.base_url,
        llm_model="test-model",
        llm_timeout_s=5.0,
        llm_max_retries=0,
    )


MALFORMED_CALLS = {
    "arguments that are not JSON": tool_call("account_health", "not json at all"),
    "arguments that are a JSON array": tool_call("account_health", "[1, 2]"),
    "an unknown tool": tool_call("delete_account", {"account_ref": "everything"}),
    "arguments of the wrong type": tool_call(
        "book_renewals", {"within_days": "soon", "at_risk_only": [1]}
    ),
}


@pytest.mark.service
@pytest.mark.parametrize("case", list(MALFORMED_CALLS))
def test_a_malformed_tool_call_is_answered_with_an_error_the_model_recovers_from(
    workspace: Workspace, openai_server: OpenAIServer, case: str
) -> None:
    """The model's bad call gets an error result (not a traceback, not an empty answer),
    the model answers on its next call, and the thread goes on well-formed."""
    openai_server.script.push(MALFORMED_CALLS[case], reply("Recovered without that tool."))
    with App(settings=_llm_settings(workspace, openai_server), use_vectors=False) as app:
        events = list(
            ask(app, ChatRequest(workspace.user, "why is it at risk?", account=workspace.account))
        )
        assert [e.kind for e in events if e.kind == "error"] == []
        (answer,) = [e for e in events if e.kind == "answer"]
        assert answer.text == "Recovered without that tool."
        retry = openai_server.script.requests[1]
        (result,) = [m for m in retry["messages"] if m.get("role") == "tool"]
        assert result["content"].startswith("Error")  # the model was told what went wrong
        assert unanswered_tool_calls(retry) == []

        openai_server.script.reset()
        openai_server.script.push(reply("Second answer."))
        thread = events[0].text
        follow = list(ask(app, ChatRequest(workspace.user, "and their NPS?", thread)))
    assert [e.text for e in follow if e.kind == "answer"] == ["Second answer."]
    assert unanswered_tool_calls(openai_server.script.requests[0]) == []


@pytest.mark.service
def test_a_model_that_keeps_calling_badly_gets_a_plain_answer_and_the_thread_goes_on(
    workspace: Workspace, openai_server: OpenAIServer
) -> None:
    openai_server.script.push(*[tool_call("account_health", "not json")] * 8)
    with App(settings=_llm_settings(workspace, openai_server), use_vectors=False) as app:
        events = list(
            ask(app, ChatRequest(workspace.user, "why is it at risk?", account=workspace.account))
        )
        (answer,) = [e for e in events if e.kind == "answer"]
        assert answer.text.startswith("I could not finish an answer")
        assert "account_health: malformed arguments" in answer.text
        assert "Traceback" not in answer.text and "[no source]" not in answer.text
        assert len(openai_server.script.requests) == MAX_CHAT_MODEL_CALLS  # bounded retries

        openai_server.script.reset()
        openai_server.script.push(reply("Back on track."))
        follow = list(ask(app, ChatRequest(workspace.user, "try again", events[0].text)))
        said = history(app, events[0].text)
    assert [e.text for e in follow if e.kind == "answer"] == ["Back on track."]
    assert unanswered_tool_calls(openai_server.script.requests[0]) == []
    assert [m.text for m in said if m.role == "assistant"] == [answer.text, "Back on track."]


@pytest.mark.service
def test_a_reply_the_client_cannot_read_is_a_plain_answer_not_a_traceback(
    workspace: Workspace, openai_server: OpenAIServer
) -> None:
    openai_server.script.push(RawBody('{"choices": [{"delta": '))
    with App(settings=_llm_settings(workspace, openai_server), use_vectors=False) as app:
        events = list(
            ask(app, ChatRequest(workspace.user, "why is it at risk?", account=workspace.account))
        )
        (answer,) = [e for e in events if e.kind == "answer"]
        assert "could not be read" in answer.text
        openai_server.script.push(reply("Fine now."))
        follow = list(ask(app, ChatRequest(workspace.user, "again?", events[0].text)))
    assert [e.text for e in follow if e.kind == "answer"] == ["Fine now."]
