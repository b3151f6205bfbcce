"""The default transport: each message becomes a readable file in the outbox folder."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keel.memory.actions import is_customer_facing
from keel.redact import redact_secrets
from keel.tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from keel.tools.outbound.render import DEFAULT_SENDER, IDEMPOTENCY_HEADER, to_email, to_markdown

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str, limit: int = 40) -> str:
    return _UNSAFE.sub("-", text).strip("-.")[:limit] or "x"


@dataclass
class DryRunAdapter:
    """Writes ``<date>_<account>_<play>_<key8>.eml`` (email) or ``.md`` (anything else).

    Idempotent by key: a message whose key already has a file is not written again, so
    the outbox holds exactly one file per message that "went out".
    """

    outbox_dir: Path
    # The From when the account's owner CSM has no address (see ``render.sender_identity``).
    sender: str = DEFAULT_SENDER
    name: str = "dry_run"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        try:
            return self._write_once(message, idempotency_key)
        except OSError as exc:
            # Disk full, permissions, a vanished mount: worth another try once fixed.
            text = f"the outbox {self.outbox_dir} could not be written: {exc.strerror or exc}"
            raise OutboundError(redact_secrets(text), retryable=True) from None

    def _write_once(self, message: RenderedMessage, idempotency_key: str) -> SendReceipt:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        existing = self.find(idempotency_key)
        if existing is not None:
            return SendReceipt(self.name, str(existing), "already in the outbox", duplicate=True)
        if is_customer_facing(message.channel):
            data = to_email(message, sender=self.sender, idempotency_key=idempotency_key)
            content, suffix = data.as_bytes(), ".eml"
        else:
            content = to_markdown(message, idempotency_key=idempotency_key).encode()
            suffix = ".md"
        stem = "_".join(
            [
                message.rendered_at.strftime("%Y-%m-%d"),
                _slug(message.account_external_id),
                _slug(message.play_id),
                self._key_tag(idempotency_key),
            ]
        )
        target = self.outbox_dir / f"{stem}{suffix}"
        if not self._publish(target, content):
            # Another worker published the same key first: theirs is the one message.
            return SendReceipt(self.name, str(target), "already in the outbox", duplicate=True)
        return SendReceipt(self.name, str(target))

    def find(self, idempotency_key: str) -> Path | None:
        """The outbox file for this key, if there is one."""
        for tag in (idempotency_key[:8], idempotency_key):
            for path in self.outbox_dir.glob(f"*_{tag}.*"):
                if self._holds(path, idempotency_key):
                    return path
        return None

    def _key_tag(self, key: str) -> str:
        # Eight hex characters read well; on the rare prefix clash use the whole key.
        short = key[:8]
        return key if any(self.outbox_dir.glob(f"*_{short}.*")) else short

    @staticmethod
    def _holds(path: Path, key: str) -> bool:
        try:
            return f"{IDEMPOTENCY_HEADER}: {key}" in path.read_text(errors="replace")
        except OSError:
            return False

    def _publish(self, target: Path, content: bytes) -> bool:
        """Write to a temporary file, then link it into place: complete or absent, never half."""
        fd, tmp = tempfile.mkstemp(dir=self.outbox_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)  # fails if the target exists: no overwrite, no race
            except FileExistsError:
                return False
            except OSError:
                # Filesystems without hard links: exclusive create still refuses a second.
                try:
                    with open(target, "xb") as handle:
                        handle.write(content)
                except FileExistsError:
                    return False
            return True
        finally:
            os.unlink(tmp)
