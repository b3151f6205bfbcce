"""Delivery across crashes and outages, with real processes, servers and databases.

- The delivering process (``keel outbox run``) SIGKILLed at every durable step of a send,
  for SMTP (aiosmtpd), a webhook (HTTP sink) and the dry-run outbox, on SQLite and
  PostgreSQL; a second ``keel outbox run`` recovers. Each message arrives exactly once,
  or -- the documented window only, SMTP and webhook killed after the server accepted --
  twice with one idempotency key; never lost, always recorded (row ``sent``, one
  intervention). See tests/crash_trials.py; bench/delivery_crash.py runs more.
- Killed at a random moment: the same guarantees.
- SMTP down when a reviewer approves: the decision is recorded, the command exits 1 and
  says delivery will be retried; once the server is up ``keel outbox run`` delivers it.
- ``keel review`` exits non-zero when the analyst fails (the model answers 401).
"""

from __future__ import annotations

import importlib
import random
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from keel.errors import ConflictError
from keel.graphs.runner import decide_action, pending_approvals
from keel.memory.actions import ActionStatus, Intervention, get_action, list_decisions
from keel.memory.checkpoint import Persistence
from tests.crash_trials import (
    PACE_S,
    STEPS,
    TRANSPORTS,
    Database,
    crash_trial,
    keel_env,
    run_keel,
)
from tests.graphs.support import Book, compile_graph, first_review_with
from tests.local_servers import SmtpSink
from tests.openai_server import OpenAIServer, error

# SMTP and webhooks cannot be asked whether a key arrived: killed after the server
# accepted, the recovery sends the same message again, under the same key.
WINDOW = {("smtp", "sent"), ("webhook", "sent")}
cli_main = importlib.import_module("keel.api.cli.main")


def _expected(transport: str, step: str) -> str:
    return "twice_same_key" if (transport, step) in WINDOW else "once"


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_killed_at_each_step_sqlite(transport: str, step: str, tmp_path: Path) -> None:
    verdict = crash_trial(transport, "sqlite", step, tmp_path)
    assert verdict.recovery_exit == 0, verdict.detail
    assert verdict.kind == _expected(transport, step), verdict


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.postgres
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_killed_at_each_step_postgres(
    transport: str, step: str, tmp_path: Path, postgres_url: str
) -> None:
    verdict = crash_trial(transport, "postgres", step, tmp_path, postgres_url=postgres_url)
    assert verdict.recovery_exit == 0, verdict.detail
    assert verdict.kind == _expected(transport, step), verdict


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_killed_at_a_random_moment(transport: str, tmp_path: Path) -> None:
    after = random.Random(transport).uniform(0.0, 5 * PACE_S)
    verdict = crash_trial(transport, "sqlite", None, tmp_path, after_s=after)
    assert verdict.recovery_exit == 0, verdict.detail
    allowed = {"once", "twice_same_key"} if transport != "dry_run" else {"once"}
    assert verdict.kind in allowed, verdict


@pytest.mark.slow
@pytest.mark.service
def test_smtp_down_at_approval_is_delivered_by_the_loop_once_it_is_up(
    book: Book, persistence: Persistence
) -> None:
    graph = compile_graph(book, persistence)
    _, result = first_review_with(graph, book)
    pending = next(p for p in result.pending if p.args["channel"] == "email")
    with SmtpSink() as gone:
        dead_port = gone.port
    smtp = {
        "KEEL_OUTBOUND_CHANNEL": "smtp",
        "KEEL_SMTP_HOST": "127.0.0.1",
        "KEEL_SMTP_PORT": str(dead_port),
        "KEEL_SMTP_FROM": "csm@keel.example",
        "COLUMNS": "250",
    }
    env = keel_env(book.settings, Database(book.engine, None), smtp)
    approve = ["approvals", "approve", pending.action_id, "--user", "ivy"]

    down = run_keel(approve, env)
    # Recorded, the thread finished, and the command says the send is not done (exit 1).
    assert down.returncode == 1, down.stdout[-3000:] + down.stderr[-3000:]
    assert "approve recorded" in down.stdout
    assert "delivery failed (SMTP server" in down.stdout and "will retry at" in down.stdout
    assert "keel outbox run" in down.stdout
    # This play is finished (the review's other plays may still wait for a decision).
    state = graph.get_state({"configurable": {"thread_id": pending.thread_id}})
    assert pending.action_id not in {
        p.action_id for p in pending_approvals(graph, pending.thread_id)
    }
    outcome = next(o for o in state.values["outcomes"] if o.get("action_id") == pending.action_id)
    assert outcome["status"] == "will retry"
    with Session(book.engine) as session:
        row = get_action(session, action_id=pending.action_id)
        assert row.status == ActionStatus.SENDING and row.claim_token is None
    listed = run_keel(["approvals", "list"], env)
    assert listed.returncode == 0 and pending.action_id in listed.stdout
    assert "will retry" in listed.stdout

    # Asking the loop while the server is still down: not failed for good, exit 0.
    still_down = run_keel(["outbox", "run", "--retry-now"], env)
    assert still_down.returncode == 0, still_down.stdout + still_down.stderr
    assert "will be retried" in still_down.stdout

    with SmtpSink() as sink:
        env["KEEL_SMTP_PORT"] = str(sink.port)
        up = run_keel(["outbox", "run", "--retry-now"], env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "1 sent" in up.stdout
        assert sink.count == 1
        assert sink.received[0].message["X-Keel-Idempotency-Key"] == row.idempotency_key
        again = run_keel(approve, env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already approved by ivy and sent" in again.stdout
        assert sink.count == 1
    with Session(book.engine) as session:
        assert get_action(session, action_id=pending.action_id).status == ActionStatus.SENT
        assert len(list_decisions(session, action_id=pending.action_id)) == 1
        done = session.exec(
            select(Intervention).where(Intervention.action_id == pending.action_id)
        ).all()
        assert len(done) == 1


@pytest.mark.service
def test_review_exits_non_zero_when_the_analyst_fails(
    book: Book, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not any(c.name == "review" for c in cli_main.app.registered_commands):
        cli_main._register()
    monkeypatch.setenv("KEEL_DATA_DIR", str(book.settings.data_dir))
    monkeypatch.setenv("KEEL_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    monkeypatch.setenv("COLUMNS", "250")
    openai_server.script.push(*[error(401, message="invalid api key")] * 10)
    account = book.active_accounts()[-1]
    started = time.monotonic()
    result = CliRunner().invoke(cli_main.app, ["review", account.external_id, "--no-vectors"])
    assert result.exit_code == 1, result.output
    assert "review finished with failures" in result.output and "analyst" in result.output
    assert time.monotonic() - started < 120


def test_a_repeated_reject_or_another_decision_is_refused(
    book: Book, persistence: Persistence
) -> None:
    graph = compile_graph(book, persistence)
    _, result = first_review_with(graph, book)
    pending = next(p for p in result.pending if p.args["channel"] == "email")
    done = decide_action(
        graph, book.engine, action_id=pending.action_id, kind="reject", user="kim", message="no"
    )
    assert done.ok and done.recorded and "rejected by kim" in done.message
    for kind, user in (("reject", "kim"), ("approve", "kim"), ("reject", "lee")):
        with pytest.raises(ConflictError, match="already rejected"):
            decide_action(
                graph,
                book.engine,
                action_id=pending.action_id,
                kind=kind,  # type: ignore[arg-type]
                user=user,
                message="again" if kind == "reject" else None,
            )
    with Session(book.engine) as session:
        assert len(list_decisions(session, action_id=pending.action_id)) == 1
