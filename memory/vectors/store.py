"""The vector store: tickets, call notes and NPS comments as embedded records in Chroma.

Chroma runs embedded (a persistent client under ``data_dir/chroma``) or as a server
(``KEEL_CHROMA_URL``). The collection is created without an embedding function: Keel
always passes its own embeddings, and Chroma's default function would download a model.

A document is stored as records of two units (see :mod:`keel.memory.vectors.indexer`): chunks
of a few sentences, which search returns, and single sentences, which risk-language
prototypes are matched against together with the chunks.

Reads take two paths. An unfiltered search is Chroma's HNSW query. A filtered search
(account, kinds, dates) and prototype matching scan an in-memory snapshot of the vectors
exactly (see :mod:`keel.memory.vectors.snapshot` for why).

Search reads only chunks: it drops records tagged ``unit: sentence`` rather than keeping
those tagged ``unit: chunk``, so records written before sentence units existed (no
``unit`` tag) are still found. They exist only in an index that a newer Keel has not yet
brought up to date, in whole or in part: the chunker's version is in every content hash,
so the next ``keel index`` rewrites each such document, tags included. (Chroma's
``$ne``, used as the HNSW path's fallback filter, matches records without the key since
Chroma 0.5.12.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from sqlalchemy.engine import Engine

from keel.errors import KeelError, StoreDamaged
from keel.memory.embeddings import Embedder
from keel.memory.index_state import delete_state
from keel.memory.vectors.client import chroma_errors, forget_client, make_chroma_client
from keel.memory.vectors.indexer import DEFAULT_BATCH_SIZE, ProgressCallback, index_documents
from keel.memory.vectors.integrity import check_folder, empty_folder
from keel.memory.vectors.lock import IndexLock
from keel.memory.vectors.snapshot import ChunkSnapshot
from keel.memory.vectors.types import (
    KINDS,
    IndexReport,
    PrototypeMatch,
    SearchHit,
    int_to_date,
    record_unit,
)
from keel.settings import Settings

COLLECTION_NAME = "keel_text"
SNIPPET_CHARS = 240
_META_EMBEDDER = "keel_embedder"
_META_DIM = "keel_dim"
_META_GENERATION = "keel_generation"
# Search reads chunks only. "$ne" rather than {"unit": "chunk"}: records written before
# the ``unit`` tag existed are chunks too, and "$ne" matches records without the key.
_CHUNKS_ONLY: dict[str, Any] = {"unit": {"$ne": "sentence"}}
# Rows of the snapshot multiplied at once in prototype matching (bounds peak memory).
_MATCH_BLOCK = 50_000
# Ids per Chroma ``get`` when fetching documents (SQLite caps bound variables).
_FETCH_PAGE = 1000


def open_vector_store(settings: Settings, embedder: Embedder) -> VectorStore:
    """Open (creating if needed) Keel's collection in the Chroma that ``settings`` names."""
    location = settings.chroma_url or str(settings.chroma_path)
    # Embedded Chroma is not safe across processes: one writer, and readers that look.
    lock = None if settings.chroma_url else IndexLock(settings.chroma_path)
    return VectorStore(make_chroma_client(settings), embedder, location=location, lock=lock)


def rebuild_vector_store(
    settings: Settings,
    embedder: Embedder,
    engine: Engine,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> IndexReport:
    """Re-create the index from the database, repairing a damaged embedded folder.

    The collection is dropped and every record embedded again. An embedded folder that
    Chroma cannot open or use (a damaged ``chroma.sqlite3`` or HNSW segment) is emptied
    first, under the writer lock, so no reader or second writer sees it half-deleted.
    """
    if settings.chroma_url:
        store = open_vector_store(settings, embedder)
        return store.index_from_db(engine, progress=progress, batch_size=batch_size, rebuild=True)
    path = settings.chroma_path
    lock = IndexLock(path)
    with lock.writing():
        try:
            return _rebuild_locked(settings, embedder, engine, lock, progress, batch_size)
        except StoreDamaged:
            # Dropping the collection was not enough (or not possible): start from an
            # empty folder. The database holds every record the index is made from.
            forget_client(path)
            empty_folder(path)
            return _rebuild_locked(settings, embedder, engine, lock, progress, batch_size)


def _rebuild_locked(
    settings: Settings,
    embedder: Embedder,
    engine: Engine,
    lock: IndexLock,
    progress: ProgressCallback | None,
    batch_size: int,
) -> IndexReport:
    location = str(settings.chroma_path)
    # We hold the writer lock, so opening skips the check: run it here, before Chroma
    # reads files that could crash it.
    check_folder(settings.chroma_path)
    store = VectorStore(make_chroma_client(settings), embedder, location=location, lock=lock)
    with chroma_errors(location):
        return store._index_from_db(engine, progress, batch_size, rebuild=True)


P = ParamSpec("P")
R = TypeVar("R")


def _clear_errors(
    method: Callable[Concatenate[VectorStore, P], R],
) -> Callable[Concatenate[VectorStore, P], R]:
    """Report Chroma and connection failures of a public method as a :class:`KeelError`."""

    @functools.wraps(method)
    def wrapper(self: VectorStore, *args: P.args, **kwargs: P.kwargs) -> R:
        with chroma_errors(self.location):
            return method(self, *args, **kwargs)

    return wrapper


def _best_per_document(order: Iterable[int], documents: Sequence[Hashable], k: int) -> list[int]:
    """The first ``k`` positions of ``order`` whose documents have not been seen yet."""
    picked: list[int] = []
    seen: set[Hashable] = set()
    for position in order:
        code = documents[position]
        if code not in seen:
            seen.add(code)
            picked.append(int(position))
            if len(picked) == k:
                break
    return picked


class VectorStore:
    """Keel's text index. Build with :func:`open_vector_store`.

    ``lock`` is the writer lock of an embedded index (:mod:`keel.memory.vectors.lock`); None for
    a Chroma server, which orders writes itself.
    """

    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        *,
        collection_name: str = COLLECTION_NAME,
        location: str = "",
        lock: IndexLock | None = None,
    ) -> None:
        self.client = client
        self.index_lock = lock
        self.embedder = embedder
        self.collection_name = collection_name
        self.location = location or collection_name
        self._lock = threading.Lock()
        self._snapshot: ChunkSnapshot | None = None
        with chroma_errors(self.location):
            self._collection = self._open_collection()

    # -- collection lifecycle ------------------------------------------------------------

    def _metadata(self, generation: str) -> dict[str, str | int]:
        return {
            _META_EMBEDDER: self.embedder.name,
            _META_DIM: self.embedder.dim,
            _META_GENERATION: generation,
        }

    def _open_collection(self) -> Any:
        return self.client.get_or_create_collection(
            self.collection_name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=self._metadata(uuid.uuid4().hex),
        )

    @property
    def collection(self) -> Any:
        """The underlying Chroma collection (for inspection and benchmarks)."""
        return self._collection

    def _sync(self) -> str:
        """Re-read the collection's record: follow a rebuild elsewhere, return its generation."""
        from chromadb.errors import NotFoundError

        try:
            current = self.client.get_collection(self.collection_name, embedding_function=None)
        except NotFoundError as exc:
            raise KeelError(
                f"the vector index at {self.location} is gone; run `keel index` to rebuild it"
            ) from exc
        if current.id != self._collection.id:
            self._collection = current
            self._snapshot = None
        metadata = current.metadata or {}
        built_with = metadata.get(_META_EMBEDDER)
        if built_with != self.embedder.name or metadata.get(_META_DIM) != self.embedder.dim:
            raise KeelError(
                f"the vector index at {self.location} was built with {built_with}, but Keel "
                f"embeds with {self.embedder.name}; run `keel index --rebuild`"
            )
        return str(metadata.get(_META_GENERATION, ""))

    def _bump_generation(self) -> None:
        self._collection.modify(metadata=self._metadata(uuid.uuid4().hex))

    @_clear_errors
    def count(self) -> int:
        """Number of records stored (chunks and sentence units)."""
        return int(self._collection.count())

    # -- writing -------------------------------------------------------------------------

    @_clear_errors
    def index_from_db(
        self,
        engine: Engine,
        *,
        progress: ProgressCallback | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        rebuild: bool = False,
    ) -> IndexReport:
        """Embed new and changed text records, drop deleted ones (see :mod:`.indexer`).

        Args:
            engine: the database with the source records and the index state table.
            progress: called as ``progress(done, total)`` in documents to embed.
            batch_size: documents per batch; a crash loses at most one batch of work.
            rebuild: drop the collection and the index state first, re-embed everything.
        """
        if batch_size < 1:
            raise KeelError(f"batch_size must be at least 1, got {batch_size}")
        if self.index_lock is None:
            return self._index_from_db(engine, progress, batch_size, rebuild)
        with self.index_lock.writing():
            return self._index_from_db(engine, progress, batch_size, rebuild)

    def _index_from_db(
        self,
        engine: Engine,
        progress: ProgressCallback | None,
        batch_size: int,
        rebuild: bool,
    ) -> IndexReport:
        if rebuild:
            from chromadb.errors import NotFoundError

            with contextlib.suppress(NotFoundError, ValueError):  # already gone
                self.client.delete_collection(self.collection_name)
            delete_state(engine)
            with self._lock:
                self._collection = self._open_collection()
                self._snapshot = None
        self._sync()
        max_batch = int(getattr(self.client, "get_max_batch_size", lambda: 5000)())
        return index_documents(
            self._collection,
            self.embedder,
            engine,
            on_write=self._bump_generation,
            progress=progress,
            batch_size=batch_size,
            write_page=max(1, min(max_batch, 5000)),
        )

    # -- reading -------------------------------------------------------------------------

    def _check_readable(self) -> None:
        """Refuse to read while another process writes an embedded index (it would fail)."""
        if self.index_lock is not None:
            self.index_lock.check_readable()

    def _current_snapshot(self, generation: str) -> ChunkSnapshot:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot.generation != generation:
                snapshot = ChunkSnapshot.load(self._collection, generation, dim=self.embedder.dim)
                self._snapshot = snapshot
            return snapshot

    def _documents(self, ids: Sequence[str]) -> dict[str, str]:
        texts: dict[str, str] = {}
        for start in range(0, len(ids), _FETCH_PAGE):
            page = self._collection.get(
                ids=list(ids[start : start + _FETCH_PAGE]), include=["documents"]
            )
            documents = page["documents"] or [None] * len(page["ids"])
            # A chunk written without a document (by another tool) reads as empty text.
            texts.update((i, d or "") for i, d in zip(page["ids"], documents, strict=True))
        return texts

    @_clear_errors
    def search(
        self,
        query: str,
        *,
        k: int = 8,
        account_id: int | None = None,
        kinds: Sequence[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[SearchHit]:
        """The ``k`` source records best matching ``query``, best first, one hit per record.

        Each hit is the record's best-matching chunk; sentence units are never returned
        (they serve prototype matching). Filters combine with AND; dates are inclusive
        and compare the record's date (ticket opened, call held, NPS answered).

        Raises:
            KeelError: empty query, ``k`` < 1, an unknown kind, or ``since`` after ``until``.
        """
        if not query.strip():
            raise KeelError("the search query is empty")
        if k < 1:
            raise KeelError(f"k must be at least 1, got {k}")
        if kinds is not None:
            unknown = sorted(set(kinds) - set(KINDS))
            if unknown:
                raise KeelError(f"unknown kind(s) {unknown}; expected some of {list(KINDS)}")
        if since and until and since > until:
            raise KeelError(f"since ({since}) is after until ({until})")
        self._check_readable()
        generation = self._sync()
        vector = self.embedder.embed_one(query)
        if account_id is None and kinds is None and since is None and until is None:
            return self._search_hnsw(vector, k)
        return self._search_snapshot(
            vector,
            k,
            self._current_snapshot(generation),
            account_ids=None if account_id is None else [account_id],
            kinds=kinds,
            since=since,
            until=until,
            units=["chunk"],
        )

    def _search_hnsw(self, vector: np.ndarray, k: int) -> list[SearchHit]:
        # Ask for more than k records: several may belong to one document, and most are
        # sentences, which are dropped here (in a 60-account book 81% of a query's 32
        # nearest records were sentences). Filtering them out in Chroma instead costs a
        # metadata scan of the whole collection per query (21k records: 55 ms with the
        # filter, 8 ms for 128 unfiltered neighbours), so the filter is only the fallback
        # when the nearest 64 * k records hold chunks of fewer than k documents.
        n_results = 16 * k
        where: dict[str, Any] | None = None
        while True:
            result = self._collection.query(
                query_embeddings=[vector],
                n_results=n_results,
                where=where,
                include=["metadatas", "documents", "distances"],
            )
            ids = result["ids"][0]
            metas = result["metadatas"][0]
            docs = result["documents"][0]
            dists = result["distances"][0]
            chunks = [i for i, m in enumerate(metas) if record_unit(m) == "chunk"]
            picked = _best_per_document(chunks, [m["doc"] for m in metas], k)
            if len(picked) == k or len(ids) < n_results:
                break
            if n_results >= 64 * k:
                if where is not None:
                    break
                where, n_results = _CHUNKS_ONLY, 4 * k
                continue
            n_results *= 4
        return [
            SearchHit(
                kind=str(metas[i]["kind"]),
                source_id=int(metas[i]["source_id"]),
                external_id=str(metas[i]["external_id"]),
                account_id=int(metas[i]["account_id"]),
                date=int_to_date(int(metas[i]["date"])),
                text=docs[i] or "",
                score=1.0 - float(dists[i]),
                chunk=int(metas[i]["chunk"]),
                account_external_id=str(metas[i]["account_external_id"]),
            )
            for i in picked
        ]

    def _search_snapshot(
        self,
        vector: np.ndarray,
        k: int,
        snapshot: ChunkSnapshot,
        **filters: Any,
    ) -> list[SearchHit]:
        rows = snapshot.select(**filters)
        if rows is None:
            rows = np.arange(len(snapshot))
        if rows.size == 0:
            return []
        scores = snapshot.embeddings[rows] @ vector
        doc_codes = snapshot.doc_codes[rows].tolist()
        # Sorting a few hundred scores is free; for large candidate sets sort only the top.
        top = min(rows.size, 32 * k)
        if top < rows.size:
            candidates = np.argpartition(-scores, top - 1)[:top]
            order = candidates[np.argsort(-scores[candidates], kind="stable")]
            picked = _best_per_document(order, doc_codes, k)
            if len(picked) < k:
                order = np.argsort(-scores, kind="stable")
                picked = _best_per_document(order, doc_codes, k)
        else:
            picked = _best_per_document(np.argsort(-scores, kind="stable"), doc_codes, k)
        chosen = [int(rows[i]) for i in picked]
        texts = self._documents([snapshot.ids[r] for r in chosen])
        return [
            SearchHit(
                kind=KINDS[int(snapshot.kind[r])],
                source_id=int(snapshot.source_id[r]),
                external_id=snapshot.external_id[r],
                account_id=int(snapshot.account_id[r]),
                date=int_to_date(int(snapshot.date[r])),
                text=texts.get(snapshot.ids[r], ""),
                score=float(scores[i]),
                chunk=int(snapshot.chunk[r]),
                account_external_id=snapshot.account_external_id[r],
            )
            for i, r in zip(picked, chosen, strict=True)
        ]

    @_clear_errors
    def match_prototypes(
        self,
        prototypes: Mapping[str, Sequence[str]],
        *,
        account_ids: Sequence[int] | None = None,
        until: dt.date | None = None,
        min_score: float = 0.5,
    ) -> list[PrototypeMatch]:
        """Label stored text with the prototype phrases it is closest to.

        Every stored record (of ``account_ids``, dated on or before ``until``), chunks and
        sentence units alike, gets its best-matching phrase; records scoring at least
        ``min_score`` are kept under that phrase's label, one match per (source record,
        label): its best record. A risk statement is usually found by its sentence (its
        chunk's vector is diluted by the text around it); a one-sentence document has
        no sentence unit (it would repeat the chunk), so it is found by its chunk. One
        matrix product over the whole book, no query per account.

        Args:
            prototypes: label -> example phrases, e.g. ``{"churn_threat": [...]}``.

        Returns:
            Matches sorted by score, best first.
        """
        labels = [label for label, phrases in prototypes.items() for _ in phrases]
        phrases = [phrase for values in prototypes.values() for phrase in values]
        if not phrases:
            return []
        self._check_readable()
        generation = self._sync()
        snapshot = self._current_snapshot(generation)
        rows = snapshot.select(account_ids=account_ids, until=until)
        if rows is None:
            rows = np.arange(len(snapshot))
        if rows.size == 0:
            return []
        prototype_vectors = self.embedder.embed(phrases)

        best_row: dict[tuple[str, int, int], tuple[float, int]] = {}
        for start in range(0, rows.size, _MATCH_BLOCK):
            block = rows[start : start + _MATCH_BLOCK]
            similarity = snapshot.embeddings[block] @ prototype_vectors.T
            best_phrase = similarity.argmax(axis=1)
            best_score = similarity[np.arange(block.size), best_phrase]
            for i in np.flatnonzero(best_score >= min_score):
                row = int(block[i])
                key = (
                    labels[int(best_phrase[i])],
                    int(snapshot.kind[row]),
                    int(snapshot.source_id[row]),
                )
                score = float(best_score[i])
                if key not in best_row or score > best_row[key][0]:
                    best_row[key] = (score, row)

        texts = self._documents([snapshot.ids[row] for _, row in best_row.values()])
        matches = [
            PrototypeMatch(
                label=label,
                kind=KINDS[kind_code],
                source_id=source_id,
                external_id=snapshot.external_id[row],
                account_id=int(snapshot.account_id[row]),
                date=int_to_date(int(snapshot.date[row])),
                score=score,
                snippet=texts.get(snapshot.ids[row], "")[:SNIPPET_CHARS],
            )
            for (label, kind_code, source_id), (score, row) in best_row.items()
        ]
        matches.sort(key=lambda m: (-m.score, m.kind, m.source_id, m.label))
        return matches


__all__ = ["COLLECTION_NAME", "VectorStore", "open_vector_store", "rebuild_vector_store"]
