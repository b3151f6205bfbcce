"""The review graph for LangGraph Server / Studio (``langgraph.json``).

The server imports this module and calls :func:`make_review_graph` with each run's config;
the graph is built from settings (environment, ``.env``) on the first call, not at import,
and compiled without a checkpointer or store: the server supplies its own, so paused
reviews and their approvals live in the server's persistence.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

_lock = threading.Lock()
_graph: CompiledStateGraph[Any, Any, Any, Any] | None = None


def make_review_graph(
    config: RunnableConfig | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled review graph (built once per process from settings)."""
    global _graph
    with _lock:
        if _graph is None:
            _graph = _build()
        return _graph


def _build() -> CompiledStateGraph[Any, Any, Any, Any]:
    from keel.agents.composers import register_composers
    from keel.agents.context import ReviewDeps
    from keel.agents.llm import model_label
    from keel.domain.policy import policy_from_settings
    from keel.graphs.review import build_review_graph
    from keel.graphs.runner import review_model
    from keel.runtime import Runtime
    from keel.tools.outbound.factory import adapters_from_settings

    runtime = Runtime()
    settings = runtime.settings
    use_vectors = settings.chroma_url is not None or settings.chroma_path.exists()
    model = review_model(runtime, use_vectors=use_vectors)
    deps = ReviewDeps(
        engine=runtime.engine,
        settings=settings,
        policy=policy_from_settings(settings),
        model_label=model_label(model),
        vector_store=runtime.vector_store if use_vectors else None,
        adapters=adapters_from_settings(settings, runtime.engine),
    )
    register_composers()
    return build_review_graph(model=model, deps=deps).compile()
