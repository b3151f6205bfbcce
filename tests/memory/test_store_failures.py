"""Every store failure ends in one clear message and exit status 2, never a traceback.

Real parts throughout: the ``keel`` CLI in a subprocess (where the finding was a CLI
traceback), real SQLite files, a real second process holding the write lock, a real
tmpfs filled to the brim for the full disk (when this machine lets the test mount one),
real Chroma with the real embedding model on a tiny book for the damaged index.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.errors import StoreDamaged, StoreFull, StoreLocked
from keel.memory.actions import ActionStatus, get_action
from keel.memory.checkpoint import CHECKPOINT_FILE, open_persistence
from keel.memory.db import init_db, make_engine
from keel.memory.failures import Target, translate, translate_any
from keel.settings import Settings
from tests.graphs.support import Book, compile_graph, first_review_with, outbox_files, seed

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from api.cli.main import main; sys.argv[0] = 'keel'; main()"
# Holds SQLite's write lock on the file in argv[1] until its stdin closes.
LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""
BUSY_TIMEOUT_S = "1"
ACCOUNTS_CSV = "external_id,name\nLOCK-001,Lockheed Widgets\n"


def keel(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "KEEL_DATA_DIR": str(data_dir),
        "KEEL_DB_BUSY_TIMEOUT_S": BUSY_TIMEOUT_S,
        "USER": "store-tester",
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_message(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, and one line of error saying each of ``needles``.

    (A progress bar may come before it on stderr.)
    """
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    data_dir = tmp_path_factory.mktemp("store-failures") / "keel-data"
    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    yield seed(engine, settings, n_accounts=24)
    engine.dispose()


@pytest.fixture(scope="module")
def pending(book: Book) -> list[str]:
    """Three email actions waiting for approval, their threads in the settings' checkpoint
    file (where the CLI looks for them)."""
    ids: list[str] = []
    with open_persistence(book.settings) as persistence:
        graph = compile_graph(book, persistence)
        while len(ids) < 3:
            _, result = first_review_with(graph, book)
            ids += [p.action_id for p in result.pending if p.args["channel"] == "email"]
    return ids


@pytest.fixture()
def lock_holder(book: Book) -> Iterator[subprocess.Popen[str]]:
    db = book.settings.data_dir / "keel.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def status_of(engine: Engine, action_id: str) -> str:
    with Session(engine) as session:
        return str(get_action(session, action_id=action_id).status)


# ------------------------------------------------------------------------ locked SQLite


def test_a_write_lock_held_by_another_process_names_it_for_approve_and_import(
    book: Book, pending: list[str], lock_holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    db = book.settings.data_dir / "keel.db"
    approved = keel(book.settings.data_dir, "approvals", "approve", pending[0])
    assert_one_message(
        approved,
        f"the Keel database {db} is locked by another process",
        f"process {lock_holder.pid}",
        "BEGIN IMMEDIATE",  # the holder's command line
        "Waited 1 s (KEEL_DB_BUSY_TIMEOUT_S)",
    )
    assert status_of(book.engine, pending[0]) == ActionStatus.PENDING

    exports = tmp_path / "accounts.csv"
    exports.write_text(ACCOUNTS_CSV, encoding="utf-8")
    imported = keel(book.settings.data_dir, "import", str(exports))
    assert_one_message(imported, "is locked by another process", f"process {lock_holder.pid}")


def test_the_checkpoint_file_locked_by_another_process_is_named_too(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "keel-data", db_busy_timeout_s=0.5)
    with open_persistence(settings):
        pass  # creates the file and its tables
    checkpoints = settings.data_dir / CHECKPOINT_FILE
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(checkpoints)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked) as caught, open_persistence(settings) as persistence:
            persistence.store.put(("feedback",), "k", {"v": 1})
        assert f"the checkpoint database {checkpoints} is locked" in str(caught.value)
        assert f"process {proc.pid}" in str(caught.value)
    finally:
        proc.kill()
        proc.wait()


# -------------------------------------------------------------------- damaged SQLite


def _fresh_data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "keel-data"
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    init_db(engine)
    engine.dispose()
    return data_dir


def test_a_damaged_keel_db_is_named_with_how_to_restore_it(tmp_path: Path) -> None:
    data_dir = _fresh_data_dir(tmp_path)
    db = data_dir / "keel.db"
    assert not Path(f"{db}-wal").exists()  # nothing to read the real pages back from
    with db.open("r+b") as handle:
        handle.write(os.urandom(4096))
    result = keel(data_dir, "approvals", "list")
    assert_one_message(
        result, f"the Keel database {db} is damaged", "file is not a database", "from a backup"
    )


def test_a_damaged_checkpoint_db_says_to_move_it_aside(book: Book, pending: list[str]) -> None:
    data_dir = book.settings.data_dir
    checkpoints = data_dir / CHECKPOINT_FILE
    for leftover in data_dir.glob(CHECKPOINT_FILE + "*"):
        leftover.unlink()
    checkpoints.write_bytes(os.urandom(8192))
    # Deciding a real action opens the review's checkpoints (an unknown id stops earlier,
    # at the id).
    result = keel(data_dir, "approvals", "approve", pending[0])
    assert_one_message(
        result,
        f"the checkpoint database {checkpoints} is damaged",
        f"mv {checkpoints} {checkpoints}.damaged",
        "keel approvals",
    )


# --------------------------------------------------------------- missing checkpoints


def test_without_the_checkpoint_db_pending_actions_can_be_rejected_and_approved(
    book: Book, pending: list[str]
) -> None:
    for leftover in book.settings.data_dir.glob(CHECKPOINT_FILE + "*"):
        leftover.unlink()
    rejected = keel(
        book.settings.data_dir, "approvals", "reject", pending[1], "--reason", "not now"
    )
    assert rejected.returncode == 0, rejected.stdout + rejected.stderr
    assert status_of(book.engine, pending[1]) == ActionStatus.REJECTED

    before = set(outbox_files(book.settings))
    approved = keel(book.settings.data_dir, "approvals", "approve", pending[2])
    assert "Traceback" not in approved.stderr, approved.stderr
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert status_of(book.engine, pending[2]) == ActionStatus.SENT
    sent = set(outbox_files(book.settings)) - before
    assert len(sent) == 1, sent
    assert "review's checkpoint is missing" in " ".join(approved.stdout.split())

    again = keel(book.settings.data_dir, "approvals", "approve", pending[2], "--user", "zed")
    assert_one_message(again, pending[2])  # a second decision is refused, not resent
    assert set(outbox_files(book.settings)) - before == sent

    # A redraft needs the review's state: refused, saying what can be done instead.
    redraft = keel(book.settings.data_dir, "approvals", "respond", pending[0], "-m", "shorter")
    assert_one_message(redraft, "cannot be redrafted", "Approve, edit or reject it instead")
    assert status_of(book.engine, pending[0]) == ActionStatus.PENDING


# ----------------------------------------------------------------------- full disk


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); see the unit test")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_named_with_what_to_do(tiny_disk: Path, tmp_path: Path) -> None:
    data_dir = _fresh_data_dir(tmp_path)
    disk_dir = tiny_disk / "keel-data"
    disk_dir.mkdir()
    (disk_dir / "keel.db").write_bytes((data_dir / "keel.db").read_bytes())
    with (tiny_disk / "filler").open("wb", buffering=0) as filler:
        for size in (65536, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * size)
    exports = tmp_path / "accounts.csv"
    rows = "".join(f"FULL-{n:04d},Account {n} {'x' * 200}\n" for n in range(2000))
    exports.write_text("external_id,name\n" + rows, encoding="utf-8")
    result = keel(disk_dir, "import", str(exports))
    assert_one_message(
        result,
        f"the disk holding the Keel database {disk_dir / 'keel.db'} is full",
        "Free some space",
    )


def test_enospc_and_sqlite_full_translate_to_one_message() -> None:
    """The translation itself, for machines where the tmpfs test cannot mount."""
    target = Target(kind="database", where="/data/keel.db", path=Path("/data/keel.db"))
    full = translate(OSError(errno.ENOSPC, "No space left on device"), target)
    assert isinstance(full, StoreFull) and "/data/keel.db is full" in str(full)
    sqlite_full = translate(sqlite3.OperationalError("database or disk is full"), target)
    assert isinstance(sqlite_full, StoreFull)
    outbox = translate_any(
        OSError(errno.ENOSPC, "No space left on device", "/data/outbox/x.eml"),
        data_dir=Path("/data"),
        database_url="sqlite:////data/keel.db",
    )
    assert isinstance(outbox, StoreFull) and "/data/outbox/x.eml" in str(outbox)
    assert translate(ValueError("a bug"), target) is None


# ---------------------------------------------------------------- unreachable server


def test_an_unreachable_postgres_url_names_host_and_cause_without_the_password(
    tmp_path: Path,
) -> None:
    url = "postgresql://keel:s3cret-pw@127.0.0.1:1/keel"
    result = keel(tmp_path / "keel-data", "approvals", "list", KEEL_DATABASE_URL=url)
    message = assert_one_message(result, "PostgreSQL at 127.0.0.1:1", "connection refused")
    assert "s3cret-pw" not in message
    dns = keel(
        tmp_path / "keel-data",
        "approvals",
        "list",
        KEEL_DATABASE_URL="postgresql://keel@no-such-host.invalid:5432/keel",
    )
    assert_one_message(dns, "no-such-host.invalid:5432", "cannot be resolved")


@pytest.mark.postgres
def test_a_refused_postgres_login_is_named(postgres_url: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    bad = f"postgresql://no_such_keel_user:pw@{parts.hostname}:{parts.port or 5432}/test"
    result = keel(tmp_path / "keel-data", "approvals", "list", KEEL_DATABASE_URL=bad)
    message = assert_one_message(result, f"PostgreSQL at {parts.hostname}")
    assert "user does not exist" in message or "password authentication failed" in message


# ------------------------------------------------------------------ damaged Chroma


@pytest.mark.slow
def test_a_damaged_index_is_detected_and_rebuilt(settings: Settings, engine: Engine) -> None:
    from keel.memory.embeddings import load_embedder
    from keel.memory.vectors import open_vector_store, rebuild_vector_store
    from keel.memory.vectors.client import forget_client
    from keel.tools.account_tools import AccountReader, AccountScope
    from tests.memory.test_vectors import seed as seed_texts

    seed_texts(engine)
    model = load_embedder()
    open_vector_store(settings, model).index_from_db(engine)
    forget_client(settings.chroma_path)  # the subprocesses and later opens start afresh

    # chroma.sqlite3 overwritten: `keel index` names it, `keel index --rebuild` repairs it.
    database = settings.chroma_path / "chroma.sqlite3"
    with database.open("r+b") as handle:
        handle.write(os.urandom(4096))
    found = keel(settings.data_dir, "index")
    assert_one_message(found, str(database), "keel index --rebuild")
    repaired = keel(settings.data_dir, "index", "--rebuild")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    store = open_vector_store(settings, model)
    assert store.search("invoice was wrong", k=3)

    # Damaged under a review that has it open: the evidence search falls back to the
    # most recent records and says why (it used to end the review without a briefing).
    with database.open("r+b") as handle:
        handle.write(os.urandom(4096))
    reader = AccountReader(engine, vector_store=store)
    evidence = reader.search_evidence(AccountScope(account_id=1, as_of=dt.date(2024, 6, 30)), "x")
    assert evidence["hits"], evidence
    assert "is damaged" in evidence["note"] and "most recent records" in evidence["note"]
    assert rebuild_vector_store(settings, model, engine).new > 0  # repaired in process too
    forget_client(settings.chroma_path)

    # HNSW files overwritten: opening the store says which file and how to repair it.
    headers = list(settings.chroma_path.glob("*/header.bin"))
    assert headers, "the index has an HNSW segment on disk"
    for header in headers:
        header.write_bytes(os.urandom(header.stat().st_size))
    with pytest.raises(StoreDamaged, match=r"header\.bin is damaged.*keel index --rebuild"):
        open_vector_store(settings, model)
    # A review that would search it stops with the same message (it used to exit 0
    # without a briefing).
    reviewed = keel(settings.data_dir, "review", "ACME-001", "--vectors")
    assert_one_message(reviewed, "header.bin is damaged", "keel index --rebuild")
    report = rebuild_vector_store(settings, model, engine)
    assert report.new > 0
    assert open_vector_store(settings, model).search("invoice was wrong", k=3)


def test_errors_that_are_not_store_failures_keep_their_own_type(engine: Engine) -> None:
    """A constraint violation is the caller's to handle (or a bug): never re-labelled."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE once (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO once (id) VALUES (1)"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO once (id) VALUES (1)"))
