"""Index: embed tickets, call notes and NPS comments into the vector store.

An ordinary run embeds only new or changed records and drops the records of deleted ones;
an interrupted run is finished by the next, without duplicates. A rebuild re-creates the
index from the database, which is also how a damaged index is repaired.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, computed_field

if TYPE_CHECKING:
    from keel.app import App

IndexProgress = Callable[[int, int], None]
"""Called as ``(done, total)`` in documents to embed."""

# keel.memory.vectors.DEFAULT_BATCH_SIZE (not imported: it would load the vector store's
# dependencies with this module).
DEFAULT_BATCH_SIZE = 256


class IndexRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    rebuild: bool = False
    """Drop the index and embed every record again; repairs a damaged index."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Documents per committed batch: a crash loses at most one batch of work."""


class IndexResult(BaseModel):
    """What one run did. Documents are source records; records are what the store holds
    (a document's chunks and sentence units)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    new: int
    changed: int
    repaired: int
    """Documents missing from or inconsistent with the store, embedded again."""
    unchanged: int
    removed: int
    chunks_written: int
    chunks_deleted: int
    seconds: float
    texts_embedded: int = 0
    """Distinct texts the model encoded: a text repeated across records is encoded once."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def embedded_documents(self) -> int:
        return self.new + self.changed + self.repaired

    @computed_field  # type: ignore[prop-decorator]
    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0


def index_documents(
    app: App, request: IndexRequest | None = None, *, progress: IndexProgress | None = None
) -> IndexResult:
    """Bring the vector index up to date with the database, or rebuild it.

    Raises:
        KeelError: ``batch_size`` < 1; the index is damaged (a rebuild repairs it) or was
            built with another embedding model; another process holds the index's lock.
    """
    from keel.memory.vectors import rebuild_vector_store

    request = request or IndexRequest()
    engine = app.engine
    if request.rebuild:
        # A rebuild does not open the index first: it is how a damaged one is repaired.
        report = rebuild_vector_store(
            app.settings,
            app.embedder,
            engine,
            progress=progress,
            batch_size=request.batch_size,
        )
    else:
        report = app.vector_store.index_from_db(
            engine, progress=progress, batch_size=request.batch_size
        )
    return IndexResult.model_validate(report, from_attributes=True)
