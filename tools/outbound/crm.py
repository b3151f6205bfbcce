"""CRM tasks in Keel's own database: the CSM picks them up and acts from there."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from keel.memory.actions import CrmTask, as_utc, is_customer_facing
from keel.redact import redact_secrets
from keel.tools.outbound.base import OutboundError, RenderedMessage, SendReceipt
from keel.tools.outbound.render import addressee


@dataclass
class CrmTaskAdapter:
    """Inserts one ``CrmTask`` per idempotency key; a repeat returns the existing task.

    The key is a unique column, so there is no HTTP idempotency header to send: the
    database itself refuses a second task for the same key.
    """

    engine: Engine
    name: str = "crm"

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendReceipt:
        try:
            return self._insert_once(message, idempotency_key)
        except OperationalError as exc:
            # The database is down or locked: a passing failure. Only the driver's first
            # line is kept (the full text quotes the SQL parameters, i.e. the message), and
            # the database password is redacted in case the driver echoes the URL.
            lines = str(exc.orig or exc).strip().splitlines()
            reason = lines[0] if lines else "no detail"
            text = f"the CRM task store could not be written: {type(exc.orig).__name__}: {reason}"
            secret = self.engine.url.password
            raise OutboundError(
                redact_secrets(text, extra=[str(secret)] if secret else []), retryable=True
            ) from None

    def _insert_once(self, message: RenderedMessage, idempotency_key: str) -> SendReceipt:
        existing = self._find(idempotency_key)
        if existing is not None:
            return self._receipt(existing, duplicate=True)
        task = CrmTask(
            idempotency_key=idempotency_key,
            action_id=message.action_id,
            account_id=message.account_id,
            # The account's owner for a customer's message; an internal note's addressee
            # (an escalation's target when it names one, else the owner).
            assignee=message.owner_csm
            if is_customer_facing(message.channel)
            else addressee(message),
            title=message.subject or message.play_id,
            body=self._body(message),
            play_id=message.play_id,
            created_at=as_utc(message.rendered_at),
        )
        try:
            with Session(self.engine) as session:
                session.add(task)
                session.commit()
                session.refresh(task)
        except IntegrityError:
            # Another worker inserted the same key between our look-up and insert.
            raced = self._find(idempotency_key)
            if raced is None:
                raise
            return self._receipt(raced, duplicate=True)
        return self._receipt(task, duplicate=False)

    def _find(self, key: str) -> CrmTask | None:
        with Session(self.engine) as session:
            return session.exec(select(CrmTask).where(CrmTask.idempotency_key == key)).first()

    def _receipt(self, task: CrmTask, *, duplicate: bool) -> SendReceipt:
        return SendReceipt(
            transport=self.name, external_id=f"crm-task:{task.id}", duplicate=duplicate
        )

    @staticmethod
    def _body(message: RenderedMessage) -> str:
        to = ", ".join(message.to)
        header = f"To: {to}\n\n" if to else ""
        return header + message.body
