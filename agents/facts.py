"""The facts later steps may use, derived in code from the analyst's tool results.

``build_facts`` turns the tool results into one JSON-ready dict: the account, its contacts,
health, hypotheses, renewal and billing, signals, evidence metadata and cohort matches, plus
``fact_lines``: short numbered statements, each under its evidence id, that the drafter is
told it may use (and that the offline model writes from). No customer-written text is in
them: a ticket is described by its category, priority, dates and status, never quoted, so
nothing a customer typed can reach a draft through the facts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from keel.agents.compose_text import money, percentile_phrase, strip_period
from keel.tools.account_tools import (
    TOOL_COHORT,
    TOOL_EVIDENCE,
    TOOL_HEALTH,
    TOOL_HYPOTHESES,
    TOOL_PROFILE,
    TOOL_RENEWAL,
    TOOL_SIGNALS,
)
from keel.tools.ticket_words import category_words, request_topic, ticket_phrase

# Fact kinds a customer may read about: changes in their own usage, their renewal, billing
# and tickets, and contacts who left, each in the words of its ``customer`` tag (no record
# ids, ARR, ticket priorities or role labels). Health scores, risk factors, the model's
# signals ("model_signal"), cohort matches and the account line (ARR, segment) are Keel's
# internal assessment.
CUSTOMER_FACT_KINDS: Final = frozenset({"signal", "renewal", "billing", "ticket", "contact_left"})
# Trends in survey scores are Keel's reading of the customer too: a customer is not told
# their NPS or CSAT average moved.
SURVEY_METRICS: Final = frozenset({"nps", "csat"})
# Metric changes that are Keel's reading of the customer rather than what they did (the
# tone of their tickets): internal like the model's signals.
INFERRED_METRICS: Final = frozenset({"ticket_sentiment"})
# Drafts read only by the CS team; every other kind goes to the customer.
INTERNAL_DRAFT_KINDS: Final = frozenset({"internal_note", "slack"})
MAX_SIGNAL_LINES: Final = 6
MAX_EVIDENCE_LINES: Final = 5
_ROLE_NAMES: Final = {
    "champion": "Champion",
    "executive_sponsor": "Executive sponsor",
    "admin": "Admin",
    "user": "User",
}


def build_facts(results: Mapping[str, Any], *, as_of: dt.date) -> dict[str, Any]:
    """Facts from tool results keyed by tool name (missing tools give empty sections)."""
    profile = results.get(TOOL_PROFILE) or {}
    health = results.get(TOOL_HEALTH) or {}
    renewal = results.get(TOOL_RENEWAL) or {}
    signals = (results.get(TOOL_SIGNALS) or {}).get("signals") or []
    hypotheses = (results.get(TOOL_HYPOTHESES) or {}).get("hypotheses") or []
    hits = (results.get(TOOL_EVIDENCE) or {}).get("hits") or []
    cohort = (results.get(TOOL_COHORT) or {}).get("matches") or []
    # A ticket's topic in Keel's fixed words ("SSO outage"), read from its text before the
    # text is dropped, so a draft can name what the customer asked about without quoting it.
    evidence = [
        {k: v for k, v in hit.items() if k != "content"}
        | ({"topic": topic} if (topic := _ticket_topic(hit)) else {})
        for hit in hits
    ]
    account = dict(profile.get("account") or {})
    if account:
        account["owner_name"] = person_name(str(account.get("owner_csm") or ""))
    facts: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "account": account,
        "contacts": profile.get("contacts") or [],
        "health": health,
        "hypotheses": hypotheses,
        "renewal": renewal.get("upcoming_renewal"),
        "past_renewals": renewal.get("past_renewals") or [],
        "billing_issues": renewal.get("billing_issues") or [],
        "signals": signals,
        "evidence": evidence,
        # The customer's open tickets, whatever the evidence search returned.
        "open_requests": profile.get("open_requests") or [],
        "similar_churned": cohort,
    }
    facts["fact_lines"] = fact_lines(facts)
    return facts


def tool_outputs(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The latest JSON result of each tool in the conversation, by tool name."""
    names = {
        call["id"]: call["name"]
        for message in messages
        if isinstance(message, AIMessage)
        for call in message.tool_calls
        if call.get("id")
    }
    results: dict[str, Any] = {}
    for message in messages:
        if not isinstance(message, ToolMessage) or message.status == "error":
            continue
        name = message.name or names.get(message.tool_call_id)
        try:
            data = json.loads(str(message.content))
        except json.JSONDecodeError:
            continue
        if name and isinstance(data, dict):
            results[name] = data
    return results


def person_name(who: str) -> str:
    """A display name for a person given by name or e-mail (``kwame.asante@x`` -> ``Kwame
    Asante``)."""
    if "@" not in who:
        return who.strip()
    local = who.split("@", 1)[0]
    parts = [p for p in re.split(r"[._\-+]+", local) if p]
    return " ".join(p.capitalize() for p in parts) or who


def known_evidence_ids(facts: Mapping[str, Any]) -> set[str]:
    """Every evidence id a tool returned (what a briefing may cite)."""
    ids: set[str] = set()
    account = facts.get("account") or {}
    if account.get("evidence_id"):
        ids.add(account["evidence_id"])
    for contact in facts.get("contacts") or []:
        if contact.get("evidence_id"):
            ids.add(contact["evidence_id"])
    health = facts.get("health") or {}
    if health.get("id"):
        ids.add(health["id"])
    for factor in health.get("factors") or []:
        ids.update(factor.get("evidence_ids") or [])
    for hypothesis in facts.get("hypotheses") or []:
        ids.add(hypothesis.get("id", ""))
        ids.update(hypothesis.get("evidence_ids") or [])
    for section in ("signals", "evidence", "similar_churned", "past_renewals", "billing_issues"):
        ids.update(item.get("id", "") for item in facts.get(section) or [])
    if facts.get("renewal"):
        ids.add(facts["renewal"].get("id", ""))
    ids.update(line["id"] for line in facts.get("fact_lines") or [])
    ids.discard("")
    return ids


def fact_lines(facts: Mapping[str, Any]) -> list[dict[str, str]]:
    """Short statements under their evidence ids, in the order a CSM would read them.

    Each line has a ``kind`` (account, health, risk_factor, signal, model_signal, renewal,
    billing, contact_left, ticket, note, nps, cohort): drafts for customers use only the
    kinds a customer may read about (:func:`lines_for_draft`).
    """
    lines: list[dict[str, str]] = []

    def add(evidence: str | None, text: str, kind: str, **tags: str) -> None:
        if evidence and text and all(line["id"] != evidence for line in lines):
            lines.append({"id": evidence, "text": text, "kind": kind, **tags})

    account = facts.get("account") or {}
    if account:
        renews = f", renews {account['renewal_date']}" if account.get("renewal_date") else ""
        add(
            account.get("evidence_id"),
            f"{account.get('name')}: {_segment(account.get('segment'))} account, ARR "
            f"{_money(account.get('arr'))}, plan {account.get('plan') or 'n/a'}, owner CSM "
            f"{account.get('owner_name') or 'unassigned'}{renews}.",
            "account",
        )
    health = facts.get("health") or {}
    if health.get("id"):
        add(health["id"], _health_line(health), "health")
    for factor in (health.get("factors") or [])[:2]:
        if factor.get("direction") == "raises risk":
            for evidence in factor.get("evidence_ids") or []:
                add(evidence, str(factor.get("text") or ""), "risk_factor")
    for signal in _notable(facts.get("signals") or [])[:MAX_SIGNAL_LINES]:
        # A change in what the customer did ("metric:...") is theirs to read; a model input
        # (days since the sponsor engaged) or an inferred tone is an assessment.
        own = str(signal.get("id") or "").startswith("metric:") and (
            signal.get("name") not in INFERRED_METRICS | SURVEY_METRICS
        )
        add(
            signal.get("id"),
            _signal_line(signal),
            "signal" if own else "model_signal",
            **_signal_tags(signal) if own else {},
        )
    # The figures growth hypotheses rest on, in words the customer can check: without them
    # an expansion e-mail had only the renewal date to say.
    for evidence, text, customer in growth_figures(facts.get("hypotheses") or []):
        add(evidence, text, "signal", trend="up", customer=customer)
    renewal = facts.get("renewal")
    if renewal:
        add(
            renewal.get("id"),
            f"Renewal on {renewal['renewal_date']} ({renewal['days_to_renewal']} days away), "
            f"ARR {_money(renewal.get('arr'))}.",
            "renewal",
            customer=f"Your renewal is on {renewal['renewal_date']} "
            f"({renewal['days_to_renewal']} days away).",
        )
    for issue in facts.get("billing_issues") or []:
        add(
            issue.get("id"),
            f"Invoice of {_money(issue.get('amount'))} due {issue.get('due_on')} is "
            f"{issue.get('status')} ({issue.get('days_overdue', 0)} days overdue).",
            "billing",
            status=str(issue.get("status") or ""),
            customer=_billing_customer(issue),
        )
    for contact in facts.get("contacts") or []:
        if contact.get("left_company"):
            role = _ROLE_NAMES.get(str(contact.get("role")), "Contact")
            when = f" on {contact['left_on']}" if contact.get("left_on") else ""
            add(
                contact.get("evidence_id"),
                f"{role} {contact.get('name')} ({contact.get('title') or 'no title'}) left the "
                f"company{when}.",
                "contact_left",
                role=str(contact.get("role") or ""),
                name=str(contact.get("name") or ""),
                customer=f"{contact.get('name')}"
                + (f" ({contact['title']})" if contact.get("title") else "")
                # "left the company on <date>"; "has left" only when the date is unknown.
                + (f" left the company{when}." if when else " has left the company."),
            )
    for item in [
        *(facts.get("evidence") or [])[:MAX_EVIDENCE_LINES],
        *(facts.get("open_requests") or []),
    ]:
        add(
            item.get("id"),
            _evidence_line(item),
            str(item.get("kind") or "evidence"),
            category=str(item.get("category") or ""),
            status=str(item.get("status") or ""),
            **({"topic": str(item["topic"])} if item.get("topic") else {}),
            **({"customer": _ticket_customer(item)} if item.get("kind") == "ticket" else {}),
        )
    for match in (facts.get("similar_churned") or [])[:2]:
        add(match.get("id"), str(match.get("summary") or ""), "cohort")
    return lines


# The figures of growth hypotheses (tools.hypotheses' expansion claims), read back from
# their statements: evidence id, pattern, internal line, the customer's line.
_N = r"(\d[\d,]*)"
_GROWTH_FIGURES: Final[tuple[tuple[str, re.Pattern[str], str, str], ...]] = (
    (
        "metric:seat_ceiling",
        re.compile(rf"\b{_N} of {_N} seats used\b"),
        "Seat use at the ceiling: {0} of {1} purchased seats in use.",
        "{0} of your {1} purchased seats are in use.",
    ),
    (
        "metric:seat_ceiling",
        re.compile(rf"\b{_N} active users on {_N} purchased seats\b"),
        "Seat use at the ceiling: {0} active users on {1} purchased seats.",
        "{0} active users on your {1} purchased seats.",
    ),
    (
        "metric:outcome_ceiling",
        re.compile(rf"\bnear the contracted ceiling: {_N} a month \({_N}% of the contract\)"),
        "Outcome volume at {1}% of the contracted ceiling ({0} a month).",
        "Your volume is about {0} a month, {1}% of the contracted volume.",
    ),
    (
        "metric:new_features",
        re.compile(rf"\bFast adoption: {_N} new features? in {_N} days \((.+)\)$"),
        "Fast adoption: {0} new features in {1} days ({2}).",
        "Your team started using {0} new features in the last {1} days: {2}.",
    ),
    (
        "metric:team_growth",
        re.compile(r"\bNew teams invited: ([+]\d+) active teams against the quarter before"),
        "New teams invited: {0} active teams against the quarter before.",
        "{0} active teams compared with the quarter before.",
    ),
)


def growth_figures(hypotheses: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """The figure each growth hypothesis rests on as (evidence id, internal line, customer
    line): seats in use of those purchased, volume against the contracted ceiling, new
    features by name, new teams; read from the expansion hypotheses' own statements."""
    out: list[tuple[str, str, str]] = []
    for h in hypotheses:
        if h.get("kind") != "expansion":
            continue
        statement = strip_period(str(h.get("statement") or ""))
        for evidence, pattern, text, customer in _GROWTH_FIGURES:
            found = pattern.search(statement)
            if found and all(evidence != o[0] for o in out):
                groups = found.groups()
                if evidence == "metric:new_features" and groups[0] == "1":
                    text, customer = (
                        t.replace("new features", "new feature") for t in (text, customer)
                    )
                out.append((evidence, text.format(*groups), customer.format(*groups)))
                break
    return out


def lines_for_draft(lines: Iterable[Mapping[str, str]], draft_kind: str) -> list[dict[str, str]]:
    """The fact lines a draft of ``draft_kind`` may rest on: all of them for the CS team,
    only what a customer may read about (``CUSTOMER_FACT_KINDS``) for anything sent out."""
    if draft_kind in INTERNAL_DRAFT_KINDS:
        return [dict(line) for line in lines]
    out = []
    for line in lines:
        if line.get("kind") not in CUSTOMER_FACT_KINDS or line.get("trend") == "flat":
            continue
        # The customer's wording when the line has one (a line built without it is read as
        # it stands: its kind is one a customer may read about).
        text = line.get("customer") or line.get("text") or ""
        out.append({k: v for k, v in line.items() if k != "customer"} | {"text": text})
    return out


def _signal_tags(signal: Mapping[str, Any]) -> dict[str, str]:
    """``trend``: ``up``, ``down`` or ``flat`` (a change too small to be a claim: the
    signal is not notable); nothing when the signal carries no change."""
    change = signal.get("change_pct")
    if signal.get("notable") is False:
        return {"trend": "flat"}
    before, after = signal.get("before"), signal.get("after")
    if not isinstance(change, int | float) and isinstance(before, int | float):
        # No percentage (it started from zero): the sign of the difference.
        change = after - before if isinstance(after, int | float) else None
    if isinstance(change, int | float):
        return {"trend": "up" if change > 0 else "down" if change < 0 else "flat"}
    return {}


def _billing_customer(issue: Mapping[str, Any]) -> str:
    due = issue.get("due_on")
    amount = _money(issue.get("amount"))
    if issue.get("status") == "failed":
        return f"The payment for the invoice of {amount} due {due} did not go through."
    days = int(issue.get("days_overdue") or 0)
    late = f", {days} days past due" if days else ""
    return f"The invoice of {amount} due {due} is still unpaid{late}."


def _ticket_topic(hit: Mapping[str, Any]) -> str:
    return request_topic(str(hit.get("content") or "")) if hit.get("kind") == "ticket" else ""


def _ticket_customer(item: Mapping[str, Any]) -> str:
    # What it is about ("SSO outage"), else its category; a ticket without either is a
    # ticket, never a guessed kind of one.
    category = str(item.get("topic") or "") or category_words(item.get("category")) or "support"
    if item.get("status") == "closed":
        state = f"was closed on {item['closed_on']}" if item.get("closed_on") else "was closed"
    else:
        state = "is still open"
    return f"Your {category} ticket opened on {item.get('date')} {state}."


def _notable(signals: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    flagged = [s for s in signals if s.get("notable")]
    return flagged or list(signals)


def _segment(value: Any) -> str:
    return str(value or "").replace("_", "-") or "unknown-segment"


def _money(value: Any) -> str:
    # Every amount with the book's currency (KEEL_CURRENCY): "invoice of $1,308".
    return money(value)


def _health_line(health: Mapping[str, Any]) -> str:
    parts = []
    if health.get("score") is not None:
        parts.append(f"Health score {health['score']:.0f}/100")
    if health.get("percentile") is not None:
        parts.append(percentile_phrase(float(health["percentile"])))
    if health.get("risk") is not None:
        horizon = health.get("horizon_days")
        over = f" within {horizon} days" if horizon else ""
        parts.append(f"churn risk {float(health['risk']):.0%}{over}")
    return ("; ".join(parts) + ".") if parts else ""


def _signal_line(signal: Mapping[str, Any]) -> str:
    text = str(signal.get("text") or "")
    if text:
        return text
    label = signal.get("label") or signal.get("name")
    since = f" (since {signal['since']})" if signal.get("since") else ""
    return f"{str(label).capitalize()}: {signal.get('display')}{since}."


def _evidence_line(item: Mapping[str, Any]) -> str:
    kind = item.get("kind")
    ref = str(item.get("id", "")).split(":", 1)[-1]
    if kind == "ticket":
        state = (
            f"closed {item['closed_on']}" + (f", CSAT {item['csat']}/5" if item.get("csat") else "")
            if item.get("status") == "closed"
            else "still open"
        )
        about = f" ({item['topic']})" if item.get("topic") else ""
        return (
            f"Ticket {ref}: {ticket_phrase(item.get('priority'), item.get('category'))}{about} "
            f"opened {item.get('date')}, {state}."
        )
    if kind == "note":
        label = str(item.get("note_kind") or "call").capitalize()
        return f"{label} note {ref} from {item.get('date')}."
    if kind == "nps":
        return f"NPS response {ref} on {item.get('date')}: score {item.get('score')}/10."
    return ""
