"""Execution: claim, re-check, send once, record; against real SMTP and HTTP servers."""

from __future__ import annotations

import datetime as dt
import email
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.domain.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from keel.errors import KeelError
from keel.memory.actions import (
    ActionStatus,
    CrmTask,
    Intervention,
    ProposedAction,
    decide,
    get_action,
    payload_hash,
)
from keel.settings import Settings
from keel.tools.outbound.base import OutboundAdapter, OutboundError, RenderedMessage, SendReceipt
from keel.tools.outbound.crm import CrmTaskAdapter
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.outbound.executor import (
    ExecutionOptions,
    ExecutionResult,
    RetryPolicy,
    execute_action,
)
from keel.tools.outbound.factory import adapters_from_settings
from keel.tools.outbound.guards import extract_links, link_allowed, recipient_problems
from keel.tools.outbound.smtp import SmtpAdapter
from keel.tools.outbound.webhook import WebhookAdapter
from tests.local_servers import SmtpSink, WebhookSink
from tests.memory.test_actions import NOW, Book, payload, propose, seed_account

ALLOW = ["https://help.keel.example", "https://keel.example/docs/"]
SENDER = "keel@keel.example"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture()
def book(engine: Engine) -> Book:
    return seed_account(engine)


@pytest.fixture()
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def smtp_adapters(sink: SmtpSink, tmp_path: Path) -> dict[str, OutboundAdapter]:
    dry = DryRunAdapter(tmp_path / "outbox", sender=SENDER)
    return {
        "email": SmtpAdapter(host=sink.host, port=sink.port, sender=SENDER, timeout_s=5),
        "slack": dry,
        "internal": dry,
    }


def run(
    engine: Engine,
    action_id: str,
    adapters: Mapping[str, OutboundAdapter],
    policy: Policy,
    *,
    now: dt.datetime = NOW,
    **kwargs: Any,
) -> ExecutionResult:
    return execute_action(
        engine,
        action_id=action_id,
        adapters=adapters,
        policy=policy,
        link_allowlist=ALLOW,
        now=now,
        **kwargs,
    )


def approved(engine: Engine, book: Book, **kwargs: Any) -> ProposedAction:
    action = propose(engine, book, **kwargs)
    return decide(engine, action_id=action.id, decision="approve", user="alice", now=NOW)


def row(engine: Engine, action_id: str) -> ProposedAction:
    with Session(engine) as session:
        action = get_action(session, action_id=action_id)
        session.expunge(action)
        return action


def interventions(engine: Engine) -> list[Intervention]:
    with Session(engine) as session:
        return list(session.exec(select(Intervention)).all())


# ------------------------------------------------------------------------- SMTP, once


@pytest.mark.service
def test_approved_email_is_sent_once_and_recorded(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    adapters = smtp_adapters(smtp, tmp_path)
    first = run(engine, action.id, adapters, policy)
    second = run(engine, action.id, adapters, policy)

    assert first.outcome == "sent" and first.transport == "smtp"
    assert second.outcome == "already_sent"
    assert second.external_message_id == first.external_message_id
    assert smtp.count == 1
    mail = smtp.received[0]
    assert mail.rcpt_tos == ["ana@acme.example"] and mail.mail_from == SENDER
    assert mail.message["Message-ID"] == f"<{action.idempotency_key}@keel.example>"
    assert mail.message["X-Keel-Idempotency-Key"] == action.idempotency_key
    assert mail.message["Subject"] == "Nice work on dashboards"
    stored = row(engine, action.id)
    assert stored.status == ActionStatus.SENT and stored.sent_at == NOW
    (done,) = interventions(engine)
    assert (done.action_id, done.play_id, done.transport) == (action.id, action.play_id, "smtp")
    assert done.external_message_id == mail.message["Message-ID"]
    assert done.recipient_contact_id == book.champion_id


@pytest.mark.service
def test_edited_payload_is_what_goes_out(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    action = propose(engine, book)
    edited = payload(body="Edited by Alice. https://help.keel.example/tips")
    decided = decide(
        engine, action_id=action.id, decision="edit", user="alice", edited_payload=edited
    )
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert result.outcome == "sent" and result.idempotency_key == decided.idempotency_key
    assert "Edited by Alice." in smtp.received[0].message.get_payload()


@pytest.mark.service
@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_only_approved_actions_are_executed(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path, status: str
) -> None:
    action = propose(engine, book)
    if status == "rejected":
        decide(engine, action_id=action.id, decision="reject", user="bob")
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert result.outcome == "not_executable" and result.status == status
    assert smtp.count == 0


# ------------------------------------------------------------------------ re-checks


def _tamper(engine: Engine, action_id: str, **values: Any) -> None:
    with Session(engine) as session:
        session.exec(
            update(ProposedAction).where(col(ProposedAction.id) == action_id).values(**values)
        )
        session.commit()


@pytest.mark.service
@pytest.mark.parametrize("rehash", [False, True], ids=["payload_only", "payload_and_hash"])
def test_tampered_payload_is_refused(
    engine: Engine,
    book: Book,
    smtp: SmtpSink,
    policy: Policy,
    tmp_path: Path,
    rehash: bool,
) -> None:
    action = approved(engine, book)
    evil = payload(body="Wire the money to account 123.")
    values: dict[str, Any] = {"payload": evil}
    if rehash:  # even a consistent row is refused: the audit holds the approved hash
        values["payload_hash"] = payload_hash(evil)
    _tamper(engine, action.id, **values)
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert result.outcome == "refused"
    assert any("hash mismatch" in r for r in result.reasons)
    assert smtp.count == 0 and interventions(engine) == []
    stored = row(engine, action.id)
    assert stored.status == ActionStatus.FAILED and "hash mismatch" in (stored.last_error or "")
    # A refused row stays refused.
    assert run(engine, action.id, smtp_adapters(smtp, tmp_path), policy).outcome == (
        "not_executable"
    )


@pytest.mark.service
@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"to": ["eve@evil.example"]}, "eve@evil.example is not a contact of this account"),
        ({"to": ["cy@acme.example"]}, "cy@acme.example has left the company"),
        ({"to": ["gil@globex.example"]}, "gil@globex.example is not a contact of this account"),
        ({"cc": ["eve@evil.example"]}, "eve@evil.example is not a contact of this account"),
        ({"to": ["bo@acme.example"]}, "not to recipient contact"),
        ({"to": ["ana@acme.example", "bo@acme.example"]}, "exactly one contact"),
        ({"body": "Reset here: https://help.keel.example.evil.net/x"}, "not on the allow-list"),
        ({"body": "See [docs](https://evil.example/login)."}, "not on the allow-list"),
        ({"body": "Go to www.evil.example now"}, "not on the allow-list"),
        ({"links": ["http://help.keel.example/a"]}, "not on the allow-list"),
        ({"subject": "https://evil.example"}, "not on the allow-list"),
    ],
)
def test_reviewer_edit_cannot_widen_recipients_or_links(
    engine: Engine,
    book: Book,
    smtp: SmtpSink,
    policy: Policy,
    tmp_path: Path,
    changes: dict[str, Any],
    problem: str,
) -> None:
    action = propose(engine, book)
    decide(
        engine,
        action_id=action.id,
        decision="edit",
        user="alice",
        edited_payload=payload(**changes),
    )
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert result.outcome == "refused"
    assert any(problem in r for r in result.reasons), result.reasons
    assert smtp.count == 0


@pytest.mark.service
def test_policy_is_checked_again_before_sending(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    adapters = smtp_adapters(smtp, tmp_path)
    # Contact cap (1 per 7 days): the first email to Ana goes, the second is refused.
    first = approved(engine, book, interrupt="i1")
    second = approved(engine, book, interrupt="i2", payload=payload(subject="Again"))
    assert run(engine, first.id, adapters, policy).outcome == "sent"
    refused = run(engine, second.id, adapters, policy, now=NOW + dt.timedelta(days=2))
    assert refused.outcome == "refused"
    assert any("contact frequency cap" in r for r in refused.reasons)
    # A week later the cap has passed, but the refusal stands: it needs a new proposal.
    later = run(engine, second.id, adapters, policy, now=NOW + dt.timedelta(days=8))
    assert later.outcome == "not_executable"
    assert smtp.count == 1


@pytest.mark.service
def test_auto_approved_row_is_refused_when_the_policy_now_wants_a_human(
    engine: Engine, book: Book, smtp: SmtpSink, tmp_path: Path
) -> None:
    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    doc["auto_send_allowed"].remove("adoption_congrats")
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(doc))
    action = propose(engine, book, needs_approval=False)  # adoption_congrats, ai_led
    assert action.status == ActionStatus.AUTO_APPROVED
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), load_policy(strict))
    assert result.outcome == "refused"
    assert any("requires a human's approval" in r for r in result.reasons)
    allowed = propose(engine, book, interrupt="i2", needs_approval=False)
    assert run(engine, allowed.id, smtp_adapters(smtp, tmp_path), load_policy()).outcome == ("sent")
    assert smtp.count == 1


@pytest.mark.service
def test_auto_approved_play_the_policy_never_auto_sends_is_refused(
    engine: Engine, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    """AI-led: a row marked auto-approved for a play outside auto_send_allowed never goes."""
    book = seed_account(engine)
    action = propose(engine, book, needs_approval=False, play_id="usage_drop_checkin")
    result = run(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert result.outcome == "refused" and smtp.count == 0


# ------------------------------------------------------------- concurrency and crashes


def _concurrent_executions(engine: Engine, action_id: str, adapters: Any, policy: Policy) -> Any:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        barrier.wait()
        result = execute_action(
            engine,
            action_id=action_id,
            adapters=adapters,
            policy=policy,
            link_allowlist=ALLOW,
            now=NOW,
            worker_id=f"w{n}",
        )
        with lock:
            outcomes.append(result.outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return Counter(outcomes)


@pytest.mark.service
def test_concurrent_executors_send_once_sqlite(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    outcomes = _concurrent_executions(engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert outcomes["sent"] == 1 and sum(outcomes.values()) == 4
    assert set(outcomes) <= {"sent", "busy", "already_sent"}
    assert smtp.count == 1 and len(interventions(engine)) == 1


@pytest.mark.service
@pytest.mark.postgres
def test_concurrent_executors_send_once_postgres(
    pg_engine: Engine, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    book = seed_account(pg_engine)
    action = approved(pg_engine, book)
    outcomes = _concurrent_executions(pg_engine, action.id, smtp_adapters(smtp, tmp_path), policy)
    assert outcomes["sent"] == 1 and sum(outcomes.values()) == 4
    assert smtp.count == 1 and len(interventions(pg_engine)) == 1


class _DiesBeforeSending:
    """Stands in for a process killed after claiming, before anything reached the server."""

    name = "smtp"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        raise RuntimeError("killed")


class _DiesAfterServerAccepted:
    """Delivers, then dies before the executor can record ``sent``."""

    name = "smtp"

    def __init__(self, inner: SmtpAdapter) -> None:
        self.inner = inner

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        self.inner.send(message, idempotency_key=idempotency_key)
        raise RuntimeError("killed")


@pytest.mark.service
def test_crash_after_claim_resumes_after_lease_and_sends_once(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    adapters = smtp_adapters(smtp, tmp_path)
    with pytest.raises(RuntimeError):
        run(engine, action.id, {**adapters, "email": _DiesBeforeSending()}, policy)
    assert row(engine, action.id).status == ActionStatus.SENDING

    busy = run(engine, action.id, adapters, policy, now=NOW + dt.timedelta(seconds=60))
    assert busy.outcome == "busy" and busy.retry_after == NOW + dt.timedelta(seconds=300)
    resumed = run(engine, action.id, adapters, policy, now=NOW + dt.timedelta(seconds=301))
    assert resumed.outcome == "sent"
    assert smtp.count == 1 and row(engine, action.id).attempts == 2


def test_row_that_keeps_crashing_is_given_up(engine: Engine, book: Book, policy: Policy) -> None:
    action = approved(engine, book)
    dies: dict[str, OutboundAdapter] = {"email": _DiesBeforeSending()}
    once = ExecutionOptions(retry=RetryPolicy(max_attempts=1))
    with pytest.raises(RuntimeError):
        run(engine, action.id, dies, policy, options=once)
    later = NOW + dt.timedelta(seconds=301)
    result = run(engine, action.id, dies, policy, now=later, options=once)
    assert result.outcome == "failed" and result.status == ActionStatus.FAILED
    assert result.reasons[0].startswith("gave up after 1 attempts")
    assert "may have been delivered" in result.reasons[0]  # the crash left it in doubt


@pytest.mark.service
def test_crash_after_server_accepted_resends_with_the_same_message_id(
    engine: Engine, book: Book, smtp: SmtpSink, policy: Policy, tmp_path: Path
) -> None:
    """The documented window: SMTP does not dedupe, but both copies carry one key."""
    action = approved(engine, book)
    adapters = smtp_adapters(smtp, tmp_path)
    inner = adapters["email"]
    assert isinstance(inner, SmtpAdapter)
    with pytest.raises(RuntimeError):
        run(engine, action.id, {**adapters, "email": _DiesAfterServerAccepted(inner)}, policy)
    run(engine, action.id, adapters, policy, now=NOW + dt.timedelta(seconds=301))
    ids = {m.message["Message-ID"] for m in smtp.received}
    keys = {m.message["X-Keel-Idempotency-Key"] for m in smtp.received}
    assert smtp.count == 2 and len(ids) == 1 and keys == {action.idempotency_key}
    assert len(interventions(engine)) == 1


def test_transport_error_releases_the_row_for_a_retry(
    engine: Engine, book: Book, policy: Policy, tmp_path: Path
) -> None:
    action = approved(engine, book)
    with SmtpSink() as sink:
        port = sink.port
    down = {"email": SmtpAdapter(host="127.0.0.1", port=port, sender=SENDER, timeout_s=2)}
    failed = run(engine, action.id, down, policy)
    assert failed.outcome == "failed" and failed.retryable
    # Backoff: the row waits, held by nobody, until its retry time (30 s after attempt 1).
    assert failed.retry_after == NOW + dt.timedelta(seconds=30)
    waiting = row(engine, action.id)
    assert waiting.status == ActionStatus.SENDING and waiting.claim_token is None
    assert "could not be reached" in (waiting.last_error or "")
    with SmtpSink() as sink:
        up = {"email": SmtpAdapter(host=sink.host, port=sink.port, sender=SENDER, timeout_s=5)}
        early = run(engine, action.id, up, policy, now=NOW + dt.timedelta(seconds=10))
        assert early.outcome == "retry_scheduled" and sink.count == 0
        retried = run(engine, action.id, up, policy, now=NOW + dt.timedelta(seconds=30))
        assert retried.outcome == "sent" and sink.count == 1
    assert row(engine, action.id).attempts == 2


def test_transport_keeps_failing_until_max_attempts(
    engine: Engine, book: Book, policy: Policy
) -> None:
    action = approved(engine, book)
    with SmtpSink() as sink:
        port = sink.port
    down = {"email": SmtpAdapter(host="127.0.0.1", port=port, sender=SENDER, timeout_s=2)}
    twice = ExecutionOptions(retry=RetryPolicy(max_attempts=2))
    results = [
        run(engine, action.id, down, policy, now=NOW + dt.timedelta(minutes=n), options=twice)
        for n in range(3)
    ]
    assert [r.outcome for r in results] == ["failed", "failed", "not_executable"]
    assert results[1].reasons[0].startswith("gave up after 2 attempts")
    assert [r.retryable for r in results[:2]] == [True, False]
    assert row(engine, action.id).status == ActionStatus.FAILED


# --------------------------------------------------------------------- SMTP adapter


def _message(**changes: Any) -> RenderedMessage:
    base: dict[str, Any] = {
        "action_id": "a1",
        "account_id": 1,
        "account_external_id": "acme",
        "account_name": "Acme Corp",
        "owner_csm": "csm@keel.example",
        "play_id": "adoption_congrats",
        "channel": "email",
        "draft_kind": "email",
        "subject": "Hello",
        "body": "Body text.",
        "to": ("ana@acme.example",),
        "cc": (),
        "links": (),
        "rendered_at": NOW,
    }
    base.update(changes)
    return RenderedMessage(**base)


@pytest.mark.service
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_and_password_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-Pa55"
    with SmtpSink(user="keel", password=secret) as sink:
        good = SmtpAdapter(
            host=sink.host,
            port=sink.port,
            sender=SENDER,
            user="keel",
            password=SecretStr(secret),
            allow_plaintext_auth=True,  # this sink has no TLS; TLS: test_transport_security
            timeout_s=5,
        )
        good.send(_message(), idempotency_key="k" * 64)
        assert sink.count == 1
        bad = SmtpAdapter(
            host=sink.host,
            port=sink.port,
            sender=SENDER,
            user="keel",
            password=SecretStr("wrong-" + secret),
            allow_plaintext_auth=True,
            timeout_s=5,
        )
        with pytest.raises(OutboundError) as info:
            bad.send(_message(), idempotency_key="k" * 64)
    assert not info.value.retryable and "refused the login" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(bad)
    assert secret not in caplog.text


# ------------------------------------------------------------------------- webhook


@pytest.mark.service
def test_webhook_posts_slack_style_json_with_idempotency_key(
    engine: Engine, book: Book, policy: Policy
) -> None:
    action = propose(
        engine,
        book,
        play_id="internal_escalation",
        draft_kind="slack",
        recipient_contact_id=None,
        payload={"subject": "Acme at risk", "body": "Quality dropped 20%.", "to": []},
    )
    decide(engine, action_id=action.id, decision="approve", user="alice")
    with WebhookSink() as hook:
        adapters = {"slack": WebhookAdapter(hook.url())}
        result = run(engine, action.id, adapters, policy)
        again = run(engine, action.id, adapters, policy)
        assert hook.count == 1
        request = hook.requests[0]
    assert result.outcome == "sent" and again.outcome == "already_sent"
    assert request.path == "/hooks/T000/SECRET"
    assert request.headers["Idempotency-Key"] == row(engine, action.id).idempotency_key
    assert request.body["text"] == "*Acme at risk*\nQuality dropped 20%."
    assert request.body["keel"]["account"] == "acme"
    assert result.external_message_id == "req-1"


@pytest.mark.service
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
def test_webhook_non_2xx_is_a_clear_error(status: int, retryable: bool) -> None:
    with WebhookSink() as hook:
        hook.statuses.append(status)
        adapter = WebhookAdapter(hook.url(), timeout_s=5)
        with pytest.raises(OutboundError) as info:
            adapter.send(_message(channel="slack"), idempotency_key="k" * 64)
    text = str(info.value)
    assert f"answered HTTP {status}" in text and info.value.retryable is retryable
    assert "SECRET" not in text  # webhook paths carry secrets


def test_webhook_unreachable_is_retryable() -> None:
    with WebhookSink() as hook:
        url = hook.url()
    with pytest.raises(OutboundError, match="could not be reached") as info:
        WebhookAdapter(url, timeout_s=2).send(_message(), idempotency_key="k" * 64)
    assert info.value.retryable


# ------------------------------------------------------------------- dry run and CRM


def test_dry_run_writes_one_readable_file_per_key(
    engine: Engine, book: Book, policy: Policy, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    dry = DryRunAdapter(outbox, sender=SENDER)
    adapters: dict[str, OutboundAdapter] = {"email": dry, "internal": dry}
    mail = approved(engine, book)
    note = propose(
        engine,
        book,
        interrupt="i2",
        play_id="internal_escalation",
        draft_kind="internal_note",
        recipient_contact_id=None,
        payload={"subject": "Escalate", "body": "Needs product help.", "to": []},
    )
    decide(engine, action_id=note.id, decision="approve", user="alice")
    assert run(engine, mail.id, adapters, policy).outcome == "sent"
    assert run(engine, note.id, adapters, policy).outcome == "sent"
    # Re-sending the same key through the adapter writes nothing new.
    mail_row = row(engine, mail.id)
    receipt = dry.send(_message(action_id=mail.id), idempotency_key=mail_row.idempotency_key)
    assert receipt.duplicate and receipt.external_id == mail_row.external_message_id

    files = sorted(p.name for p in outbox.iterdir())
    assert files == sorted(
        [
            f"2025-03-20_acme_adoption_congrats_{mail_row.idempotency_key[:8]}.eml",
            f"2025-03-20_acme_internal_escalation_{row(engine, note.id).idempotency_key[:8]}.md",
        ]
    )
    note_key = row(engine, note.id).idempotency_key
    again = dry.send(_message(action_id=note.id, channel="internal"), idempotency_key=note_key)
    assert again.duplicate and len(list(outbox.iterdir())) == 2
    eml = email.message_from_bytes((outbox / files[0]).read_bytes())
    assert eml["To"] == "ana@acme.example"
    assert eml["X-Keel-Idempotency-Key"] == mail_row.idempotency_key
    assert "Needs product help." in (outbox / files[1]).read_text()


def test_crm_adapter_inserts_one_task_per_key(engine: Engine, book: Book, policy: Policy) -> None:
    action = approved(engine, book)
    crm = CrmTaskAdapter(engine)
    result = run(engine, action.id, {"email": crm}, policy)
    again = crm.send(_message(action_id=action.id), idempotency_key=action.idempotency_key)
    assert result.outcome == "sent" and again.duplicate
    with Session(engine) as session:
        (task,) = session.exec(select(CrmTask)).all()
    assert result.external_message_id == f"crm-task:{task.id}"
    assert task.assignee == "csm@keel.example" and task.title == "Nice work on dashboards"
    assert task.body.startswith("To: ana@acme.example")


def test_missing_adapter_is_refused(engine: Engine, book: Book, policy: Policy) -> None:
    action = approved(engine, book)
    result = run(engine, action.id, {}, policy)
    assert result.outcome == "refused"
    assert result.reasons == ("no outbound adapter is configured for channel 'email'",)


# -------------------------------------------------------------------------- factory


def test_adapters_from_settings(engine: Engine, tmp_path: Path) -> None:
    def kinds(**overrides: Any) -> dict[str, str]:
        settings = Settings(data_dir=tmp_path, **overrides)
        return {k: a.name for k, a in adapters_from_settings(settings, engine).items()}

    assert kinds() == {"email": "dry_run", "slack": "dry_run", "internal": "dry_run"}
    assert kinds(outbound_channel="smtp") == {
        "email": "smtp",
        "slack": "dry_run",
        "internal": "dry_run",
    }
    assert kinds(outbound_channel="smtp", webhook_url="http://127.0.0.1:9/x") == {
        "email": "smtp",
        "slack": "webhook",
        "internal": "webhook",
    }
    assert set(kinds(outbound_channel="crm").values()) == {"crm"}
    with pytest.raises(KeelError, match="KEEL_WEBHOOK_URL is not set"):
        kinds(outbound_channel="webhook")
    with pytest.raises(KeelError, match="expected one of dry_run, smtp, webhook, crm"):
        kinds(outbound_channel="pigeon")


# --------------------------------------------------------------------------- guards


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://help.keel.example", True),
        ("https://help.keel.example/articles/12?x=1#top", True),
        ("https://HELP.keel.example/a", True),
        ("https://keel.example/docs/start", True),
        ("https://keel.example/docs", True),
        ("https://keel.example/docsevil", False),
        ("https://keel.example/pricing", False),
        ("http://help.keel.example/a", False),
        ("https://help.keel.example.evil.net/a", False),
        ("https://help.keel.example@evil.net/a", False),
        ("https://help.keel.example:8443/a", False),
        ("www.help.keel.example", False),
        ("javascript:alert(1)", False),
    ],
)
def test_link_allowed(url: str, ok: bool) -> None:
    assert link_allowed(url, ALLOW) is ok


def test_extract_links() -> None:
    text = (
        "See https://help.keel.example/a. Or (https://keel.example/docs/b), "
        '<a href="https://evil.example/x">here</a> and www.other.example!'
    )
    assert extract_links(text) == [
        "https://help.keel.example/a",
        "https://keel.example/docs/b",
        "https://evil.example/x",
        "www.other.example",
    ]


def test_internal_messages_go_only_to_the_owner_csm() -> None:
    def problems(to: list[str], owner: str = "csm@keel.example") -> list[str]:
        return recipient_problems(
            channel="slack",
            to=to,
            cc=[],
            recipient_contact_id=None,
            account_id=1,
            owner_csm=owner,
            contacts=[],
        )

    assert problems([]) == []
    assert problems(["CSM@keel.example"]) == []
    assert problems(["ceo@acme.example"]) != []
    assert problems(["csm@keel.example"], owner="") != []
