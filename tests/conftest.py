"""Shared fixtures: an isolated data dir and database per test, PostgreSQL when configured."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from keel.memory.db import init_db, make_engine
from keel.runtime import Runtime
from keel.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Tests never reach a real LLM by accident.
for _var in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL", "KEEL_DATABASE_URL", "KEEL_CHROMA_URL"):
    os.environ.pop(_var, None)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "keel-data")


@pytest.fixture()
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.resolved_database_url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture()
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings)


@pytest.fixture()
def postgres_url() -> str:
    url = os.environ.get("KEEL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("KEEL_TEST_POSTGRES_URL is not set; PostgreSQL tests need a server")
    return url


def _pg_schema_engine(url: str, schema: str) -> Engine:
    from sqlmodel import create_engine

    from keel.memory.db import normalise_url

    return create_engine(normalise_url(url), connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture()
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """A private PostgreSQL schema per test, so parallel runs never see each other."""
    import uuid

    from sqlalchemy import text

    schema = f"keel_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = _pg_schema_engine(postgres_url, schema)
    init_db(eng)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# The scriptable OpenAI-compatible server (tests/openai_server.py) for `service` tests.
from tests.openai_server import openai_server, openai_server_process  # noqa: E402, F401
