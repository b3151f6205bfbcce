"""Real servers on loopback for outbound tests: an SMTP sink (aiosmtpd) and a webhook sink.

Both listen on 127.0.0.1 with an ephemeral port and record what they receive, so a test
counts the messages that really arrived::

    with SmtpSink() as smtp:
        ...  # send to smtp.host, smtp.port
        assert smtp.count == 1
"""

from __future__ import annotations

import asyncio
import email
import json
import ssl
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOOPBACK = "127.0.0.1"
# AUTH without TLS is what we want on loopback; aiosmtpd warns about it on every session.
# (pytest resets filters per test: tests using auth also carry a filterwarnings mark.)
AUTH_WITHOUT_TLS_WARNING = "Requiring AUTH while not requiring TLS"
warnings.filterwarnings("ignore", message=AUTH_WITHOUT_TLS_WARNING)


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


class _EphemeralController(Controller):
    """aiosmtpd's controller, listening on a port the OS picks."""

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _MailRecorder:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content)
        with self.lock:
            self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server that accepts and records every message; optional AUTH LOGIN/PLAIN."""

    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self._recorder = _MailRecorder()
        kwargs: dict[str, Any] = {}
        if user is not None:

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and data.login.decode() == user
                    and data.password.decode() == password
                )
                return AuthResult(success=ok, handled=False)

            kwargs = {
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": False,  # loopback only, no certificates in tests
            }
        self._controller = _EphemeralController(self._recorder, hostname=LOOPBACK, port=0, **kwargs)
        self.host = LOOPBACK

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def received(self) -> list[ReceivedMail]:
        with self._recorder.lock:
            return list(self._recorder.received)

    @property
    def count(self) -> int:
        return len(self.received)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any


class WebhookSink:
    """An HTTP server that records each POST and answers with queued statuses (default 200)."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.statuses: deque[int] = deque()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with sink._lock:
                    sink.requests.append(
                        ReceivedRequest(self.path, dict(self.headers.items()), json.loads(raw))
                    )
                    status = sink.statuses.popleft() if sink.statuses else 200
                body = b'{"ok": true}' if status < 300 else b'{"error": "nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Request-Id", f"req-{len(sink.requests)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        # A short poll keeps shutdown quick (the default waits up to half a second).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hooks/T000/SECRET") -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}{path}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class AuthAttempt:
    """One AUTH the server received: who, and whether the session was encrypted then."""

    login: str
    over_tls: bool


class _RejectingRecorder(_MailRecorder):
    """Answers every DATA with a fixed reply (e.g. a 5xx that echoes what it was sent)."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.reply


class TlsSmtpSink:
    """An SMTP server with AUTH that records each login and whether TLS was on at the time.

    ``starttls_context`` offers STARTTLS (and then AUTH only after it, as real relays do);
    ``implicit_tls_context`` speaks TLS from the first byte (SMTPS). With neither, it is a
    plain server that still accepts AUTH, to show a client refusing to use it.
    ``data_reply`` replaces the 250 answer to DATA (a 5xx echoing a secret, say).
    """

    def __init__(
        self,
        *,
        user: str,
        password: str,
        starttls_context: ssl.SSLContext | None = None,
        implicit_tls_context: ssl.SSLContext | None = None,
        data_reply: str | None = None,
    ) -> None:
        self._recorder = _RejectingRecorder(data_reply) if data_reply else _MailRecorder()
        self.auth_attempts: list[AuthAttempt] = []
        sink = self

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            login = data.login.decode() if isinstance(data, LoginPassword) else "?"
            # After STARTTLS the server's transport is the TLS one; with SMTPS it always is.
            over_tls = server.transport.get_extra_info("ssl_object") is not None
            with sink._recorder.lock:
                sink.auth_attempts.append(AuthAttempt(login, over_tls))
            ok = (
                isinstance(data, LoginPassword)
                and login == user
                and data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False)

        self._controller = _EphemeralController(
            self._recorder,
            hostname=LOOPBACK,
            port=0,
            authenticator=authenticator,
            auth_required=True,
            # STARTTLS servers insist on TLS before AUTH; aiosmtpd cannot tell that an
            # implicit-TLS session is encrypted, so there (and on the plain server) the
            # recorded ``over_tls`` is what the tests check.
            auth_require_tls=starttls_context is not None,
            tls_context=starttls_context,
            ssl_context=implicit_tls_context,
        )
        self.host = LOOPBACK

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def received(self) -> list[ReceivedMail]:
        with self._recorder.lock:
            return list(self._recorder.received)

    @property
    def count(self) -> int:
        return len(self.received)

    def __enter__(self) -> TlsSmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


class FailingWebhookSink:
    """An HTTP server that answers every POST with one status and body, and counts them.

    Stands in for a relay whose error page echoes the request, token and all.
    """

    def __init__(self, *, status: int, body: str) -> None:
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        answer = body.encode()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink._lock:
                    sink.requests.append(
                        ReceivedRequest(self.path, dict(self.headers.items()), json.loads(raw))
                    )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}{path}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> FailingWebhookSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
