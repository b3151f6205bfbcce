"""The offline model: deterministic, labelled, tool-calling, composing structured output, and
able to drive the same LangGraph / LangChain agent loops as a real model."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel
from typing_extensions import TypedDict

from keel.agents.offline import (
    OFFLINE_NOTICE,
    ComposeRequest,
    IntentRule,
    IntentTable,
    OfflineChatModel,
    collect_facts,
    step_config,
    typed_prompt,
    vary,
)
from keel.agents.repair import StructuredOutputError, invoke_structured
from keel.errors import KeelError
from tests.fakes import FakeWordEmbedder

# --- a tiny book behind real tools -----------------------------------------------------------

BOOK: dict[int, dict[str, Any]] = {
    42: {"name": "Acme Corp", "score": 38.5, "band": "red", "renewal": "2025-03-01"},
    7: {"name": "Globex", "score": 81.0, "band": "green", "renewal": "2025-09-15"},
}


@tool
def get_account_health(account_id: int) -> dict[str, Any]:
    """Health score, band and the main drivers for one customer account."""
    account = BOOK[account_id]
    drivers = ["weekly active users down 38% since 2024-04-02"] if account["band"] == "red" else []
    return {
        "account_id": account_id,
        "account_name": account["name"],
        "health_score": account["score"],
        "band": account["band"],
        "drivers": drivers,
    }


@tool
def list_contacts(account_id: int) -> list[dict[str, str]]:
    """People at the customer with their roles and emails."""
    return [{"name": "Dana Smith", "role": "champion", "email": "dana@example.com"}]


@tool
def search_evidence(account_id: int, query: str) -> list[dict[str, str]]:
    """Search tickets, call notes and NPS comments for evidence."""
    return [{"id": "T-12", "text": f"export keeps failing ({query[:20]})"}]


@tool
def get_renewal(account_id: int) -> dict[str, Any]:
    """Renewal date, contract value and renewal status."""
    return {"account_id": account_id, "renewal_date": BOOK[account_id]["renewal"]}


@tool
def find_similar_churned(account_id: int) -> list[dict[str, Any]]:
    """Churned customers whose history looks similar."""
    return [{"account": "Initech", "similarity": 0.81}]


TOOLS = [get_account_health, list_contacts, search_evidence, get_renewal, find_similar_churned]
NO_RULES = IntentTable()


def _model(intents: IntentTable | None = None, **kwargs: Any) -> OfflineChatModel:
    return OfflineChatModel(
        embedder=FakeWordEmbedder(),
        intents=intents,
        composers={RiskNote: compose_risk_note},
        **kwargs,
    )


def _called(message: BaseMessage) -> list[str]:
    assert isinstance(message, AIMessage)
    return [call["name"] for call in message.tool_calls]


def _is_offline(message: BaseMessage) -> bool:
    meta = message.response_metadata
    return meta.get("model_name") == "keel-offline-1" and meta.get("offline") is True


# --- an example composer, as an agent's author would write one ------------------------------


class RiskNote(BaseModel):
    """A short note on one account's risk."""

    account_name: str
    headline: str
    body: str


_HEADLINES = (
    "{name} needs attention: health {score} ({band}).",
    "Health at {name} is {band} ({score}).",
    "{name}: a {band} account at {score}.",
)


def compose_risk_note(ask: ComposeRequest) -> dict[str, Any]:
    facts = collect_facts(ask.messages)
    name = facts["account_name"]
    headline = vary(_HEADLINES, name).format(
        name=name, score=facts["health_score"], band=facts["band"]
    )
    drivers = "; ".join(facts.get("drivers") or ["no driver reported"])
    return {"account_name": name, "headline": headline, "body": f"{drivers}. {OFFLINE_NOTICE}"}


def _health_turn(account_id: int) -> list[BaseMessage]:
    """A conversation in which the health tool has already answered."""
    call = {"name": "get_account_health", "args": {"account_id": account_id}, "id": "c1"}
    result = get_account_health.invoke({"account_id": account_id})
    return [
        HumanMessage(f"Why is account {account_id} at risk?"),
        AIMessage("", tool_calls=[call]),
        ToolMessage(json.dumps(result), tool_call_id="c1", name="get_account_health"),
    ]


# --- plain replies and determinism ----------------------------------------------------------


def test_plain_reply_says_it_is_offline_and_summarises_the_facts() -> None:
    facts = {"account_name": "Globex", "health_score": 81, "open_tickets": 2}
    messages = [
        SystemMessage(f"Account facts:\n{json.dumps(facts)}"),
        HumanMessage("How is Globex doing?"),
    ]

    reply = _model().invoke(messages)

    text = str(reply.content)
    assert "Globex" in text and "health score 81" in text and "open tickets 2" in text
    assert text.endswith(f"_{OFFLINE_NOTICE}_")
    assert not reply.tool_calls and _is_offline(reply)


def test_reply_without_facts_says_so() -> None:
    reply = _model().invoke("hello there")

    assert "offline model" in str(reply.content) and OFFLINE_NOTICE in str(reply.content)


def test_same_input_gives_the_same_output() -> None:
    request = [SystemMessage("account_id: 42"), HumanMessage("prep me for my call")]
    first = _model().bind_tools(TOOLS).invoke(request)
    second = _model().bind_tools(TOOLS).invoke(request)
    answer_a = _model().invoke(_health_turn(42))
    answer_b = _model().invoke(_health_turn(42))

    assert isinstance(first, AIMessage) and isinstance(second, AIMessage)
    assert first.tool_calls and first.tool_calls == second.tool_calls  # ids included
    assert answer_a.content == answer_b.content


def test_vary_is_stable_per_key_and_varies_across_keys() -> None:
    options = ["a", "b", "c", "d"]

    picks = {vary(options, f"account-{i}") for i in range(40)}

    assert vary(options, "Acme") == vary(options, "Acme")
    assert len(picks) == len(options)
    with pytest.raises(ValueError):
        vary([], "Acme")


# --- tool choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("search tickets for export bugs on account 42", ["search_evidence"]),
        ("when is the renewal date for account 42?", ["get_renewal"]),
        ("have similar customers churned? account 42", ["find_similar_churned"]),
        ("hello there", []),
    ],
)
def test_tools_are_chosen_by_similarity(request_text: str, expected: list[str]) -> None:
    message = _model(NO_RULES).bind_tools(TOOLS).invoke([HumanMessage(request_text)])

    assert _called(message) == expected
    assert _is_offline(message)


def test_tools_are_chosen_by_intent_rules() -> None:
    rules = IntentTable([IntentRule(r"\bprep\b", ("get_account_health", "search_*"))])

    message = _model(rules).bind_tools(TOOLS).invoke("prep me for my call with account 42")

    assert _called(message) == ["get_account_health", "search_evidence"]


def test_default_intents_cover_customer_success_requests() -> None:
    model = OfflineChatModel(embedder=FakeWordEmbedder()).bind_tools(TOOLS)

    risk = model.invoke("Why is account 42 at risk?")
    draft = model.invoke("draft a note to their champion at account 42")

    assert "get_account_health" in _called(risk)
    assert "list_contacts" in _called(draft)


def test_a_step_plan_calls_every_tool() -> None:
    model = _model(NO_RULES, plans={"analyst": ("*",)}).bind_tools(TOOLS)
    messages = [
        SystemMessage("You are Keel's account analyst."),
        HumanMessage("Review account Acme Corp (id 42) as of 2024-05-01."),
    ]

    message = model.invoke(messages, step_config("analyst"))

    assert _called(message) == [t.name for t in TOOLS]
    assert {call["args"]["account_id"] for call in message.tool_calls} == {42}


@pytest.mark.parametrize(
    "system",
    [
        "You are Keel's account analyst.",
        "You review customer accounts.",  # reworded: the plan does not depend on it
        "",
    ],
)
def test_the_plan_follows_the_named_step_not_the_prompt_wording(system: str) -> None:
    model = _model(NO_RULES, plans={"analyst": ("*",)}).bind_tools(TOOLS)
    messages = [SystemMessage(system), HumanMessage("Review account Acme Corp (id 42).")]

    as_analyst = model.invoke(messages, step_config("analyst"))
    unnamed = model.invoke(messages)
    other_step = model.invoke(messages, step_config("planner"))

    assert _called(as_analyst) == [t.name for t in TOOLS]
    assert _called(unnamed) == _called(other_step) != _called(as_analyst)


def test_the_step_reaches_the_model_inside_an_agent_loop() -> None:
    agent = create_agent(
        _model(NO_RULES, plans={"analyst": ("*",)}), TOOLS, system_prompt="You help CSMs."
    )

    result = agent.invoke(
        {"messages": [HumanMessage("Review account 42.")]}, step_config("analyst")
    )

    called = [m.name for m in result["messages"] if isinstance(m, ToolMessage)]
    assert called == [t.name for t in TOOLS]


def test_typed_facts_reach_the_composer_and_never_the_messages() -> None:
    seen: list[ComposeRequest] = []

    def compose(ask: ComposeRequest) -> dict[str, Any]:
        seen.append(ask)
        return {"account_name": ask.facts["name"], "headline": "h", "body": "b"}

    messages = [HumanMessage("Write the note.")]
    model = OfflineChatModel(composers={RiskNote: compose})

    note = invoke_structured(model, typed_prompt(messages, {"name": "Initech"}), RiskNote)

    assert note.account_name == "Initech"
    (ask,) = seen
    assert ask.facts == {"name": "Initech"} and ask.schema is RiskNote
    assert ask.messages == messages  # nothing added to what a real model would read


def test_models_keep_their_own_composers() -> None:
    bare = OfflineChatModel()
    with pytest.raises(StructuredOutputError):
        bare.with_structured_output(RiskNote).invoke(_health_turn(42))
    assert _model().with_structured_output(RiskNote).invoke(_health_turn(42))


def test_arguments_come_from_the_request_the_system_prompt_and_facts() -> None:
    @tool
    def signals_as_of(account_id: int, as_of: str, query: str, limit: int = 5) -> str:
        """Signals of an account as of a date."""
        return "ok"

    @tool
    def get_ticket(ticket_id: str) -> str:
        """One support ticket with its signals."""
        return "ok"

    plan = IntentTable([IntentRule(".", ("*",))])
    model = _model(plan).bind_tools([signals_as_of, get_ticket])

    from_request = model.invoke("Signals for account 42 as of 2024-05-01 please")
    from_system = model.invoke([SystemMessage("account_id: 7"), HumanMessage("signals today?")])
    from_facts = model.invoke(
        [SystemMessage('Facts: {"account_id": 9, "as_of": "2024-06-30"}'), HumanMessage("go")]
    )

    assert isinstance(from_request, AIMessage)
    assert from_request.tool_calls[0]["args"] == {
        "account_id": 42,
        "as_of": "2024-05-01",
        "query": "Signals for account 42 as of 2024-05-01 please",
        "limit": 5,
    }
    assert _called(from_request) == ["signals_as_of"]  # no ticket id anywhere: not called
    assert isinstance(from_system, AIMessage) and not from_system.tool_calls  # no date given
    assert isinstance(from_facts, AIMessage)
    assert from_facts.tool_calls[0]["args"]["account_id"] == 9
    assert from_facts.tool_calls[0]["args"]["as_of"] == "2024-06-30"


def test_embedder_loads_lazily_and_tool_choice_survives_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loads: list[int] = []

    def missing_model() -> FakeWordEmbedder:
        loads.append(1)
        raise KeelError("the embedding model package is missing")

    model = OfflineChatModel(embedder_factory=missing_model, intents=NO_RULES)
    model.invoke("hello")  # no tools bound: no embedder needed
    assert loads == []

    message = model.bind_tools(TOOLS).invoke("when is the renewal date for account 7?")

    assert loads == [1]
    assert _called(message) == ["get_renewal"]  # word overlap stands in for embeddings
    assert "without embeddings" in caplog.text


def test_a_required_tool_choice_is_honoured() -> None:
    named = _model(NO_RULES).bind_tools(TOOLS, tool_choice="get_renewal").invoke("account 7")
    anything = _model(NO_RULES).bind_tools(TOOLS, tool_choice="any").invoke("renewal of account 7")

    assert _called(named) == ["get_renewal"]
    assert _called(anything) == ["get_renewal"]


def test_it_answers_once_the_tools_have_answered() -> None:
    answer = _model().bind_tools(TOOLS).invoke(_health_turn(42))

    assert isinstance(answer, AIMessage) and not answer.tool_calls
    text = str(answer.content)
    assert "Acme Corp" in text and "health score 38.5" in text and "band red" in text
    assert "weekly active users down 38%" in text and OFFLINE_NOTICE in text


def test_prose_is_specific_to_the_account() -> None:
    acme = str(_model().invoke(_health_turn(42)).content)
    globex = str(_model().invoke(_health_turn(7)).content)

    assert "Acme Corp" in acme and "Globex" not in acme
    assert "Globex" in globex and "health score 81" in globex


# --- structured output -----------------------------------------------------------------------


def test_structured_output_comes_from_the_model_s_composer() -> None:
    structured = _model().with_structured_output(RiskNote, include_raw=True)

    result = structured.invoke(_health_turn(42))

    note = result["parsed"]
    assert isinstance(note, RiskNote) and result["parsing_error"] is None
    assert note.account_name == "Acme Corp"
    assert "38.5" in note.headline and "red" in note.headline
    assert note.body.endswith(OFFLINE_NOTICE)
    assert _is_offline(result["raw"])
    assert _model().with_structured_output(RiskNote).invoke(_health_turn(42)) == note


def test_generic_composer_fills_fields_from_facts_or_fails_clearly() -> None:
    class HealthFacts(BaseModel):
        account_name: str
        health_score: float
        note: str | None = None

    class NeedsProse(BaseModel):
        account_name: str
        summary: str

    model = _model()

    filled = invoke_structured(model, _health_turn(42), HealthFacts)
    with pytest.raises(StructuredOutputError) as failed:
        model.with_structured_output(NeedsProse).invoke(_health_turn(42))

    assert filled == HealthFacts(account_name="Acme Corp", health_score=38.5)
    assert failed.value.schema_name == "NeedsProse"
    assert "no fact named 'summary'" in str(failed.value)
    assert "composer for NeedsProse" in str(failed.value)


def test_structured_output_needs_a_pydantic_schema() -> None:
    with pytest.raises(TypeError, match="pydantic"):
        _model().with_structured_output({"title": "x", "type": "object"})


# --- graphs run unchanged on it ---------------------------------------------------------------


def test_create_agent_loop_runs_end_to_end_on_the_offline_model() -> None:
    agent = create_agent(_model(), TOOLS, system_prompt="You help CSMs.")

    result = agent.invoke({"messages": [HumanMessage("Why is account 42 at risk?")]})

    messages = result["messages"]
    ai = [m for m in messages if isinstance(m, AIMessage)]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert all(_is_offline(m) for m in ai)
    assert [m.name for m in tool_messages] == ["get_account_health"]
    assert '"band": "red"' in str(tool_messages[0].content)  # the real tool ran
    assert not ai[-1].tool_calls and "Acme Corp" in str(ai[-1].content)


def test_create_agent_structured_response_uses_the_composer() -> None:
    agent = create_agent(_model(), TOOLS, response_format=RiskNote)

    result = agent.invoke({"messages": [HumanMessage("Why is account 7 at risk?")]})

    note = result["structured_response"]
    assert isinstance(note, RiskNote) and note.account_name == "Globex"
    assert "81" in note.headline


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def test_hand_built_state_graph_loop_runs_on_the_offline_model() -> None:
    model = _model().bind_tools(TOOLS)

    def call_model(state: _State) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(_State)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition, ["tools", END])
    builder.add_edge("tools", "model")
    graph = builder.compile()

    result = graph.invoke({"messages": [HumanMessage("when is the renewal date for account 7?")]})

    messages = result["messages"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert "2025-09-15" in str(messages[-1].content)


# --- the real embedding model ------------------------------------------------------------------


@pytest.mark.slow
def test_real_embedder_chooses_sensible_tools() -> None:
    from keel.memory.embeddings import load_embedder

    embedder = load_embedder()
    semantic_only = OfflineChatModel(embedder=embedder, intents=NO_RULES).bind_tools(TOOLS)
    with_rules = OfflineChatModel(embedder=embedder).bind_tools(TOOLS)
    cases = {
        "When does account 42 renew its contract?": "get_renewal",
        "Have customers like account 42 churned before?": "find_similar_churned",
        "Who is my main point of contact at account 42?": "list_contacts",
        "Any evidence in tickets or NPS comments at account 42?": "search_evidence",
    }

    chosen = {request: _called(semantic_only.invoke(request)) for request in cases}
    complaints = _called(
        with_rules.invoke("What are people complaining about in tickets at account 42?")
    )

    for request, expected in cases.items():
        assert expected in chosen[request], (request, chosen[request])
    assert _called(semantic_only.invoke("What's the weather like today?")) == []
    assert "search_evidence" in complaints  # the intent rules catch what similarity misses
