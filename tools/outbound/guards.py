"""Recipient and link checks: the last word on who a message goes to and what it links to.

Recipients come only from the account's current contacts (customer-facing channels) or the
account's owner CSM (internal channels); links only from an allow-list. Whatever a draft or
a reviewer's edit says, these checks run on the exact payload about to be sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from keel.errors import KeelError
from memory.actions import is_customer_facing

# http(s) URLs and bare www. hosts; trailing punctuation is the sentence's, not the URL's.
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'`)\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""


class ContactRecord(Protocol):
    """A contact as the guards see it (``memory.models.Contact`` fits)."""

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
) -> list[str]:
    """Why the addresses are not acceptable (empty when they are).

    Customer-facing: exactly one ``to``, and every address (to and cc) belongs to a contact
    of this account who has not left; ``recipient_contact_id``, when set, is that ``to``.
    Internal: addressed to nobody (the configured channel) or to the owner CSM only.
    """
    if not is_customer_facing(channel):
        allowed = _norm(owner_csm)
        bad = [a for a in [*to, *cc] if not allowed or _norm(a) != allowed]
        if bad:
            who = f"the owner CSM ({owner_csm})" if owner_csm else "nobody (no owner CSM)"
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
    """Every URL-looking token in ``text``, in order, without trailing punctuation."""
    return [m.group(0).rstrip(_TRAILING) for m in _URL_RE.finditer(text)]


def link_allowed(url: str, allowlist: Iterable[str]) -> bool:
    """Whether ``url`` is under one of the allow-listed prefixes.

    Compared as parsed URLs, not strings: scheme and host must be equal (so
    ``help.example.com.evil.net`` and ``help.example.com@evil.net`` fail) and the path must
    continue the prefix's path at a ``/`` boundary.
    """
    if url.lower().startswith("www."):
        url = "https://" + url
    try:
        target = urlsplit(url)
        host = target.hostname
        port = target.port
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not host or target.username or target.password:
        return False
    for entry in allowlist:
        try:
            prefix = urlsplit(entry)
            prefix_port = prefix.port
        except ValueError:
            continue
        if prefix.scheme != target.scheme or prefix.hostname != host or prefix_port != port:
            continue
        base = prefix.path.rstrip("/")
        if not base or target.path == base or target.path.startswith(base + "/"):
            return True
    return False


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
