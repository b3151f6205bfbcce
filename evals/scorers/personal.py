"""Personalisation and structure: a draft a CSM would send as it is.

Checks per draft (each passed check counts one; score = passed / checked, over every
draft of the scenario):

- **contact** (customer drafts): addressed to a current contact of the account whose role
  the play targets (or the scenario's ``recipient_roles``);
- **salutation** (customer drafts): the first line greets the recipient by name (first
  or last);
- **specifics**: names the account and cites at least one of the account's own facts;
- **one ask**: exactly one sentence asks something (a question, or "please", "let me
  know", "could we", "would you", "reply to/by", "I'd welcome", "help needed"...; a
  feature named "Reply Drafts" is no ask);
- **open request** (customer drafts, not billing reminders): when the facts hold an open
  ticket of the customer's, the draft acknowledges it (its topic, or the ticket);
- **length**: words of the body without citations and Keel's notice, within the bounds
  of its kind (email 30-180, exec brief 50-300, internal note 20-300, Slack 5-120);
- **no placeholders**: ``{name}``, ``{{...}}``, ``[NAME]``, ``[First Name]``, ``<name>``,
  ``TODO``, ``TBD``, ``XXX``, "lorem ipsum".

The scenario's ``must_use`` fact kinds add one check each: some draft cites a fact line of
that kind (e.g. ``contact_left`` when the champion left).
"""

from __future__ import annotations

import re
from typing import Final

from keel.domain.plays import PLAY_LIBRARY
from keel.evals.outcome import CUSTOMER, Artefact, Outcome, Score, Span
from keel.evals.text import sentences, without_citations, without_notices

NAME = "personalisation"
LENGTH_BOUNDS: Final = {
    "email": (30, 180),
    "exec_brief": (50, 300),
    "internal_note": (20, 300),
    "slack": (5, 120),
}
PLACEHOLDER: Final = re.compile(
    r"\{\{?[^{}\n]{1,40}\}\}?|\[(?:[A-Z][A-Z _]{1,30}|(?:first|last|full|company|customer|"
    r"contact|account)[ _]?name)\]|<(?:name|first[ _]name|company)>|\bTODO\b|\bTBD\b|\bXXX\b"
    r"|lorem ipsum",
    re.IGNORECASE,
)
# Plays whose draft is about something else than the customer's tickets.
NO_ACKNOWLEDGEMENT: Final = frozenset({"billing_followup"})
_GREETING: Final = re.compile(r"^(?:hi|hello|dear|hey|good (?:morning|afternoon))\b", re.I)
_ASK: Final = re.compile(
    r"\?|\bplease\b|\blet me know\b|\bcould we\b|\bcan we\b|\bwould you\b|\bshall we\b"
    r"|\b(?:just |simply |hit )reply\b|\breply (?:to|by|with|and)\b"
    r"|\bi'?d welcome\b|\bare you open\b|\bhelp needed\b|\blet's\b",
    re.IGNORECASE,
)


def _checks(outcome: Outcome, draft: Artefact) -> tuple[int, list[Span]]:
    """(checks made, failures as spans) for one draft."""
    key, text = draft.key, draft.text
    body = draft.body
    offset = len(text) - len(body)
    failures: list[Span] = []
    checks = 0
    contacts = {c.get("id"): c for c in outcome.contacts}

    def fail(why: str, span: str = "", start: int = -1, end: int = -1) -> None:
        failures.append(Span(key, span, start, end, why))

    if draft.audience == CUSTOMER:
        checks += 2
        contact = contacts.get(draft.recipient_contact_id)
        roles = outcome.expected.recipient_roles or tuple(
            str(r)
            for r in (PLAY_LIBRARY[draft.play].target_roles if draft.play in PLAY_LIBRARY else ())
        )
        if contact is None or contact.get("left_company"):
            fail("not addressed to a current contact of the account")
        elif roles and str(contact.get("role")) not in roles:
            fail(f"addressed to the {contact.get('role')}, not a {' or '.join(roles)}")
        first_line = body.strip().split("\n", 1)[0]
        # "Hi Maya," and "Dear Ms Chen," both name her.
        names = [n for n in (draft.recipient_name or "").split() if len(n) > 1]
        if not _GREETING.match(first_line) or not any(n in first_line for n in names):
            at = text.find(first_line)
            fail(
                f"the greeting does not name {draft.recipient_name or 'the recipient'}",
                first_line,
                at,
                at + len(first_line),
            )
    request = _open_request(draft) if draft.audience == CUSTOMER else None
    if request is not None:
        checks += 1
        topic = str(request.get("topic") or "")
        lowered = body.lower()
        if not (topic and topic.lower() in lowered) and "ticket" not in lowered:
            about = f"the {topic} ticket" if topic else "their open ticket"
            fail(f"the customer's open request is not acknowledged: {about} is still open")
    checks += 1
    name = str(outcome.account.get("name") or "")
    own = {line["id"] for line in draft.given} & set(draft.cited)
    if not name or name not in text or not own:
        missing = "names the account" if not name or name not in text else "cites its own facts"
        fail(f"not specific to the account: never {missing}")
    checks += 1
    plain = without_citations(without_notices(body))
    asks = [s for s in sentences(plain) if _ASK.search(s.text)]
    if len(asks) != 1:
        spans = [
            Span(key, s.text, offset + s.start, offset + s.end, "one of several asks") for s in asks
        ]
        failures.extend(spans[1:] if spans else [])
        fail(f"{len(asks)} asks: a draft makes exactly one clear ask")
    checks += 1
    words = len(plain.replace("--", " ").split())
    low, high = LENGTH_BOUNDS.get(draft.kind, (20, 300))
    if not low <= words <= high:
        fail(f"{words} words: a {draft.kind} has {low}-{high}")
    checks += 1
    found = list(PLACEHOLDER.finditer(text))
    for m in found:
        fail("a placeholder left in", m.group(0), m.start(), m.end())
    return checks, failures


def _open_request(draft: Artefact) -> dict[str, str] | None:
    """The customer's open ticket among the facts the draft was given (a billing reminder
    is about the invoice, not their tickets); None when none is open."""
    if draft.play in NO_ACKNOWLEDGEMENT:
        return None
    for line in draft.given:
        if line.get("kind") == "ticket" and line.get("status") == "open":
            return dict(line)
    return None


def score_personalisation(outcome: Outcome) -> Score:
    drafts = outcome.drafts
    if not drafts:
        return Score(NAME, 1.0, "no draft to check", applicable=False)
    checks = 0
    failures: list[Span] = []
    failed = 0
    for draft in drafts:
        made, found = _checks(outcome, draft)
        checks += made
        failures.extend(found)
        # A check can report several spans (each placeholder, each extra ask): count once.
        failed += len({s.why.split(":")[0] for s in found if s.why != "one of several asks"})
    for kind in outcome.expected.must_use:
        checks += 1
        used = any(
            line.get("kind") == kind and line["id"] in draft.cited
            for draft in drafts
            for line in draft.given
        )
        if not used:
            failed += 1
            failures.append(Span("drafts", kind, -1, -1, f"no draft uses a {kind} fact"))
    score = max(0.0, 1.0 - failed / checks)
    if not failures:
        return Score(NAME, 1.0, f"all {checks} checks pass over {len(drafts)} draft(s)")
    shown = "; ".join(f"{s.artefact}: {s.why}" for s in failures[:4])
    return Score(NAME, score, f"{failed} of {checks} checks fail: {shown}", tuple(failures))
