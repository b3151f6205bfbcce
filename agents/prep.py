"""Meeting prep: a one-page brief with three talking points, and a call-note summary.

Two steps, each one model call with structured output; both take the analyst's briefing
and facts (so ``keel prep`` runs the analyst first) and build no clients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from keel.agents.call_note import PRICE, price_terms, read_note
from keel.agents.facts import known_evidence_ids
from keel.agents.offline import typed_prompt
from keel.agents.prompts import (
    CALL_SUMMARY_REQUEST,
    CALL_SUMMARY_SYSTEM,
    PREP_REQUEST,
    PREP_SYSTEM,
)
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, CallSummary, MeetingPrep
from keel.agents.step_requests import CallRequest, PrepRequest, plain
from keel.agents.voice import in_keel_voice, quoted_in
from keel.tools.account_tools import wrap_customer_text

MAX_NOTE_CHARS = 20_000
PRICE_REMARKS_ADDED = "Price and competition remarks in the note (added by Keel):"


def write_meeting_prep(
    model: BaseChatModel,
    *,
    briefing: Briefing,
    facts: Mapping[str, Any],
    as_of: dt.date,
    label: str,
    sources: Sequence[tuple[str, str]] = (),
) -> MeetingPrep:
    """The one-page brief and three talking points for a meeting with the account.

    ``sources``: customer texts of the account, so what the model copies from them is
    shown as a marked quotation; the briefing's own quotations always count.
    """
    contacts = facts.get("contacts") or []
    account = facts.get("account") or {}
    lines = facts.get("fact_lines") or []
    prep_request = PrepRequest(
        as_of=as_of.isoformat(),
        account=plain({k: account.get(k) for k in ("id", "external_id", "name", "segment")}),
        briefing=briefing.model_dump(mode="json"),
        fact_lines=plain(lines),
        contacts=plain(
            [{k: c.get(k) for k in ("name", "title", "role", "left_company")} for c in contacts]
        ),
    )
    people = "\n".join(
        f"- {c.get('name')}, {c.get('title')} ({c.get('role')})"
        + (" - left the company" if c.get("left_company") else "")
        for c in contacts
    )
    request = PREP_REQUEST.format(
        account_name=briefing.account_name,
        account_id=briefing.account_id,
        as_of=as_of.isoformat(),
        briefing=briefing.model_dump_json(indent=1, exclude={"produced_by"}),
        contacts=people or "(none on record)",
        facts="\n".join(f"- {line['id']}: {line['text']}" for line in lines) or "(none)",
    )
    prep = invoke_structured(
        model,
        typed_prompt([SystemMessage(PREP_SYSTEM), HumanMessage(request)], prep_request),
        MeetingPrep,
    )
    known = known_evidence_ids(facts)
    # The brief is the model's: customer text in it (the briefing's quotations, or any
    # given source) is marked, and nothing in it stays live (links, images, markup).
    quoted = [*sources, *quoted_in(_briefing_texts(briefing))]
    return prep.model_copy(
        update={
            "title": in_keel_voice(prep.title, quoted),
            "brief": in_keel_voice(prep.brief, quoted),
            "talking_points": [in_keel_voice(t, quoted) for t in prep.talking_points],
            "evidence_ids": [i for i in prep.evidence_ids if i in known],
            "produced_by": label,
        }
    )


def _briefing_texts(briefing: Briefing) -> list[str]:
    texts = [briefing.summary, *(c.description for c in briefing.changes)]
    return texts + [h.statement for h in briefing.hypotheses]


def with_price_remarks(summary: str, note: str) -> str:
    """``summary`` with every price or competitor remark of the note it left out added.

    A model may summarise "looking at a cheaper tool" away; a CSM must not miss it. A
    remark counts as kept when the summary uses its price or competitor words; one left
    out is added in the note's own words, so it is shown as a marked quotation.
    """
    missing = [
        sentence.raw
        for sentence in read_note(note).sentences
        if PRICE in sentence.labels
        and not all(term.casefold() in summary.casefold() for term in price_terms(sentence.text))
    ]
    if not missing:
        return summary
    return f"{summary.rstrip()}\n\n{PRICE_REMARKS_ADDED} " + " ".join(missing)


def summarise_call(
    model: BaseChatModel,
    *,
    note: str,
    facts: Mapping[str, Any],
    source: str,
    label: str,
) -> CallSummary:
    """A summary of a call note with its action items; the note is treated as data."""
    account = facts.get("account") or {}
    contacts = facts.get("contacts") or []
    wrapped = wrap_customer_text(source, note[:MAX_NOTE_CHARS], limit=MAX_NOTE_CHARS)
    owner = account.get("owner_name") or account.get("owner_csm")
    call_request = CallRequest(
        account_name=plain(account.get("name")),
        owner_csm=plain(owner),
        people=plain([c.get("name") for c in contacts if c.get("name")]),
        note=wrapped,
    )
    request = CALL_SUMMARY_REQUEST.format(
        account_name=account.get("name", ""),
        owner_csm=owner or "(unassigned)",
        contacts=", ".join(str(c.get("name")) for c in contacts) or "(none on record)",
        note=wrapped,
    )
    summary = invoke_structured(
        model,
        typed_prompt([SystemMessage(CALL_SUMMARY_SYSTEM), HumanMessage(request)], call_request),
        CallSummary,
    )
    # What the model copied from the note is shown as a marked quotation of it, inert.
    sources = [(source, note[:MAX_NOTE_CHARS])]
    text = with_price_remarks(summary.summary, note[:MAX_NOTE_CHARS])
    return summary.model_copy(
        update={
            "summary": in_keel_voice(text, sources),
            "action_items": [
                item.model_copy(
                    update={
                        "owner": in_keel_voice(item.owner, sources),
                        "task": in_keel_voice(item.task, sources),
                    }
                )
                for item in summary.action_items
            ],
            "produced_by": label,
        }
    )
