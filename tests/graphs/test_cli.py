"""``keel review``, ``keel prep`` and ``keel approvals`` on the offline model."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import typer
from sqlmodel import Session
from typer.testing import CliRunner

from keel.errors import ConflictError
from keel.memory.actions import ActionStatus, get_action, list_actions
from keel.memory.checkpoint import Persistence
from tests.graphs.support import Book, compile_graph, first_review_with, retire

# ``keel.api.cli.main`` the module (the package re-exports the ``main`` function under that name).
cli_main = importlib.import_module("keel.api.cli.main")
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
ACTION_ID = re.compile(r"Action\s+([0-9a-f]{32})")
EVIDENCE = re.compile(r"\b(?:metric|ticket|signal|contact|renewal|invoice|health|factor):[\w@.-]+")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    if not any(c.name == "review" for c in cli_main.app.registered_commands):
        cli_main._register()
    return cli_main.app


@pytest.fixture(autouse=True)
def _env(book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DATA_DIR", str(book.settings.data_dir))
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setenv("USER", "cli-reviewer")


def _pending_account(
    book: Book, persistence: Persistence, app: typer.Typer
) -> tuple[str, list[str], str]:
    """Find an account with an email to approve (in process, cheap), clear its queue, then
    review it through the CLI."""
    graph = compile_graph(book, persistence)
    account, found = first_review_with(graph, book)
    retire(book.engine, found.thread_id)
    result = runner.invoke(app, ["review", account.external_id])
    assert result.exit_code == 0, result.output
    ids = ACTION_ID.findall(result.output)
    assert ids, result.output
    return account.external_id, ids, result.output


def test_review_prints_a_cited_briefing_and_the_drafts_waiting(
    book: Book, persistence: Persistence, app: typer.Typer
) -> None:
    external_id, ids, output = _pending_account(book, persistence, app)
    account = next(a for a in book.active_accounts() if a.external_id == external_id)
    assert f"Briefing: {account.name}" in output
    # The notice is the reviewer's (in the briefing and beside each draft), wrapped in panels.
    assert "Written by Keel's offline model" in re.sub(r"[│\s]+", " ", output)
    assert "offline:keel-offline-1" in output
    assert "Waiting for approval" in output
    assert EVIDENCE.search(output), "evidence ids are shown"
    with Session(book.engine) as session:
        rows = list_actions(session, status=ActionStatus.PENDING, account_id=account.id)
    assert {r.id for r in rows} >= set(ids)

    listed = runner.invoke(app, ["approvals", "list", "--account", external_id])
    assert listed.exit_code == 0 and all(i in listed.output for i in ids)
    shown = runner.invoke(app, ["approvals", "show", ids[0]])
    assert shown.exit_code == 0 and "Policy:" in shown.output


def test_approvals_respond_reject_and_approve_from_the_cli(
    book: Book, persistence: Persistence, app: typer.Typer
) -> None:
    _, ids, _ = _pending_account(book, persistence, app)
    first = ids[0]
    answered = runner.invoke(
        app, ["approvals", "respond", first, "-m", "Shorter, and mention the roadmap call"]
    )
    assert answered.exit_code == 0, answered.output
    assert "respond recorded" in answered.output and "cli-reviewer" in answered.output
    revised = [i for i in ACTION_ID.findall(answered.output) if i not in ids]
    assert revised, "the redraft waits for approval"
    assert "The roadmap call." in answered.output or "roadmap call" in answered.output

    rejected = runner.invoke(app, ["approvals", "reject", revised[0], "--reason", "Not this week"])
    assert rejected.exit_code == 0, rejected.output
    with Session(book.engine) as session:
        assert get_action(session, action_id=revised[0]).status == ActionStatus.REJECTED

    if len(ids) > 1:
        approved = runner.invoke(app, ["approvals", "approve", ids[1], "--user", "zoe"])
        assert approved.exit_code == 0, approved.output
        with Session(book.engine) as session:
            assert get_action(session, action_id=ids[1]).status == ActionStatus.SENT
        twice = runner.invoke(app, ["approvals", "approve", ids[1], "--user", "yan"])
        assert isinstance(twice.exception, ConflictError)


def test_prep_writes_a_brief_three_points_and_a_call_summary(
    book: Book, app: typer.Typer, tmp_path: Path
) -> None:
    account = book.active_accounts()[0]
    note = tmp_path / "call.txt"
    note.write_text(
        "Reviewed the rollout with the team. Reporting is still slow for them.\n"
        "We will send the training plan by Friday. They will invite two more teams.",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["prep", account.external_id, "--note", str(note)])
    assert result.exit_code == 0, result.output
    assert f"Meeting prep: {account.name}" in result.output
    assert "Three talking points" in result.output
    points = result.output.split("Three talking points", 1)[1]
    # Each point is a question the CSM asks the customer.
    assert all(re.search(rf"\b{n}\.? [A-Z][^?]*\?", points) for n in (1, 2, 3))
    assert "Call summary: call.txt" in result.output and "Action items" in result.output
    assert "customer" in result.output  # "They will invite..." is the customer's action


def test_langgraph_json_exposes_the_review_graph(book: Book) -> None:
    spec = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    path, _, name = spec["graphs"]["review"].partition(":")
    module = importlib.import_module(path.removeprefix("./").removesuffix(".py").replace("/", "."))
    graph = getattr(module, name)({"configurable": {}})
    nodes = set(graph.get_graph(xray=1).nodes)
    assert {"analyst", "planner", "play:draft", "play:approval", "play:execute"} <= nodes
    assert graph.checkpointer is None  # the server brings its own
