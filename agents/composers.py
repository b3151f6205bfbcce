"""How the offline model writes Keel's agent outputs: templates over the structured facts.

Each composer reads the typed request the agent attached to its prompt
(:mod:`keel.agents.step_requests`: the briefing's date, the planning, draft, prep or call
request), plus the tool results in the conversation for the briefing, and writes the
schema from them: specific to the account and contact, varied by account with
:func:`keel.agents.offline.vary`, citing evidence ids, and saying it came from the offline
model. The prompt's words are never read back. The composers live one module per output:
the briefing here, the plan in :mod:`keel.agents.compose_plan`, drafts in
:mod:`keel.agents.compose_draft`, meeting prep and call summaries in
:mod:`keel.agents.compose_prep`.

:func:`offline_model` builds the offline model with these composers and the analyst's tool
plan (:func:`default_composers`, :func:`default_plans`); there is no global registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel

from keel.agents.compose_draft import compose_draft
from keel.agents.compose_plan import compose_plan
from keel.agents.compose_prep import compose_call_summary, compose_meeting_prep
from keel.agents.compose_text import money, percentile_phrase, strip_period
from keel.agents.facts import (
    build_facts,
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
    Briefing,
    CallSummary,
    Change,
    DraftContent,
    Hypothesis,
    MeetingPrep,
    Plan,
)
from keel.agents.step_requests import (
    ANALYST_STEP,
    BriefingRequest,
)
from keel.tools.ticket_words import ticket_phrase


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
            ticket = ticket_phrase(item.get("priority"), item.get("category"))
            changes.append(
                Change(
                    description=f"{ticket} still open",
                    since=dt.date.fromisoformat(str(item["date"])),
                    evidence_ids=[str(item["id"])],
                )
            )
    changes.sort(key=lambda c: c.since or dt.date.min, reverse=True)
    return changes[:6]


_HEALTH_OPENERS: Final = (
    "{name} is {article} {segment} account on the {plan} plan (ARR {arr}, owner {owner}); "
    "its health is {score}/100, the {pct}, with a {risk} churn risk "
    "within {horizon} days.",
    "Health for {name} ({segment}, ARR {arr}, owner {owner}) stands at {score}/100, the {pct}; "
    "the model puts churn risk at {risk} within {horizon} days.",
    "{owner}'s account {name} ({segment}, {plan}, ARR {arr}) scores {score}/100 on health "
    "({pct}; churn risk {risk} within {horizon} days).",
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
                pct=percentile_phrase(float(health["percentile"])),
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
