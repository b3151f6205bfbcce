"""What every adapter receives and returns, and the protocol it implements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from keel.errors import KeelError


@dataclass(frozen=True)
class RenderedMessage:
    """One message ready to deliver: addresses checked, links checked, text final."""

    action_id: str
    account_id: int
    account_external_id: str
    account_name: str
    owner_csm: str
    play_id: str
    channel: str
    draft_kind: str
    subject: str
    body: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    links: tuple[str, ...]
    rendered_at: dt.datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendReceipt:
    """What the adapter knows after delivery.

    ``duplicate`` is True when the destination already had this idempotency key and
    nothing new was delivered (a dry-run file or CRM task that already existed).
    """

    transport: str
    external_id: str
    detail: str = ""
    duplicate: bool = False


class OutboundAdapter(Protocol):
    """A delivery transport. ``name`` is the transport ("smtp", "webhook", "crm", "dry_run")."""

    name: str

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        """Deliver ``message`` once; repeat calls with the same key must be safe to dedupe."""
        ...


class OutboundError(KeelError):
    """Delivery failed. ``retryable`` says whether trying again later could succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
