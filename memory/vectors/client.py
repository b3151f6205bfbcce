"""Chroma clients: embedded on disk by default, a server when ``KEEL_CHROMA_URL`` is set."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keel.errors import KeelError
from keel.memory.failures import Target, translate
from keel.settings import Settings


def make_chroma_client(settings: Settings) -> Any:
    """A Chroma client for ``settings``: HTTP when ``chroma_url`` is set, else on disk.

    Raises:
        KeelError: the URL is malformed or the server does not answer.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlsplit(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise KeelError(
                f"KEEL_CHROMA_URL must look like http://host:port, got {settings.chroma_url!r}"
            )
        https = url.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if https else 8000),
                ssl=https,
                settings=chroma_settings,
            )
        except Exception as exc:  # connection refused, TLS, auth: all user-facing
            raise KeelError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {exc}"
            ) from exc
    from chromadb.errors import ChromaError

    from keel.memory.vectors.integrity import check_folder
    from keel.memory.vectors.lock import IndexLock

    path = settings.chroma_path
    with chroma_errors(str(path)):
        path.mkdir(parents=True, exist_ok=True)
        # Damaged HNSW files are not always noticed by Chroma itself (see .integrity).
        # While a `keel index` writes, its files may be half-written: that is not damage,
        # and the reader's lock check says the index is busy instead.
        if IndexLock(path).writer() is None:
            check_folder(path)
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except ChromaError:
            # Chroma caches the half-started client of this folder; drop it so a repair
            # (`keel index --rebuild`) in this process starts afresh.
            forget_client(path)
            raise


def forget_client(path: Path) -> None:
    """Stop and forget Chroma's cached embedded client for ``path``, if it has one."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if system is not None:
        with contextlib.suppress(Exception):  # a half-started system may not stop cleanly
            system.stop()


def vectors_target(location: str) -> Target:
    """The store a Chroma error is about: an embedded folder (a path) or a server URL."""
    if "://" in location:
        return Target(kind="vectors", where=location)
    return Target(kind="vectors", where=location, path=Path(location))


@contextmanager
def chroma_errors(location: str) -> Iterator[None]:
    """Turn Chroma, disk and connection failures into one clear :class:`KeelError`.

    Damage, a full disk and a lock held elsewhere become the matching
    :class:`keel.errors.StoreError` (see :mod:`keel.memory.failures`).
    """
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, httpx.HTTPError, ConnectionError, OSError) as exc:
        known = translate(exc, vectors_target(location))
        if known is not None:
            raise known from exc
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
            raise KeelError(f"cannot use the vector store at {location}: {exc}") from exc
        raise KeelError(f"the vector store at {location} failed: {exc}") from exc
