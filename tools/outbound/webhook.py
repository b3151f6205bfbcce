"""Slack-style JSON to a URL (Slack incoming webhook, Teams relay, Zapier, your own service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from tools.outbound.render import to_chat_json

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "keel-outbound/1"


def redact_url(url: str) -> str:
    """Scheme and host only: webhook paths and queries often carry the secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


@dataclass
class WebhookAdapter:
    """POSTs the message as JSON with an ``Idempotency-Key`` header; non-2xx is an error.

    Pass ``client`` to share a connection pool (and its timeouts); otherwise a client is
    opened for each send.
    """

    url: str = field(repr=False)
    timeout_s: float = 10.0
    client: httpx.Client | None = None
    name: str = "webhook"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        body = to_chat_json(message, idempotency_key=idempotency_key)
        headers = {IDEMPOTENCY_HEADER: idempotency_key, "User-Agent": USER_AGENT}
        where = f"webhook {redact_url(self.url)}"
        try:
            if self.client is not None:
                response = self.client.post(
                    self.url, json=body, headers=headers, timeout=self.timeout_s
                )
            else:
                with httpx.Client(timeout=self.timeout_s) as client:
                    response = client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise OutboundError(
                f"{where} did not answer within {self.timeout_s:g}s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise OutboundError(
                f"{where} could not be reached: {type(exc).__name__}", retryable=True
            ) from None
        if not response.is_success:
            snippet = response.text[:200].strip()
            retryable = response.status_code >= 500 or response.status_code == 429
            raise OutboundError(
                f"{where} answered HTTP {response.status_code}: {snippet}", retryable=retryable
            )
        external = response.headers.get("X-Request-Id") or idempotency_key
        return SendReceipt(
            transport=self.name, external_id=external, detail=f"HTTP {response.status_code}"
        )
