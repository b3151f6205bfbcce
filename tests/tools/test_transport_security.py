"""Transport security and secret redaction in the outbound adapters and the LLM path.

SMTP runs against real aiosmtpd servers with a throwaway CA (trustme): STARTTLS, SMTPS
and a plain server; webhooks against a real HTTP receiver whose error page echoes the
token; the executor stores what the adapters raise, so ``last_error`` is checked too.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from keel.agents.llm import LLMCallFailed, ResilientChatOpenAI, RetryPolicy, make_chat_model
from keel.domain.policy import Policy, load_policy
from keel.memory.actions import ActionStatus, decide
from keel.redact import REDACTED, redact_secrets, redact_url, secrets_in_url
from keel.settings import Settings
from keel.tools.outbound.base import OutboundError
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.outbound.factory import adapters_from_settings
from keel.tools.outbound.smtp import SmtpAdapter
from keel.tools.outbound.webhook import WebhookAdapter
from tests.local_servers import AuthAttempt, FailingWebhookSink, TlsSmtpSink
from tests.memory.test_actions import NOW, Book, propose, seed_account
from tests.openai_server import OpenAIServer, error
from tests.tools.test_outbound import SENDER, _message, approved, row, run

USER = "keel"
PASSWORD = "hunter2-Correct-Horse"
OPENAI_KEY = "sk-proj-Zx81kQm2Lw93RtYb55Pq0Vn7"
KEY = "0f" * 32  # a Keel-shaped idempotency key (64 lower-case hex)
# aiosmtpd warns about AUTH without TLS on the plain server, which is the point there.
PLAIN_AUTH = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """What the SMTP servers present: a certificate for 127.0.0.1 signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture()
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture()
def book(engine: Engine) -> Book:
    return seed_account(engine)


@pytest.fixture()
def starttls_sink(server_tls: ssl.SSLContext) -> Iterator[TlsSmtpSink]:
    with TlsSmtpSink(user=USER, password=PASSWORD, starttls_context=server_tls) as sink:
        yield sink


@pytest.fixture()
def plain_sink() -> Iterator[TlsSmtpSink]:
    with TlsSmtpSink(user=USER, password=PASSWORD) as sink:
        yield sink


def adapter(sink: TlsSmtpSink, **kwargs: Any) -> SmtpAdapter:
    return SmtpAdapter(
        host=sink.host,
        port=sink.port,
        sender=SENDER,
        user=USER,
        password=SecretStr(PASSWORD),
        timeout_s=5,
        **kwargs,
    )


# ------------------------------------------------------------------------ SMTP, TLS


@pytest.mark.service
def test_credentials_go_only_after_starttls_by_default(
    starttls_sink: TlsSmtpSink, ca_file: Path, tmp_path: Path, engine: Engine
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        outbound_channel="smtp",
        smtp_host=starttls_sink.host,
        smtp_port=starttls_sink.port,
        smtp_user=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_ca_file=ca_file,
    )
    assert settings.smtp_starttls is None  # unset: on because credentials are set
    smtp = adapters_from_settings(settings, engine)["email"]
    smtp.send(_message(), idempotency_key=KEY)
    assert starttls_sink.auth_attempts == [AuthAttempt(USER, over_tls=True)]
    assert starttls_sink.count == 1


@pytest.mark.service
@PLAIN_AUTH
def test_server_without_starttls_is_refused_and_gets_nothing(
    plain_sink: TlsSmtpSink, ca_file: Path
) -> None:
    with pytest.raises(OutboundError) as info:
        adapter(plain_sink, ca_file=ca_file).send(_message(), idempotency_key=KEY)
    text = str(info.value)
    assert not info.value.retryable
    assert "does not offer STARTTLS" in text and "nothing was sent" in text
    assert "KEEL_SMTP_SSL=true" in text and "KEEL_SMTP_ALLOW_PLAINTEXT_AUTH=true" in text
    assert plain_sink.auth_attempts == [] and plain_sink.count == 0


@pytest.mark.service
@PLAIN_AUTH
def test_starttls_switched_off_with_credentials_is_refused_before_connecting(
    plain_sink: TlsSmtpSink,
) -> None:
    with pytest.raises(OutboundError) as info:
        adapter(plain_sink, starttls=False).send(_message(), idempotency_key=KEY)
    text = str(info.value)
    assert not info.value.retryable and "would not be encrypted" in text
    assert "KEEL_SMTP_ALLOW_PLAINTEXT_AUTH=true" in text and "KEEL_SMTP_STARTTLS" in text
    assert plain_sink.auth_attempts == [] and plain_sink.count == 0


@pytest.mark.service
@PLAIN_AUTH
@pytest.mark.parametrize("starttls", [None, False])
def test_plaintext_auth_when_explicitly_allowed_sends_and_warns(
    plain_sink: TlsSmtpSink, starttls: bool | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keel.tools.outbound.smtp")
    adapter(plain_sink, starttls=starttls, allow_plaintext_auth=True).send(
        _message(), idempotency_key=KEY
    )
    assert plain_sink.auth_attempts == [AuthAttempt(USER, over_tls=False)]
    assert plain_sink.count == 1
    assert "without encryption" in caplog.text and PASSWORD not in caplog.text


@pytest.mark.service
def test_allowed_plaintext_still_uses_starttls_when_offered(
    starttls_sink: TlsSmtpSink, ca_file: Path
) -> None:
    adapter(starttls_sink, allow_plaintext_auth=True, ca_file=ca_file).send(
        _message(), idempotency_key=KEY
    )
    assert starttls_sink.auth_attempts == [AuthAttempt(USER, over_tls=True)]


@pytest.mark.service
@PLAIN_AUTH
def test_explicit_starttls_is_required_even_without_credentials(
    plain_sink: TlsSmtpSink, ca_file: Path
) -> None:
    bare = SmtpAdapter(
        host=plain_sink.host, port=plain_sink.port, sender=SENDER, starttls=True, timeout_s=5
    )
    with pytest.raises(OutboundError, match="required by KEEL_SMTP_STARTTLS=true"):
        bare.send(_message(), idempotency_key=KEY)
    assert plain_sink.count == 0


@pytest.mark.service
def test_server_certificate_is_verified_by_default(starttls_sink: TlsSmtpSink) -> None:
    # No ca_file: the system CAs do not know the test CA, so the handshake must fail.
    with pytest.raises(OutboundError) as info:
        adapter(starttls_sink).send(_message(), idempotency_key=KEY)
    assert not info.value.retryable
    assert "could not be verified" in str(info.value) and "KEEL_SMTP_CA_FILE" in str(info.value)
    assert starttls_sink.auth_attempts == [] and starttls_sink.count == 0


@pytest.mark.service
@PLAIN_AUTH  # aiosmtpd cannot tell an implicit-TLS session is encrypted
def test_smtps_implicit_tls(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    with TlsSmtpSink(user=USER, password=PASSWORD, implicit_tls_context=server_tls) as sink:
        adapter(sink, ssl=True, ca_file=ca_file).send(_message(), idempotency_key=KEY)
        assert sink.auth_attempts == [AuthAttempt(USER, over_tls=True)]
        assert sink.count == 1
        message = sink.received[0].message
    assert message["X-Keel-Idempotency-Key"] == KEY


def test_settings_read_the_new_smtp_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_SMTP_SSL", "true")
    monkeypatch.setenv("KEEL_SMTP_ALLOW_PLAINTEXT_AUTH", "true")
    monkeypatch.setenv("KEEL_SMTP_CA_FILE", "/etc/relay-ca.pem")
    monkeypatch.setenv("KEEL_SMTP_STARTTLS", "false")
    settings = Settings()
    assert settings.smtp_ssl and settings.smtp_allow_plaintext_auth
    assert settings.smtp_ca_file == Path("/etc/relay-ca.pem")
    assert settings.smtp_starttls is False
    for auto in ("", "auto"):
        monkeypatch.setenv("KEEL_SMTP_STARTTLS", auto)
        assert Settings().smtp_starttls is None


# ------------------------------------------------------------- redaction at the source


@pytest.mark.service
def test_smtp_reply_echoing_the_password_is_redacted_down_to_the_row(
    engine: Engine, book: Book, policy: Policy, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    action = approved(engine, book)
    echo = f"554 5.7.1 relay denied for {USER}:{PASSWORD} (key {OPENAI_KEY})"
    with TlsSmtpSink(
        user=USER, password=PASSWORD, starttls_context=server_tls, data_reply=echo
    ) as sink:
        result = run(engine, action.id, {"email": adapter(sink, ca_file=ca_file)}, policy)
    assert result.outcome == "failed" and not result.retryable
    stored = row(engine, action.id)
    assert stored.status == ActionStatus.FAILED
    assert stored.last_error is not None and "answered 554" in stored.last_error
    for text in (stored.last_error, *result.reasons):
        assert PASSWORD not in text and OPENAI_KEY not in text
    assert REDACTED in stored.last_error


def _slack_action(engine: Engine, book: Book) -> str:
    action = propose(
        engine,
        book,
        play_id="internal_escalation",
        draft_kind="slack",
        recipient_contact_id=None,
        payload={"subject": "Acme at risk", "body": "Quality dropped 20%.", "to": []},
    )
    decide(engine, action_id=action.id, decision="approve", user="alice", now=NOW)
    return action.id


@pytest.mark.service
def test_webhook_error_echoing_the_token_is_redacted_down_to_the_row(
    engine: Engine, book: Book, policy: Policy
) -> None:
    action_id = _slack_action(engine, book)
    token = "xK9pQ2mN7vR4tY8w"
    path = f"/services/T0ABC/B0DEF/{token}"
    with FailingWebhookSink(status=500, body="placeholder") as probe:
        url = probe.url(path)
    body = f"upstream rejected POST {url} token={token}; Authorization: Bearer {OPENAI_KEY}"
    with FailingWebhookSink(status=500, body=body) as hook:
        url = hook.url(path)
        body = body.replace(probe.url(path), url)
        hook_adapter = WebhookAdapter(url, timeout_s=5)
        with pytest.raises(OutboundError) as info:
            hook_adapter.send(_message(channel="slack"), idempotency_key=KEY)
        result = run(engine, action_id, {"slack": hook_adapter}, policy)
        headers = hook.requests[-1].headers
    stored = row(engine, action_id)
    assert result.outcome == "failed" and result.retryable
    assert stored.last_error is not None and "answered HTTP 500" in stored.last_error
    for text in (str(info.value), stored.last_error):
        assert token not in text and OPENAI_KEY not in text and path not in text
        assert REDACTED in text
    # The receiver can dedupe a resend on either header.
    assert headers["Idempotency-Key"] == headers["X-Keel-Idempotency-Key"]
    assert headers["Idempotency-Key"] == stored.idempotency_key


def test_dry_run_storage_failure_is_a_clear_outbound_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox folder should be")
    with pytest.raises(OutboundError, match="could not be written") as info:
        DryRunAdapter(blocker).send(_message(), idempotency_key=KEY)
    assert info.value.retryable


@pytest.mark.service
def test_model_error_echoing_the_api_key_is_redacted(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.script.push(error(401, message=f"Incorrect API key provided: {OPENAI_KEY}."))
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url=openai_server.base_url,
        llm_model="test-model",
        openai_api_key=SecretStr(OPENAI_KEY),
        llm_timeout_s=2.0,
    )
    model = make_chat_model(settings, retry=RetryPolicy(max_retries=0))
    assert isinstance(model, ResilientChatOpenAI)
    with pytest.raises(LLMCallFailed) as info:
        model.invoke("hi")
    text = str(info.value)
    assert "HTTP 401" in text and OPENAI_KEY not in text and REDACTED in text


# ------------------------------------------------------------------ redact_secrets table

ACTION_ID = "3f2b8c1d9e0a4b5c6d7e8f9012345678"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcDEF1234567890xyz rejected", "key [redacted] rejected"),
        ("key sk-abcdefgh12345678", "key [redacted]"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: [redacted]"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": [redacted]}'),
        ("sent Bearer eyJhbGciOi.payload.sig", "sent Bearer [redacted]"),
        ("GET /v1?api_key=abc123&page=2", "GET /v1?api_key=[redacted]&page=2"),
        ("apikey: s3cr3t", "apikey: [redacted]"),
        ('{"access_token": "tok en", "n": 1}', '{"access_token": [redacted], "n": 1}'),
        (
            "token=abcdef; password=pa55 secret=xyz",
            "token=[redacted]; password=[redacted] secret=[redacted]",
        ),
        ("X-Api-Key: abcdef123", "X-Api-Key: [redacted]"),
        ("https://bob:pw@relay.example/x", "https://[redacted]@relay.example/x"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "https://hooks.slack.com/services/[redacted]",
        ),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "jwt [redacted]"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "aws [redacted] here"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [redacted]"),
        ("slack xoxb-1234567890-abcdefghij", "slack [redacted]"),
        ("opaque aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG end", "opaque [redacted] end"),
        ("sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 [redacted]"),
        # Kept: Keel's own ids and hashes, ordinary words and numbers.
        (f"idempotency key {KEY}", f"idempotency key {KEY}"),
        (f"action {ACTION_ID} failed", f"action {ACTION_ID} failed"),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", "uuid 123e4567-e89b-12d3-a456-426614174000"),
        ("max_tokens: 500, token budget left", "max_tokens: 500, token budget left"),
        ("Basic authentication failed", "Basic authentication failed"),
        ("refused the login for user keel (535)", "refused the login for user keel (535)"),
        ("account acme-corp-renewal-outreach-plan", "account acme-corp-renewal-outreach-plan"),
        ("", ""),
    ],
)
def test_redact_secrets(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_redact_secrets_removes_every_extra_secret() -> None:
    text = "login password=x; echoed hunter2 and h%40x%2Fy; short ab stays"
    out = redact_secrets(text, extra=["hunter2", "h@x/y", "ab", None, ""])
    assert out == "login password=[redacted]; echoed [redacted] and [redacted]; short ab stays"
    # An extra wins even when it has the shape of a Keel id.
    assert redact_secrets(f"k={ACTION_ID}!", extra=[ACTION_ID]) == "k=[redacted]!"


def test_secrets_in_url_and_redact_url() -> None:
    url = "https://u:pw0rd@relay.example:8443/hooks/abc123DEF456ghi789/x?sig=abcdefghijkl&page=2"
    parts = secrets_in_url(url)
    assert url in parts and "pw0rd" in parts and "abcdefghijkl" in parts
    assert "abc123DEF456ghi789" in parts and "2" not in parts
    assert redact_url(url) == (
        "https://[redacted]@relay.example:8443/hooks/[redacted]/x?sig=[redacted]&page=2"
    )
    assert redact_url("https://hooks.slack.com/services/T0/B0/xyz") == (
        "https://hooks.slack.com/services/[redacted]"
    )
    assert secrets_in_url(None) == ()
