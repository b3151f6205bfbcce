"""Chroma clients: embedded on disk by default, a server when ``KEEL_CHROMA_URL`` is set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from keel.errors import KeelError
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
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


@contextmanager
def chroma_errors(location: str) -> Iterator[None]:
    """Turn Chroma and connection failures into one clear :class:`KeelError`."""
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, httpx.HTTPError, ConnectionError) as exc:
        raise KeelError(f"the vector store at {location} failed: {exc}") from exc
