"""The outbound content policy as the drafter and the policy check apply it.

The detectors live in :mod:`keel.tools.outbound.content` (parsed URLs, markup, offers,
addresses); this module decides what a review does with what they find:

- :func:`draft_problems` checks a draft's subject and body exactly as they would be sent;
- :func:`scrub` removes every offending span, so a refused draft that goes to a human
  carries none of it (the reviewer reads the reasons instead);
- :func:`customer_sources` and :func:`quoted_sources` find where a draft repeats the
  account's own customer text (tickets, call notes, NPS comments);
- :func:`auto_send_blockers` lists why a play may not go out without a human.

The executor runs the same detectors again on the exact payload before it sends.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from typing import Any, Final

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.agents.facts import INTERNAL_DRAFT_KINDS
from keel.agents.schemas import Draft
from keel.memory.models import CallNote, NpsResponse, Ticket
from keel.tools.account_tools import evidence_id
from keel.tools.outbound.content import ContentProblem, check_content
from keel.tools.outbound.customer_text import customer_text_problems, tidy
from keel.tools.outbound.quotes import find_quotes
from keel.tools.outbound.urls import names_a_host

REMOVED: Final = {
    "link": "[link removed]",
    "markup": "[formatting removed]",
    "offer": "[offer removed]",
    "address": "[address removed]",
    # An internal id, score or model footer is cut out of a customer's text (the spans are
    # whole sentences or citations, so what is left still reads).
    "internal": "",
}
# A link disarmed for display: hxxp(s), [.], (.), {.}, [dot], [//], [:].
_DISARMED: Final = re.compile(
    r"\S*(?:hxxps?(?:\[:\]|:)|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[//\]|\[:\])\S*",
    re.IGNORECASE,
)
# A host spelled out: "evil-def dot example", "evil (dot) de".
_SPELLED_DOTS: Final = re.compile(
    r"\b[a-z0-9-]+(?:\s*(?:\[dot\]|\(dot\))\s*|\s+dot\s+)[a-z0-9-]+"
    r"(?:(?:\s*(?:\[dot\]|\(dot\))\s*|\s+dot\s+)[a-z0-9-]+)*\b",
    re.IGNORECASE,
)
# Policy reasons that record what the content checks removed start with this.
CONTENT_PREFIX: Final = "content: "
# Customer text older than this is not looked at for quotations (a model sees recent
# evidence; the bound keeps the check cheap on long-lived accounts).
QUOTE_LOOKBACK_DAYS: Final = 730


def draft_problems(
    *,
    subject: str,
    body: str,
    allowlist: Sequence[str],
    approved_offers: Sequence[str],
    addresses: Collection[str],
) -> list[ContentProblem]:
    """What in the draft may not go out (empty when it may)."""
    found = check_content(
        subject=subject,
        body=body,
        allowlist=allowlist,
        approved_offers=approved_offers,
        allowed_addresses={a.strip().lower() for a in addresses if a},
    )
    return found + disarmed_links(subject) + disarmed_links(body)


def disarmed_links(text: str) -> list[ContentProblem]:
    """Links written disarmed (``hxxps://evil[.]example/x``): inert in Keel's own views,
    but a reader of a message can still type them, so a message may not carry one."""
    problems: list[ContentProblem] = []
    for match in _DISARMED.finditer(text):
        token = match.group(0).rstrip(".,;:!?)\"'”’")
        problems.append(_disarmed(token))
    for match in _SPELLED_DOTS.finditer(text):
        host = ".".join(re.split(r"\s*(?:\[dot\]|\(dot\)|\s+dot\s+)\s*", match.group(0).lower()))
        if names_a_host(host):
            problems.append(_disarmed(match.group(0)))
    return problems


def _disarmed(token: str) -> ContentProblem:
    return ContentProblem(
        kind="link",
        span=token,
        reason=f"a disarmed link ({token}) is still a link a reader can follow by hand",
    )


def problems_in(
    draft: Draft, *, allowlist: Sequence[str], approved_offers: Sequence[str], owner_csm: str
) -> list[ContentProblem]:
    """The content policy's findings on a draft as it would be sent (its recipient, and the
    owner CSM signing with their own address, are the addresses it may carry); a draft for
    the customer also may not carry anything internal (ids, scores, risk words, footers)."""
    addresses = {draft.recipient_address}
    if "@" in owner_csm:
        addresses.add(owner_csm)
    found = draft_problems(
        subject=draft.subject,
        body=draft.body,
        allowlist=allowlist,
        approved_offers=approved_offers,
        addresses=addresses,
    )
    if draft.kind not in INTERNAL_DRAFT_KINDS:
        found += customer_text_problems(subject=draft.subject, body=draft.body)
    return found


def scrubbed(draft: Draft, problems: Sequence[ContentProblem]) -> Draft:
    """The draft with every span in ``problems`` removed from subject and body."""
    subject = " ".join(scrub(draft.subject, problems).split())
    body = scrub(draft.body, problems)
    if any(p.kind == "internal" for p in problems):
        body = tidy(body)
    return draft.model_copy(update={"subject": subject, "body": body})


def scrub(text: str, problems: Sequence[ContentProblem]) -> str:
    """``text`` with every offending span replaced by a marker of its kind.

    Longest spans first, so a span inside another (a URL inside an HTML tag) does not
    leave part of the outer one behind.
    """
    for problem in sorted(problems, key=lambda p: -len(p.span)):
        if problem.span:
            text = text.replace(problem.span, REMOVED.get(problem.kind, "[removed]"))
    return text


def reasons(problems: Sequence[ContentProblem]) -> list[str]:
    """One readable reason per distinct problem."""
    return list(dict.fromkeys(p.reason for p in problems))


def customer_sources(engine: Engine, account_id: int, as_of: dt.date) -> list[tuple[str, str]]:
    """The account's customer-written texts, as ``(evidence id, text)`` pairs."""
    since = as_of - dt.timedelta(days=QUOTE_LOOKBACK_DAYS)
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    sources: list[tuple[str, str]] = []
    with Session(engine) as session:
        tickets = session.exec(
            select(Ticket).where(
                Ticket.account_id == account_id,
                col(Ticket.opened_at) >= dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC),
                col(Ticket.opened_at) < until,
            )
        ).all()
        sources += [
            (evidence_id("ticket", t.external_id), f"{t.subject}\n{t.body}") for t in tickets
        ]
        notes = session.exec(
            select(CallNote).where(
                CallNote.account_id == account_id,
                col(CallNote.occurred_on) >= since,
                col(CallNote.occurred_on) <= as_of,
            )
        ).all()
        sources += [(evidence_id("note", n.external_id), n.text) for n in notes]
        responses = session.exec(
            select(NpsResponse).where(
                NpsResponse.account_id == account_id,
                col(NpsResponse.responded_on) >= since,
                col(NpsResponse.responded_on) <= as_of,
            )
        ).all()
        sources += [(evidence_id("nps", r.external_id), r.comment or "") for r in responses]
    return sources


def quoted_sources(
    texts: Sequence[str], sources: Sequence[tuple[str, str]], *, trusted: Sequence[str] = ()
) -> list[str]:
    """The evidence ids whose customer text any of ``texts`` repeats (beyond what Keel's
    own ``trusted`` statements say)."""
    found: dict[str, None] = {}
    for text in texts:
        for quote in find_quotes(text, sources, trusted=trusted):
            found[quote.source_id] = None
    return list(found)


def auto_send_blockers(
    item: dict[str, Any], *, problems: Sequence[str], quoted: Sequence[str]
) -> list[str]:
    """Why this play may not go out without a human (empty: the policy decides alone)."""
    blockers: list[str] = []
    if item.get("code_selected") is not True:
        blockers.append(
            "needs a human: the model chose this play; the signals alone did not select it"
        )
    if problems:
        blockers.append("needs a human: the content checks removed part of the draft")
    if quoted:
        cited = ", ".join(quoted)
        blockers.append(f"needs a human: the draft repeats customer text ({cited})")
    return blockers
