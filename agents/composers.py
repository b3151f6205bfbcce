"""How the offline model writes Keel's agent outputs: templates over the structured facts.

Each composer reads the typed request the agent attached to its prompt
(:mod:`keel.agents.step_requests`: the briefing's date, the planning, draft, prep or call
request), plus the tool results in the conversation for the briefing, and writes the
schema from them: specific to the account and contact, varied by account with
:func:`keel.agents.offline.vary`, citing evidence ids, and saying it came from the offline
model. The prompt's words are never read back. Nothing here quotes customer-written text
into a draft: drafts are built from fact lines (code-written statements), never from
ticket or note bodies.

:func:`offline_model` builds the offline model with these composers and the analyst's tool
plan (:func:`default_composers`, :func:`default_plans`); there is no global registry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel

from keel.agents.facts import (
    INTERNAL_DRAFT_KINDS,
    build_facts,
    lines_for_draft,
    tool_outputs,
)
from keel.agents.feedback import revising
from keel.agents.offline import (
    OFFLINE_NOTICE,
    Composer,
    ComposeRequest,
    OfflineChatModel,
    vary,
)
from keel.agents.offline.chat import chat_intents, chat_plans, chat_replies
from keel.agents.repair import StructuredOutputError
from keel.agents.schemas import (
    TALKING_POINTS,
    ActionItem,
    Briefing,
    CallSummary,
    Change,
    DraftContent,
    Hypothesis,
    MeetingPrep,
    Plan,
    PlannedPlay,
)
from keel.agents.selection import MIN_PLAY_CONFIDENCE, select_plays
from keel.agents.step_requests import (
    ANALYST_STEP,
    BriefingRequest,
    CallRequest,
    DraftRequest,
    PlanningRequest,
    PrepRequest,
)
from keel.domain.plays import PLAY_LIBRARY
from keel.text import ordinal

HELP_PATHS: Final = ("getting-started", "best-practices", "admin-guide")


def default_composers() -> dict[type[BaseModel], Composer]:
    """How the offline model writes each of Keel's agent outputs."""
    # Looked up when called, so a test can replace one composer of this module.
    return {
        Briefing: compose_briefing,
        Plan: compose_plan,
        # Reviewer feedback applied to what the draft composer writes.
        DraftContent: revising(compose_draft),
        MeetingPrep: compose_meeting_prep,
        CallSummary: compose_call_summary,
    }


def default_plans() -> dict[str, tuple[str, ...]]:
    """The tools each step always calls offline, by step name."""
    # The analyst reads the whole account: every tool it is given, once.
    return {ANALYST_STEP: ("*",), **chat_plans()}


def offline_model(**kwargs: Any) -> OfflineChatModel:
    """Keel's offline model: :class:`OfflineChatModel` with Keel's composers and plans.

    ``kwargs`` go to the model (``embedder=``, ``embedder_factory=``, ``intents=``, ...).
    """
    kwargs.setdefault("replies", chat_replies())
    kwargs.setdefault("intents", chat_intents())
    return OfflineChatModel(composers=default_composers(), plans=default_plans(), **kwargs)


# --------------------------------------------------------------------------- helpers


def money(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return "n/a"


def first_name(name: str) -> str:
    return name.split()[0] if name.strip() else "there"


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def strip_period(text: str) -> str:
    return text.rstrip(" .")


# --------------------------------------------------------------------------- briefing


def compose_briefing(ask: ComposeRequest) -> dict[str, Any]:
    as_of = ask.facts_as(BriefingRequest).as_of
    facts = build_facts(tool_outputs(ask.messages), as_of=as_of)
    account = facts.get("account") or {}
    if not account:
        raise StructuredOutputError("Briefing", ["no account profile among the tool results"])
    key = str(account.get("external_id") or account.get("name"))
    candidates = [_hypothesis(h) for h in facts.get("hypotheses") or []]
    hypotheses = [h for h in candidates if h is not None]
    hypotheses.sort(key=lambda h: (-h.confidence, h.id))
    changes = _changes(facts)
    return {
        "account_id": account.get("id"),
        "account_name": account.get("name"),
        "as_of": as_of.isoformat(),
        "summary": _summary(facts, hypotheses, changes, key),
        "changes": [c.model_dump(mode="json") for c in changes],
        "risk_hypotheses": [h.model_dump(mode="json") for h in hypotheses if h.kind == "risk"],
        "expansion_hypotheses": [
            h.model_dump(mode="json") for h in hypotheses if h.kind == "expansion"
        ],
    }


def _hypothesis(raw: Mapping[str, Any]) -> Hypothesis | None:
    ids = [str(i) for i in raw.get("evidence_ids") or []]
    if not ids or not raw.get("id") or raw.get("kind") not in ("risk", "expansion"):
        return None
    return Hypothesis(
        id=str(raw["id"]),
        kind=raw["kind"],
        category=str(raw.get("category") or ""),
        statement=str(raw.get("statement") or raw["id"]),
        confidence=float(raw.get("confidence") or 0.5),
        evidence_ids=ids,
    )


def _changes(facts: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for signal in facts.get("signals") or []:
        if signal.get("notable") and signal.get("since"):
            changes.append(
                Change(
                    description=strip_period(str(signal.get("text") or signal.get("label"))),
                    since=dt.date.fromisoformat(str(signal["since"])[:10]),
                    evidence_ids=[str(signal["id"])],
                )
            )
    for contact in facts.get("contacts") or []:
        if contact.get("left_company"):
            role = str(contact.get("role", "contact")).replace("_", " ")
            changes.append(
                Change(
                    description=f"{contact.get('name')} ({role}) left the company",
                    since=dt.date.fromisoformat(contact["left_on"])
                    if contact.get("left_on")
                    else None,
                    evidence_ids=[str(contact.get("evidence_id"))],
                )
            )
    for issue in facts.get("billing_issues") or []:
        changes.append(
            Change(
                description=f"invoice of {money(issue.get('amount'))} is {issue.get('status')}",
                since=dt.date.fromisoformat(str(issue["due_on"])),
                evidence_ids=[str(issue["id"])],
            )
        )
    for item in facts.get("evidence") or []:
        if (
            item.get("kind") == "ticket"
            and item.get("status") == "open"
            and item.get("priority") in ("high", "urgent")
        ):
            category = str(item.get("category", "")).replace("_", " ")
            changes.append(
                Change(
                    description=f"{item.get('priority')}-priority {category} ticket still open",
                    since=dt.date.fromisoformat(str(item["date"])),
                    evidence_ids=[str(item["id"])],
                )
            )
    changes.sort(key=lambda c: c.since or dt.date.min, reverse=True)
    return changes[:6]


_HEALTH_OPENERS: Final = (
    "{name} is {article} {segment} account on the {plan} plan (ARR {arr}, owner {owner}); "
    "its health is {score}/100, the {pct} percentile of the book, with a {risk} churn risk "
    "within {horizon} days.",
    "Health for {name} ({segment}, ARR {arr}, owner {owner}) stands at {score}/100, the {pct} "
    "percentile of the book; the model puts churn risk at {risk} within {horizon} days.",
    "{owner}'s account {name} ({segment}, {plan}, ARR {arr}) scores {score}/100 on health "
    "({pct} percentile; churn risk {risk} within {horizon} days).",
)
_CHANGE_LINES: Final = (
    "The biggest change: {change} (since {since}).",
    "What moved most: {change}, starting {since}.",
    "Most notable since last time: {change} (from {since}).",
)
_FIRST_LINES: Final = (
    "Look first at this: {statement}",
    "Start here: {statement}",
    "The first thing to act on: {statement}",
)
_QUIET_LINES: Final = (
    "Nothing in the data calls for action now; keep the regular cadence.",
    "No risk or opportunity stands out; no play is needed this time.",
)


def _summary(
    facts: Mapping[str, Any], hypotheses: Sequence[Hypothesis], changes: Sequence[Change], key: str
) -> str:
    account = facts.get("account") or {}
    health = facts.get("health") or {}
    sentences = []
    if health.get("score") is not None and health.get("percentile") is not None:
        sentences.append(
            vary(_HEALTH_OPENERS, key).format(
                name=account.get("name"),
                article="an"
                if str(account.get("segment", "")).startswith(("e", "a", "i", "o", "u"))
                else "a",
                segment=str(account.get("segment", "")).replace("_", "-"),
                plan=account.get("plan") or "current",
                arr=money(account.get("arr")),
                owner=account.get("owner_name") or account.get("owner_csm") or "no owner",
                score=f"{float(health['score']):.0f}",
                pct=ordinal(float(health["percentile"])),
                risk=f"{float(health.get('risk') or 0):.0%}",
                horizon=health.get("horizon_days") or 180,
            )
        )
    else:
        sentences.append(
            f"{account.get('name')} is a {account.get('segment')} account with ARR "
            f"{money(account.get('arr'))}; no health score was available."
        )
    if changes:
        top = changes[0]
        sentences.append(
            vary(_CHANGE_LINES, key + "c").format(
                change=top.description, since=top.since.isoformat() if top.since else "recently"
            )
        )
    renewal = facts.get("renewal")
    if renewal:
        sentences.append(
            f"Renewal is {renewal['days_to_renewal']} days out ({renewal['renewal_date']})."
        )
    if hypotheses:
        statement = strip_period(hypotheses[0].statement) + "."
        sentences.append(vary(_FIRST_LINES, key + "f").format(statement=statement))
    else:
        sentences.append(vary(_QUIET_LINES, key + "q"))
    sentences.append(OFFLINE_NOTICE)
    return " ".join(sentences)


# --------------------------------------------------------------------------- plan


_RATIONALES: Final = (
    "{title} answers {hid}: {statement}",
    "Chosen for {hid} — {statement}",
    "{title}, because {statement_lower}",
)


def compose_plan(ask: ComposeRequest) -> dict[str, Any]:
    planning = ask.facts_as(PlanningRequest)
    allowed = [p.id for p in planning.allowed_plays]
    key = str(planning.account_id)
    selected = select_plays(
        planning.hypotheses,
        allowed,
        max_plays=planning.max_plays or 3,
        customer_slots=planning.customer_slots,
    )
    chosen = [_planned(s.play, s.hypothesis, key) for s in selected]
    note = ""
    if not chosen:
        note = (
            f"No hypothesis reaches {MIN_PLAY_CONFIDENCE:.0%} confidence with an allowed play: "
            "nothing calls for outreach now."
        )
    return {"plays": [p.model_dump(mode="json") for p in chosen], "note": note}


def _planned(play_id: str, hypothesis: Mapping[str, Any], key: str) -> PlannedPlay:
    play = PLAY_LIBRARY[play_id]
    statement = strip_period(str(hypothesis.get("statement") or hypothesis.get("category") or ""))
    hid = str(hypothesis.get("id"))
    rationale = vary(_RATIONALES, f"{key}:{play_id}").format(
        title=play.title,
        hid=hid,
        statement=statement or hid,
        statement_lower=lower_first(statement or hid),
    )
    return PlannedPlay(play=play_id, rationale=rationale + ".", hypothesis_id=hid)


# --------------------------------------------------------------------------- drafts


_GREETINGS: Final = ("Hi {first},", "Hello {first},", "Hi {first} —")
_FORMAL_GREETING: Final = "Dear {full},"
_WARM_GREETING: Final = "Hi {first}, hope your week is going well!"
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
        "As {account}'s customer success manager I worked closely with {departed}, who has "
        "since left; I'd like to introduce myself properly and keep things on track.",
    ),
    "exec_sponsor_briefing": (
        "Here is a short executive brief on {account}: where things stand, what is open, and "
        "what we propose next.",
        "A one-page update on {account} for you as executive sponsor.",
    ),
    "renewal_kickoff": (
        "With {account}'s renewal coming up, I'd like to start the conversation early and look "
        "back at the year together.",
        "Your renewal is on the horizon, and I'd like to use the time to review what {account} "
        "has achieved and plan the year ahead.",
    ),
    "save_plan": (
        "I want to be direct about where {account} stands and what we will do about it.",
        "This is the plan we propose to get {account} back on track, with owners and dates.",
    ),
    "expansion_conversation": (
        "{account} is using the product more widely than when we last spoke, and I think it's "
        "worth checking the plan still fits.",
        "Your team's usage has grown, so I'd like to make sure {account}'s plan keeps up with "
        "how you work.",
    ),
    "adoption_congrats": (
        "Congratulations: your team at {account} has started getting real use out of the product.",
        "Great to see the progress at {account}; here are a few tips to build on it.",
    ),
    "ticket_satisfaction_pulse": (
        "A quick follow-up on {account}'s recent support request, to make sure it is really "
        "solved.",
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
        "Would a 30-minute working session next week help? I can bring a few ideas on "
        "getting the team back into their usual routine.",
        "Is anything getting in the way? If it helps, I can set up a short working session "
        "with your team.",
    ),
    "champion_left_multithread": (
        "Could we find 30 minutes in the next two weeks to meet and agree on who we should "
        "work with going forward?",
    ),
    "exec_sponsor_briefing": ("I'd welcome 20 minutes with you to agree on the next steps.",),
    "renewal_kickoff": ("Could we set up a renewal review in the next few weeks?",),
    "save_plan": (
        "I'd like to review this plan with you this week; please tell me what we have missed.",
    ),
    "expansion_conversation": (
        "Would you be open to a short call to look at options that fit how you use the "
        "product today?",
    ),
    "adoption_congrats": ("Reply any time if you'd like a walkthrough of any of these.",),
    "ticket_satisfaction_pulse": (
        "Is the problem fully solved, and is anything else getting in your way?",
    ),
    "billing_followup": (
        "If there's anything we can do on our side (a copy of the invoice, different payment "
        "details), just let me know.",
    ),
    "quality_regression_followup": (
        "Could we review the affected workflows together in the next week?",
    ),
    "internal_escalation": (
        "Help needed: a second pair of eyes from product/support and a decision on next steps "
        "this week.",
    ),
}
_SUBJECTS: Final[dict[str, tuple[str, ...]]] = {
    "usage_drop_checkin": ("Checking in on {account}", "A quick question about {account}'s usage"),
    "champion_left_multithread": ("Staying in touch at {account}", "Introducing myself"),
    "exec_sponsor_briefing": ("Executive brief: {account}", "{account}: where we stand"),
    "renewal_kickoff": ("Planning {account}'s renewal", "Looking back, and ahead, at {account}"),
    "save_plan": ("Our plan for {account}", "{account}: a plan to get back on track"),
    "expansion_conversation": ("Does your plan still fit?", "{account}'s growth"),
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
        "owner": str(
            account.get("owner_name") or account.get("owner_csm") or "your customer success manager"
        ),
        "departed": _departed(lines),
    }
    subject = hints.get("preferred_subject") or vary(_SUBJECTS[play], key).format(**names)
    if internal:
        body = _internal_body(play, request, chosen, names, key)
    else:
        body = _customer_body(play, kind, request, chosen, names, hints, key)
    notice = OFFLINE_NOTICE
    if request.get("feedback"):
        notice += " Revised after reviewer feedback."
    body = f"{body}\n\n--\n{notice}"
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
    picked: list[dict[str, str]] = [dict(line) for line in lines if line["id"] in set(evidence)]
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


def _departed(lines: Sequence[Mapping[str, str]]) -> str:
    for line in lines:
        if line.get("kind") == "contact_left":
            # "Champion Jane Doe (VP Ops) left the company on ..." -> "Jane Doe"
            match = re.match(
                r"^(?:Champion|Executive sponsor|Admin|User|Contact) (.+?) \(", line["text"]
            )
            if match:
                return match.group(1)
    return "your previous main contact"


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
    full = str(recipient.get("name") or "")
    if hints.get("formal"):
        greeting = _FORMAL_GREETING.format(full=full or "Sir or Madam")
        closing = _FORMAL_CLOSING
    elif hints.get("warmer"):
        greeting = _WARM_GREETING.format(first=first_name(full))
        closing = _WARM_CLOSING
    else:
        greeting = vary(_GREETINGS, key).format(first=first_name(full))
        closing = vary(_CLOSINGS, key + "c")
    shorter = bool(hints.get("shorter"))
    parts = [greeting]
    if not shorter:
        parts.append(vary(_OPENINGS[play], key).format(**names))
    if facts:
        intro = "Here is what I'm looking at:" if kind == "email" else "The facts behind it:"
        cited = "\n".join(f"- {strip_period(f['text'])} [{f['id']}]" for f in facts)
        parts.append(cited if shorter else f"{intro}\n{cited}")
    if play == "save_plan" and not shorter:
        parts.append(_save_commitments(request, names))
    if play == "adoption_congrats" and not shorter:
        parts.append(_tips(request))
    for mention in hints.get("mentions") or []:
        parts.append(strip_period(str(mention))[:1].upper() + strip_period(str(mention))[1:] + ".")
    parts.append(vary(_ASKS[play], key + "a"))
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


# --------------------------------------------------------------------------- prep


_PREP_INTROS: Final = (
    "Where things stand with {name}",
    "{name} at a glance",
    "Before you meet {name}",
)


def compose_meeting_prep(ask: ComposeRequest) -> dict[str, Any]:
    request = ask.facts_as(PrepRequest).model_dump(mode="json")
    account = request.get("account") or {}
    briefing = request.get("briefing") or {}
    lines = list(request.get("fact_lines") or [])
    contacts = list(request.get("contacts") or [])
    name = str(account.get("name") or briefing.get("account_name") or "the account")
    key = str(account.get("external_id") or name)
    hypotheses = [*briefing.get("risk_hypotheses", []), *briefing.get("expansion_hypotheses", [])]
    hypotheses.sort(key=lambda h: -float(h.get("confidence") or 0))
    sections = [
        f"# Meeting prep: {name} ({request.get('as_of')})",
        f"## {vary(_PREP_INTROS, key).format(name=name)}",
    ]
    sections.append(str(briefing.get("summary") or ""))
    if briefing.get("changes"):
        sections.append(
            "## What changed\n"
            + "\n".join(
                f"- {c['description']}"
                + (f" (since {c['since']})" if c.get("since") else "")
                + f" [{', '.join(c.get('evidence_ids') or [])}]"
                for c in briefing["changes"]
            )
        )
    if hypotheses:
        sections.append(
            "## Risks and opportunities\n" + "\n".join(_hypothesis_line(h) for h in hypotheses)
        )
    if contacts:
        sections.append("## People\n" + "\n".join(_person_line(c) for c in contacts))
    if lines:
        sections.append(
            "## Key facts\n" + "\n".join(f"- {ln['text']} [{ln['id']}]" for ln in lines[:8])
        )
    sections.append(f"_{OFFLINE_NOTICE}_")
    points = _talking_points(hypotheses, lines, name, key)
    evidence = [i for h in hypotheses for i in h.get("evidence_ids") or []]
    return {
        "title": f"Meeting prep: {name}",
        "brief": "\n\n".join(s for s in sections if s),
        "talking_points": points,
        "evidence_ids": list(dict.fromkeys(evidence + [ln["id"] for ln in lines[:8]])),
    }


def _hypothesis_line(h: Mapping[str, Any]) -> str:
    confidence = float(h.get("confidence") or 0)
    ids = ", ".join(h.get("evidence_ids") or [])
    return f"- {h['kind']}: {strip_period(str(h['statement']))} ({confidence:.0%}) [{ids}]"


def _person_line(c: Mapping[str, Any]) -> str:
    role = str(c.get("role")).replace("_", " ")
    left = " — has left" if c.get("left_company") else ""
    return f"- {c.get('name')}, {c.get('title') or 'no title'} ({role}){left}"


_PAD_POINTS: Final = (
    "Ask which outcomes matter most to {name} this quarter, and how they measure them.",
    "Confirm who else at {name} should be in the loop, and how often to meet.",
    "Agree one concrete next step with an owner and a date before the call ends.",
)


def _talking_points(
    hypotheses: Sequence[Mapping[str, Any]], lines: Sequence[Mapping[str, str]], name: str, key: str
) -> list[str]:
    points = []
    for h in hypotheses[:TALKING_POINTS]:
        verb = "Probe" if h.get("kind") == "risk" else "Explore"
        ids = ", ".join(h.get("evidence_ids") or [])
        points.append(f"{verb}: {strip_period(str(h['statement']))} [{ids}]")
    for line in lines:
        if len(points) >= TALKING_POINTS:
            break
        if line.get("kind") in ("renewal", "billing", "ticket"):
            points.append(f"Raise: {strip_period(line['text'])} [{line['id']}]")
    for pad in _PAD_POINTS:
        if len(points) >= TALKING_POINTS:
            break
        points.append(pad.format(name=name))
    return points[:TALKING_POINTS]


# --------------------------------------------------------------------------- call summary


_ACTION_CUE = re.compile(
    r"\b(will|to do|todo|action item|next step|follow[- ]up|send|schedule|owe"
    r"|by (?:mon|tue|wed|thu|fri|next|end))",
    re.IGNORECASE,
)
_UNWRAP = re.compile(r"</?customer_content[^>]*>")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def compose_call_summary(ask: ComposeRequest) -> dict[str, Any]:
    request = ask.facts_as(CallRequest).model_dump(mode="json")
    note = _UNWRAP.sub("", str(request.get("note") or ""))
    account = str(request.get("account_name") or "the account")
    owner = str(request.get("owner_csm") or "CSM")
    people = [str(p) for p in request.get("people") or []]
    sentences = [s.strip(" -*\t") for s in _SENTENCE.split(note) if len(s.strip()) > 3]
    if not sentences:
        raise StructuredOutputError("CallSummary", ["the call note is empty"])
    actions = [s for s in sentences if _ACTION_CUE.search(s)]
    context = [s for s in sentences if s not in actions]
    gist = " ".join(strip_period(s) + "." for s in (context or sentences)[:3])
    summary = f"Call with {account}: {gist} {len(actions)} action item(s) noted. {OFFLINE_NOTICE}"
    items = [
        ActionItem(owner=_owner(s, people, owner), task=strip_period(s)[:200]) for s in actions[:8]
    ]
    return {"summary": summary, "action_items": [i.model_dump(mode="json") for i in items]}


def _owner(sentence: str, people: Sequence[str], default: str) -> str:
    lowered = sentence.lower()
    for person in people:
        first = first_name(person).lower()
        if first and re.search(rf"\b{re.escape(first)}\b", lowered):
            return person
    if re.search(r"\b(they|customer|their team)\b", lowered):
        return "customer"
    return default
