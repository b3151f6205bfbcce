"""One prompt text for a real model; typed requests for the offline model.

What a real model receives is captured by the local OpenAI-compatible server: the planner,
drafter, prep and call-summary prompts carry each fact once, and nothing written for the
offline model (no JSON twin of the request, no step marker, no typed facts). The offline
model writes the same steps from the typed request alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keel.agents.composers import offline_model
from keel.agents.drafter import drafter_messages
from keel.agents.facts import build_facts, lines_for_draft
from keel.agents.feedback import StyleHints
from keel.agents.llm import ResilientChatOpenAI, RetryPolicy, make_chat_model
from keel.agents.offline import STEP_KEY, TypedPrompt
from keel.agents.planner import planner_messages
from keel.agents.prep import summarise_call, write_meeting_prep
from keel.agents.repair import find_json_objects, invoke_structured
from keel.agents.schemas import Briefing, DraftContent, Plan
from keel.agents.step_requests import DraftRequest, PlanningRequest
from keel.domain.plays import PLAY_LIBRARY
from keel.domain.policy import load_policy
from keel.settings import Settings
from tests.agents.test_composers import ALLOWLIST, AS_OF, _Acct, _conversation, _results
from tests.openai_server import OpenAIServer, tool_call

# What the offline model once read back out of a prompt; none of it may reach a real model.
OFFLINE_ONLY = ("planning", "draft_request", "prep_request", "call_request", STEP_KEY)


def _real_model(server: OpenAIServer, tmp_path: Path) -> ResilientChatOpenAI:
    settings = Settings(data_dir=tmp_path, llm_base_url=server.base_url, llm_model="test-model")
    model = make_chat_model(settings, retry=RetryPolicy(max_retries=0))
    assert isinstance(model, ResilientChatOpenAI)
    return model


def _briefing() -> Briefing:
    return invoke_structured(offline_model(), _conversation(_results()), Briefing)


def _allowed() -> list[Any]:
    return load_policy().allowed_plays_for(account=_Acct(), today=AS_OF)


def _draft_prompt() -> TypedPrompt:
    facts = build_facts(_results(), as_of=AS_OF)
    return drafter_messages(
        play=PLAY_LIBRARY["usage_drop_checkin"],
        item={
            "play": "usage_drop_checkin",
            "rationale": "Usage fell.",
            "hypothesis_id": "ACME-1:risk:1:engagement",
            "draft_kind": "email",
            "recipient_contact_id": 70,
        },
        facts=facts,
        briefing=_briefing(),
        recipient=next(c for c in facts["contacts"] if c["id"] == 70),
        guidance=[],
        hints=StyleHints(),
        allowlist=ALLOWLIST,
        previous=None,
        feedback=None,
        revision=0,
    )


def _sent(server: OpenAIServer) -> tuple[str, dict[str, Any]]:
    """The text of every message of the one request the server received, and the request."""
    (request,) = server.script.requests
    text = "\n".join(str(m.get("content") or "") for m in request["messages"])
    return text, request


def _assert_nothing_offline_only(request: dict[str, Any], allowed_json: int = 0) -> None:
    body = json.dumps(request)
    for key in OFFLINE_ONLY:
        assert f'"{key}"' not in body and f'\\"{key}\\"' not in body, key
    for message in request["messages"]:
        objects = find_json_objects(str(message.get("content") or ""))
        assert len(objects) <= allowed_json, objects


@pytest.mark.service
def test_the_planner_prompt_carries_each_fact_once(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    briefing = _briefing()
    prompt = planner_messages(briefing, _allowed(), max_plays=3, customer_slots=1)
    openai_server.script.push(tool_call("Plan", {"plays": []}))

    invoke_structured(_real_model(openai_server, tmp_path), prompt, Plan)

    text, request = _sent(openai_server)
    assert len(request["messages"]) == len(prompt.messages)
    _assert_nothing_offline_only(request, allowed_json=1)  # the briefing, once
    for hypothesis in briefing.hypotheses:
        assert text.count(f'"id": "{hypothesis.id}"') == 1
        assert text.count(f'"confidence": {hypothesis.confidence}') >= 1
    planning = prompt.facts
    assert isinstance(planning, PlanningRequest)
    for play in planning.allowed_plays:
        assert text.count(f"- {play.id}: ") == 1
    assert "At most 1 customer-facing message(s)" in text


@pytest.mark.service
def test_the_drafter_prompt_carries_each_fact_once(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    prompt = _draft_prompt()
    openai_server.script.push(
        tool_call("DraftContent", {"subject": "Hi", "body": "Hello Priya.", "evidence_ids": []})
    )

    invoke_structured(_real_model(openai_server, tmp_path), prompt, DraftContent)

    text, request = _sent(openai_server)
    assert [m["content"] for m in request["messages"]] == [m.content for m in prompt.messages]
    _assert_nothing_offline_only(request)
    draft = prompt.facts
    assert isinstance(draft, DraftRequest) and draft.fact_lines
    for line in draft.fact_lines:
        assert text.count(line["id"]) == 1, line["id"]
        assert text.count(line["text"]) == 1, line["text"]
    for link in ALLOWLIST:
        assert text.count(link) == 1


@pytest.mark.service
def test_the_prep_and_call_prompts_carry_each_fact_once(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    facts = build_facts(_results(), as_of=AS_OF)
    model = _real_model(openai_server, tmp_path)
    openai_server.script.push(
        tool_call(
            "MeetingPrep",
            {"title": "Prep", "brief": "# Prep", "talking_points": ["a", "b", "c"]},
        )
    )

    write_meeting_prep(model, briefing=_briefing(), facts=facts, as_of=AS_OF, label="x")

    text, request = _sent(openai_server)
    _assert_nothing_offline_only(request, allowed_json=1)  # the briefing, once
    lines = facts["fact_lines"]
    assert lines
    for line in lines:
        assert text.count(f"- {line['id']}: {line['text']}") == 1, line["id"]
    for contact in facts["contacts"]:
        assert text.count(f"- {contact['name']}, ") == 1

    openai_server.script.reset()
    note = "Priya will send the list of inactive users by Friday."
    openai_server.script.push(tool_call("CallSummary", {"summary": "A call.", "action_items": []}))

    summarise_call(model, note=note, facts=facts, source="call note", label="x")

    text, request = _sent(openai_server)
    _assert_nothing_offline_only(request)
    assert text.count(note) == 1
    assert "Dana Reyes" in text  # the owner CSM, who action items default to


def test_the_offline_model_writes_from_the_typed_request_alone() -> None:
    """The same steps offline, with the prompt's words replaced: the output is unchanged."""
    briefing = _briefing()
    prompt = planner_messages(briefing, _allowed(), max_plays=3, customer_slots=1)
    reworded = prompt.model_copy(
        update={
            "messages": [m.model_copy(update={"content": "(reworded)"}) for m in prompt.messages]
        }
    )
    draft = _draft_prompt()
    blank_draft = draft.model_copy(
        update={
            "messages": [m.model_copy(update={"content": "(reworded)"}) for m in draft.messages]
        }
    )

    model = offline_model()
    assert invoke_structured(model, reworded, Plan) == invoke_structured(model, prompt, Plan)
    written = invoke_structured(model, blank_draft, DraftContent)
    assert written == invoke_structured(model, draft, DraftContent)
    assert "Priya" in written.body
    facts = build_facts(_results(), as_of=AS_OF)
    usable = {line["id"] for line in lines_for_draft(facts["fact_lines"], "email")}
    assert set(written.evidence_ids) <= usable
