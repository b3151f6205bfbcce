"""Which adapter delivers which channel, from settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from keel.errors import KeelError
from keel.memory.actions import Channel
from keel.settings import Settings
from keel.tools.outbound.base import OutboundAdapter
from keel.tools.outbound.crm import CrmTaskAdapter
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.outbound.smtp import SmtpAdapter
from keel.tools.outbound.webhook import WebhookAdapter

OUTBOUND_MODES = ("dry_run", "smtp", "webhook", "crm")


def adapters_from_settings(settings: Settings, engine: Engine) -> dict[str, OutboundAdapter]:
    """An adapter for every channel (``email``, ``slack``, ``internal``).

    ``outbound_channel``:

    - ``dry_run`` (default): everything is written to ``settings.outbox_dir``.
    - ``smtp``: email through SMTP; Slack and internal notes to ``webhook_url`` when set,
      else to the dry-run outbox.
    - ``webhook``: everything as JSON to ``webhook_url``.
    - ``crm``: everything becomes a CRM task for the owner CSM.
    """
    mode = settings.outbound_channel
    if mode not in OUTBOUND_MODES:
        raise KeelError(
            f"KEEL_OUTBOUND_CHANNEL is '{mode}'; expected one of {', '.join(OUTBOUND_MODES)}"
        )
    dry: OutboundAdapter = DryRunAdapter(settings.outbox_dir, sender=settings.sender_from)
    webhook: OutboundAdapter | None = None
    if settings.webhook_url:
        webhook = WebhookAdapter(settings.webhook_url)
    elif mode == "webhook":
        raise KeelError("KEEL_OUTBOUND_CHANNEL is 'webhook' but KEEL_WEBHOOK_URL is not set")

    channels = [str(c) for c in Channel]
    if mode == "dry_run":
        return dict.fromkeys(channels, dry)
    if mode == "crm":
        crm: OutboundAdapter = CrmTaskAdapter(engine)
        return dict.fromkeys(channels, crm)
    if mode == "webhook":
        assert webhook is not None
        return dict.fromkeys(channels, webhook)
    smtp: OutboundAdapter = SmtpAdapter(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
        allow_plaintext_auth=settings.smtp_allow_plaintext_auth,
        ca_file=settings.smtp_ca_file,
        from_fallback=settings.sender_from,
    )
    internal = webhook or dry
    return {Channel.EMAIL: smtp, Channel.SLACK: internal, Channel.INTERNAL: internal}
