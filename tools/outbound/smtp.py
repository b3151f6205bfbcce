"""Email through a real SMTP server (smtplib): STARTTLS and login when configured."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from tools.outbound.render import message_id, to_email

SmtpFactory = Callable[..., smtplib.SMTP]


@dataclass
class SmtpAdapter:
    """Sends each message in its own SMTP session.

    The idempotency key becomes the Message-ID and the ``X-Keel-Idempotency-Key`` header:
    SMTP itself does not deduplicate, but a resend after a crash carries the same id, so
    mail stores, clients and any relay that dedupes on Message-ID can drop the copy.
    """

    host: str
    port: int
    sender: str
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    starttls: bool = False
    timeout_s: float = 30.0
    smtp_factory: SmtpFactory = smtplib.SMTP
    name: str = "smtp"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        email = to_email(message, sender=self.sender, idempotency_key=idempotency_key)
        recipients = [*message.to, *message.cc]
        where = f"SMTP server {self.host}:{self.port}"
        try:
            with self.smtp_factory(self.host, self.port, timeout=self.timeout_s) as client:
                if self.starttls:
                    client.starttls()
                if self.user:
                    secret = self.password.get_secret_value() if self.password else ""
                    client.login(self.user, secret)
                refused = client.send_message(email, from_addr=self.sender, to_addrs=recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise OutboundError(
                f"{where} refused the login for user {self.user} ({exc.smtp_code})",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise OutboundError(
                f"{where} refused every recipient: {', '.join(exc.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx is temporary by definition; 5xx is permanent.
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            raise OutboundError(
                f"{where} answered {exc.smtp_code}: {detail}", retryable=exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise OutboundError(
                f"{where} could not be reached or failed: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from None
        detail = f"refused: {', '.join(refused)}" if refused else ""
        return SendReceipt(
            transport=self.name,
            external_id=message_id(idempotency_key, self.sender),
            detail=detail,
        )
