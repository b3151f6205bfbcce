"""Indexing progress that survives redirection: plain, flushed lines on stdout."""

from __future__ import annotations

import io
import re

import pytest
import typer
from typer.testing import CliRunner

from keel.api.cli.index import LineProgress
from keel.memory.db import init_db, make_engine
from keel.settings import Settings
from tests.memory.test_hybrid_search import seed


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_progress_prints_start_tenths_and_end_not_every_batch() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = LineProgress("Embedding", "documents", every=15.0, stream=out, clock=clock)
    progress(0, 1000)
    for done in range(1, 1001):
        clock.now += 0.1  # 100 s in all
        progress(done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Embedding: 0 / 1,000 documents (0%), 0 s"
    assert lines[-1] == "Embedding: 1,000 / 1,000 documents (100%), 100 s"
    # One line per tenth (plus the start): never one per batch.
    assert len(lines) == 11
    assert lines[5] == "Embedding: 500 / 1,000 documents (50%), 50 s, about 50 s left"
    progress(1000, 1000)  # a repeated end prints nothing
    assert len(out.getvalue().splitlines()) == 11


def test_line_progress_prints_a_slow_tenth_every_interval() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = LineProgress("Embedding", "documents", every=15.0, stream=out, clock=clock)
    progress(0, 100)
    for now in (5.0, 16.0, 20.0, 31.5):  # all inside the first tenth
        clock.now = now
        progress(1, 100)
    assert len(out.getvalue().splitlines()) == 3  # start, 16 s, 31.5 s
    assert "about 52 min left" in out.getvalue().splitlines()[-1]


@pytest.mark.slow
def test_keel_index_on_redirected_output_prints_progress_lines(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from keel.api.cli import index as index_cli

    settings = Settings(data_dir=Path(str(tmp_path)) / "keel-data")
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    seed(engine)
    engine.dispose()
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    app = typer.Typer()
    index_cli.register(app)
    app.command("noop")(lambda: None)  # a group, so "index" is a subcommand
    result = CliRunner().invoke(app, ["index"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Embedding: 0 / 16 documents (0%), 0 s" in lines
    done = re.compile(r"Embedding: 16 / 16 documents \(100%\), \d+ s")
    assert any(done.fullmatch(line) for line in lines)
    assert re.search(r"distinct texts embedded\D+\d+", result.output)
