"""Turn an approved action into a message, and a message into each transport's format."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from keel.memory.actions import ActionPayload, ProposedAction
from keel.tools.outbound.base import RenderedMessage

IDEMPOTENCY_HEADER = "X-Keel-Idempotency-Key"
ACTION_HEADER = "X-Keel-Action-Id"
PLAY_HEADER = "X-Keel-Play"
ACCOUNT_HEADER = "X-Keel-Account"
# RFC 5322 allows 998-character lines; with the default 78 the 64-character key would be
# folded across lines, which readers (and grep over the outbox) handle less well.
EMAIL_POLICY = email_policy.SMTP.clone(max_line_length=998)
# Who a customer's e-mail is from when its account's owner CSM has no address and nothing
# else is configured (``KEEL_SENDER_FROM``).
DEFAULT_SENDER = "Customer Success <success@keel.example>"


def render_message(
    action: ProposedAction,
    *,
    account_external_id: str,
    account_name: str,
    owner_csm: str,
    now: dt.datetime,
) -> RenderedMessage:
    """The message for ``action`` exactly as approved (the payload is already final text)."""
    payload = ActionPayload.model_validate(action.payload)
    return RenderedMessage(
        action_id=action.id,
        account_id=action.account_id,
        account_external_id=account_external_id,
        account_name=account_name,
        owner_csm=owner_csm,
        play_id=action.play_id,
        channel=action.channel,
        draft_kind=action.draft_kind,
        subject=payload.subject,
        body=payload.body,
        to=tuple(payload.to),
        cc=tuple(payload.cc),
        links=tuple(payload.links),
        rendered_at=now,
        metadata=dict(payload.metadata),
    )


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID derived from the key, so a resend carries the same id."""
    address = parseaddr(sender)[1] or sender
    domain = address.rsplit("@", 1)[-1] if "@" in address else "keel.localhost"
    return f"<{idempotency_key}@{domain}>"


def person_name(address: str) -> str:
    """A display name from an address's local part (``dana.reyes@x`` -> ``Dana Reyes``)."""
    local = address.split("@", 1)[0]
    return " ".join(p.capitalize() for p in re.split(r"[._\-+]+", local) if p)


def sender_identity(message: RenderedMessage, *, fallback: str) -> str:
    """Who a customer's e-mail is from: the account's owner CSM, by name and address, when
    the owner record is an address; else ``fallback`` (the configured sender)."""
    name, address = parseaddr(message.owner_csm)
    if address and "@" in address and " " not in address:
        return formataddr((name or person_name(address), address))
    return fallback


def to_email(
    message: RenderedMessage,
    *,
    sender: str,
    idempotency_key: str,
    from_fallback: str | None = None,
) -> EmailMessage:
    """An RFC 5322 email with the idempotency key as Message-ID and as a header.

    ``sender`` is the transport's own address (envelope and Message-ID); the ``From`` a
    reader sees is :func:`sender_identity`: the owner CSM, else ``from_fallback`` (default
    ``sender``).
    """
    email = EmailMessage(policy=EMAIL_POLICY)
    email["From"] = sender_identity(message, fallback=from_fallback or sender)
    email["To"] = ", ".join(message.to)
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    email["Subject"] = message.subject
    moment = message.rendered_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    email["Date"] = format_datetime(moment)
    email["Message-ID"] = message_id(idempotency_key, sender)
    email[IDEMPOTENCY_HEADER] = idempotency_key
    email[ACTION_HEADER] = message.action_id
    email[PLAY_HEADER] = message.play_id
    email[ACCOUNT_HEADER] = message.account_external_id
    email.set_content(message.body)
    return email


def to_chat_json(message: RenderedMessage, *, idempotency_key: str) -> dict[str, Any]:
    """A Slack-style JSON body (``text`` is what a Slack incoming webhook shows)."""
    text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
    return {
        "text": text,
        "keel": {
            "idempotency_key": idempotency_key,
            "action_id": message.action_id,
            "account": message.account_external_id,
            "account_name": message.account_name,
            "play": message.play_id,
            "channel": message.channel,
            "draft_kind": message.draft_kind,
            "subject": message.subject,
            "body": message.body,
            "to": list(message.to),
            "cc": list(message.cc),
            "owner_csm": message.owner_csm,
            "links": list(message.links),
            "rendered_at": message.rendered_at.isoformat(),
        },
    }


def addressee(message: RenderedMessage) -> str:
    """Who the message is for (:func:`addressee_of`)."""
    return addressee_of(message.to, message.metadata, message.owner_csm)


def addressee_of(to: Sequence[str], metadata: Mapping[str, Any], owner_csm: str) -> str:
    """Who a message is for: its addresses, else the named recipient the drafter set (an
    escalation's target, posted to the team channel), else the owner CSM."""
    if to:
        return ", ".join(to)
    named = str(metadata.get("recipient_name") or "")
    return named or owner_csm or "(team channel)"


def to_markdown(message: RenderedMessage, *, idempotency_key: str) -> str:
    """A readable note for non-email messages (dry-run outbox)."""
    lines = [
        f"# {message.subject or message.play_id}",
        "",
        f"- account: {message.account_name} ({message.account_external_id})",
        f"- play: {message.play_id}",
        f"- channel: {message.channel} ({message.draft_kind})",
        f"- to: {addressee(message)}",
        f"- action: {message.action_id}",
        f"- {IDEMPOTENCY_HEADER}: {idempotency_key}",
        f"- rendered at: {message.rendered_at.isoformat()}",
        "",
        message.body,
        "",
    ]
    return "\n".join(lines)
