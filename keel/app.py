"""The application object: what lives as long as the process, built once from settings.

Every entry point (CLI, ``keel serve``, the LangGraph server entry, workers, ``bench/``)
builds one :class:`App` and hands it to the services in :mod:`keel.api.services`. What
belongs to one run (account, as-of date, user, budget, thread) travels apart, in the run
context, never on this object.

Clients are created lazily on first use, never at import time, so a command that only
reads the database never loads the embedding model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from keel.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from keel.memory.embeddings import Embedder
    from keel.memory.vectors import VectorStore


@dataclass
class App:
    settings: Settings = field(default_factory=Settings)

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


# The name the CLI and older callers use; the same object.
Runtime = App
