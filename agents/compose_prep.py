"""How the offline model writes meeting prep and call summaries."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from keel.agents.compose_text import first_name, strip_period
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
