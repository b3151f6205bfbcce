"""The vector store of customer text: chunking, incremental indexing, search.

Build one with :func:`open_vector_store` (or take ``Runtime.vector_store``); nothing here
opens a client or loads a model at import time.
"""

from keel.memory.vectors.chunking import chunk_text
from keel.memory.vectors.client import make_chroma_client
from keel.memory.vectors.indexer import DEFAULT_BATCH_SIZE, ProgressCallback
from keel.memory.vectors.store import (
    COLLECTION_NAME,
    VectorStore,
    open_vector_store,
    rebuild_vector_store,
)
from keel.memory.vectors.types import KINDS, IndexReport, Kind, PrototypeMatch, SearchHit

__all__ = [
    "COLLECTION_NAME",
    "DEFAULT_BATCH_SIZE",
    "KINDS",
    "IndexReport",
    "Kind",
    "ProgressCallback",
    "PrototypeMatch",
    "SearchHit",
    "VectorStore",
    "chunk_text",
    "make_chroma_client",
    "open_vector_store",
    "rebuild_vector_store",
]
