"""How the offline model writes meeting prep and call summaries."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from keel.agents.call_note import LABEL_ORDER, LABEL_TITLES, PRICE, Action, Sentence, read_note
from keel.agents.compose_text import strip_period
from keel.agents.offline import (
    OFFLINE_NOTICE,
    ComposeRequest,
    vary,
)
from keel.agents.repair import StructuredOutputError
from keel.agents.schemas import (
    TALKING_POINTS,
    ActionItem,
)
from keel.agents.step_requests import (
    CallRequest,
    PrepRequest,
)

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
    points = _talking_points(hypotheses, lines, contacts, name)
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


# The question a CSM asks the customer about each kind of hypothesis: what they need to
# hear from the customer, not the analyst's statement read back to them.
_QUESTIONS: Final[dict[str, str]] = {
    "renewal_risk": "What could stand in the way of the renewal{on_renewal}, and who signs it?",
    "healthy_renewal": "Is the renewal on track{for_renewal}, and who signs?",
    "usage_decline": (
        "Fewer people are using the product than a few months ago: what changed for the "
        "team, and has some of the work moved elsewhere?"
    ),
    "low_adoption": "Which teams have not started using the product yet, and what is in their way?",
    "adoption_win": (
        "What results has the team seen from what they started using recently, and who "
        "else at {name} should hear about them?"
    ),
    "champion_left": (
        "Now that {departed} has left, who owns the product day to day, and can we meet them?"
    ),
    "exec_disengagement": (
        "When can we get 20 minutes with {sponsor} to review results and next year's priorities?"
    ),
    "expansion": (
        "Usage is growing toward the plan's limits: which other teams or uses are coming "
        "next, and by when?"
    ),
    "quality_regression": (
        "Where has result quality hurt the team most lately, and which workflows should we "
        "check first?"
    ),
    "support_pain": (
        "Which support issue slows the team down most right now, and are the recent fixes holding?"
    ),
    "billing": "Is anything holding up the open invoices, and who in finance should we talk to?",
}
_KIND_QUESTIONS: Final = {
    "risk": "What is getting in the team's way right now, and what would help most?",
    "expansion": "Where could the product do more for {name} this year?",
}
# Fact kinds worth a question when hypotheses leave room.
_FACT_QUESTIONS: Final = {
    "renewal": "healthy_renewal",
    "billing": "billing",
    "ticket": "support_pain",
    "contact_left": "champion_left",
}
_PAD_POINTS: Final = (
    "Which outcomes matter most to {name} this quarter, and how will you measure them?",
    "Who else at {name} should we be working with, and how often should we meet?",
    "What one next step can we agree on today, with an owner and a date?",
)
_RENEWAL_DATE: Final = re.compile(r"(?:Renewal on|renews) (\d{4}-\d{2}-\d{2})")


def _talking_points(
    hypotheses: Sequence[Mapping[str, Any]],
    lines: Sequence[Mapping[str, str]],
    contacts: Sequence[Mapping[str, Any]],
    name: str,
) -> list[str]:
    """Three questions the CSM asks the customer: one per hypothesis (most confident
    first, one per kind of concern), then facts worth asking about, then general ones."""
    values = _question_values(lines, contacts, name)
    points: list[str] = []
    asked: set[str] = set()

    def add(question: str, ids: Sequence[str]) -> None:
        if question in asked or len(points) >= TALKING_POINTS:
            return
        asked.add(question)
        cited = f" [{', '.join(ids)}]" if ids else ""
        points.append(question + cited)

    for h in hypotheses:
        category = str(h.get("category") or "")
        template = _QUESTIONS.get(category) or _KIND_QUESTIONS.get(str(h.get("kind")), "")
        if category == "champion_left" and not values["departed"]:
            template = _KIND_QUESTIONS["risk"]
        if template:
            add(template.format(**values), [str(i) for i in h.get("evidence_ids") or []])
    for line in lines:
        about = _FACT_QUESTIONS.get(str(line.get("kind")))
        if about and not (about == "champion_left" and not values["departed"]):
            add(_QUESTIONS[about].format(**values), [str(line["id"])])
    for pad in _PAD_POINTS:
        add(pad.format(**values), [])
    return points[:TALKING_POINTS]


def _question_values(
    lines: Sequence[Mapping[str, str]], contacts: Sequence[Mapping[str, Any]], name: str
) -> dict[str, str]:
    renewal = next(
        (m.group(1) for line in lines if (m := _RENEWAL_DATE.search(str(line.get("text"))))),
        "",
    )
    departed = next((str(c.get("name")) for c in contacts if c.get("left_company")), "")
    sponsor = next(
        (
            str(c.get("name"))
            for c in contacts
            if c.get("role") == "executive_sponsor" and not c.get("left_company")
        ),
        "",
    )
    return {
        "name": name,
        "renewal": renewal,
        "on_renewal": f" on {renewal}" if renewal else "",
        "for_renewal": f" for {renewal}" if renewal else "",
        "departed": departed,
        "sponsor": sponsor or "your executive sponsor",
    }


# --------------------------------------------------------------------------- call summary


_UNWRAP = re.compile(r"</?customer_content[^>]*>")
# How many labelled sentences a summary keeps besides every price or competitor remark.
MAX_SUMMARY_SENTENCES: Final = 6
MAX_ACTION_ITEMS: Final = 10


def compose_call_summary(ask: ComposeRequest) -> dict[str, Any]:
    """A summary that picks the note's sentences carrying a price or competitor remark, a
    risk, a decision, an ask or a date (every price or competitor remark kept), grouped
    under those headings; and one action item per action, owned by whoever committed."""
    request = ask.facts_as(CallRequest).model_dump(mode="json")
    note = _UNWRAP.sub("", str(request.get("note") or ""))
    account = str(request.get("account_name") or "the account")
    owner = str(request.get("owner_csm") or "CSM")
    people = [str(p) for p in request.get("people") or []]
    read = read_note(note, people=people, csm=owner, account=account)
    if not read.sentences and not read.actions and not read.header:
        raise StructuredOutputError("CallSummary", ["the call note is empty"])
    met = [p for p in people if _named_in(p, note)]
    heading = f"Call with {account}" + (f" ({', '.join(met)})" if met else "") + "."
    picked = [f"- {line}" for line in _summary_lines(read.sentences)]
    items = read.actions[:MAX_ACTION_ITEMS]
    parts = [heading, "\n".join(picked), _actions_line(items), OFFLINE_NOTICE]
    return {
        "summary": "\n\n".join(p for p in parts if p),
        "action_items": [
            ActionItem(owner=a.owner, task=a.task, due=a.due).model_dump(mode="json") for a in items
        ],
    }


def _named_in(person: str, note: str) -> bool:
    first = person.split()[0] if person.split() else ""
    return bool(first) and re.search(rf"\b{re.escape(first)}\b", note) is not None


def _summary_lines(sentences: Sequence[Sentence]) -> list[str]:
    """The sentences worth a CSM's time, under their headings, in the note's order."""
    labelled = [s for s in sentences if s.label]
    kept = [s for s in labelled if s.label == PRICE]
    for label in LABEL_ORDER[1:]:
        for sentence in labelled:
            if sentence.label == label and len(kept) < MAX_SUMMARY_SENTENCES + _count(kept):
                kept.append(sentence)
    if not kept:
        # Nothing stands out: the first sentences that are not small talk.
        plain = [s for s in sentences if not _is_small_talk(s)][:2]
        return [f"Notes: {' '.join(s.text for s in plain)}"] if plain else []
    order = {id(s): i for i, s in enumerate(sentences)}
    lines = []
    for label in LABEL_ORDER:
        group = sorted((s for s in kept if s.label == label), key=lambda s: order[id(s)])
        if group:
            lines.append(f"{LABEL_TITLES[label]}: {' '.join(s.text for s in group)}")
    return lines


def _count(kept: Sequence[Sentence]) -> int:
    """Price remarks never count against the limit: none is dropped."""
    return sum(1 for s in kept if s.label == PRICE)


def _is_small_talk(sentence: Sentence) -> bool:
    return not sentence.labels and bool(re.search(r"marathon|offsite|tired|joked", sentence.text))


def _actions_line(items: Sequence[Action]) -> str:
    if not items:
        return "Action items: none recorded."
    owners: dict[str, int] = {}
    for item in items:
        owners[item.owner] = owners.get(item.owner, 0) + 1
    parts = [f"{n} for {who}" for who, n in owners.items()]
    return f"Action items: {len(items)} ({', '.join(parts)})."
