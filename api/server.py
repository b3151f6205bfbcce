"""The review graph for LangGraph Server / Studio (``langgraph.json``): an entry point.

The server imports this module and calls :func:`make_review_graph` with each run's config.
The application object is built from settings (environment, ``.env``) on the first call,
not at import, and kept for the process; the graph is compiled without a checkpointer or
store, since the server supplies its own, so paused reviews and their approvals live in the
server's persistence.

Budgets are per run: the server calls the factory once per run, and with a configured
model each call gets a model with a fresh budget from the settings (a client that passes a
run ``context`` with its own budget is charged to that instead). The offline model spends
nothing, so one is shared.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from keel.app import App

_lock = threading.Lock()
_app: App | None = None
_offline_graph: CompiledStateGraph[Any, Any, Any, Any] | None = None


def _the_app() -> App:
    global _app
    with _lock:
        if _app is None:
            from keel.app import App

            _app = App()
        return _app


def make_review_graph(
    config: RunnableConfig | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled review graph for one run (the offline one is built once)."""
    global _offline_graph
    from keel.agents.llm import make_chat_model
    from keel.graphs.review import build_review_graph

    app = _the_app()
    if app.settings.llm_configured:
        model = make_chat_model(app.settings)  # a fresh budget for this run
        return build_review_graph(model=model, deps=app.review_deps).compile()
    with _lock:
        if _offline_graph is None:
            _offline_graph = build_review_graph(
                model=app.chat_model, deps=app.review_deps
            ).compile()
        return _offline_graph
