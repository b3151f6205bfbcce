"""Benchmark the vector store: indexing throughput and search latency.

    python bench/index.py [--accounts 300] [--seed 7] [--queries 300] [--chunks 100000]

1. Seeds a synthetic book (``keel.memory.synth.seed_book``) into a scratch SQLite database.
2. Indexing throughput: ``VectorStore.index_from_db`` into a fresh Chroma store, against
   raw ``SentenceTransformer.encode`` of the very same distinct texts (the indexer encodes
   a text repeated across records once) in the same process (same batch size,
   normalised), as records per second and their ratio (target >= 0.85).
   The raw encodes run between the indexer's batches, so both meet the same load.
3. Search latency p50/p95 (hybrid: vector and keyword ranks over the in-memory snapshot)
   over a few hundred queries after warm-up, unfiltered and filtered to one account, at
   the book's size and then at ``--chunks`` chunks (target
   p95 < 50 ms). Query embedding is included: it is part of every search.

The chunks added to reach ``--chunks`` are synthetic: copies of the book's real chunks
(text and tags, spread over the same accounts) whose embeddings are the real ones plus
small random noise, written straight to the collection. Latency depends on the number and
layout of vectors, not on what the text says.

Nothing is asserted: the script prints figures, and runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from keel.memory.db import init_db, make_engine  # noqa: E402
from keel.memory.embeddings import SentenceTransformerEmbedder, load_embedder  # noqa: E402
from keel.memory.vectors import IndexReport, VectorStore, open_vector_store  # noqa: E402
from keel.memory.vectors.chunking import document_units  # noqa: E402
from keel.memory.vectors.documents import SourceDoc, load_documents  # noqa: E402
from keel.memory.vectors.indexer import embedding_order  # noqa: E402
from keel.settings import Settings  # noqa: E402

# Questions a CSM or the analyst would ask of a book; cycled to make a few hundred.
QUERIES = [
    "users cannot log in after the SSO change",
    "customer is unhappy about the price increase",
    "they are evaluating a competitor",
    "export to spreadsheet is missing rows",
    "dashboard is slow to load",
    "billing error, charged twice",
    "our champion is leaving the company",
    "integration sync keeps failing",
    "asking about adding more seats",
    "automation rules are not triggering",
    "the AI answers are wrong or outdated",
    "request for a refund",
    "outage yesterday affected our agents",
    "how do I set up permissions for a new team",
    "renewal conversation, budget is being cut",
    "great support, very happy with the product",
    "webhooks are not delivered",
    "data retention and GDPR deletion request",
    "mobile app crashes",
    "we want to expand to another region",
]


def load() -> str:
    """The 1/5/15-minute load averages: how much other work shared the CPUs."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def seed(engine: Engine, n_accounts: int, seed_value: int) -> float:
    from keel.memory.synth import seed_book

    started = time.perf_counter()
    seed_book(engine, n_accounts=n_accounts, seed=seed_value, truth_dir=None)
    return time.perf_counter() - started


def raw_encode(embedder: SentenceTransformerEmbedder, texts: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one plain ``SentenceTransformer.encode`` call over ``texts``."""
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.model.encode(
        texts,
        batch_size=embedder.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return time.perf_counter() - wall, time.process_time() - cpu


@dataclass(frozen=True)
class IndexTiming:
    report: IndexReport
    index_wall: float
    index_cpu: float
    raw_wall: float
    raw_cpu: float


def index_against_raw(
    store: VectorStore,
    engine: Engine,
    embedder: SentenceTransformerEmbedder,
    docs: list[SourceDoc],
) -> IndexTiming:
    """Index the book, and raw-encode the same records (chunks and sentences) between batches.

    Other jobs share these cores and their load swings within minutes, so the two are
    interleaved: after each committed batch, the progress callback raw-encodes the chunks
    of the documents that batch embedded (the indexer embeds in ``embedding_order``).
    Indexing time is the run's time minus the time spent in those raw encodes.
    """
    # The indexer embeds each distinct text once per run: raw-encode the same distinct texts.
    seen: set[str] = set()
    pieces: list[list[str]] = []
    for doc in sorted(docs, key=embedding_order):
        fresh = [t for t, _unit in document_units(doc.text) if t not in seen]
        seen.update(fresh)
        pieces.append(list(dict.fromkeys(fresh)))
    raw_wall = raw_cpu = 0.0
    encoded = 0  # documents whose chunks were raw-encoded so far

    def raw_between_batches(done: int, _total: int) -> None:
        nonlocal raw_wall, raw_cpu, encoded
        texts = [text for chunks in pieces[encoded:done] for text in chunks]
        encoded = done
        if texts:
            wall, cpu = raw_encode(embedder, texts)
            raw_wall += wall
            raw_cpu += cpu

    wall, cpu = time.perf_counter(), time.process_time()
    report = store.index_from_db(engine, progress=raw_between_batches)
    total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    return IndexTiming(report, total_wall - raw_wall, total_cpu - raw_cpu, raw_wall, raw_cpu)


def time_calls(calls: Sequence[Callable[[], object]], warmup: int) -> list[float]:
    """Milliseconds per call, after ``warmup`` untimed calls."""
    for call in calls[:warmup]:
        call()
    timings = []
    for call in calls:
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def latency(
    store: VectorStore,
    account_ids: list[int],
    until: dt.date,
    n_queries: int,
    rng: np.random.Generator,
) -> dict[str, list[float]]:
    """Search timings: unfiltered, one account, one account up to a date (point in time)."""
    texts = [QUERIES[i % len(QUERIES)] for i in range(n_queries)]
    accounts = rng.choice(account_ids, size=n_queries)

    def plain(text: str) -> Callable[[], object]:
        return lambda: store.search(text, k=8)

    def one_account(text: str, account: int) -> Callable[[], object]:
        return lambda: store.search(text, k=8, account_id=account)

    def account_until(text: str, account: int) -> Callable[[], object]:
        return lambda: store.search(text, k=8, account_id=account, until=until)

    return {
        "no filter": time_calls([plain(t) for t in texts], warmup=20),
        "account": time_calls(
            [one_account(t, int(a)) for t, a in zip(texts, accounts, strict=True)], warmup=20
        ),
        "account + until": time_calls(
            [account_until(t, int(a)) for t, a in zip(texts, accounts, strict=True)], warmup=20
        ),
    }


def grow(store: VectorStore, target: int, rng: np.random.Generator) -> int:
    """Add perturbed copies of the store's chunks until it holds ``target`` chunks."""
    collection = store.collection
    page = 5000
    blocks, metas, docs = [], [], []
    for offset in range(0, collection.count(), page):
        got = collection.get(
            include=["embeddings", "metadatas", "documents"], limit=page, offset=offset
        )
        blocks.append(np.asarray(got["embeddings"], dtype=np.float32))
        metas.extend(got["metadatas"])
        docs.extend(got["documents"])
    base = np.concatenate(blocks)
    n_real = len(metas)
    to_add = target - n_real
    for start in range(0, to_add, page):
        idx = np.arange(start, min(to_add, start + page))
        src = idx % n_real
        vectors = base[src] + rng.normal(scale=0.02, size=(idx.size, base.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        new_metas = []
        ids = []
        for j, s in zip(idx, src, strict=True):
            meta = dict(metas[s])
            # Synthetic source ids far above any real one; accounts and kinds as the original.
            meta["source_id"] = 10_000_000 + int(j)
            meta["doc"] = f"{meta['kind']}:{meta['source_id']}"
            meta["chunk"] = 0
            new_metas.append(meta)
            ids.append(f"{meta['kind']}:{meta['source_id']}:0")
        collection.upsert(
            ids=ids,
            embeddings=vectors.astype(np.float32),
            metadatas=new_metas,
            documents=[docs[s] for s in src],
        )
    return int(collection.count())


def print_latency(title: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'filter':<18}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for name, values in timings.items():
        print(
            f"  {name:<18}{len(values):>5}{percentile(values, 50):>10.1f}"
            f"{percentile(values, 95):>10.1f}{statistics.fmean(values):>10.1f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=300, help="timed queries per filter")
    parser.add_argument("--chunks", type=int, default=100_000, help="size of the large store")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # figures as they come
    rng = np.random.default_rng(args.seed)
    bench_started = time.perf_counter()
    load_at_start = load()

    with tempfile.TemporaryDirectory(prefix="keel-bench-index-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "keel-data")
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        seconds = seed(engine, args.accounts, args.seed)
        docs = load_documents(engine)
        units = [unit for doc in docs for unit in document_units(doc.text)]
        texts = [text for text, _unit in units]
        n_chunks = sum(unit == "chunk" for _text, unit in units)
        kinds = Counter(doc.kind for doc in docs)
        account_ids = sorted({doc.account_id for doc in docs})
        until = sorted(doc.day for doc in docs)[len(docs) // 2]  # the book's median date
        print(
            f"book: {args.accounts} accounts (seed {args.seed}) in {seconds:.0f} s; "
            f"{len(docs):,} documents ({', '.join(f'{k} {n:,}' for k, n in kinds.items())}); "
            f"{len(texts):,} records ({n_chunks:,} chunks, {len(texts) - n_chunks:,} sentences), "
            f"mean {statistics.fmean(map(len, texts)):.0f} chars"
        )

        embedder = load_embedder()
        embedder.embed(texts[:64])  # warm-up: first calls allocate and tune kernels

        store = open_vector_store(settings, embedder)
        timing = index_against_raw(store, engine, embedder, docs)
        assert timing.report.chunks_written == len(texts)
        n = len(texts)
        print("\nindexing throughput (same record texts, same process, same moments)")
        print(f"  {'':<34}{'records/s':>10}{'records/CPU-s':>14}")
        print(
            f"  {'raw SentenceTransformer.encode':<34}{n / timing.raw_wall:>10.1f}"
            f"{n / timing.raw_cpu:>14.1f}"
        )
        print(
            f"  {'VectorStore.index_from_db':<34}{n / timing.index_wall:>10.1f}"
            f"{n / timing.index_cpu:>14.1f}"
        )
        print(
            f"  {'ratio (target >= 0.85)':<34}{timing.raw_wall / timing.index_wall:>10.3f}"
            f"{timing.raw_cpu / timing.index_cpu:>14.3f}"
        )
        print(
            f"  ({n:,} records, {timing.report.texts_embedded:,} distinct texts encoded by "
            f"both: indexing {timing.index_wall:.0f} s, raw encode "
            f"{timing.raw_wall:.0f} s, interleaved batch by batch)"
        )

        print_latency(
            f"search latency at {store.count():,} records (query embedding included)",
            latency(store, account_ids, until, args.queries, rng),
        )

        if args.chunks > store.count():
            started = time.perf_counter()
            total = grow(store, args.chunks, rng)
            grown = time.perf_counter() - started
            print(
                f"\ngrew the store to {total:,} chunks in {grown:.0f} s with synthetic chunks "
                "(real chunks' text and tags, embeddings = real + noise, sigma 0.02)"
            )
            # A new store object, as a new process would have: its snapshot loads cold.
            large = VectorStore(store.client, embedder, location=store.location)
            started = time.perf_counter()
            large.search(QUERIES[0], account_id=account_ids[0])
            print(
                f"first filtered search (loads the snapshot): {time.perf_counter() - started:.1f} s"
            )
            print_latency(
                f"search latency at {total:,} chunks (query embedding included)",
                latency(large, account_ids, until, args.queries, rng),
            )
        engine.dispose()
    print(
        f"\nbench ran in {time.perf_counter() - bench_started:.0f} s; load average "
        f"{load_at_start} at start, {load()} at end ({os.cpu_count()} CPUs, shared)"
    )


if __name__ == "__main__":
    main()
