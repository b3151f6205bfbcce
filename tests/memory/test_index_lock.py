"""One writer at a time on an embedded index, and readers that say so instead of failing.

The writer is a real second process holding the lock (as a running ``keel index`` does);
the store is real Chroma on disk with the real embedding model.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from keel.memory.embeddings import SentenceTransformerEmbedder, load_embedder
from keel.memory.vectors import VectorStore, open_vector_store
from keel.memory.vectors import lock as lock_module
from keel.memory.vectors.lock import IndexBusy, IndexLock
from keel.settings import Settings
from keel.tools.account_tools import AccountReader, AccountScope
from keel.tools.risk_language import last_scan, refresh_if_needed
from tests.memory.test_vectors import seed

ROOT = Path(__file__).resolve().parents[2]
# Holds the writer lock of the directory in argv[1] until its stdin closes or it is killed.
HOLDER = """
import sys
from pathlib import Path
from keel.memory.vectors.lock import IndexLock
with IndexLock(Path(sys.argv[1])).writing():
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def model() -> SentenceTransformerEmbedder:
    return load_embedder()


@pytest.fixture()
def indexed(settings: Settings, engine: Engine, model: SentenceTransformerEmbedder) -> VectorStore:
    seed(engine)
    store = open_vector_store(settings, model)
    store.index_from_db(engine)
    return store


@pytest.fixture()
def holder(settings: Settings) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.chroma_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_the_lock_names_its_writer_and_is_free_after(tmp_path: Path) -> None:
    lock = IndexLock(tmp_path)
    assert lock.writer() is None
    with lock.writing():
        assert lock.writer() == str(os.getpid())
        with pytest.raises(IndexBusy, match=f"process {os.getpid()}"):
            lock.check_readable()
    assert lock.writer() is None
    lock.check_readable()


def test_while_another_process_writes_the_index_reads_and_writes_say_so(
    indexed: VectorStore,
    engine: Engine,
    holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid = str(holder.pid)
    assert indexed.index_lock is not None and indexed.index_lock.writer() == pid
    with pytest.raises(IndexBusy, match=rf"being updated by `keel index` \(process {pid}\)"):
        indexed.search("login problems", account_id=1)
    with pytest.raises(IndexBusy, match="being updated"):
        indexed.search("login problems")  # the unfiltered (HNSW) path too
    monkeypatch.setattr(lock_module, "WRITER_WAIT_S", 0.2)
    with pytest.raises(IndexBusy, match=rf"another `keel index` \(process {pid}\) is writing"):
        indexed.index_from_db(engine)
    # The risk-language refresh keeps the cache (none yet) and says why.
    note = refresh_if_needed(engine, indexed)
    assert note is not None and "from the last scan" in note and pid in note
    assert last_scan(engine) is None
    # A review under way reads the most recent records as evidence, and says why.
    reader = AccountReader(engine, vector_store=indexed)
    found = reader.search_evidence(AccountScope(account_id=1, as_of=dt.date(2024, 6, 30)), "x")
    assert found["hits"] and pid in found["note"] and "most recent records" in found["note"]


def test_a_writer_that_dies_leaves_no_lock_behind(
    indexed: VectorStore, engine: Engine, holder: subprocess.Popen[str]
) -> None:
    holder.kill()  # SIGKILL: no clean-up code runs
    holder.wait()
    assert indexed.index_lock is not None and indexed.index_lock.writer() is None
    assert indexed.search("SAML signature validation", k=1)[0].external_id == "T-01"
    assert refresh_if_needed(engine, indexed) is None and last_scan(engine) is not None
    report = indexed.index_from_db(engine)
    assert report.new == report.changed == 0 and report.unchanged > 0
