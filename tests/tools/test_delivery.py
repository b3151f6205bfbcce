"""The delivery loop: backoff, retries spent, a human retry, the outbox CLI's exit codes.

Real SQLite, real SMTP (aiosmtpd) and HTTP sinks, a real tmpfs for the full disk.
"""

from __future__ import annotations

import datetime as dt
import errno
import importlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from keel.domain.policy import Policy, load_policy
from keel.errors import ConflictError
from keel.memory.actions import (
    ActionStatus,
    Intervention,
    ProposedAction,
    decide,
    get_action,
    list_attempts,
    list_decisions,
)
from keel.settings import Settings
from keel.tools.outbound.delivery import DeliveryDeps, deliver_due, describe_delivery, retry_failed
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.outbound.executor import (
    ExecutionHooks,
    ExecutionOptions,
    ExecutionStep,
    RetryPolicy,
    no_hooks,
)
from keel.tools.outbound.smtp import SmtpAdapter
from keel.tools.outbound.webhook import WebhookAdapter
from tests.local_servers import SmtpSink, WebhookSink
from tests.memory.test_actions import NOW, Book, propose, seed_account

ALLOW = ["https://help.keel.example"]
SENDER = "keel@keel.example"
cli_main = importlib.import_module("keel.api.cli.main")
runner = CliRunner()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture()
def book(engine: Engine) -> Book:
    return seed_account(engine)


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    if not any(g.name == "outbox" for g in cli_main.app.registered_groups):
        cli_main._register()
    return cli_main.app


def approved(engine: Engine, book: Book, **kwargs: object) -> ProposedAction:
    action = propose(engine, book, **kwargs)  # type: ignore[arg-type]
    return decide(engine, action_id=action.id, decision="approve", user="ivy", now=NOW)


def deps_for(
    engine: Engine,
    policy: Policy,
    adapters: Mapping[str, Any],
    *,
    retry: RetryPolicy | None = None,
    hooks: ExecutionHooks | None = None,
) -> DeliveryDeps:
    options = ExecutionOptions(retry=retry or RetryPolicy(), hooks=hooks or no_hooks)
    return DeliveryDeps(engine, adapters, policy, ALLOW, options=options, worker_id="test-loop")


def closed_port() -> int:
    with SmtpSink() as sink:
        return sink.port


def row(engine: Engine, action_id: str) -> ProposedAction:
    with Session(engine) as session:
        found = get_action(session, action_id=action_id)
        session.expunge(found)
        return found


def interventions(engine: Engine, action_id: str) -> int:
    with Session(engine) as session:
        return len(
            session.exec(select(Intervention).where(Intervention.action_id == action_id)).all()
        )


# ------------------------------------------------------------------------- the loop


def test_hooks_are_told_each_durable_step_in_order(
    engine: Engine, book: Book, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    seen: list[tuple[ExecutionStep, str]] = []

    def hook(step: ExecutionStep, action_id: str) -> None:
        # At each step the database already holds what the step names.
        current = row(engine, action_id)
        with Session(engine) as session:
            attempts = list_attempts(session, action_id=action_id)
        if step == ExecutionStep.CLAIMED:
            assert current.status == ActionStatus.SENDING and not attempts
        if step in (ExecutionStep.ATTEMPT_RECORDED, ExecutionStep.SENT):
            assert current.status == ActionStatus.SENDING and attempts[-1].outcome is None
        if step == ExecutionStep.RECORDED:
            assert current.status == ActionStatus.SENT and attempts[-1].outcome == "sent"
        seen.append((step, action_id))

    dry = DryRunAdapter(tmp_path / "outbox", sender=SENDER)
    report = deliver_due(deps_for(engine, policy, {"email": dry}, hooks=hook), now=NOW)
    assert [r.outcome for r in report.results] == ["sent"]
    assert seen == [(s, action.id) for s in ExecutionStep]


class _Dies:
    """Stands in for a process killed mid-send (the claim and the attempt stay behind)."""

    name = "smtp"

    def send(self, message: object, *, idempotency_key: str) -> object:
        raise RuntimeError("killed")


def test_a_send_held_by_a_dead_worker_says_busy_then_is_completed(
    engine: Engine, book: Book, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    dead = deps_for(engine, policy, {"email": _Dies()})
    report = deliver_due(dead, now=NOW)
    assert report.errors and not report.ok
    held = describe_delivery(row(engine, action.id))
    assert not held.ok and not held.done and held.text.startswith("being delivered by test-loop")
    # Within the lease nobody touches it; after it, the open attempt is completed.
    dry = deps_for(engine, policy, {"email": DryRunAdapter(tmp_path / "outbox", sender=SENDER)})
    assert deliver_due(dry, now=NOW + dt.timedelta(seconds=60)).results == []
    (done,) = deliver_due(dry, now=NOW + dt.timedelta(seconds=301)).results
    assert done.outcome == "sent" and done.completed_in_doubt
    with Session(engine) as session:
        outcomes = [a.outcome for a in list_attempts(session, action_id=action.id)]
    assert outcomes == ["in_doubt", "sent"]


@pytest.mark.service
def test_smtp_down_then_up_backs_off_and_delivers_once(
    engine: Engine, book: Book, policy: Policy
) -> None:
    action = approved(engine, book)
    down = {"email": SmtpAdapter(host="127.0.0.1", port=closed_port(), sender=SENDER, timeout_s=2)}
    first = deliver_due(deps_for(engine, policy, down), now=NOW)
    (failed,) = first.results
    assert failed.outcome == "failed" and failed.retryable and first.ok  # not failed for good
    assert failed.retry_after == NOW + dt.timedelta(seconds=30)
    assert "will be retried" in first.summary()
    waiting = row(engine, action.id)
    state = describe_delivery(waiting)
    assert not state.ok and "will retry at" in state.text and "could not be reached" in state.text

    with SmtpSink() as sink:
        up = {"email": SmtpAdapter(host=sink.host, port=sink.port, sender=SENDER, timeout_s=5)}
        early = deliver_due(deps_for(engine, policy, up), now=NOW + dt.timedelta(seconds=5))
        assert early.results == [] and sink.count == 0  # not due yet
        later = deliver_due(deps_for(engine, policy, up), now=NOW + dt.timedelta(seconds=30))
        assert [r.outcome for r in later.results] == ["sent"] and sink.count == 1
        again = deliver_due(deps_for(engine, policy, up), now=NOW + dt.timedelta(hours=1))
        assert again.results == [] and sink.count == 1
    assert row(engine, action.id).status == ActionStatus.SENT
    assert interventions(engine, action.id) == 1
    with Session(engine) as session:
        assert [a.outcome for a in list_attempts(session, action_id=action.id)] == [
            "failed",
            "sent",
        ]


@pytest.mark.service
def test_webhook_500_then_200_is_delivered_by_the_loop(
    engine: Engine, book: Book, policy: Policy
) -> None:
    action = propose(
        engine,
        book,
        play_id="internal_escalation",
        draft_kind="slack",
        recipient_contact_id=None,
        payload={"subject": "Acme at risk", "body": "Quality dropped.", "to": []},
    )
    decide(engine, action_id=action.id, decision="approve", user="ivy", now=NOW)
    with WebhookSink() as hook:
        hook.statuses.extend([500, 500])
        deps = deps_for(engine, policy, {"slack": WebhookAdapter(hook.url(), timeout_s=5)})
        outcomes = [
            [r.outcome for r in deliver_due(deps, now=NOW + dt.timedelta(seconds=s)).results]
            for s in (0, 30, 60, 90, 1000)
        ]
        keys = {r.headers["Idempotency-Key"] for r in hook.requests}
        assert hook.count == 3
    # 500 (retry in 30 s), 500 (retry in 60 s), not due yet, 200, nothing left.
    assert outcomes == [["failed"], ["failed"], [], ["sent"], []]
    assert keys == {row(engine, action.id).idempotency_key}
    assert interventions(engine, action.id) == 1


@pytest.mark.service
def test_retries_spent_is_failed_visible_and_a_human_retry_sends_it(
    engine: Engine,
    book: Book,
    policy: Policy,
    settings: Settings,
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    action = approved(engine, book)
    down = {"email": SmtpAdapter(host="127.0.0.1", port=closed_port(), sender=SENDER, timeout_s=2)}
    deps = deps_for(engine, policy, down, retry=RetryPolicy(max_attempts=2))
    first = deliver_due(deps, now=NOW)
    last = deliver_due(deps, now=NOW + dt.timedelta(minutes=5))
    assert first.ok and not last.ok
    (result,) = last.failed
    assert result.reasons[0].startswith("gave up after 2 attempts: SMTP server")
    failed = row(engine, action.id)
    assert failed.status == ActionStatus.FAILED and failed.attempts == 2
    assert deliver_due(deps, now=NOW + dt.timedelta(days=1)).results == []  # stays failed

    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "250")
    listed = runner.invoke(app, ["approvals", "list"])
    assert listed.exit_code == 0, listed.output
    assert action.id in listed.output and "failed" in listed.output
    assert "gave up after 2 attempts" in listed.output and "approvals retry" in listed.output
    shown = runner.invoke(app, ["approvals", "show", action.id])
    assert shown.exit_code == 0, shown.output
    assert "Delivery: not sent: gave up after 2 attempts" in shown.output
    assert shown.output.count("via smtp: failed") == 2

    # Retrying something that is not failed is refused (exit 2 through main()).
    with pytest.raises(ConflictError):
        retry_failed(deps, action_id=propose(engine, book, interrupt="i9").id, user="ivy")

    with SmtpSink() as sink:
        monkeypatch.setenv("KEEL_OUTBOUND_CHANNEL", "smtp")
        monkeypatch.setenv("KEEL_SMTP_HOST", sink.host)
        monkeypatch.setenv("KEEL_SMTP_PORT", str(sink.port))
        retried = runner.invoke(app, ["approvals", "retry", action.id, "--user", "ivy"])
        assert retried.exit_code == 0, retried.output
        assert "retry recorded" in retried.output and "sent at" in retried.output
        assert sink.count == 1
        twice = runner.invoke(app, ["approvals", "retry", action.id, "--user", "ivy"])
        assert isinstance(twice.exception, ConflictError) and sink.count == 1
    with Session(engine) as session:
        trail = [(d.decision, d.user) for d in list_decisions(session, action_id=action.id)]
    assert trail == [("approve", "ivy"), ("retry", "ivy")]
    assert row(engine, action.id).status == ActionStatus.SENT
    assert interventions(engine, action.id) == 1


@pytest.mark.service
def test_outbox_run_exits_non_zero_when_something_failed(
    engine: Engine,
    book: Book,
    settings: Settings,
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ok = approved(engine, book)
    bad = approved(engine, book, interrupt="i2", payload={"body": "x", "to": ["eve@evil.example"]})
    monkeypatch.setenv("KEEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "250")
    with SmtpSink() as sink:
        monkeypatch.setenv("KEEL_OUTBOUND_CHANNEL", "smtp")
        monkeypatch.setenv("KEEL_SMTP_HOST", sink.host)
        monkeypatch.setenv("KEEL_SMTP_PORT", str(sink.port))
        first = runner.invoke(app, ["outbox", "run"])
        assert first.exit_code == 1, first.output
        assert f"{bad.id} failed" in first.output and "1 sent, 1 failed" in first.output
        second = runner.invoke(app, ["outbox", "run"])
        assert second.exit_code == 0 and "0 sent" in second.output
        assert sink.count == 1
    assert row(engine, ok.id).status == ActionStatus.SENT


# ------------------------------------------------------------------------ full disk


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_outbox_disk_is_retried_until_there_is_room(
    engine: Engine, book: Book, policy: Policy, tiny_disk: Path
) -> None:
    action = approved(engine, book)
    (tiny_disk / "outbox").mkdir()
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        while True:
            os.write(fd, b"x" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    deps = deps_for(engine, policy, {"email": DryRunAdapter(tiny_disk / "outbox", sender=SENDER)})
    full = deliver_due(deps, now=NOW)
    (result,) = full.results
    assert result.outcome == "failed" and result.retryable, result
    assert "No space left on device" in result.reasons[0]
    assert row(engine, action.id).status == ActionStatus.SENDING

    os.unlink(filler)
    later = deliver_due(deps, now=NOW + dt.timedelta(seconds=30))
    assert [r.outcome for r in later.results] == ["sent"]
    assert len(list((tiny_disk / "outbox").glob("*.eml"))) == 1
    assert interventions(engine, action.id) == 1
