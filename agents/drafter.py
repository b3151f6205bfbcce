"""The drafter: one draft per planned play, grounded only in the facts it is handed.

The model writes the words (``DraftContent``); code decides everything else: the recipient
(the contact the planner chose, looked up in the account's contacts), the channel, the
producing model's label. Before the draft leaves this node, links not on the allow-list and
e-mail addresses that are not the recipient's are removed from the text, and cited evidence
ids not among the facts are dropped. A reviewer's feedback makes a revision; feedback
remembered in the store for this account and play shapes every draft.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.context import ReviewDeps
from agents.facts import INTERNAL_DRAFT_KINDS, lines_for_draft
from agents.feedback import (
    StyleHints,
    feedback_hints,
    guidance_lines,
    recall,
    style_hints,
)
from agents.plays import PLAY_LIBRARY, Play
from agents.prompts import (
    CUSTOMER_AUDIENCE_RULE,
    DRAFT_REVISION_REQUEST,
    DRAFTER_REQUEST,
    DRAFTER_SYSTEM,
    INTERNAL_AUDIENCE_RULE,
    NO_GUIDANCE,
)
from agents.repair import invoke_structured
from agents.schemas import Briefing, Draft, DraftContent
from graphs.state import ActionOutcome, ActionState
from keel.errors import KeelError
from tools.outbound.guards import extract_links, link_allowed

log = logging.getLogger(__name__)

STEP: Final = "drafter"
REMOVED_LINK: Final = "[link removed]"
REMOVED_ADDRESS: Final = "[address removed]"
REMOVED_OFFER: Final = "[offer removed: no fact supports it]"
# Commercial offers a draft may only make when a fact states them.
_OFFER = re.compile(
    r"\b(discount|\d+\s?% off|coupon|promo(?:tion(?:al)?)? code|voucher|rebate|refund|"
    r"free (?:month|months|upgrade|seats?|licen[cs]es?)|credit note|service credits?)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
KIND_NAMES: Final = {
    "email": "email",
    "exec_brief": "executive brief (sent by email)",
    "internal_note": "internal escalation note for the CS team",
    "slack": "Slack message to the owner CSM",
}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Bare domains ("cform.com") that extract_links does not see as URLs.
_BARE_DOMAIN = re.compile(
    r"(?<![@\w./-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|xyz|info|biz|app|dev|ai|ly|me|ru|cn)\b(?:/[^\s)\]]*)?",
    re.IGNORECASE,
)

Node = Callable[[ActionState, Runtime[Any]], dict[str, Any]]


def make_drafter(*, model: BaseChatModel, deps: ReviewDeps) -> Node:
    """The drafter node."""

    def drafter(state: ActionState, runtime: Runtime[Any]) -> dict[str, Any]:
        item = state["item"]
        play = PLAY_LIBRARY[item["play"]]
        facts = state["facts"]
        briefing = Briefing.model_validate(state["briefing"])
        revision = int(state.get("revision", 0))
        feedback = list(state.get("feedback") or [])
        account = facts.get("account") or {}
        notes = []
        if runtime.store is not None:
            notes = recall(runtime.store, account_id=int(account.get("id") or 0), play=play.id)
        hints = style_hints(notes, account_id=int(account.get("id") or 0))
        if feedback:
            hints = merge_hints(hints, feedback_hints(feedback[-1]))
        try:
            recipient = _recipient(item, facts)
            messages = drafter_messages(
                play=play,
                item=item,
                facts=facts,
                briefing=briefing,
                recipient=recipient,
                guidance=guidance_lines(notes),
                hints=hints,
                allowlist=deps.link_allowlist,
                previous=state.get("previous_draft"),
                feedback=feedback[-1] if feedback else None,
                revision=revision,
            )
            content = invoke_structured(model, messages, DraftContent)
        except KeelError as exc:
            log.warning("drafter failed for %s on account %s: %s", play.id, account.get("id"), exc)
            return {
                "draft": None,
                "errors": [{"step": STEP, "error": str(exc), "play": play.id}],
                "outcomes": [ActionOutcome(play=play.id, status="failed", detail=str(exc))],
            }
        draft = assemble_draft(
            content,
            play=play,
            item=item,
            facts=facts,
            recipient=recipient,
            allowlist=deps.link_allowlist,
            label=deps.model_label,
            revision=revision,
        )
        return {"draft": draft.model_dump(mode="json"), "revision": revision}

    return drafter


def route_after_draft(state: ActionState) -> str:
    return "policy_check" if state.get("draft") else "log"


def merge_hints(remembered: StyleHints, current: StyleHints) -> StyleHints:
    """The reviewer's latest answer wins over remembered style."""
    return StyleHints(
        shorter=remembered.shorter or current.shorter,
        formal=current.formal or (remembered.formal and not current.warmer),
        warmer=current.warmer or (remembered.warmer and not current.formal),
        mentions=tuple(dict.fromkeys([*remembered.mentions, *current.mentions])),
        preferred_subject=remembered.preferred_subject,
        avoid=remembered.avoid,
    )


def drafter_messages(
    *,
    play: Play,
    item: dict[str, Any],
    facts: dict[str, Any],
    briefing: Briefing,
    recipient: dict[str, Any] | None,
    guidance: Sequence[str],
    hints: StyleHints,
    allowlist: Sequence[str],
    previous: dict[str, Any] | None,
    feedback: str | None,
    revision: int,
) -> list[BaseMessage]:
    """The drafter's prompt: rules, the facts it may use, and (for a revision) the feedback."""
    account = facts.get("account") or {}
    kind = str(item.get("draft_kind") or play.draft_kind)
    # A customer's draft sees only what a customer may read about (both model paths).
    lines = lines_for_draft(facts.get("fact_lines") or [], kind)
    hypothesis = next((h for h in briefing.hypotheses if h.id == item.get("hypothesis_id")), None)
    who = (
        f"{recipient['name']} ({recipient.get('title') or recipient.get('role')})"
        if recipient
        else f"the owner CSM {account.get('owner_name') or '(unassigned)'}"
    )
    request = DRAFTER_REQUEST.format(
        account_name=account.get("name", ""),
        segment=account.get("segment", ""),
        owner_csm=account.get("owner_name") or account.get("owner_csm", ""),
        recipient=who,
        rationale=item.get("rationale", ""),
        hypothesis=hypothesis.statement if hypothesis else "(none named)",
        facts="\n".join(f"- {line['id']}: {line['text']}" for line in lines) or "(none)",
        guidance="\n".join(f"- {g}" for g in guidance) or NO_GUIDANCE,
    )
    # Structured view of the same request, for the offline model (and any model that reads JSON).
    block = {
        "draft_request": {
            "play": play.id,
            "play_title": play.title,
            "kind": kind,
            "revision": revision,
            "account": {
                k: account.get(k)
                for k in (
                    "id",
                    "external_id",
                    "name",
                    "segment",
                    "owner_csm",
                    "owner_name",
                    "renewal_date",
                    "arr",
                )
            },
            "recipient": {k: recipient.get(k) for k in ("id", "name", "title", "role")}
            if recipient
            else None,
            "rationale": item.get("rationale", ""),
            "hypothesis": hypothesis.model_dump(mode="json") if hypothesis else None,
            "fact_lines": lines,
            "hints": hints.as_facts(),
            "allowed_links": list(allowlist),
            "previous": {"subject": previous.get("subject"), "body": previous.get("body")}
            if previous and feedback
            else None,
            "feedback": feedback,
        }
    }
    system = DRAFTER_SYSTEM.format(
        kind=KIND_NAMES.get(kind, kind),
        play_title=play.title,
        play_description=play.description,
        allowed_links=", ".join(allowlist) or "(none)",
        audience=INTERNAL_AUDIENCE_RULE if kind in INTERNAL_DRAFT_KINDS else CUSTOMER_AUDIENCE_RULE,
    )
    messages: list[BaseMessage] = [
        SystemMessage(system),
        HumanMessage(request + "\n\n" + json.dumps(block, default=str)),
    ]
    if previous and feedback:
        messages.append(
            HumanMessage(
                DRAFT_REVISION_REQUEST.format(
                    subject=previous.get("subject", ""),
                    body=previous.get("body", ""),
                    feedback=feedback,
                )
            )
        )
    return messages


def assemble_draft(
    content: DraftContent,
    *,
    play: Play,
    item: dict[str, Any],
    facts: dict[str, Any],
    recipient: dict[str, Any] | None,
    allowlist: Sequence[str],
    label: str,
    revision: int,
) -> Draft:
    """The draft record: model words, sanitised, around code-owned recipient and labels."""
    account = facts.get("account") or {}
    kind = str(item.get("draft_kind") or play.draft_kind)
    lines = lines_for_draft(facts.get("fact_lines") or [], kind)
    # Evidence a customer's draft may cite is what it was given: an internal id is dropped.
    known = {line["id"] for line in lines}
    allowed_addresses = (
        {recipient["email"].lower()} if recipient and recipient.get("email") else set()
    )
    # The owner CSM may sign with their own address.
    if "@" in str(account.get("owner_csm") or ""):
        allowed_addresses.add(str(account["owner_csm"]).lower())
    offers_in_facts = any(_OFFER.search(line["text"]) for line in lines)
    body = sanitise_text(content.body, allowlist=allowlist, addresses=allowed_addresses)
    if not offers_in_facts:
        body = remove_offers(body)
    subject = " ".join(
        sanitise_text(content.subject, allowlist=allowlist, addresses=allowed_addresses).split()
    )
    return Draft(
        kind=kind,
        play=play.id,
        account_id=int(account.get("id") or 0),
        recipient_contact_id=recipient["id"] if recipient else None,
        recipient_name=recipient["name"] if recipient else str(account.get("owner_csm") or ""),
        recipient_address=recipient["email"] if recipient else "",
        subject=subject[:200] or play.title,
        body=body,
        evidence_ids=[i for i in content.evidence_ids if i in known],
        facts_used=content.facts_used,
        hypothesis_id=item.get("hypothesis_id"),
        produced_by=label,
        revision=revision,
    )


def sanitise_text(text: str, *, allowlist: Sequence[str], addresses: set[str]) -> str:
    """Remove links not on the allow-list and addresses other than the recipient's."""
    for url in extract_links(text):
        if not link_allowed(url, allowlist):
            text = text.replace(url, REMOVED_LINK)
    text = _EMAIL.sub(
        lambda m: m.group(0) if m.group(0).lower() in addresses else REMOVED_ADDRESS, text
    )

    def bare(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if link_allowed("https://" + token, allowlist) else REMOVED_LINK

    return _BARE_DOMAIN.sub(bare, text)


def remove_offers(text: str) -> str:
    """Drop sentences that make a commercial offer (no fact supports one)."""
    lines = []
    for line in text.split("\n"):
        sentences = _SENTENCE_END.split(line)
        kept = [REMOVED_OFFER if _OFFER.search(s) else s for s in sentences]
        lines.append(" ".join(kept))
    return "\n".join(lines)


def _recipient(item: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any] | None:
    wanted = item.get("recipient_contact_id")
    if wanted is None:
        return None
    for contact in facts.get("contacts") or []:
        if contact.get("id") == wanted:
            return dict(contact)
    raise KeelError(f"contact {wanted} is not a contact of this account")
