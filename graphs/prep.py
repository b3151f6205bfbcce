"""The meeting-prep graph: wiring only.

::

    START ─► analyst ─► prep ─► END        (prep: brief, talking points, call summary)
                └─► END (the analyst failed: the error is in state)

One-shot: compiled without a checkpointer (nothing waits for a human). Run with a
:class:`keel.agents.context.RunContext`, like a review, so its model calls are charged to
the run's own budget.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from keel.agents.analyst import make_analyst
from keel.agents.context import ReviewDeps, RunContext
from keel.agents.prep_nodes import make_prep_node
from keel.agents.state import JSON, StepError
from keel.tools.account_tools import AccountReader, make_account_tools


class PrepInput(TypedDict):
    account_id: int
    as_of: NotRequired[str | None]
    note: NotRequired[str | None]
    note_source: NotRequired[str | None]


class PrepState(TypedDict):
    account_id: int
    as_of: NotRequired[str | None]
    note: NotRequired[str | None]
    note_source: NotRequired[str | None]
    facts: NotRequired[JSON]
    briefing: NotRequired[JSON | None]
    prep: NotRequired[JSON | None]
    call_summary: NotRequired[JSON | None]
    errors: Annotated[list[StepError], operator.add]


def build_prep_graph(*, model: BaseChatModel, deps: ReviewDeps) -> StateGraph[Any, Any, Any, Any]:
    """The prep graph, uncompiled."""
    reader = AccountReader(deps.engine, vector_store=deps.vector_store)
    analyst: Any = make_analyst(
        model=model, tools=make_account_tools(reader), reader=reader, deps=deps
    )
    prep: Any = make_prep_node(model=model, deps=deps)
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        PrepState, input_schema=PrepInput, context_schema=RunContext
    )
    builder.add_node("analyst", analyst)
    builder.add_node("prep", prep)
    builder.add_edge(START, "analyst")
    builder.add_conditional_edges(
        "analyst", lambda s: "prep" if s.get("briefing") else END, ["prep", END]
    )
    builder.add_edge("prep", END)
    return builder
