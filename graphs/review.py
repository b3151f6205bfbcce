"""The account review graph: wiring only.

::

    START ─► analyst ─► planner ─┬─► play (one per planned play, in parallel) ─► END
                │                └─► END (nothing to do)
                └─► END (the analyst failed: the error is in state)

    play:  draft ─► policy_check ─► approval ─► execute ─► log ─► END
             ▲            │            │ respond
             │            └─► log      ├─► draft (revise, ask again)
             └─────────────────────────┘ reject ─► log

Each play runs in its own subgraph task, so a reviewer can decide one action while the
others still wait: approving it sends it at once. Compile with a checkpointer (and a store
for reviewer feedback) and invoke with ``durability="sync"``; see
:func:`keel.graphs.runner.start_review`. The nightly review calls the same graph per account.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from keel.agents.analyst import make_analyst, review_as_of
from keel.agents.context import ReviewDeps, RunContext
from keel.agents.drafter import make_drafter, route_after_draft
from keel.agents.gatekeeper import make_gate_nodes, route_after_approval, route_after_policy
from keel.agents.planner import make_planner
from keel.agents.state import ActionOutput, ActionState, ReviewInput, ReviewState
from keel.tools.account_tools import AccountReader, make_account_tools

PLAY_NODE: Final = "play"
# What a play's path reads of the analyst's facts (the rest stays in the review's state,
# so each play's checkpoints stay small).
PLAY_FACTS: Final = ("as_of", "account", "contacts", "health", "hypotheses", "fact_lines")
# Each respond round trip is three steps; this allows many rounds per play.
RECURSION_LIMIT: Final = 200


def _node(fn: Callable[..., dict[str, Any]]) -> Any:
    """Node functions take (state, config) or (state, runtime) positionally; LangGraph
    inspects their signatures at runtime, which its static overloads cannot express."""
    return fn


def build_play_graph(*, model: BaseChatModel, deps: ReviewDeps) -> StateGraph[Any, Any, Any, Any]:
    """One planned play's path, from draft to intervention log (uncompiled)."""
    gate = make_gate_nodes(deps)
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        ActionState, output_schema=ActionOutput, context_schema=RunContext
    )
    builder.add_node("draft", _node(make_drafter(model=model, deps=deps)))
    builder.add_node("policy_check", _node(gate.policy_check))
    builder.add_node("approval", _node(gate.approval))
    builder.add_node("execute", _node(gate.execute))
    builder.add_node("log", _node(gate.log))
    builder.add_edge(START, "draft")
    builder.add_conditional_edges("draft", route_after_draft, ["policy_check", "log"])
    builder.add_conditional_edges("policy_check", route_after_policy, ["approval", "log"])
    builder.add_conditional_edges("approval", route_after_approval, ["execute", "draft", "log"])
    builder.add_edge("execute", "log")
    builder.add_edge("log", END)
    return builder


def build_review_graph(
    *,
    model: BaseChatModel,
    deps: ReviewDeps,
    tools: Sequence[BaseTool] | None = None,
    reader: AccountReader | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """The review graph, uncompiled: the caller compiles it with its checkpointer and store.

    Args:
        model: The chat model every agent uses (remote or offline).
        deps: Engine, settings, policy, adapters, model label for this run.
        tools: The analyst's read-only tools; built over ``reader`` when None.
        reader: The queries behind the tools; built from ``deps`` when None.
    """
    reader = reader or AccountReader(deps.engine, vector_store=deps.vector_store)
    tools = list(tools) if tools is not None else make_account_tools(reader)
    plays: CompiledStateGraph[Any, Any, Any, Any] = build_play_graph(
        model=model, deps=deps
    ).compile()

    def fan_out(state: ReviewState) -> list[Send] | str:
        plan = state.get("plan") or {}
        items = plan.get("plays") or []
        if not items or not state.get("briefing"):
            return END
        as_of = review_as_of(state, deps).isoformat()
        return [
            Send(
                PLAY_NODE,
                ActionState(
                    review_account_id=state["account_id"],
                    review_as_of=as_of,
                    item=item,
                    briefing=state["briefing"] or {},
                    facts={k: v for k, v in (state.get("facts") or {}).items() if k in PLAY_FACTS},
                    revision=0,
                    feedback=[],
                    outcomes=[],
                    errors=[],
                ),
            )
            for item in items
        ]

    def after_analyst(state: ReviewState) -> str:
        return "planner" if state.get("briefing") else END

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        ReviewState, input_schema=ReviewInput, context_schema=RunContext
    )
    builder.add_node(
        "analyst", _node(make_analyst(model=model, tools=tools, reader=reader, deps=deps))
    )
    builder.add_node("planner", _node(make_planner(model=model, deps=deps)))
    builder.add_node(PLAY_NODE, plays)
    builder.add_edge(START, "analyst")
    builder.add_conditional_edges("analyst", after_analyst, ["planner", END])
    builder.add_conditional_edges("planner", fan_out, [PLAY_NODE, END])
    builder.add_edge(PLAY_NODE, END)
    return builder
