"""Reading a CSM's call note the way a CSM would: which sentences matter, and who owes what.

Used by the offline model's call summary (:mod:`keel.agents.compose_prep`). A note is
split into its sentences and its action lists ("NS: ...", "Next steps:" with bullets,
"Agreed: ..."). Each sentence is labelled by what it carries (a price or competitor
remark, a risk, a decision, an ask, a date); a summary picks the labelled sentences and
never drops a price or competitor remark. Each action becomes one item whose owner is the
person who committed: the CSM for "I will", "we'll", "promised to ..." and the imperative
items of a next-steps list; the customer's person for "Sofia will send ..." or
"Sofia to send ..."; the customer for "they will ...".

Pure functions over text; no model, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

# --------------------------------------------------------------------------- labels

PRICE: Final = "price"
RISK: Final = "risk"
DECISION: Final = "decision"
ASK: Final = "ask"
DATE: Final = "date"
# The order a summary shows them in, and the bucket a sentence with several labels joins.
LABEL_ORDER: Final = (PRICE, RISK, DECISION, ASK, DATE)
LABEL_TITLES: Final = {
    PRICE: "Price and competition",
    RISK: "Risks",
    DECISION: "Decisions",
    ASK: "Asks",
    DATE: "Dates",
}

_PATTERNS: Final = {
    PRICE: re.compile(
        r"\b(competitors?|competition|competing|cheaper|alternatives?|another (?:vendor|tool|"
        r"provider|platform|product|solution)|other (?:vendors?|tools?|providers?|platforms?|"
        r"solutions?)|rivals?|evaluat\w*|piloting|pilot with|rfp|shopping around|switch\w*|"
        r"prices?|pricing|priced|discounts?|costs?|costly|expensive|budgets?|spend|"
        r"justif\w*|a tool they used before|renegotiat\w*)\b",
        re.IGNORECASE,
    ),
    RISK: re.compile(
        r"\b(not renew\w*|won'?t renew|non-renewal|churn\w*|cancel\w*|terminat\w*|frustrat\w*|"
        r"annoyed|unhappy|upset|grumbl\w*|complain\w*|escalat\w*|stuck|blocked|blocker|"
        r"fail\w*|broken|bugs?|outages?|slow\w*|issues?|problems?|concern\w*|worr\w*|"
        r"risks?|lukewarm|disappoint\w*|cuts?|cutting|freeze|layoffs?|reorg\w*|restructur\w*|"
        r"leaving|left the company|new leadership|duplicates|vague|check internally|"
        r"not sure|unclear|declin\w*|dropp\w*|behind|struggl\w*|delay\w*)\b",
        re.IGNORECASE,
    ),
    DECISION: re.compile(
        r"\b(agreed|decided|decision|confirmed|conf'd|signed|approved|chose|chosen|"
        r"go(?:ing)? ahead|go-live|will not renew|accepted|moved to|moving to)\b",
        re.IGNORECASE,
    ),
    ASK: re.compile(
        r"\b(asked|asks|asking|requests?|requested|wants?|wanted|would like|needs?|"
        r"needed|wish\w*|looking for|keen (?:on|to)|hoping)\b",
        re.IGNORECASE,
    ),
    DATE: re.compile(
        r"\b(\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
        r"\.? \d{1,2}(?:st|nd|rd|th)?|\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|"
        r"aug|sep|sept|oct|nov|dec)[a-z]*|q[1-4](?: \d{4})?|next (?:week|month|quarter)|"
        r"end of (?:the )?(?:week|month|quarter|year)|in (?:a|one|two|three|\d+) "
        r"(?:days?|weeks?|months?)|(?:mon|tues|wednes|thurs|fri)day)\b",
        re.IGNORECASE,
    ),
}
# Small talk: left out unless the sentence also carries something that matters.
_SMALL_TALK: Final = re.compile(
    r"\b(marathon|offsite|holiday|vacation|tired|joked|birthday|weather|baby|wedding|"
    r"football|lunch)\b",
    re.IGNORECASE,
)
# The line that opens many notes: who the call was with ("Catch-up w/ Zoë", "QBR (Q2) ...").
_HEADER: Final = re.compile(
    r"^(call|check-in|check in|catch-up|catch up|qbr|meeting|met|sync|bi-weekly|weekly|"
    r"monthly|workshop|spoke|emailed|logged|working session|kick-?off|intro)\b",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------- actions

# Verbs an action starts with ("send the usage report", "loop in a solutions engineer").
ACTION_VERBS: Final = frozenset(
    [
        "send",
        "share",
        "book",
        "schedule",
        "set",
        "check",
        "confirm",
        "loop",
        "draft",
        "follow",
        "review",
        "prepare",
        "get",
        "invite",
        "introduce",
        "arrange",
        "plan",
        "sort",
        "escalate",
        "update",
        "walk",
        "run",
        "fix",
        "provide",
        "call",
        "email",
        "ping",
        "meet",
        "organise",
        "organize",
        "try",
        "test",
        "pull",
        "create",
        "add",
        "look",
        "reach",
        "circle",
        "chase",
        "demo",
        "train",
        "deliver",
        "ship",
        "forward",
        "reply",
        "come",
        "talk",
        "discuss",
        "decide",
        "approve",
        "finalise",
        "finalize",
        "sign",
        "connect",
        "bring",
        "join",
        "open",
        "close",
        "resolve",
        "raise",
        "document",
        "write",
        "map",
        "agree",
        "clarify",
        "collect",
        "gather",
        "put",
        "move",
        "migrate",
        "enable",
        "configure",
        "roll",
        "finish",
        "complete",
        "start",
        "kick",
        "line",
        "compile",
        "outline",
        "propose",
        "present",
        "record",
        "investigate",
        "validate",
        "verify",
        "double",
        "dig",
    ]
)
_LIST_HEAD: Final = re.compile(
    r"^(?:ns|next steps?|action items?|actions|to ?dos?|follow[- ]?ups?|agreed(?: next steps)?"
    r"|owners?|takeaways)\s*[:\-–]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_BULLET: Final = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'“(])")
# A person's title in parentheses ("(Escalations Specialist)") says nothing about the call.
_PARENS: Final = re.compile(r"\([^()]*\)")
_CLAUSE: Final = re.compile(r",\s+|\s+--?\s+|\s+[–—]\s+|;\s+|\s+and then\s+")
_WHO: Final = (
    r"(?P<who>I|we|they|the customer|customer|their team|[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)?)"
)
_COMMIT: Final = re.compile(
    _WHO + r"(?:\s+(?:will|shall|to|agreed to|promised to|committed to|offered to|"
    r"is going to|are going to|am going to|plans? to)|['’]ll)\s+(?P<task>.+)$"
)
_PROMISE: Final = re.compile(
    r"^(?:promised|offered|agreed|committed|volunteered) to\s+(?P<task>.+)$", re.IGNORECASE
)
_ISO_DATE: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
# Shorthand a CSM writes fast, spelt out for the summary.
_SHORTHAND: Final = (
    (re.compile(r"\bw/\s*"), "with "),
    (re.compile(r"\bre\b(?= \w)"), "about"),
    (re.compile(r"\bconf'd\b"), "confirmed"),
    (re.compile(r"\bppl\b"), "people"),
    (re.compile(r"\s*&\s*"), " and "),
)
_CSM: Final = "csm"
_CUSTOMER: Final = "customer"


@dataclass(frozen=True)
class Sentence:
    """One sentence of the note and what it carries."""

    text: str
    labels: frozenset[str]
    # The words as the note has them (``text`` spells out shorthand).
    raw: str = ""

    @property
    def label(self) -> str | None:
        """The bucket it is summarised under (the first of ``LABEL_ORDER`` it carries)."""
        return next((label for label in LABEL_ORDER if label in self.labels), None)


@dataclass(frozen=True)
class Action:
    """One thing someone committed to; ``owner`` is a name, or the CSM's or customer's."""

    owner: str
    task: str
    due: dt.date | None = None


@dataclass
class ReadNote:
    header: str = ""
    sentences: list[Sentence] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def tidy(text: str) -> str:
    """A note's fragment as a readable sentence part: bullets and shorthand spelt out."""
    text = _BULLET.sub("", text.strip()).strip(" -*\t")
    for pattern, replacement in _SHORTHAND:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def as_sentence(text: str) -> str:
    text = tidy(text).rstrip(" .;,")
    return (text[:1].upper() + text[1:] + ".") if text else ""


def price_terms(text: str) -> list[str]:
    """The price or competitor words of ``text`` ("cheaper", "another vendor")."""
    return [m.group(0) for m in _PATTERNS[PRICE].finditer(_PARENS.sub("", text))]


def labels_of(text: str) -> frozenset[str]:
    text = _PARENS.sub("", text)
    return frozenset(label for label, pattern in _PATTERNS.items() if pattern.search(text))


def read_note(
    note: str, *, people: Sequence[str] = (), csm: str = "", account: str = ""
) -> ReadNote:
    """The note's sentences (labelled) and its actions (one per action, with its owner).

    ``people``: the account's contacts' names; ``csm``: the owner CSM's name, who owns what
    the note's author committed to; ``account``: the customer's name, for "they will".
    """
    read = ReadNote()
    in_list = False
    first = True
    for raw in note.splitlines():
        line = raw.strip()
        if not line:
            in_list = False
            continue
        opening, first = first, False
        bullet = bool(_BULLET.match(line))
        head = _LIST_HEAD.match(_BULLET.sub("", line))
        if head:
            rest = head.group("rest").strip()
            in_list = not rest
            for item in split_actions(rest):
                read.actions.append(_list_action(item, people, csm, account))
            continue
        if in_list and bullet:
            for item in split_actions(_BULLET.sub("", line)):
                read.actions.append(_list_action(item, people, csm, account))
            continue
        in_list = False
        pieces = [p for p in _SENTENCE_END.split(line) if p.strip()]
        if opening and pieces and _HEADER.match(pieces[0]) and _news(pieces[0]) <= {DATE}:
            read.header = tidy(pieces[0]).rstrip(" .")
            pieces = pieces[1:]
        for piece in pieces:
            committed = _commitments(piece, people, csm, account)
            read.actions.extend(committed)
            # A sentence that is only someone's commitment is an action item, not news.
            whole = len(_CLAUSE.split(piece.strip())) == 1
            only_action = whole or not _news(piece) - {DATE, ASK}
            if committed and only_action and not _news(piece) & {RISK, DECISION}:
                continue
            text = as_sentence(piece)
            if len(text.split()) < 3:
                continue
            labels = labels_of(text)
            if _SMALL_TALK.search(text) and not labels - {DATE}:
                labels = frozenset()
            read.sentences.append(Sentence(text, labels, raw=_BULLET.sub("", piece).strip()))
    read.actions = list({(a.owner, a.task.casefold()): a for a in read.actions}.values())
    return read


def _news(text: str) -> frozenset[str]:
    return labels_of(text)


def split_actions(text: str) -> list[str]:
    """One action per item of a list line: split at ';' always, at ',' / 'and' only where
    the next part starts a new action ("send X, check in w/ Y and book Z")."""
    items: list[str] = []
    for chunk in re.split(r"\s*;\s*", text):
        parts = re.split(r"(,\s+|\s+and\s+)", chunk)
        current, glue = "", ""
        for i, part in enumerate(parts):
            if i % 2:
                glue = part
            elif current and _starts_action(part):
                items.append(current)
                current = part
            else:
                current = f"{current}{glue}{part}" if current else part
        if current:
            items.append(current)
    return [tidy(i).rstrip(" .") for i in items if tidy(i).strip(" .")]


def _starts_action(text: str) -> bool:
    words = text.strip().split()
    if not words:
        return False
    first = words[0].lower().strip(",.")
    if first in ACTION_VERBS:
        return True
    return bool(_COMMIT.match(tidy(text)))


def _list_action(item: str, people: Sequence[str], csm: str, account: str) -> Action:
    """An item of a next-steps list: the named person's when it says so ("Sofia to send
    ..."), else the CSM's (the note's author lists their own to-dos)."""
    match = _COMMIT.match(item)
    if match and not _starts_with_verb(item):
        owner = _owner(match.group("who"), people, csm, account)
        if owner is not None:
            return _action(owner, match.group("task"))
    return _action(csm or "CSM", item)


def _starts_with_verb(text: str) -> bool:
    first = text.split()[0].lower() if text.split() else ""
    return first in ACTION_VERBS


def _commitments(sentence: str, people: Sequence[str], csm: str, account: str) -> list[Action]:
    actions = []
    clauses = [tidy(c) for c in _CLAUSE.split(sentence) if c.strip()]
    for i, clause in enumerate(clauses):
        promise = _PROMISE.match(clause)
        if promise and _starts_with_verb(promise.group("task")):
            # "Zoë asked about the roadmap, promised to send the Q2 plan": the author did.
            context = ", ".join(clauses[:i]).strip()
            task = promise.group("task").rstrip(" .")
            if context:
                task = f"{task} ({context[:1].lower() + context[1:]})"
            actions.append(_action(csm or "CSM", task))
            continue
        match = _COMMIT.match(clause)
        if not match or not _starts_with_verb(match.group("task")):
            continue
        owner = _owner(match.group("who"), people, csm, account)
        if owner is not None:
            actions.append(_action(owner, match.group("task")))
    return actions


def _owner(who: str, people: Sequence[str], csm: str, account: str) -> str | None:
    lowered = who.lower()
    if lowered in ("i", "we"):
        return csm or "CSM"
    if lowered in ("they", "the customer", "customer", "their team"):
        return f"{account} (customer)" if account else "customer"
    first = who.split()[0]
    if csm and first.casefold() == csm.split()[0].casefold():
        return csm
    for person in people:
        names = person.split()
        if names and names[0].casefold() == first.casefold():
            return person
    if lowered in _CUSTOMER_TEAMS:
        return f"{account} ({lowered})" if account else lowered
    # A capitalised word that names nobody ("Next", "Renewal") is no owner.
    if len(who.split()) == 1 and lowered in _NOT_NAMES:
        return None
    return who if who[:1].isupper() else None


_CUSTOMER_TEAMS: Final = frozenset({"finance", "procurement", "legal", "security"})
_NOT_NAMES: Final = frozenset(
    [
        "next",
        "then",
        "also",
        "still",
        "this",
        "that",
        "he",
        "she",
        "someone",
        "everyone",
        "nobody",
        "renewal",
        "usage",
        "team",
        "quality",
        "support",
        "renewals",
    ]
)


def _action(owner: str, task: str) -> Action:
    task = tidy(task).rstrip(" .")
    found = _ISO_DATE.search(task)
    due = None
    if found:
        try:
            due = dt.date.fromisoformat(found.group(1))
        except ValueError:
            due = None
    return Action(owner=owner, task=task[:200], due=due)
