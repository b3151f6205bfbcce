"""The application object: what lives as long as the process, built once from settings.

Every entry point (CLI, ``keel serve``, the LangGraph server entry, workers, ``bench/``)
builds one :class:`App` and hands it to the services in :mod:`keel.api.services`. What
belongs to one run (account, as-of date, user, budget, thread) travels apart, in the run
context (:class:`keel.agents.context.RunContext`), never on this object.

Everything is built lazily on first use, never at import time, so a command that only reads
the database never loads the embedding model or opens the checkpointer. What holds a
connection (the checkpointer and store) is closed by :meth:`App.close` (or ``with App():``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from keel.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.graph.state import CompiledStateGraph
    from sqlalchemy.engine import Engine

    from keel.agents.context import ReviewDeps
    from keel.domain.policy import Policy
    from keel.memory.checkpoint import Persistence
    from keel.memory.embeddings import Embedder
    from keel.memory.vectors import VectorStore
    from keel.tools.outbound.executor import ExecutionOptions


@dataclass
class App:
    """Process-scoped dependencies, each built once on first use.

    Attributes:
        settings: Keel settings (environment, ``.env``).
        use_vectors: Search evidence in the vector store; by default when an index exists.
        execution: The executor's lease, retries and step hooks (tests install fault
            injection here); the executor's defaults when None.
        model: The chat model every run uses; from settings when None (the configured
            OpenAI-compatible endpoint, else the offline model).
        adapters: Outbound adapters by channel; from settings when None.
        checkpoint_url: Where checkpoints live; from settings when None.
    """

    settings: Settings = field(default_factory=Settings)
    use_vectors: bool | None = None
    execution: ExecutionOptions | None = None
    model: BaseChatModel | None = None
    adapters: Mapping[str, Any] | None = None
    checkpoint_url: str | None = None
    _stack: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close what holds connections (checkpointer, store); safe to call twice."""
        self._stack.close()
        for name in ("persistence", "review_graph", "chat_graph"):
            self.__dict__.pop(name, None)

    # --- stores ----------------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        from keel.memory.db import engine_from_settings, init_db

        engine = engine_from_settings(self.settings)
        init_db(engine)
        return engine

    @cached_property
    def embedder(self) -> Embedder:
        from keel.memory.embeddings import load_embedder

        return load_embedder()

    @cached_property
    def vector_store(self) -> VectorStore:
        from keel.memory.vectors import open_vector_store

        return open_vector_store(self.settings, self.embedder)

    @property
    def vectors_enabled(self) -> bool:
        if self.use_vectors is not None:
            return self.use_vectors
        return self.settings.chroma_url is not None or self.settings.chroma_path.exists()

    @cached_property
    def persistence(self) -> Persistence:
        """The checkpointer and store, opened once and closed with the app."""
        from keel.memory.checkpoint import open_persistence

        return self._stack.enter_context(open_persistence(self.settings, url=self.checkpoint_url))

    # --- domain rules and adapters -----------------------------------------------------------

    @cached_property
    def policy(self) -> Policy:
        from keel.domain.policy import policy_from_settings

        return policy_from_settings(self.settings)

    @cached_property
    def outbound(self) -> Mapping[str, Any]:
        """The outbound adapters by channel (only the executor sends through them)."""
        if self.adapters is not None:
            return dict(self.adapters)
        from keel.tools.outbound.factory import adapters_from_settings

        return adapters_from_settings(self.settings, self.engine)

    @cached_property
    def execution_options(self) -> ExecutionOptions:
        from keel.tools.outbound.executor import DEFAULT_OPTIONS

        return self.execution or DEFAULT_OPTIONS

    # --- model and graphs ------------------------------------------------------------------

    @cached_property
    def chat_model(self) -> BaseChatModel:
        """The model every run of this process uses. Its budget is the run's, from the run
        context (:class:`keel.agents.context.RunContext`), not the model's own."""
        if self.model is not None:
            return self.model
        from keel.agents.composers import offline_model
        from keel.agents.llm import make_chat_model

        if self.settings.llm_configured:
            return make_chat_model(self.settings)
        # Offline, the embedding model is handed over only when it is loaded anyway (the
        # vector store is in use): loading it for tool choice alone costs seconds.
        if self.vectors_enabled:
            return offline_model(embedder=self.embedder)
        return offline_model()

    @cached_property
    def model_label(self) -> str:
        from keel.agents.llm import model_label

        return model_label(self.chat_model)

    @cached_property
    def review_deps(self) -> ReviewDeps:
        """What every review node needs besides the model; nothing in it belongs to a run."""
        from keel.agents.context import ReviewDeps

        return ReviewDeps(
            engine=self.engine,
            settings=self.settings,
            policy=self.policy,
            model_label=self.model_label,
            vector_store=self.vector_store if self.vectors_enabled else None,
            adapters=self.outbound,
            execution=self.execution,
        )

    @cached_property
    def review_graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The review graph, compiled once with this process's checkpointer and store."""
        from keel.graphs.runner import compile_review_graph

        return compile_review_graph(
            model=self.chat_model, deps=self.review_deps, persistence=self.persistence
        )

    @cached_property
    def chat_graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The CSM chat graph over the analyst's and the book's read-only tools, compiled
        once with this process's checkpointer (a conversation is a thread on it)."""
        from keel.graphs.chat import compile_chat_graph
        from keel.tools.account_tools import AccountReader
        from keel.tools.book_tools import BookReader

        deps = self.review_deps
        accounts = AccountReader(self.engine, vector_store=deps.vector_store)
        return compile_chat_graph(
            model=self.chat_model,
            reader=BookReader(self.engine, accounts=accounts),
            persistence=self.persistence,
        )

    @cached_property
    def prep_graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The meeting-prep graph (one-shot: no checkpointer)."""
        from keel.graphs.prep import build_prep_graph

        return build_prep_graph(model=self.chat_model, deps=self.review_deps).compile()


# The name the CLI and older callers use; the same object.
Runtime = App
