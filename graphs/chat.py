"""The CSM chat graph, and the path a chat's proposal takes to the approval queue.

::

    START ─► agent (create_agent over the chat tools) ─► cite (citation check) ─► END

A conversation is one LangGraph thread on the process's checkpointer: each question is
one run of this graph on the thread, so the messages, the account in focus and the last
checked answer persist across processes and days. The run context
(:class:`keel.agents.chat.ChatContext`) says who asks, about which account, as of when.

A proposal (``propose_draft``) is never drafted or sent by the chat. :func:`propose_play`
runs the review graph itself on a new review thread: the analyst's briefing, then the one
requested play in place of the planner's choice (held to the policy by the planner's own
``enforce_plan``, and always waiting for a person), then the play's usual path: drafter,
policy check, approval interrupt (the ``HITLRequest`` shape), executor only after a
decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from keel.agents.chat import ChatContext, ChatState, ScopeCheck, make_chat_agent, make_cite
from keel.agents.context import ReviewDeps, RunContext
from keel.agents.planner import allowed_plays, enforce_plan, mark_code_selected
from keel.agents.schemas import Briefing, Plan, PlannedPlay
from keel.domain.plays import PLAY_LIBRARY
from keel.errors import KeelError
from keel.graphs.runner import ReviewResult, review_result, thread_config
from keel.memory.checkpoint import GRAPH_DURABILITY, Persistence
from keel.tools.book_tools import BookReader, make_chat_tools

Graph = CompiledStateGraph[Any, Any, Any, Any]


def _node(fn: Any) -> Any:
    """LangGraph inspects node signatures at runtime (state, config, runtime)."""
    return fn


def build_chat_graph(
    *, model: BaseChatModel, tools: Sequence[BaseTool], scope: ScopeCheck | None = None
) -> StateGraph[Any, Any, Any, Any]:
    """The chat graph, uncompiled: the caller compiles it with its checkpointer.

    ``scope`` says which cited ids the asking CSM may not cite (the citation check removes
    them); without it, citations are checked against the tool results only.
    """
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(ChatState, context_schema=ChatContext)
    builder.add_node("agent", _node(make_chat_agent(model=model, tools=tools)))
    builder.add_node("cite", _node(make_cite(scope)))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "cite")
    builder.add_edge("cite", END)
    return builder


def compile_chat_graph(
    *, model: BaseChatModel, reader: BookReader, persistence: Persistence
) -> Graph:
    """The chat graph over ``reader``'s tools, on ``persistence``'s checkpointer."""
    builder = build_chat_graph(
        model=model, tools=make_chat_tools(reader), scope=reader.citation_scope
    )
    return builder.compile(checkpointer=persistence.checkpointer)


def new_chat_thread_id(user: str) -> str:
    """A new conversation's thread id (the user's name keeps threads easy to find)."""
    safe = "".join(c if c.isalnum() or c in "._@-" else "_" for c in user)[:64]
    return f"chat:{safe}:{uuid.uuid4().hex[:12]}"


def propose_play(
    review_graph: Graph,
    deps: ReviewDeps,
    *,
    proposal: dict[str, Any],
    context: RunContext,
    thread_id: str,
) -> ReviewResult:
    """Send one chat proposal down the review's path; it ends waiting for approval.

    The review runs its analyst, then the requested play is planned in the planner's
    place (the policy's allowed plays, the frequency cap and the recipient rules applied
    by ``enforce_plan``); the play is never marked as chosen by the signals, so it always
    waits for a person. When the policy refuses the play, the review ends with that
    reason in its plan and nothing is drafted.

    Raises:
        KeelError: the analyst could not brief the account.
    """
    account_id = int(proposal["account_id"])
    as_of = context.as_of
    config = thread_config(thread_id, user=context.user)
    state: dict[str, Any] = {"account_id": account_id}
    if as_of is not None:
        state["as_of"] = as_of.isoformat()
    review_graph.invoke(
        state,
        config,
        durability=GRAPH_DURABILITY,
        context=context,
        interrupt_after=["analyst"],
    )
    values = review_graph.get_state(config).values or {}
    if not values.get("briefing"):
        errors = "; ".join(e.get("error", "") for e in values.get("errors") or [])
        raise KeelError(f"the analyst could not brief the account: {errors or 'no briefing'}")
    facts = values.get("facts") or {}
    briefing = Briefing.model_validate(values["briefing"])
    day = deps.with_as_of(as_of).review_date()
    allowed, touches = allowed_plays(deps, facts, as_of=day, thread_id=thread_id)
    del touches
    hypothesis = _hypothesis_for(briefing, str(proposal["play"]))
    asked = PlannedPlay(
        play=str(proposal["play"]),
        rationale=f"Requested by {context.user} in the chat: {proposal.get('asked') or ''}"[:400],
        hypothesis_id=hypothesis,
    )
    items, dropped = enforce_plan(
        Plan(plays=[asked]),
        briefing=briefing,
        allowed={d.play_id: d for d in allowed},
        contacts=facts.get("contacts") or [],
        customer_slots=None,
        max_plays=1,
    )
    mark_code_selected(items, set())  # asked for in words: a person approves it
    plan = {"plays": items, "dropped": dropped, "note": "requested in the chat"}
    review_graph.update_state(config, {"plan": plan}, as_node="planner")
    review_graph.invoke(None, config, durability=GRAPH_DURABILITY, context=context)
    return review_result(review_graph, thread_id)


def _hypothesis_for(briefing: Briefing, play: str) -> str | None:
    """The briefing's hypothesis the play answers best (its category), if any."""
    answers = {str(a) for a in getattr(PLAY_LIBRARY.get(play), "answers", ())}
    for hypothesis in briefing.hypotheses:
        if hypothesis.category in answers:
            return hypothesis.id
    return None
