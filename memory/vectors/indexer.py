"""Incremental, crash-safe indexing of the database's text records into a Chroma collection.

A document's records are its chunks followed by its sentence units
(:func:`keel.memory.vectors.chunking.document_units`), numbered 0..n-1 with ids
``kind:source_id:n`` and tagged ``unit: chunk`` or ``unit: sentence``. Chunks are what
search returns; sentences are what risk-language prototypes are matched against, because
one risk sentence inside a long routine text is diluted in its chunk's vector. Both live
in one collection and one numbering, so everything below (and the state table's
``n_chunks``, which counts records) treats them alike.

Only documents whose content hash differs from the recorded one are embedded, and each
distinct text once per run: templated books repeat sentences word for word across
documents ("It works. Not much else to say."), and a repeated text gets the vector
already computed. Each batch
follows one order, so a run killed at any point is finished by the next run without
duplicates (record ids are deterministic, so writing a record twice overwrites it):

1. embed the batch's records;
2. mark the batch's state rows in flight (empty hash, record count covering old and new);
3. upsert the records into Chroma, then delete the document's surplus old records;
4. bump the collection's generation (readers reload their snapshot);
5. record the real content hashes and record counts.

Documents deleted from the database lose their records, then their state rows. If Chroma
and the state table disagree on the number of records (the Chroma directory was deleted,
or the database now points at another Chroma), every id is scanned and the documents
whose records are missing are embedded again; records no state row knows are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from keel.memory.embeddings import Embedder
from keel.memory.index_state import (
    IN_FLIGHT,
    DocKey,
    DocState,
    delete_state,
    load_state,
    save_state,
)
from keel.memory.vectors.chunking import document_units
from keel.memory.vectors.documents import SourceDoc, load_documents
from keel.memory.vectors.types import IndexReport, chunk_id

# Called after each committed batch with (documents embedded so far, documents to embed).
ProgressCallback = Callable[[int, int], None]

DEFAULT_BATCH_SIZE = 256
_ID_PAGE = 5000


def _scan_chunk_numbers(collection: Any) -> dict[DocKey, set[int]]:
    """Every record number in the collection, grouped by document."""
    present: dict[DocKey, set[int]] = {}
    offset = 0
    while True:
        ids = collection.get(include=[], limit=_ID_PAGE, offset=offset)["ids"]
        for cid in ids:
            kind, source_id, n = cid.rsplit(":", 2)
            present.setdefault((kind, int(source_id)), set()).add(int(n))
        offset += len(ids)
        if len(ids) < _ID_PAGE:
            return present


def _reconcile(
    collection: Any, state: dict[DocKey, DocState]
) -> tuple[set[DocKey], dict[DocKey, int], list[str]]:
    """Compare Chroma with the state table.

    Returns the documents whose records are not exactly ``range(n_chunks)``, the highest
    record count each document may have in Chroma, and the ids of records of unknown
    documents. When the totals agree nothing is scanned: every write keeps Chroma's record
    ids within the recorded ranges, so equal totals mean equal sets.
    """
    extent = {key: s.n_chunks for key, s in state.items()}
    if collection.count() == sum(extent.values()):
        return set(), extent, []
    present = _scan_chunk_numbers(collection)
    broken: set[DocKey] = set()
    orphans: list[str] = []
    for key, numbers in present.items():
        if key not in state:
            orphans.extend(chunk_id(key[0], key[1], n) for n in sorted(numbers))
            continue
        extent[key] = max(extent[key], max(numbers) + 1)
    for key, s in state.items():
        if present.get(key, set()) != set(range(s.n_chunks)):
            broken.add(key)
    return broken, extent, orphans


def embedding_order(doc: SourceDoc) -> tuple[int, str, int]:
    """The order documents are embedded in (by length; deterministic)."""
    return (len(doc.text), doc.kind, doc.source_id)


class _VectorCache:
    """Embeds each distinct text once per indexing run (bounded: at most ``limit`` kept)."""

    def __init__(self, embedder: Embedder, limit: int = 200_000) -> None:
        self.embedder = embedder
        self.limit = limit
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts the model encoded
        self.reused = 0  # texts answered from earlier in the run

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        fresh = self.embedder.embed(missing) if missing else None
        found: dict[str, np.ndarray] = {}
        if fresh is not None:
            found = dict(zip(missing, fresh, strict=True))
            self.embedded += len(missing)
            if len(self.vectors) + len(found) <= self.limit:
                self.vectors.update(found)
        self.reused += len(texts) - len(missing)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([found[t] if t in found else self.vectors[t] for t in texts]).astype(
            np.float32, copy=False
        )


def _delete_ids(collection: Any, ids: Sequence[str], page: int) -> None:
    for start in range(0, len(ids), page):
        collection.delete(ids=list(ids[start : start + page]))


def index_documents(
    collection: Any,
    embedder: Embedder,
    engine: Engine,
    *,
    on_write: Callable[[], None],
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    write_page: int = 5000,
) -> IndexReport:
    """Bring ``collection`` up to date with the database's tickets, notes and NPS comments.

    Args:
        collection: the Chroma collection (created without an embedding function).
        embedder: embeds record texts; its name is part of every content hash.
        engine: the database holding the source records and the index state.
        on_write: called after each change to the collection (bumps its generation).
        progress: see :data:`ProgressCallback`.
        batch_size: documents per batch, the unit of commit.
        write_page: most records per Chroma call (its ``max_batch_size``).
    """
    started = time.perf_counter()
    docs = {doc.key: doc for doc in load_documents(engine)}
    hashes = {key: doc.content_hash(embedder.name) for key, doc in docs.items()}
    state = load_state(engine)
    broken, extent, orphans = _reconcile(collection, state)

    chunks_deleted = 0
    removed = sorted(key for key in state if key not in docs)
    stale = orphans + [chunk_id(k, s, n) for k, s in removed for n in range(extent[(k, s)])]
    if stale:
        _delete_ids(collection, stale, write_page)
        chunks_deleted += len(stale)
        on_write()
    if removed:
        delete_state(engine, removed)

    new = changed = repaired = 0
    pending: list[SourceDoc] = []
    for key in sorted(docs):
        if key not in state:
            new += 1
        elif state[key].content_hash != hashes[key]:
            changed += 1
        elif key in broken:
            repaired += 1
        else:
            continue
        pending.append(docs[key])
    # Shortest first: texts of like length share a batch, so the model pads them little
    # (close to one global sort by length, as a single big encode call would do).
    pending.sort(key=embedding_order)

    if progress:
        progress(0, len(pending))
    cache = _VectorCache(embedder)
    chunks_written = 0
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        pieces = [document_units(doc.text) for doc in batch]  # chunks, then sentences
        ids = [
            chunk_id(d.kind, d.source_id, n)
            for d, p in zip(batch, pieces, strict=True)
            for n in range(len(p))
        ]
        texts = [text for p in pieces for text, _unit in p]
        metadatas = [
            d.metadata(n, unit)
            for d, p in zip(batch, pieces, strict=True)
            for n, (_text, unit) in enumerate(p)
        ]
        vectors = cache.embed(texts)

        old_extent = {d.key: extent.get(d.key, 0) for d in batch}
        save_state(
            engine,
            {
                d.key: DocState(IN_FLIGHT, max(old_extent[d.key], len(p)))
                for d, p in zip(batch, pieces, strict=True)
            },
        )
        for lo in range(0, len(ids), write_page):
            hi = lo + write_page
            collection.upsert(
                ids=ids[lo:hi],
                embeddings=vectors[lo:hi],
                metadatas=metadatas[lo:hi],
                documents=texts[lo:hi],
            )
        surplus = [
            chunk_id(d.kind, d.source_id, n)
            for d, p in zip(batch, pieces, strict=True)
            for n in range(len(p), old_extent[d.key])
        ]
        _delete_ids(collection, surplus, write_page)
        on_write()
        save_state(
            engine,
            {d.key: DocState(hashes[d.key], len(p)) for d, p in zip(batch, pieces, strict=True)},
        )
        chunks_written += len(ids)
        chunks_deleted += len(surplus)
        if progress:
            progress(start + len(batch), len(pending))

    return IndexReport(
        new=new,
        changed=changed,
        unchanged=len(docs) - new - changed - repaired,
        removed=len(removed),
        chunks_written=chunks_written,
        chunks_deleted=chunks_deleted,
        seconds=time.perf_counter() - started,
        repaired=repaired,
        texts_embedded=cache.embedded,
    )
