"""Fixtures for the review-graph tests: a seeded book and persistence, once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.memory.checkpoint import Persistence, open_persistence
from keel.memory.db import init_db, make_engine
from keel.settings import Settings
from tests.graphs.support import Book, seed


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    data_dir: Path = tmp_path_factory.mktemp("review") / "keel-data"
    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    yield seed(engine, settings)
    engine.dispose()


@pytest.fixture(scope="module")
def persistence(book: Book) -> Iterator[Persistence]:
    with open_persistence(book.settings) as opened:
        yield opened
