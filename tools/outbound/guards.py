"""Recipient and content checks: the last word on who a message goes to and what it says.

Recipients come only from the account's current contacts (customer-facing channels) or the
account's owner CSM (internal channels); links only from an allow-list; no markup; no offer
the play is not approved to make (:mod:`keel.tools.outbound.content` parses the text). Whatever
a draft or a reviewer's edit says, these checks run on the exact payload about to be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from keel.errors import KeelError
from keel.memory.actions import is_customer_facing
from keel.tools.outbound.content import check_content, find_urls, url_allowed
from keel.tools.outbound.customer_text import applies_to, customer_text_problems


class ContactRecord(Protocol):
    """A contact as the guards see it (``keel.memory.models.Contact`` fits)."""

    @property
    def id(self) -> int | None: ...
    @property
    def account_id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def left_company(self) -> bool: ...


class GuardViolation(KeelError):
    """The message breaks a recipient or link rule; nothing was sent."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("refused: " + "; ".join(self.problems))


def _norm(address: str) -> str:
    return address.strip().lower()


def recipient_problems(
    *,
    channel: str,
    to: Sequence[str],
    cc: Sequence[str],
    recipient_contact_id: int | None,
    account_id: int,
    owner_csm: str,
    contacts: Iterable[ContactRecord],
    escalation_address: str = "",
) -> list[str]:
    """Why the addresses are not acceptable (empty when they are).

    Customer-facing: exactly one ``to``, and every address (to and cc) belongs to a contact
    of this account who has not left; ``recipient_contact_id``, when set, is that ``to``.
    Internal: addressed to nobody (the configured channel), to the owner CSM, or to the
    policy's escalation target (``escalation_address``); no one else.
    """
    if not is_customer_facing(channel):
        allowed = {_norm(a) for a in (owner_csm, escalation_address) if _norm(a)}
        bad = [a for a in [*to, *cc] if _norm(a) not in allowed]
        if bad:
            whom = [f"the owner CSM ({owner_csm})"] if owner_csm else []
            if escalation_address:
                whom.append(f"the escalation contact ({escalation_address})")
            who = " or ".join(whom) or "nobody (no owner CSM)"
            return [f"internal messages go to {who}, not to {', '.join(bad)}"]
        return []

    problems: list[str] = []
    mine = [c for c in contacts if c.account_id == account_id]
    by_email = {_norm(c.email): c for c in mine}
    if len(to) != 1:
        problems.append(f"a customer message goes to exactly one contact, not {len(to)}")
    for address in [*to, *cc]:
        contact = by_email.get(_norm(address))
        if contact is None:
            problems.append(f"{address} is not a contact of this account")
        elif contact.left_company:
            problems.append(f"{address} has left the company")
    if recipient_contact_id is not None and to:
        named = next((c for c in mine if c.id == recipient_contact_id), None)
        if named is None:
            problems.append(f"recipient contact {recipient_contact_id} is not on this account")
        elif _norm(named.email) != _norm(to[0]):
            problems.append(
                f"the message is addressed to {to[0]}, not to recipient contact "
                f"{recipient_contact_id}"
            )
    return problems


def extract_links(text: str) -> list[str]:
    """Every URL-like token in ``text``, in order, as written (any scheme, protocol-relative,
    bare hosts on any public suffix, IP literals, fullwidth and punycode forms)."""
    return [found.raw for found in find_urls(text)]


def link_allowed(url: str, allowlist: Iterable[str]) -> bool:
    """Whether ``url`` matches an allow-list entry as an origin plus path prefix, with no
    userinfo, no encoded path tricks and no redirect-style parameters."""
    return url_allowed(url, list(allowlist))


def link_problems(
    *, texts: Iterable[str], declared: Iterable[str], allowlist: Sequence[str]
) -> list[str]:
    """Links in ``texts`` or ``declared`` that are not on the allow-list."""
    seen: dict[str, None] = {}
    for text in texts:
        seen.update(dict.fromkeys(extract_links(text)))
    seen.update(dict.fromkeys(declared))
    bad = [url for url in seen if not link_allowed(url, allowlist)]
    return [f"link not on the allow-list: {url}" for url in bad]


def content_problems(
    *,
    subject: str,
    body: str,
    declared_links: Iterable[str],
    allowlist: Sequence[str],
    approved_offers: Sequence[str],
    addresses: Iterable[str],
    channel: str | None = None,
) -> list[str]:
    """Everything in a message that may not go out, as reasons (empty when it may).

    The content policy (:func:`keel.tools.outbound.content.check_content`: links, markup,
    offers not approved for the play, addresses other than ``addresses``) over subject and
    body, and every declared link checked against the allow-list. On a customer-facing
    ``channel``, also anything internal (:mod:`keel.tools.outbound.customer_text`:
    evidence ids, scores and risk words, model footers).
    """
    found = check_content(
        subject=subject,
        body=body,
        allowlist=allowlist,
        approved_offers=approved_offers,
        allowed_addresses={_norm(a) for a in addresses if a},
    )
    if channel is not None and applies_to(channel):
        found += customer_text_problems(subject=subject, body=body)
    reasons = [p.reason for p in found]
    reasons += link_problems(texts=(), declared=declared_links, allowlist=allowlist)
    return list(dict.fromkeys(reasons))
