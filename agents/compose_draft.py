"""How the offline model writes a play's draft: templates over the fact lines the drafter allows.

Nothing here quotes customer-written text into a draft: drafts are built from fact lines
(code-written statements), never from ticket or note bodies. A draft for the customer holds
only what the customer should read: facts in their words (no evidence ids: those are the
draft's ``evidence_ids``, beside it for the reviewer), no scores or risk words, no note on
which model wrote it, and one concrete ask. An internal note cites ids and says it was
written offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from keel.agents.compose_text import possessive, strip_period
from keel.agents.facts import (
    INTERNAL_DRAFT_KINDS,
    lines_for_draft,
)
from keel.agents.offline import (
    OFFLINE_NOTICE,
    ComposeRequest,
    vary,
)
from keel.agents.step_requests import (
    DraftRequest,
)

HELP_PATHS: Final = ("getting-started", "best-practices", "admin-guide")


# --------------------------------------------------------------------------- drafts


_GREETINGS: Final = ("Hi {first},", "Hello {first},", "Hi {first} —")
_FORMAL_GREETING: Final = "Dear {full},"
_WARM_GREETING: Final = "Hi {first}, hope your week is going well!"
# With no name to greet: never "Hello Dr.," or "Hi there,".
_NAMELESS_GREETING: Final = "Hello,"
_NAMELESS_WARM_GREETING: Final = "Hello, I hope your week is going well!"
# Honorifics and academic or professional titles written before a name.
_TITLE: Final = re.compile(
    r"^(?:dr|mr|mrs|ms|miss|mx|prof|professor|sir|dame|lord|lady|rev|fr|herr|frau|mme|mlle|"
    r"m|sr|sra|dott|ing|mag)\.?$",
    re.IGNORECASE,
)
# Letters written after a name ("Jane Smith, PhD", "John Doe Jr.").
_SUFFIX: Final = re.compile(
    r"^(?:jr|sr|ii|iii|iv|phd|ph\.d|md|m\.d|mba|esq|cpa|pe|dds|rn|msc|bsc|ma|ba)\.?$",
    re.IGNORECASE,
)
# Mailbox names that are no person's name ("support@", "info@").
_ROLE_MAILBOXES: Final = frozenset(
    {
        "accounts",
        "admin",
        "billing",
        "ceo",
        "cfo",
        "contact",
        "coo",
        "cto",
        "finance",
        "hello",
        "help",
        "hr",
        "info",
        "it",
        "mail",
        "noreply",
        "no-reply",
        "office",
        "ops",
        "sales",
        "support",
        "team",
    }
)
_CLOSINGS: Final = ("Best,", "Thanks,", "All the best,", "Cheers,")
_FORMAL_CLOSING: Final = "Kind regards,"
_WARM_CLOSING: Final = "Warmly,"

_OPENINGS: Final[dict[str, tuple[str, ...]]] = {
    "usage_drop_checkin": (
        "I was looking at how {account} uses the product and noticed a change I wanted to ask "
        "you about.",
        "Quick check-in from your customer success team at {account}: usage has shifted "
        "lately and I'd like to understand why.",
    ),
    "champion_left_multithread": (
        "I'm {owner}, the customer success manager for {account}. {departed} was our main "
        "point of contact and has moved on, so I'd like to make sure your team keeps getting "
        "full value.",
        "As {accounts} customer success manager I worked closely with {departed}, who has "
        "since left; I'd like to introduce myself properly and keep things on track.",
    ),
    "exec_sponsor_briefing": (
        "Here is a short executive brief on {account}: where things stand, what is open, and "
        "what we propose next.",
        "A one-page update on {account} for you as executive sponsor.",
    ),
    "renewal_kickoff": (
        "With {accounts} renewal coming up, I'd like to start the conversation early and look "
        "back at the year together.",
        "Your renewal is on the horizon, and I'd like to use the time to review what {account} "
        "has achieved and plan the year ahead.",
    ),
    "save_plan": (
        "I want to be direct about what I'm seeing at {account} and what we will do about it.",
        "Here is what we propose for {account} over the coming weeks, with owners and dates.",
    ),
    "expansion_conversation": (
        "I've been looking at how {account} uses its plan, and I think it's worth checking "
        "the plan still fits how your team works.",
        "I'd like to make sure {accounts} plan keeps up with how your team works today.",
    ),
    "adoption_congrats": (
        "Congratulations: your team at {account} is using the product more.",
        "Great to see the progress at {account}; here are a few tips to build on it.",
    ),
    "ticket_satisfaction_pulse": (
        "A quick follow-up on {accounts} recent support request, to make sure it is really solved.",
        "I saw your support ticket was closed and wanted to check it actually fixed things for "
        "you and the team at {account}.",
    ),
    "billing_followup": (
        "A friendly note about an invoice for {account} that still shows as open on our side.",
        "I wanted to check in about a payment for {account} that we haven't seen yet; happy to "
        "help sort it out.",
    ),
    "quality_regression_followup": (
        "I want to acknowledge plainly that the quality of results at {account} dropped "
        "recently, and tell you what we know.",
        "You may have noticed lower-quality results at {account} lately; I want to explain "
        "what we know and what we're doing.",
    ),
    "internal_escalation": (
        "Escalation for {account} (owner {owner}).",
        "Flagging {account} for help (owner {owner}).",
    ),
}
_ASKS: Final[dict[str, tuple[str, ...]]] = {
    "usage_drop_checkin": (
        "Could we set up a 30-minute working session next week to look at what changed?",
        "Would you have 30 minutes next week to walk me through what changed for the team?",
    ),
    "champion_left_multithread": (
        "Could we find 30 minutes in the next two weeks to meet and agree on who we should "
        "work with going forward?",
    ),
    "exec_sponsor_briefing": (
        "Could you give me 20 minutes in the next two weeks to go through these points and "
        "name the owner on your side for each?",
    ),
    "renewal_kickoff": ("Could we set up a 45-minute renewal review in the next two weeks?",),
    "save_plan": ("Could we go through this plan together in a 30-minute call this week?",),
    "expansion_conversation": (
        "Would you be open to a 30-minute call next week to look at options that fit how you "
        "use the product today?",
    ),
    "adoption_congrats": (
        "Would a 20-minute walkthrough of these for the rest of your team next week be useful?",
    ),
    "ticket_satisfaction_pulse": ("Could you confirm the problem is fully solved for your team?",),
    "billing_followup": ("Could you let me know when the payment is scheduled?",),
    "quality_regression_followup": (
        "Could we review the affected workflows together in the next week?",
    ),
    "internal_escalation": (
        "Help needed: a second pair of eyes from product/support and a decision on next steps "
        "this week.",
    ),
}
# The ask when the draft makes a single point: "these points ... for each" read wrong over one.
_SINGLE_POINT_ASKS: Final[dict[str, tuple[str, ...]]] = {
    "exec_sponsor_briefing": (
        "Could you give me 20 minutes in the next two weeks to go through this and name the "
        "owner on your side for it?",
    ),
}
_SUBJECTS: Final[dict[str, tuple[str, ...]]] = {
    "usage_drop_checkin": ("Checking in on {account}", "A quick question about {accounts} usage"),
    "champion_left_multithread": ("Staying in touch at {account}", "Introducing myself"),
    "exec_sponsor_briefing": ("Executive brief: {account}", "{account}: where we stand"),
    "renewal_kickoff": ("Planning {accounts} renewal", "Looking back, and ahead, at {account}"),
    "save_plan": ("Our plan for {account}", "{account}: what we will do next"),
    "expansion_conversation": ("Does your plan still fit?", "Your plan at {account}"),
    "adoption_congrats": ("Congratulations, {account}!", "Tips for {account}"),
    "ticket_satisfaction_pulse": ("Is it solved?", "Following up on your ticket"),
    "billing_followup": ("About an open invoice", "A quick billing question"),
    "quality_regression_followup": ("About recent result quality", "Quality at {account}"),
    "internal_escalation": ("Escalation: {account}", "Needs attention: {account}"),
}


def compose_draft(ask: ComposeRequest) -> dict[str, Any]:
    # The typed request as the plain mapping the templates below read.
    request = ask.facts_as(DraftRequest).model_dump(mode="json")
    play = str(request.get("play"))
    kind = str(request.get("kind") or "email")
    account = request.get("account") or {}
    hints = request.get("hints") or {}
    lines = list(request.get("fact_lines") or [])
    revision = int(request.get("revision") or 0)
    key = f"{account.get('external_id')}:{play}:{revision}"
    internal = kind in INTERNAL_DRAFT_KINDS
    # The drafter already sends only these; filtered again so no request can widen them.
    usable = lines_for_draft(lines, kind)
    hypothesis = request.get("hypothesis") or {}
    chosen = _pick_facts(
        play,
        usable,
        shorter=bool(hints.get("shorter")),
        evidence=[str(i) for i in hypothesis.get("evidence_ids") or []],
    )
    names = {
        "account": str(account.get("name") or "your account"),
        "accounts": possessive(str(account.get("name") or "your account")),
        "owner": str(
            account.get("owner_name") or account.get("owner_csm") or "your customer success manager"
        ),
        "departed": _departed(lines),
    }
    subject = hints.get("preferred_subject") or vary(_SUBJECTS[play], key).format(**names)
    if internal:
        body = _internal_body(play, request, chosen, names, key)
        # The CS team reads which model wrote a note; a customer never does (the reviewer
        # sees the model's label beside a customer's draft instead).
        notice = OFFLINE_NOTICE
        if request.get("feedback"):
            notice += " Revised after reviewer feedback."
        body = f"{body}\n\n--\n{notice}"
    else:
        # What the customer asked for and is still waiting on is said before anything else
        # we want from them ("I know your SSO outage ticket ... is still open").
        ack = open_request(usable) if play not in _NO_ACKNOWLEDGEMENT else None
        if ack is not None:
            chosen = [ack, *(line for line in chosen if line["id"] != ack["id"])]
        body = _customer_body(play, kind, request, chosen, names, hints, key)
    return {
        "subject": subject,
        "body": body,
        "evidence_ids": [line["id"] for line in chosen],
        "facts_used": [line["text"] for line in chosen]
        + (
            [
                f"reviewer feedback: {request['feedback']} (the offline model applies length, "
                "tone and 'mention ...' requests only)"
            ]
            if request.get("feedback")
            else []
        ),
    }


# Which fact kinds each play talks about first.
_PLAY_FACTS: Final[dict[str, tuple[str, ...]]] = {
    "usage_drop_checkin": ("signal", "ticket"),
    "champion_left_multithread": ("contact_left", "signal", "renewal"),
    "exec_sponsor_briefing": ("health", "signal", "risk_factor", "ticket", "renewal", "billing"),
    "renewal_kickoff": ("renewal", "signal"),
    "save_plan": ("signal", "ticket", "contact_left", "renewal", "billing"),
    "expansion_conversation": ("signal", "renewal"),
    "adoption_congrats": ("signal",),
    "ticket_satisfaction_pulse": ("ticket",),
    "billing_followup": ("billing",),
    "quality_regression_followup": ("signal", "ticket"),
    "internal_escalation": (
        "health",
        "risk_factor",
        "signal",
        "model_signal",
        "ticket",
        "contact_left",
        "billing",
        "cohort",
    ),
}


# Ticket categories worth mentioning for a play (all when a play is not listed).
_TICKET_CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "quality_regression_followup": ("bug", "quality", "outage"),
    "billing_followup": ("billing",),
    "save_plan": ("bug", "quality", "outage", "account", "billing"),
    "usage_drop_checkin": ("bug", "quality", "outage", "how_to"),
    "expansion_conversation": ("feature_request", "account"),
}
MAX_TICKET_FACTS: Final = 2
# The direction a play's signals must go to be worth saying to the customer.
_SIGNAL_TREND: Final[dict[str, str]] = {
    "adoption_congrats": "up",
    "expansion_conversation": "up",
    "usage_drop_checkin": "down",
}


# Signals that count problems: more of them is never growth, fewer is never lost use.
_PROBLEM_COUNTS: Final = frozenset({"metric:tickets"})


def _pick_facts(
    play: str,
    lines: Sequence[Mapping[str, str]],
    *,
    shorter: bool,
    evidence: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The facts a draft rests on: the hypothesis's own evidence first, then the kinds of
    fact the play talks about."""
    wanted = _PLAY_FACTS.get(play, ("signal",))
    categories = _TICKET_CATEGORIES.get(play)
    trend = _SIGNAL_TREND.get(play)
    if trend is not None:
        # A congratulation cites only what rose, a check-in on a drop only what fell; and a
        # count of problems (tickets) is neither growth nor lost use, whichever way it went.
        lines = [
            line
            for line in lines
            if line.get("kind") != "signal"
            or (line.get("trend") in (trend, None) and line.get("id") not in _PROBLEM_COUNTS)
        ]
    # The hypothesis's own evidence first, of the kinds the play talks about (a billing
    # follow-up does not cite the usage drop that led to it).
    picked: list[dict[str, str]] = [
        dict(line) for line in lines if line["id"] in set(evidence) and line.get("kind") in wanted
    ]
    for kind in wanted:
        matching = [dict(line) for line in lines if line.get("kind") == kind]
        if kind == "ticket":
            if categories is not None:
                matching = [t for t in matching if t.get("category") in categories]
            if play == "ticket_satisfaction_pulse":
                matching = [t for t in matching if t.get("status") == "closed"]
            matching = matching[:MAX_TICKET_FACTS]
        picked.extend(m for m in matching if all(m["id"] != p["id"] for p in picked))
    limit = 2 if shorter else 4
    return picked[:limit]


# Plays whose e-mail does not bring up an open ticket: a payment reminder that mentions an
# unsolved problem reads as a trade, and the customer's request deserves its own note.
_NO_ACKNOWLEDGEMENT: Final = frozenset({"billing_followup"})


def open_request(lines: Sequence[Mapping[str, str]]) -> dict[str, str] | None:
    """The customer's open ticket to acknowledge: one whose topic Keel could name ("SSO
    outage", "admin transfer") first, then any open one; None when nothing is open."""
    open_tickets = [
        dict(line)
        for line in lines
        if line.get("kind") == "ticket" and line.get("status") == "open" and line.get("text")
    ]
    open_tickets.sort(key=lambda line: not line.get("topic"))
    return open_tickets[0] if open_tickets else None


def acknowledgement(line: Mapping[str, str]) -> str:
    """ "I know your SSO outage ticket opened on 2026-09-20 is still open; I'm following it
    up with our support team until it is resolved." (no ticket id: that is the reviewer's)"""
    said = strip_period(line["text"])
    said = said[:1].lower() + said[1:] if said.startswith("Your ") else said
    return (
        f"I know {said}; I'm following it up with our support team until it is resolved, "
        "and I'll keep you posted."
    )


def _departed(lines: Sequence[Mapping[str, str]]) -> str:
    left = [line for line in lines if line.get("kind") == "contact_left"]
    # The champion who left, by the line's tags (a customer's lines carry no role words).
    for line in sorted(left, key=lambda line: line.get("role") != "champion"):
        if line.get("name"):
            return line["name"]
    for line in left:
        # "Champion Jane Doe (VP Ops) left the company on ..." -> "Jane Doe"
        match = re.match(
            r"^(?:Champion|Executive sponsor|Admin|User|Contact) (.+?) \(", line["text"]
        )
        if match:
            return match.group(1)
    return "your previous main contact"


def _cased(word: str) -> str:
    """A name as a person writes it: "JANE" and "jane" -> "Jane"; "McDonald" as it is."""
    return word.capitalize() if word.isupper() or word.islower() else word


def _name_parts(name: str) -> tuple[str, list[str]]:
    """The title and the words of a person's name in first-last order, without suffixes:
    "Dr. Jane Smith" -> ("Dr.", ["Jane", "Smith"]); "Smith, Jane" -> ("", ["Jane", "Smith"]);
    "Dr." -> ("Dr.", [])."""
    text = " ".join(name.split())
    if "@" in text:
        return "", []
    if "," in text:
        head, _, tail = text.partition(",")
        tail_words = tail.replace(",", " ").split()
        if tail_words and not all(_SUFFIX.match(w) for w in tail_words):
            # "Last, First" (an export's sort order): the given name first.
            text = f"{tail} {head}"
        else:
            text = head
    words = [w for w in text.replace(",", " ").split() if w.strip(".")]
    titles = []
    while words and _TITLE.match(words[0]):
        titles.append(_cased(words.pop(0).rstrip(".")) + ".")
    while words and _SUFFIX.match(words[-1]):
        words.pop()
    return " ".join(titles), [_cased(w) for w in words]


def _name_from_address(email: str) -> str:
    """A given name from an address like ``jane.smith@x`` ("Jane"); "" for a role mailbox
    (``support@``), initials or digits."""
    local = email.split("@", 1)[0].strip().lower()
    if not local or local in _ROLE_MAILBOXES:
        return ""
    first = re.split(r"[._\-+]+", local)[0]
    if len(first) < 2 or not first.isalpha() or first in _ROLE_MAILBOXES:
        return ""
    if not re.search(r"[._\-+]", local) and len(first) <= 3:
        return ""  # "cto@", "jd@": a role or initials, not a name
    if not re.search(r"[._\-+]", local) and len(first) > 12:
        return ""  # "janesmith1975"-like run-ons are no safe first name
    return first.capitalize()


def salutation_name(name: str, email: str = "") -> str:
    """Whom a customer e-mail greets: the contact's given name, never a bare title.

    "Dr. Jane Smith" -> "Jane"; "Smith, Jane" -> "Jane"; "Prof. Alan Turing PhD" -> "Alan";
    a single name stays as it is ("Madonna"), with its title when it has one ("Mr. Bean":
    a surname); an initial keeps the surname ("J. Smith"); no usable name ("", "Dr.", an
    address) -> the given name in ``email`` when it has one ("jane.smith@x" -> "Jane"),
    else "" (the greeting is then just "Hello,").
    """
    if "@" in name and not email:
        email = name
    title, words = _name_parts(name)
    if len(words) == 1 and title:
        return f"{title} {words[0]}"
    if words:
        first = words[0]
        if len(first.rstrip(".")) <= 1 and len(words) > 1:
            return " ".join(words)  # "J. Smith": an initial alone is no name to greet
        return first
    return _name_from_address(email) if "@" in email else ""


def formal_name(name: str, email: str = "") -> str:
    """The full name for a formal greeting, title kept, in first-last order ("Dear Dr. Jane
    Smith,"); the given name from the address without one; "" when there is neither."""
    title, words = _name_parts(name)
    if not words:
        return salutation_name(name, email)
    return " ".join([title, *words]).strip()


# A draft's greeting line: "Hello Dr.," -> word "Hello", name "Dr.".
_GREETING_LINE: Final = re.compile(
    r"^(?P<word>Hi|Hello|Dear|Hey|Good (?:morning|afternoon))(?P<name>[^,!\n]*?)(?P<end>\s*[,!])",
    re.IGNORECASE,
)


def without_bare_title(body: str, recipient: Mapping[str, Any] | None) -> str:
    """``body`` with a greeting that names only a title ("Hello Dr.,", any model's words)
    greeting the recipient by name instead ("Hello Amara,"), or no one ("Hello,")."""
    match = _GREETING_LINE.match(body.lstrip())
    if match is None:
        return body
    words = match.group("name").split()
    if not words or not all(_TITLE.match(w) for w in words):
        return body
    who = recipient or {}
    name = str(who.get("name") or "")
    email = str(who.get("email") or "")
    formal = match.group("word").lower() == "dear"
    first = formal_name(name, email) if formal else salutation_name(name, email)
    greeting = f"{match.group('word')} {first}" if first else "Hello"
    start = len(body) - len(body.lstrip())
    return body[:start] + greeting + match.group("end").strip() + body[start + match.end() :]


def greeting_for(recipient: Mapping[str, Any], *, formal: bool, warm: bool, key: str) -> str:
    """The draft's first line, from the recipient's name (or address); "Hello," without one."""
    name = str(recipient.get("name") or "")
    email = str(recipient.get("email") or "")
    if formal:
        full = formal_name(name, email)
        return _FORMAL_GREETING.format(full=full) if full else _NAMELESS_GREETING
    first = salutation_name(name, email)
    if warm:
        return _WARM_GREETING.format(first=first) if first else _NAMELESS_WARM_GREETING
    return vary(_GREETINGS, key).format(first=first) if first else _NAMELESS_GREETING


def _customer_body(
    play: str,
    kind: str,
    request: Mapping[str, Any],
    facts: Sequence[Mapping[str, str]],
    names: Mapping[str, str],
    hints: Mapping[str, Any],
    key: str,
) -> str:
    recipient = request.get("recipient") or {}
    formal, warm = bool(hints.get("formal")), bool(hints.get("warmer"))
    greeting = greeting_for(recipient, formal=formal, warm=warm and not formal, key=key)
    if formal:
        closing = _FORMAL_CLOSING
    elif warm:
        closing = _WARM_CLOSING
    else:
        closing = vary(_CLOSINGS, key + "c")
    shorter = bool(hints.get("shorter"))
    parts = [greeting]
    if not shorter:
        parts.append(vary(_OPENINGS[play], key).format(**names))
    ack = open_request(facts) if play not in _NO_ACKNOWLEDGEMENT else None
    if ack is not None:
        parts.append(acknowledgement(ack))
        facts = [f for f in facts if f["id"] != ack["id"]]
    if facts:
        # The facts in the customer's words; their evidence ids travel beside the draft for
        # the reviewer (``evidence_ids``), never in the text.
        intro = "Here is what I'm seeing:" if kind == "email" else "Where things stand:"
        listed = "\n".join(f"- {strip_period(f['text'])}" for f in facts)
        parts.append(listed if shorter else f"{intro}\n{listed}")
    if play == "save_plan" and not shorter:
        parts.append(_save_commitments(request, names))
    if play == "adoption_congrats" and not shorter:
        parts.append(_tips(request))
    for mention in hints.get("mentions") or []:
        parts.append(strip_period(str(mention))[:1].upper() + strip_period(str(mention))[1:] + ".")
    points = len(facts) + (ack is not None)
    asks = _SINGLE_POINT_ASKS.get(play, _ASKS[play]) if points <= 1 else _ASKS[play]
    parts.append(vary(asks, key + "a"))
    parts.append(f"{closing}\n{names['owner']}")
    return "\n\n".join(dict.fromkeys(parts))


def _save_commitments(request: Mapping[str, Any], names: Mapping[str, str]) -> str:
    renewal = (request.get("account") or {}).get("renewal_date")
    steps = [
        f"- Within 1 week: {names['owner']} sets up a working session to agree the problems in "
        "your words.",
        "- Within 2 weeks: a named support owner reviews every open ticket with you.",
        "- Every 2 weeks until the plan is done: a short progress review.",
    ]
    if renewal:
        steps.append(f"- Before the renewal on {renewal}: a joint review of the results.")
    return "What we commit to:\n" + "\n".join(steps)


def _tips(request: Mapping[str, Any]) -> str:
    links = [str(link).rstrip("/") for link in request.get("allowed_links") or []]
    if not links:
        return "A few tips: invite the rest of the team, set up a weekly review, and share wins."
    base = links[0]
    return "A few tips:\n" + "\n".join(f"- {base}/{path}" for path in HELP_PATHS[:2])


def _internal_body(
    play: str,
    request: Mapping[str, Any],
    facts: Sequence[Mapping[str, str]],
    names: Mapping[str, str],
    key: str,
) -> str:
    hypothesis = request.get("hypothesis") or {}
    parts = [vary(_OPENINGS[play], key).format(**names)]
    if hypothesis:
        parts.append(
            f"Concern ({hypothesis.get('id')}): {strip_period(str(hypothesis.get('statement')))}."
        )
    parts.append(f"Why now: {strip_period(str(request.get('rationale') or ''))}.")
    if facts:
        parts.append("Evidence:\n" + "\n".join(f"- [{f['id']}] {f['text']}" for f in facts))
    parts.append(vary(_ASKS[play], key + "a"))
    return "\n\n".join(parts)
