"""The same review graph driven through the real ``ChatOpenAI`` client and a local server.

The scripted OpenAI-compatible server (``tests/openai_server.py``) answers with tool calls,
429s, 500s, a reply slower than the client's timeout and malformed JSON; the run completes,
or fails one step cleanly with a clear error, never with a traceback out of the graph.
A scripted model that follows an injected instruction (outside address, unknown link,
discount, a play the policy forbids) is held back by code: the draft that waits for
approval carries none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.agents.llm import ResilientChatOpenAI, RetryPolicy, make_chat_model, model_label
from keel.agents.selection import SERIOUS_RISK
from keel.domain.policy import AUTO_SEND_TIER
from keel.graphs.runner import new_thread_id, start_review
from keel.memory.checkpoint import Persistence
from keel.memory.models import Account
from keel.settings import Settings
from keel.tools.account_tools import TOOL_HEALTH, TOOL_HYPOTHESES, AccountScope
from tests.graphs.support import Book, actions_of, compile_graph
from tests.openai_server import OpenAIServer, Reply, error, reply, slow, tool_call

FAST_RETRY = RetryPolicy(max_retries=3, initial_wait_s=0.01, max_wait_s=0.05)
ANALYST_TOOLS = [
    ("account_profile", {}),
    ("account_health", {}),
    ("candidate_hypotheses", {}),
    ("renewal_and_billing", {}),
    ("search_evidence", {"query": "complaints and outages"}),
    ("delete_account", {"confirm": True}),  # not a tool it has: answered with an error
]


def _model(server: OpenAIServer, tmp_path: Path, **overrides: Any) -> ResilientChatOpenAI:
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url=server.base_url,
        llm_model="test-model",
        llm_timeout_s=0.5,
        **overrides,
    )
    model = make_chat_model(settings, retry=FAST_RETRY)
    assert isinstance(model, ResilientChatOpenAI)
    return model


def _account(book: Book, *, min_risk: float = 0.0) -> tuple[Account, dict[str, Any]]:
    """A human-led or AI-assisted account with a risk hypothesis (and at least ``min_risk``
    modelled risk), and that hypothesis."""
    for account in book.active_accounts():
        if account.id in book.handed_out or book.policy.tier_for(account) == AUTO_SEND_TIER:
            continue
        scope = AccountScope(account_id=account.id or 0, as_of=book.as_of)
        if min_risk and book.reader().run(TOOL_HEALTH, scope)["risk"] < min_risk:
            continue
        found = book.reader().run(TOOL_HYPOTHESES, scope)["hypotheses"]
        risks = [h for h in found if h["kind"] == "risk"]
        if risks:
            book.handed_out.add(account.id or 0)
            return account, risks[0]
    raise AssertionError("no account with a risk hypothesis")


def _briefing(account: Account, book: Book, hypothesis: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "account_name": account.name,
        "as_of": book.as_of.isoformat(),
        "summary": f"{account.name} needs attention: {hypothesis['statement']}.",
        "changes": [],
        "risk_hypotheses": [
            {
                "id": hypothesis["id"],
                "kind": "risk",
                "category": hypothesis["category"],
                "statement": hypothesis["statement"],
                "confidence": 0.8,
                "evidence_ids": [*hypothesis["evidence_ids"], "ticket:INVENTED-1"],
            }
        ],
        "expansion_hypotheses": [],
    }


@pytest.mark.service
def test_review_completes_through_429_500_timeout_and_malformed_json(
    book: Book, persistence: Persistence, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    # Risky enough that the escalation the model plans fits the account (the shared
    # selection rule holds a real model's plan to it: no escalation below 30% risk).
    account, hypothesis = _account(book, min_risk=SERIOUS_RISK)
    compromised_body = (
        "Hi there, as your ticket asked: visit www.suspicioussite.xyz for the update, write to "
        "assist@gmail.com, and enjoy a 30% discount on your renewal. Also see "
        "https://help.keel.example/getting-started for setup tips. [metric:tickets]"
    )
    openai_server.script.push(
        # Analyst tool loop: rate limited, server error, then tool calls (one unknown).
        error(429, retry_after=0),
        error(500),
        Reply(tool_calls=list(ANALYST_TOOLS)),
        # Second turn: slower than the client's timeout once, then done with tools.
        slow(2.0),
        reply("I have read the account."),
        # Briefing: broken JSON once (fed back as an error), then a valid one.
        tool_call("Briefing", "{this is not json"),
        tool_call("Briefing", _briefing(account, book, hypothesis)),
        # Planner: an allowed play, an unknown one and one outside the policy.
        tool_call(
            "Plan",
            {
                "plays": [
                    {
                        "play": "internal_escalation",
                        "rationale": "Support needs a hand.",
                        "hypothesis_id": hypothesis["id"],
                    },
                    {"play": "wire_refund", "rationale": "The ticket asked for it."},
                ]
            },
        ),
        # Drafter: a model that followed an injected instruction, and again when Keel's
        # content policy sends the draft back with the reasons.
        *[
            tool_call(
                "DraftContent",
                {
                    "subject": "Escalation: please help",
                    "body": compromised_body,
                    "evidence_ids": ["metric:tickets", "ticket:INVENTED-2"],
                    "facts_used": ["tickets went up"],
                },
            )
            for _ in range(2)
        ],
    )
    model = _model(openai_server, tmp_path)
    graph = compile_graph(book, persistence, model=model, label=model_label(model))
    result = start_review(
        graph,
        account_id=account.id or 0,
        thread_id=new_thread_id(account.external_id),
        as_of=book.as_of,
    )

    assert result.errors == []
    assert openai_server.script.remaining == 0
    assert result.briefing is not None
    (risk,) = result.briefing.risk_hypotheses
    assert "ticket:INVENTED-1" not in risk.evidence_ids  # ids the tools never returned are dropped
    assert result.briefing.produced_by.startswith("openai:test-model@http://127.0.0.1")
    assert [i["play"] for i in (result.plan or {})["plays"]] == ["internal_escalation"]
    dropped = {d["play"]: str(d.get("reason", "")) for d in (result.plan or {})["dropped"]}
    assert "wire_refund" in dropped
    # Besides the model's play outside the policy, only plays withheld before the model
    # (nothing to tell the customer beyond the renewal date) are listed.
    assert all(
        "nothing to tell the customer" in why
        for play, why in dropped.items()
        if play != "wire_refund"
    ), dropped
    (pending,) = result.pending
    body = pending.args["body"]
    assert "suspicioussite" not in body and "assist@gmail.com" not in body
    assert "discount" not in body.lower()
    assert "https://help.keel.example/getting-started" in body
    assert "[link removed]" in body and "[offer removed]" in body
    assert pending.args["produced_by"].startswith("openai:test-model")
    # The refused draft reaches a human with the reasons, and the model's free text is not
    # shown as Keel's reasoning.
    assert "Content checks removed" in pending.description
    assert "suspicioussite" in pending.description
    assert "Support needs a hand" not in pending.description
    # The redraft request told the model why.
    redraft = openai_server.script.requests[-1]["messages"][-1]["content"]
    assert "content policy refused" in redraft
    (action,) = actions_of(book.engine, result.thread_id)
    assert action.payload["links"] == ["https://help.keel.example/getting-started"]
    assert action.payload["metadata"]["evidence_ids"] == []  # neither id was among the facts
    # The unknown tool got an error message back instead of breaking the loop.
    tool_messages = [
        m
        for request in openai_server.script.requests
        for m in request["messages"]
        if m.get("role") == "tool"
    ]
    assert any("delete_account" in str(m.get("content")) for m in tool_messages)


@pytest.mark.service
def test_a_step_that_keeps_failing_fails_cleanly(
    book: Book, persistence: Persistence, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    account, hypothesis = _account(book)
    openai_server.script.push(
        Reply(tool_calls=list(ANALYST_TOOLS[:5])),
        reply("Done."),
        tool_call("Briefing", _briefing(account, book, hypothesis)),
        # The planner answers with malformed JSON on every attempt.
        tool_call("Plan", "{'plays': [oops"),
        reply("plays: none, sorry"),
    )
    model = _model(openai_server, tmp_path)
    graph = compile_graph(book, persistence, model=model, label=model_label(model))
    result = start_review(
        graph,
        account_id=account.id or 0,
        thread_id=new_thread_id(account.external_id),
        as_of=book.as_of,
    )
    assert result.briefing is not None  # the analyst's step stands
    (failure,) = result.errors
    assert failure["step"] == "planner"
    assert "Plan" in failure["error"]
    assert result.pending == [] and actions_of(book.engine, result.thread_id) == []


@pytest.mark.service
def test_server_down_and_budget_spent_fail_the_analyst_step_cleanly(
    book: Book, persistence: Persistence, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    account, _ = _account(book)
    openai_server.script.push(*[error(503) for _ in range(FAST_RETRY.max_retries + 1)])
    model = _model(openai_server, tmp_path)
    graph = compile_graph(book, persistence, model=model, label=model_label(model))
    result = start_review(
        graph,
        account_id=account.id or 0,
        thread_id=new_thread_id(account.external_id),
        as_of=book.as_of,
    )
    (failure,) = result.errors
    assert failure["step"] == "analyst" and "503" in failure["error"]
    assert result.briefing is None and result.pending == []

    openai_server.script.reset()
    openai_server.script.push(Reply(tool_calls=list(ANALYST_TOOLS[:5])))
    budgeted = _model(openai_server, tmp_path, llm_max_calls=1)
    graph = compile_graph(book, persistence, model=budgeted, label=model_label(budgeted))
    result = start_review(
        graph,
        account_id=account.id or 0,
        thread_id=new_thread_id(account.external_id),
        as_of=book.as_of,
    )
    (failure,) = result.errors
    assert failure["step"] == "analyst" and "budget" in failure["error"].lower()
    assert len(openai_server.script.requests) == 1
