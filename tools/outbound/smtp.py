"""Email through a real SMTP server (smtplib), with credentials only over TLS.

Transport rules, in order:

* ``ssl=True`` (SMTPS, usually port 465): TLS from the first byte; STARTTLS is not used.
* ``starttls=True``: STARTTLS is required; a server that does not offer it is refused.
* ``starttls=None`` (the default): STARTTLS is required whenever a ``user`` is set, not
  used otherwise. With ``allow_plaintext_auth`` it is used when the server offers it and
  skipped (with a warning) when it does not.
* ``starttls=False``: no STARTTLS.

Credentials never go over an unencrypted connection unless ``allow_plaintext_auth`` is
set; that is decided before connecting, so a refused configuration sends nothing. Server
certificates are always verified, against the system CAs or ``ca_file``.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from ssl import SSLCertVerificationError, SSLContext, create_default_context

from pydantic import SecretStr

from keel.redact import redact_secrets
from keel.tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from keel.tools.outbound.render import message_id, to_email

SmtpFactory = Callable[..., smtplib.SMTP]

log = logging.getLogger(__name__)

_TLS_SETTINGS = (
    "set KEEL_SMTP_STARTTLS=true (or leave it unset), or KEEL_SMTP_SSL=true for implicit "
    "TLS (usually port 465); KEEL_SMTP_ALLOW_PLAINTEXT_AUTH=true sends them unencrypted "
    "anyway"
)


@dataclass
class SmtpAdapter:
    """Sends each message in its own SMTP session.

    The idempotency key becomes the Message-ID and the ``X-Keel-Idempotency-Key`` header:
    SMTP itself does not deduplicate, but a resend after a crash carries the same id, so
    mail stores, clients and any relay that dedupes on Message-ID can drop the copy.

    ``smtp_factory`` replaces how the plain connection is opened (tests, custom clients).

    Every error message passes through :func:`keel.redact.redact_secrets` with the
    password as an extra secret: servers echo what they were sent.
    """

    host: str
    port: int
    sender: str
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    starttls: bool | None = None
    ssl: bool = False
    allow_plaintext_auth: bool = False
    ca_file: Path | None = None
    timeout_s: float = 30.0
    smtp_factory: SmtpFactory | None = None
    # The From a reader sees when the account's owner CSM has no address (``sender``, the
    # envelope address, when unset); an owner CSM with an address sends as themselves.
    from_fallback: str | None = None
    name: str = "smtp"

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _secret(self) -> str:
        return self.password.get_secret_value() if self.password else ""

    def _error(self, message: str, *, retryable: bool) -> OutboundError:
        return OutboundError(redact_secrets(message, extra=[self._secret()]), retryable=retryable)

    def _tls_context(self) -> SSLContext:
        # create_default_context verifies the chain and the host name.
        cafile = str(self.ca_file) if self.ca_file is not None else None
        return create_default_context(cafile=cafile)

    def _starttls_mode(self) -> str:
        """``required``, ``if_offered`` or ``off`` for this configuration."""
        if self.ssl:
            return "off"
        if self.starttls is not None:
            return "required" if self.starttls else "off"
        if not self.user:
            return "off"
        return "if_offered" if self.allow_plaintext_auth else "required"

    def _connect(self, context: SSLContext | None) -> smtplib.SMTP:
        if self.smtp_factory is not None:
            return self.smtp_factory(self.host, self.port, timeout=self.timeout_s)
        if self.ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def _secure(self, client: smtplib.SMTP, mode: str, context: SSLContext) -> bool:
        """Run STARTTLS as ``mode`` says; True when the session is now encrypted."""
        if self.ssl:
            return True
        if mode == "off":
            return False
        client.ehlo()
        if not client.has_extn("starttls"):
            if mode == "required":
                explicit = self.starttls is not None
                why = "by KEEL_SMTP_STARTTLS=true" if explicit else "as SMTP credentials are set"
                # Auto mode only: the allow flag turns a required STARTTLS into "if offered".
                escape = "" if explicit else " (KEEL_SMTP_ALLOW_PLAINTEXT_AUTH=true sends anyway)"
                raise self._error(
                    f"{self._where} does not offer STARTTLS, which is required {why}; "
                    "nothing was sent. Use a server or port that offers STARTTLS, or "
                    f"KEEL_SMTP_SSL=true for implicit TLS{escape}",
                    retryable=False,
                )
            return False
        client.starttls(context=context)
        return True

    def _check_plaintext_auth(self) -> None:
        """Refuse before connecting when credentials could only go out unencrypted."""
        unencrypted = not self.ssl and self._starttls_mode() == "off"
        if self.user and unencrypted and not self.allow_plaintext_auth:
            raise self._error(
                f"SMTP credentials are set but the connection to {self._where} would not "
                f"be encrypted (KEEL_SMTP_STARTTLS=false); nothing was sent. To fix it, "
                f"{_TLS_SETTINGS}",
                retryable=False,
            )

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        self._check_plaintext_auth()
        email = to_email(
            message,
            sender=self.sender,
            idempotency_key=idempotency_key,
            from_fallback=self.from_fallback,
        )
        recipients = [*message.to, *message.cc]
        where = self._where
        mode = self._starttls_mode()
        context = self._tls_context() if self.ssl or mode != "off" else None
        try:
            with self._connect(context) as client:
                encrypted = context is not None and self._secure(client, mode, context)
                if self.user:
                    if not encrypted:
                        log.warning(
                            "sending SMTP credentials for %s to %s without encryption "
                            "(KEEL_SMTP_ALLOW_PLAINTEXT_AUTH=true)",
                            self.user,
                            where,
                        )
                    client.login(self.user, self._secret())
                refused = client.send_message(email, from_addr=self.sender, to_addrs=recipients)
        except OutboundError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(
                f"{where} refused the login for user {self.user} ({exc.smtp_code})",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._error(
                f"{where} refused every recipient: {', '.join(exc.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx is temporary by definition; 5xx is permanent.
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            raise self._error(
                f"{where} answered {exc.smtp_code}: {detail}", retryable=exc.smtp_code < 500
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. AUTH not offered: a configuration mismatch, not a passing failure.
            raise self._error(f"{where} does not support it: {exc}", retryable=False) from None
        except SSLCertVerificationError as exc:
            raise self._error(
                f"the certificate of {where} could not be verified ({exc.verify_message}); "
                "nothing was sent. For a private relay set KEEL_SMTP_CA_FILE to its CA bundle",
                retryable=False,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(
                f"{where} could not be reached or failed: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from None
        detail = f"refused: {', '.join(refused)}" if refused else ""
        return SendReceipt(
            transport=self.name,
            external_id=message_id(idempotency_key, self.sender),
            detail=detail,
        )
