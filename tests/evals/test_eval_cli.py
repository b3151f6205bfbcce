"""``keel eval`` end to end: the real review graph on the offline model, real SQLite in a
temporary workspace, the CLI as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keel.api.cli.main import _register, app

MINI = Path(__file__).with_name("data") / "mini.yaml"
GATE = Path(__file__).with_name("data") / "gate.yaml"
INVENTED = "Teams your size grew usage 37% last quarter."


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register()
    return CliRunner()


@pytest.fixture(autouse=True)
def _user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's keel-data: an eval must never write there."""
    data = tmp_path / "user-keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(data))
    for name in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return data


def _run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["eval", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _invent_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A regression in the offline drafter: every draft states a number nobody gave it."""
    from keel.agents import composers
    from keel.agents.offline import ComposeRequest

    compose_draft = composers.compose_draft

    def invented(ask: ComposeRequest) -> dict[str, Any]:
        written = compose_draft(ask)
        body = str(written["body"])
        head, _, tail = body.partition("\n\n")
        return {**written, "body": f"{head}\n\n{INVENTED}\n\n{tail}"}

    # Every offline model built from now on takes its drafts from the regressed composer.
    monkeypatch.setattr(composers, "compose_draft", invented)


@pytest.mark.slow
def test_the_default_dataset_passes_the_default_gate(
    cli: CliRunner, tmp_path: Path, _user_data: Path
) -> None:
    out = tmp_path / "run"
    code, output = _run(cli, "--out", str(out))
    assert code == 0, output
    assert "Gate passed" in output
    data = json.loads((out / "run.json").read_text())
    assert data["model"].startswith("offline")
    assert len(data["prompts_digest"]) == 16
    assert data["gate"]["passed"] is True
    summary = data["summary"]
    assert summary["grounded"]["min"] == 1.0 and summary["policy"]["min"] == 1.0
    keys = {a["key"] for s in data["scenarios"] for a in s["artefacts"]}
    assert {"briefing", "meeting_prep", "draft:save_plan", "draft:billing_followup"} <= keys
    ids = {s["id"] for s in data["scenarios"]}
    assert {"champion-left", "inject-ticket-discount", "other-customer-in-note"} <= ids
    report = (out / "report.html").read_text()
    assert "<mark title=" in report and "Scenarios (failures first)" in report
    # Every tier of the policy was reviewed; the user's data dir was never touched.
    assert {s["tier"] for s in data["scenarios"]} == {"human_led", "ai_assisted", "ai_led"}
    assert not _user_data.exists()


@pytest.mark.slow
def test_an_invented_number_is_caught_by_compare_and_the_gate(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    code, output = _run(cli, "--dataset", str(MINI), "--gate", str(GATE), "--out", str(base))
    assert code == 0, output

    _invent_a_number(monkeypatch)
    new = tmp_path / "new"
    code, output = _run(
        cli, "--dataset", str(MINI), "--gate", str(GATE), "--compare", str(base), "--out", str(new)
    )

    assert code == 1, output
    assert "Gate missed" in output
    assert "grounded:" in output and "below 1.00" in output
    data = json.loads((new / "run.json").read_text())
    worse = data["comparison"]["worse_scenarios"]
    drafted = [s["id"] for s in data["scenarios"] if len(s["artefacts"]) > 1]
    assert drafted and set(drafted) <= set(worse)
    for scenario in drafted:
        assert f"worse {scenario} grounded" in " ".join(output.split())
    spans = [
        span
        for s in data["scenarios"]
        for score in s["scores"]
        if score["scorer"] == "grounded"
        for span in score["spans"]
    ]
    assert spans and {span["text"] for span in spans} == {"37%"}
    assert (
        '<mark title="&quot;37%&quot; is not among the facts it was given">37%</mark>'
        in (new / "report.html").read_text()
    )


def test_a_bad_dataset_is_one_clear_message(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nscenarios:\n  - id: a\n    expect: {plays: [nope]}\n")
    result = cli.invoke(app, ["eval", "--dataset", str(bad)])
    assert result.exit_code != 0
    from keel.evals.dataset import DatasetError

    assert isinstance(result.exception, DatasetError)
    assert "row 4, field 'expect.plays'" in str(result.exception)


@pytest.mark.slow
def test_a_review_that_stops_fails_its_scenario_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.errors import BudgetExceeded
    from keel.evals import runner
    from keel.settings import Settings

    real = runner.run_scenario

    def stops_on_one(graph: Any, engine: Any, placed: Any, **kwargs: Any) -> Any:
        if placed.scenario.id == "healthy-renewal":
            raise BudgetExceeded("the run's budget of 200 model calls is spent")
        return real(graph, engine, placed, **kwargs)

    monkeypatch.setattr(runner, "run_scenario", stops_on_one)
    run = runner.run_eval(settings=Settings(data_dir=tmp_path / "d"), dataset_path=MINI)
    by_id = {s["id"]: s for s in run.data["scenarios"]}
    stopped = by_id["healthy-renewal"]
    assert stopped["errors"] == ["the run's budget of 200 model calls is spent"]
    assert {s["score"] for s in stopped["scores"]} == {0.0}
    assert all(s["applicable"] for s in stopped["scores"])
    assert by_id["champion-left"]["artefacts"] and not by_id["champion-left"]["errors"]
    assert not run.passed
