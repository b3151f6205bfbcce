"""Store failures in one clear message: the driver's exception becomes a ``StoreError``.

Keel keeps its state in three stores: the application database (SQLite or PostgreSQL
through SQLAlchemy), the checkpoint database (``sqlite3`` or psycopg, through LangGraph's
savers) and the vector store (Chroma). Each reports the same few operator problems in its
own words, and unhandled they end in a traceback. :func:`translate` maps them to the
:mod:`keel.errors` store errors, with a message that names the file (or host; never a
password) and what to do:

- another process holds the SQLite write lock longer than the busy timeout
  (:class:`~keel.errors.StoreLocked`; the holder is named when ``/proc`` shows it);
- the disk is full (:class:`~keel.errors.StoreFull`);
- the file is damaged (:class:`~keel.errors.StoreDamaged`);
- the database server cannot be reached or refuses the login
  (:class:`~keel.errors.StoreUnreachable`).

Anything else returns None: the caller re-raises the original, so a bug keeps its
traceback. The factories (:mod:`keel.memory.db`, :mod:`keel.memory.checkpoint`,
:mod:`keel.memory.vectors`) translate where they know which store failed; the CLI translates
what still reaches it (:func:`translate_any`).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from keel.errors import StoreDamaged, StoreError, StoreFull, StoreLocked, StoreUnreachable

StoreKind = Literal["database", "checkpoints", "vectors", "files"]

# SQLite primary result codes (sqlite3.h) we tell apart; messages are the fallback for
# drivers that only keep the text (Chroma's Rust bindings, SQLAlchemy's wrapper).
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_NOTADB: Final = 26
_LOCKED_TEXT: Final = ("database is locked", "database table is locked")
_FULL_TEXT: Final = ("database or disk is full", "no space left on device")
_DAMAGED_TEXT: Final = (
    "file is not a database",
    "database disk image is malformed",
    "file is encrypted or is not a database",
)
# Chroma's HNSW segment (the binary files beside chroma.sqlite3) failing to load.
_HNSW_TEXT: Final = ("hnsw", "error loading index", "segment reader")
# Below this much free space, an I/O error while writing is taken to be a full disk.
_ALMOST_FULL_BYTES: Final = 1 << 20
# SQLite's WAL writer lock is an exclusive POSIX lock on this byte of the -shm file; in
# rollback-journal mode a writer holds the RESERVED byte of the database file.
_WAL_WRITE_LOCK_BYTE: Final = 120
_RESERVED_BYTE: Final = 0x40000001
# psycopg / psycopg_pool exception types that mean "cannot connect or lost the server".
_POSTGRES_CONNECTION_ERRORS: Final = frozenset(
    {"OperationalError", "InterfaceError", "PoolTimeout"}
)
# A holder's command line is cut to this length in messages.
_COMMAND_CHARS: Final = 160

_STORE_NAMES: Final[dict[StoreKind, str]] = {
    "database": "the Keel database",
    "checkpoints": "the checkpoint database",
    "vectors": "the vector store",
    "files": "the file",
}


@dataclass(frozen=True)
class Target:
    """Which store an error came from: what to call it and where it lives."""

    kind: StoreKind
    where: str  # a file path, a directory or a redacted URL
    path: Path | None = None  # the SQLite file, when there is one
    busy_timeout_s: float | None = None


def sqlite_target(kind: StoreKind, path: Path, *, busy_timeout_s: float | None = None) -> Target:
    return Target(kind=kind, where=str(path), path=path, busy_timeout_s=busy_timeout_s)


def url_target(kind: StoreKind, url: str) -> Target:
    return Target(kind=kind, where=redact_url(url))


# ------------------------------------------------------------------------------ helpers


def redact_url(url: str) -> str:
    """``scheme://user:***@host:port/db`` (no password); unparsable URLs are cut at '@'."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url.rsplit("@", 1)[-1]
    if not host:
        return url.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username and parts.password else ""
    if parts.username and not parts.password:
        user = f"{parts.username}@"
    netloc = f"{user}{host}" + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}{parts.path}"


def host_port(url: str) -> str:
    """``host:port`` of a server URL (PostgreSQL's default port when none is given)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:
        return "an unparsable address"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _sqlite_code(exc: BaseException) -> int | None:
    for candidate in (exc, getattr(exc, "orig", None)):
        code = getattr(candidate, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF  # extended codes keep the primary one in the low byte
    return None


def _has(text: str, needles: Iterable[str]) -> bool:
    lowered = text.lower()
    return any(n in lowered for n in needles)


def _command_line(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = " ".join(raw.decode(errors="replace").replace("\0", " ").split())
    return words if len(words) <= _COMMAND_CHARS else words[: _COMMAND_CHARS - 1] + "…"


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _lock_writers(path: Path) -> list[str]:
    """Pids holding SQLite's write lock on ``path``, read from ``/proc/locks`` (Linux)."""
    wanted = {
        inode: byte
        for inode, byte in (
            (_inode(Path(f"{path}-shm")), _WAL_WRITE_LOCK_BYTE),
            (_inode(path), _RESERVED_BYTE),
        )
        if inode is not None
    }
    try:
        lines = Path("/proc/locks").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    pids: list[str] = []
    for line in lines:
        # "1: POSIX  ADVISORY  WRITE 4242 08:01:1234 120 120"
        fields = line.split()
        if len(fields) < 8 or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        pid, device_inode, start, end = fields[4], fields[5], fields[6], fields[7]
        inode = int(device_inode.rsplit(":", 1)[-1])
        byte = wanted.get(inode)
        if byte is None:
            continue
        last = int(end) if end != "EOF" else 1 << 62
        if int(start) <= byte <= last and pid not in pids and pid != str(os.getpid()):
            pids.append(pid)
    return pids


def _open_by(path: Path) -> list[str]:
    """Pids of other processes with ``path`` (or its -wal/-shm) open (``/proc/*/fd``)."""
    try:
        targets = {str(path.resolve()), *(str(path.resolve()) + s for s in ("-wal", "-shm"))}
    except OSError:
        return []
    me = str(os.getpid())
    pids: list[str] = []
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name == me:
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # another user's process, or it just ended
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    pids.append(proc.name)
                    break
            except OSError:
                continue
    return pids


def lock_holders(path: Path) -> str:
    """Who holds (or may hold) the write lock of SQLite file ``path``, as one phrase.

    Best effort and Linux only: the writer from ``/proc/locks`` when it shows one, else
    every other process that has the file open; empty when neither can be found.
    """
    writers = _lock_writers(path)
    if writers:
        return "held by " + ", ".join(f"process {p} ({_command_line(p)})" for p in writers)
    readers = _open_by(path)
    if readers:
        return "open in " + ", ".join(f"process {p} ({_command_line(p)})" for p in readers)
    return ""


def _disk_almost_full(where: Path) -> bool:
    for candidate in (where, *where.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free < _ALMOST_FULL_BYTES
            except OSError:
                return False
    return False


# ---------------------------------------------------------------------------- messages


def locked(target: Target) -> StoreLocked:
    holder = lock_holders(target.path) if target.path is not None else ""
    who = f" ({holder})" if holder else ""
    waited = (
        f" Waited {target.busy_timeout_s:g} s (KEEL_DB_BUSY_TIMEOUT_S)."
        if target.busy_timeout_s is not None
        else ""
    )
    return StoreLocked(
        f"{_STORE_NAMES[target.kind]} {target.where} is locked by another process{who}."
        f"{waited} Let that process finish (or stop it) and run the command again."
    )


def full(target: Target, detail: str) -> StoreFull:
    return StoreFull(
        f"the disk holding {_STORE_NAMES[target.kind]} {target.where} is full ({detail}). "
        "Free some space (or point KEEL_DATA_DIR at a larger disk) and run the command "
        "again; the write that failed was not saved."
    )


def damaged(target: Target, detail: str) -> StoreDamaged:
    name = _STORE_NAMES[target.kind]
    if target.kind == "checkpoints":
        aside = f"{target.where}.damaged"
        fix = (
            f"It only holds paused reviews and reviewer feedback: restore it from a backup, "
            f"or move it aside (mv {target.where} {aside}); pending actions can then still "
            "be approved, edited or rejected with `keel approvals` (decided from their "
            "stored payload)."
        )
    elif target.kind == "vectors":
        fix = "Run `keel index --rebuild` to re-create the index from the database."
        if target.path is not None:  # an embedded folder: name the part that failed
            hnsw = _has(detail, _HNSW_TEXT)
            part = "its HNSW segment files" if hnsw else f"{target.path / 'chroma.sqlite3'}"
            return StoreDamaged(f"{name} {target.where} is damaged ({part}: {detail}). {fix}")
    else:
        fix = (
            f"Restore it from a backup (with every Keel process stopped, copy the backup over "
            f"{target.where} and remove {target.where}-wal and {target.where}-shm), or "
            "re-import your data into a fresh database."
        )
    return StoreDamaged(f"{name} {target.where} is damaged ({detail}). {fix}")


def unreachable(target: Target, url: str, cause: str) -> StoreUnreachable:
    setting = "KEEL_DATABASE_URL"
    return StoreUnreachable(
        f"cannot connect to {_STORE_NAMES[target.kind]} (PostgreSQL at {host_port(url)}): "
        f"{cause}. Check that the server is running and reachable, and the user, password "
        f"and database in {setting} ({redact_url(url)})."
    )


# ---------------------------------------------------------------------------- translate


def _os_error(exc: BaseException) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None


def translate_sqlite(exc: BaseException, target: Target) -> StoreError | None:
    """A SQLite error (``sqlite3``, SQLAlchemy's wrapper or Chroma's text) as a store error."""
    text = _first_line(exc)
    code = _sqlite_code(exc)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or _has(text, _LOCKED_TEXT):
        return locked(target)
    if code == _SQLITE_FULL or _has(text, _FULL_TEXT):
        return full(target, text)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or _has(text, _DAMAGED_TEXT):
        return damaged(target, text)
    if target.kind == "vectors" and _has(text, _HNSW_TEXT):
        return damaged(target, text)
    if _has(text, ("disk i/o error",)) and target.path and _disk_almost_full(target.path):
        return full(target, text)
    os_error = _os_error(exc)
    if os_error is not None:
        return full(target, os.strerror(os_error.errno or errno.ENOSPC))
    return None


def _postgres_cause(text: str) -> str | None:
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused (is the server running on that port?)"
    if any(
        s in lowered
        for s in (
            "could not translate host name",
            "name or service not known",
            "failed to resolve host",
            "nodename nor servname",
            "temporary failure in name resolution",
        )
    ):
        return "the host name cannot be resolved (DNS)"
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return "the server refused the login (password authentication failed)"
    if "no password supplied" in lowered:
        return "the server asks for a password and none was given"
    if lowered.startswith("connection") and "does not exist" in lowered:
        if 'database "' in lowered:
            return "the database does not exist on that server"
        if 'role "' in lowered:
            return "the user does not exist on that server"
    if "timeout" in lowered or "timed out" in lowered:
        return "the connection timed out"
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return "no route to the host"
    if "connection" in lowered and ("failed" in lowered or "closed" in lowered):
        return "the connection failed"
    return None


def translate_postgres(exc: BaseException, target: Target, url: str) -> StoreError | None:
    """A PostgreSQL connection failure (psycopg, its pool, or SQLAlchemy) as a store error."""
    driver = getattr(exc, "orig", None) or exc
    # Only failures to connect or stay connected: a query's own error (a missing column, a
    # constraint) is a bug or a conflict and keeps its traceback.
    if type(driver).__name__ not in _POSTGRES_CONNECTION_ERRORS:
        return None
    text = " ".join(str(driver).split())
    cause = _postgres_cause(text)
    if cause is None and type(exc).__name__ == "PoolTimeout":
        cause = "no connection could be opened in time"
    if cause is None:
        return None
    return unreachable(target, url, cause)


def translate(exc: BaseException, target: Target, *, url: str | None = None) -> StoreError | None:
    """The store error ``exc`` means for ``target``, or None when it is none of ours."""
    if isinstance(exc, StoreError):
        return exc
    if url is not None and url.startswith(("postgresql", "postgres")):
        found = translate_postgres(exc, target, url)
        if found is not None:
            return found
    os_error = _os_error(exc)
    if os_error is not None:
        return full(target, os.strerror(os_error.errno or errno.ENOSPC))
    return translate_sqlite(exc, target)


def is_store_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is a driver exception :func:`translate_any` may know about."""
    if isinstance(exc, sqlite3.Error):
        return True
    if _os_error(exc) is not None:
        return True
    module = type(exc).__module__
    return module.startswith(("sqlalchemy", "psycopg", "psycopg_pool", "chromadb"))


def translate_any(exc: BaseException, *, data_dir: Path, database_url: str) -> StoreError | None:
    """Translate an exception that reached an entry point without knowing its store.

    The factories translate what they see; this is the net under them. SQLAlchemy and
    psycopg errors belong to the database (or, for PostgreSQL, the checkpoints on the same
    server), raw ``sqlite3`` errors to the checkpoint file (the only raw SQLite client),
    Chroma's to the vector store.
    """
    if isinstance(exc, StoreError):
        return exc
    if not is_store_exception(exc):
        return None
    module = type(exc).__module__
    os_error = _os_error(exc)
    if os_error is not None and isinstance(exc, OSError):
        # A plain OSError (an outbox file, a log): name the file it was writing.
        where = str(os_error.filename or data_dir)
        return full(Target("files", where), os.strerror(os_error.errno or errno.ENOSPC))
    if module.startswith("chromadb"):
        return translate(exc, Target("vectors", str(data_dir / "chroma")))
    if database_url.startswith(("postgresql", "postgres")):
        return translate(exc, url_target("database", database_url), url=database_url)
    if module.startswith("sqlalchemy"):
        path = Path(database_url.split(":///", 1)[-1])
        return translate(exc, sqlite_target("database", path))
    from keel.memory.checkpoint import CHECKPOINT_FILE

    return translate(exc, sqlite_target("checkpoints", data_dir / CHECKPOINT_FILE))
