"""Slack-style JSON to a URL (Slack incoming webhook, Teams relay, Zapier, your own service).

The URL is a credential (Slack and most relays carry the token in its path or query), so
error messages name only its scheme and host, and every message built from the
receiver's answer passes through :func:`keel.redact.redact_secrets` with the URL's
secret parts as extra secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from keel.redact import redact_secrets, secrets_in_url
from keel.tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from keel.tools.outbound.render import IDEMPOTENCY_HEADER as KEEL_IDEMPOTENCY_HEADER
from keel.tools.outbound.render import to_chat_json

# Both names: ``Idempotency-Key`` is the IETF draft's (Stripe and most APIs dedupe on it),
# ``X-Keel-Idempotency-Key`` is the one Keel's emails and outbox files carry.
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "keel-outbound/1"


def url_origin(url: str) -> str:
    """Scheme and host only: webhook paths and queries often carry the secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


@dataclass
class WebhookAdapter:
    """POSTs the message as JSON with idempotency-key headers; non-2xx is an error.

    The key goes out as ``Idempotency-Key`` and ``X-Keel-Idempotency-Key`` (and in the
    body's ``keel`` object), so the receiver can drop a resend after a crash.

    Pass ``client`` to share a connection pool (and its timeouts); otherwise a client is
    opened for each send.
    """

    url: str = field(repr=False)
    timeout_s: float = 10.0
    client: httpx.Client | None = None
    name: str = "webhook"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        body = to_chat_json(message, idempotency_key=idempotency_key)
        headers = {
            IDEMPOTENCY_HEADER: idempotency_key,
            KEEL_IDEMPOTENCY_HEADER: idempotency_key,
            "User-Agent": USER_AGENT,
        }
        where = f"webhook {url_origin(self.url)}"
        try:
            if self.client is not None:
                response = self.client.post(
                    self.url, json=body, headers=headers, timeout=self.timeout_s
                )
            else:
                with httpx.Client(timeout=self.timeout_s) as client:
                    response = client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise self._error(
                f"{where} did not answer within {self.timeout_s:g}s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise self._error(
                f"{where} could not be reached: {type(exc).__name__}", retryable=True
            ) from None
        if not response.is_success:
            snippet = response.text[:200].strip()
            retryable = response.status_code >= 500 or response.status_code == 429
            raise self._error(
                f"{where} answered HTTP {response.status_code}: {snippet}", retryable=retryable
            )
        external = response.headers.get("X-Request-Id") or idempotency_key
        return SendReceipt(
            transport=self.name, external_id=external, detail=f"HTTP {response.status_code}"
        )

    def _error(self, message: str, *, retryable: bool) -> OutboundError:
        return OutboundError(
            redact_secrets(message, extra=secrets_in_url(self.url)), retryable=retryable
        )
