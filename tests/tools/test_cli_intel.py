"""``keel priorities``, ``keel health`` and ``keel backtest`` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.api.cli.main import _register, app
from keel.errors import KeelError
from keel.memory.db import init_db, make_engine
from keel.settings import Settings
from tests.tools.minibook import build_minibook

_register()
runner = CliRunner()


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(directory))
    engine = make_engine(Settings(data_dir=directory).resolved_database_url)
    init_db(engine)
    build_minibook(engine, n_healthy=40, n_decline=25, n_ai=4, probes={"probe-nps": {"nps"}})
    engine.dispose()
    return directory


def test_priorities_prints_coverage_and_reasons(data_dir: Path) -> None:
    result = runner.invoke(app, ["priorities", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "Coverage: scored" in result.output and "Needs attention" in result.output
    assert "Expansion opportunities" in result.output
    as_json = runner.invoke(app, ["priorities", "--top", "2", "--json", "--owner", "csm-a"])
    payload = json.loads(as_json.output)
    assert len(payload["risks"]) == 2 and {r["owner_csm"] for r in payload["risks"]} == {"csm-a"}


def test_health_shows_the_explanation_and_hypotheses(data_dir: Path) -> None:
    result = runner.invoke(app, ["health", "probe-nps", "--hypotheses"])
    assert result.exit_code == 0, result.output
    for needle in (
        "Contributions to the logit",
        "Baseline",
        "Total (logit)",
        "NPS",
        "Risk hypotheses",
    ):
        assert needle in result.output
    payload = json.loads(runner.invoke(app, ["health", "probe-nps", "--json"]).output)
    e = payload["explanation"]
    assert e["baseline"] + sum(f["contribution"] for f in e["factors"]) == pytest.approx(e["logit"])


def test_unknown_account_and_bad_horizon_are_clear_errors(data_dir: Path) -> None:
    result = runner.invoke(app, ["health", "nobody"])
    assert isinstance(result.exception, KeelError) and "no account matches" in str(result.exception)
    result = runner.invoke(app, ["backtest", "--horizon", "3"])
    assert isinstance(result.exception, KeelError) and "--horizon" in str(result.exception)


def test_backtest_writes_json_and_text(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bt.json"
    text = tmp_path / "bt.txt"
    result = runner.invoke(
        app, ["backtest", "--horizon", "90", "--json", str(out), "--text", str(text)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == {"multi_signal", "usage_only"}
    assert "AUC" in text.read_text() and "usage-only" in result.output
