"""The vector store: tickets, call notes and NPS comments as embedded records in Chroma.

Chroma runs embedded (a persistent client under ``data_dir/chroma``) or as a server
(``KEEL_CHROMA_URL``). The collection is created without an embedding function: Keel
always passes its own embeddings, and Chroma's default function would download a model.

A document is stored as records of two units (see :mod:`keel.memory.vectors.indexer`): chunks
of a few sentences, which search returns, and single sentences, which risk-language
prototypes are matched against together with the chunks.

Reads scan an in-memory snapshot of the vectors and texts exactly (see
:mod:`keel.memory.vectors.snapshot` for why not Chroma's filtered HNSW query). Search is
hybrid: a document ranks by the cosine of its best chunk averaged with that of its best
record, chunk or sentence (a phrase inside a long note is diluted in the note's chunk
vector but not in its sentence's), fused with a BM25 rank over its chunks' words, and
documents that hold the query word for word come first
(:mod:`keel.memory.vectors.keywords`). A hit is a chunk with its matching sentence;
near-duplicate records (templated NPS comments) collapse into the first. Records written
before sentence units existed have no ``unit`` tag and are chunks
(:func:`keel.memory.vectors.types.record_unit`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from sqlalchemy.engine import Engine

from keel.errors import KeelError, StoreDamaged
from keel.memory.embeddings import Embedder
from keel.memory.index_state import delete_state
from keel.memory.vectors.chunking import split_sentences
from keel.memory.vectors.client import chroma_errors, forget_client, make_chroma_client
from keel.memory.vectors.indexer import DEFAULT_BATCH_SIZE, ProgressCallback, index_documents
from keel.memory.vectors.integrity import check_folder, empty_folder
from keel.memory.vectors.keywords import content_words, near_duplicate_key, phrase_key, words
from keel.memory.vectors.lock import IndexLock
from keel.memory.vectors.snapshot import ChunkSnapshot
from keel.memory.vectors.types import (
    KINDS,
    UNITS,
    IndexReport,
    PrototypeMatch,
    SearchHit,
    int_to_date,
)
from keel.settings import Settings

COLLECTION_NAME = "keel_text"
SNIPPET_CHARS = 240
_META_EMBEDDER = "keel_embedder"
_META_DIM = "keel_dim"
_META_GENERATION = "keel_generation"
_CHUNK_CODE = UNITS.index("chunk")
# Reciprocal rank fusion's constant (the usual 60): a document's fused score is
# 1 / (60 + its rank by meaning) + 1 / (60 + its rank by keywords).
_RRF_K = 60.0
# A document ranks by keywords only if its chunk holds this share of the query's words:
# a long ticket holds a few of any query's common words, and is no keyword match for it.
_KEYWORD_SHARE = 0.6
# Chunk cosine at or above which a record is a near-duplicate of a better-ranked hit.
_NEAR_DUPLICATE = 0.95
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


def _best_per_document(
    inverse: np.ndarray, values: np.ndarray, positions: np.ndarray, n_docs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per document: the largest of ``values[positions]`` and where it is (-inf and -1 if none).

    ``inverse`` maps each position to its document number. No sort: one scatter-max, then
    the first position that reaches it.
    """
    best = np.full(n_docs, -np.inf, dtype=np.float32)
    where = np.full(n_docs, -1, dtype=np.int64)
    if positions.size == 0:
        return best, where
    docs = inverse[positions]
    np.maximum.at(best, docs, values[positions])
    top = positions[values[positions] >= best[docs]][::-1]  # reversed: the first one wins
    where[inverse[top]] = top
    return best, where


def _passage(
    snapshot: ChunkSnapshot,
    chunk_row: int,
    sentence_row: int | None,
    query_key: str,
    terms: Sequence[str],
    phrase: bool,
) -> str:
    """The sentence of a hit that matches the query: the phrase's, the nearest, or the
    one sharing most of the query's words; the chunk itself when it is one sentence."""
    sentences = split_sentences(snapshot.documents[chunk_row])
    if phrase:
        for sentence in sentences:
            if query_key in phrase_key(sentence):
                return sentence
    if sentence_row is not None:
        return snapshot.documents[sentence_row]
    if not sentences:
        return snapshot.documents[chunk_row]
    wanted = set(terms)
    best = max(sentences, key=lambda s: len(wanted & set(words(s))))
    return best if wanted & set(words(best)) or len(sentences) == 1 else sentences[0]


def _rank(
    snapshot: ChunkSnapshot,
    rows: np.ndarray,
    vector: np.ndarray,
    query: str,
    k: int,
    *,
    collapse: bool,
) -> list[SearchHit]:
    """Hybrid ranking of the documents of ``rows`` (see :meth:`VectorStore.search`)."""
    # Every row (no filter): skip copying the whole matrix through fancy indexing.
    whole = rows.size == len(snapshot)
    cosine = (snapshot.embeddings if whole else snapshot.embeddings[rows]) @ vector
    is_chunk = snapshot.unit[rows] == _CHUNK_CODE
    if not is_chunk.any():
        return []
    inverse = snapshot.doc_index[rows]  # each row's document number
    n_docs = snapshot.n_docs
    everything = np.arange(rows.size)
    best_any, _ = _best_per_document(inverse, cosine, everything, n_docs)
    best_chunk, chunk_of_doc = _best_per_document(inverse, cosine, np.flatnonzero(is_chunk), n_docs)
    _, sentence_of_doc = _best_per_document(inverse, cosine, np.flatnonzero(~is_chunk), n_docs)
    # Only documents with a chunk can be returned (an orphan sentence has no passage).
    eligible = np.flatnonzero(chunk_of_doc >= 0)

    # Meaning: the mean of the best chunk's cosine and the best record's (chunk or sentence).
    # A sentence lifts a long record whose one sentence says it; the chunk keeps a record
    # about the query ahead of one that has a sentence near it among many others.
    meaning = 0.5 * (best_any[eligible] + best_chunk[eligible])
    by_meaning = eligible[np.argsort(-meaning, kind="stable")]
    meaning_rank = np.full(n_docs, np.inf)
    meaning_rank[by_meaning] = np.arange(by_meaning.size)

    # Keywords: BM25 of the best chunk of each document holding most of the query's words.
    terms = content_words(query)
    keyword_rank = np.full(n_docs, np.inf)
    is_phrase = np.zeros(n_docs, dtype=bool)
    if terms:
        bm25, matched = snapshot.keywords.scores(terms)
        needed = max(1, math.ceil(len(terms) * _KEYWORD_SHARE))
        hits = np.flatnonzero(is_chunk & (matched[rows] >= needed))
        if hits.size:
            doc_bm25, _ = _best_per_document(inverse, bm25[rows], hits, n_docs)
            by_keyword = np.flatnonzero(doc_bm25 > 0)
            by_keyword = by_keyword[np.argsort(-doc_bm25[by_keyword], kind="stable")]
            keyword_rank[by_keyword] = np.arange(by_keyword.size)
            found = snapshot.keywords.phrase_rows(query, rows[hits].tolist())
            is_phrase[snapshot.doc_index[np.asarray(sorted(found), dtype=np.int64)]] = True

    fused = 1.0 / (_RRF_K + meaning_rank[eligible]) + 1.0 / (_RRF_K + keyword_rank[eligible])
    order = eligible[np.lexsort((meaning_rank[eligible], -fused, ~is_phrase[eligible]))]

    query_key = phrase_key(query)
    picked: list[SearchHit] = []
    picked_vectors = np.zeros((k, snapshot.embeddings.shape[1]), dtype=np.float32)
    picked_keys: dict[str, int] = {}
    similar: list[list[str]] = []
    # Once k hits are picked, the next 3k documents are still read for their twins.
    for visited, doc in enumerate(order.tolist()):
        if len(picked) == k and (not collapse or visited >= 4 * k):
            break
        chunk_row = int(rows[chunk_of_doc[doc]])
        sentence = int(sentence_of_doc[doc])
        phrase = bool(is_phrase[doc])
        passage = _passage(
            snapshot,
            chunk_row,
            None if sentence < 0 else int(rows[sentence]),
            query_key,
            terms,
            phrase,
        )
        if collapse:
            # A twin says the same thing: the same words up to case, punctuation and
            # numbers, or nearly the same vector and the same matching sentence (a long
            # templated note that differs in the one sentence the query found is no twin).
            key = near_duplicate_key(snapshot.documents[chunk_row])
            twin = picked_keys.get(key)
            if twin is None and picked:
                sims = picked_vectors[: len(picked)] @ snapshot.embeddings[chunk_row]
                best = int(sims.argmax())
                if float(sims[best]) >= _NEAR_DUPLICATE and near_duplicate_key(
                    passage
                ) == near_duplicate_key(picked[best].passage):
                    twin = best
            if twin is not None:
                similar[twin].append(
                    f"{KINDS[int(snapshot.kind[chunk_row])]}:{snapshot.external_id[chunk_row]}"
                )
                continue
            if len(picked) == k:  # still looking for twins of the hits
                continue
            picked_keys.setdefault(key, len(picked))
            picked_vectors[len(picked)] = snapshot.embeddings[chunk_row]
        picked.append(
            SearchHit(
                kind=KINDS[int(snapshot.kind[chunk_row])],
                source_id=int(snapshot.source_id[chunk_row]),
                external_id=snapshot.external_id[chunk_row],
                account_id=int(snapshot.account_id[chunk_row]),
                date=int_to_date(int(snapshot.date[chunk_row])),
                text=snapshot.documents[chunk_row],
                score=float(best_chunk[doc]),
                chunk=int(snapshot.chunk[chunk_row]),
                account_external_id=snapshot.account_external_id[chunk_row],
                passage=passage,
                match="phrase"
                if phrase
                else ("keyword" if np.isfinite(keyword_rank[doc]) else "meaning"),
            )
        )
        similar.append([])
    return [
        dataclasses.replace(hit, similar=tuple(more)) if more else hit
        for hit, more in zip(picked, similar, strict=True)
    ]


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
        collapse: bool = True,
    ) -> list[SearchHit]:
        """The ``k`` source records best matching ``query``, best first, one hit per record.

        Hybrid: records are ranked by meaning (the mean of the query's cosine to their best
        chunk and to their best record, a chunk or one of their sentences) fused with a
        keyword rank (BM25 over their chunks' words) by reciprocal rank; records holding
        the query's words as an exact phrase come first. Each hit is the record's
        best-matching chunk (``text``, ``chunk``, ``score``: that chunk's cosine) and its
        best-matching sentence (``passage``). With ``collapse``, a record that repeats an
        earlier hit's text (up to case, punctuation and numbers), or its vector (chunk
        cosine >= 0.95) with the same matching sentence, is not a hit of its own but
        listed in that hit's ``similar``.

        Filters combine with AND; dates are inclusive and compare the record's date
        (ticket opened, call held, NPS answered).

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
        snapshot = self._current_snapshot(generation)
        rows = snapshot.select(
            account_ids=None if account_id is None else [account_id],
            kinds=kinds,
            since=since,
            until=until,
        )
        if rows is None:
            rows = np.arange(len(snapshot))
        if rows.size == 0:
            return []
        return _rank(snapshot, rows, vector, query, k, collapse=collapse)

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
