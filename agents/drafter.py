"""The drafter: one draft per planned play, grounded only in the facts it is handed.

The model writes the words (``DraftContent``); code decides everything else: the recipient
(the contact the planner chose, looked up in the account's contacts), the channel, the
producing model's label. Before the draft leaves this node, the outbound content policy
(:mod:`keel.agents.content_gate`) judges subject and body as they would be sent: a link not on
the allow-list, HTML or markdown, an offer the play has not been approved to make, or an
address other than the recipient's sends the draft back to the model once with the
reasons; what it still gets wrong is removed, and the reasons go to the human who must
then approve it. Cited evidence ids not among the facts are dropped. A reviewer's feedback
makes a revision; feedback remembered in the store for this account and play shapes every
draft.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from keel.agents.compose_draft import without_bare_title
from keel.agents.content_gate import customer_sources, problems_in, reasons, scrubbed
from keel.agents.context import ReviewDeps
from keel.agents.facts import INTERNAL_DRAFT_KINDS, lines_for_draft
from keel.agents.feedback import (
    StyleHints,
    feedback_hints,
    guidance_lines,
    recall,
    revision_checked,
    style_hints,
)
from keel.agents.offline import TypedPrompt, typed_prompt
from keel.agents.prompts import (
    CONTENT_REFUSAL_REQUEST,
    CUSTOMER_AUDIENCE_RULE,
    DRAFT_REVISION_REQUEST,
    DRAFTER_REQUEST,
    DRAFTER_SYSTEM,
    INTERNAL_AUDIENCE_RULE,
    NO_APPROVED_OFFERS,
    NO_GUIDANCE,
)
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, Draft, DraftContent
from keel.agents.state import ActionOutcome, ActionState
from keel.agents.step_requests import DRAFTER_STEP, DraftRequest, plain
from keel.domain.plays import PLAY_LIBRARY, Play
from keel.errors import KeelError
from keel.tools.outbound.content import ContentProblem, neutralise
from keel.tools.outbound.quotes import mark_quotes

log = logging.getLogger(__name__)

STEP: Final = DRAFTER_STEP
KIND_NAMES: Final = {
    "email": "email",
    "exec_brief": "executive brief (sent by email)",
    "internal_note": "internal escalation note for the CS team",
    "slack": "Slack message to the owner CSM",
}

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
        approved_offers = deps.policy.offers_for(play.id)
        kind = str(item.get("draft_kind") or play.draft_kind)
        unsupported = unsupported_claim(
            play.id, kind, lines_for_draft(facts.get("fact_lines") or [], kind)
        )
        if unsupported:
            # What the play would tell the customer is not true of their data today: no
            # draft, and the reason goes to the review's outcomes.
            log.info("no draft for %s on account %s: %s", play.id, account.get("id"), unsupported)
            return {
                "draft": None,
                "outcomes": [
                    ActionOutcome(
                        play=play.id,
                        status="blocked",
                        reasons=[unsupported],
                        detail=unsupported,
                    )
                ],
            }
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
                approved_offers=approved_offers,
            )

            def assemble(content: DraftContent) -> tuple[Draft, list[ContentProblem]]:
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
                return draft, problems_in(
                    draft,
                    allowlist=deps.link_allowlist,
                    approved_offers=approved_offers,
                    owner_csm=str(account.get("owner_csm") or ""),
                )

            content = invoke_structured(model, messages, DraftContent)
            draft, problems = assemble(content)
            if problems:
                # Once back to the model with the reasons; what it still gets wrong is
                # removed and a human reads why.
                retry = messages.extended(
                    [
                        AIMessage(content.model_dump_json()),
                        HumanMessage(
                            CONTENT_REFUSAL_REQUEST.format(
                                reasons="\n".join(f"- {r}" for r in reasons(problems))
                            )
                        ),
                    ]
                )
                try:
                    content = invoke_structured(model, retry, DraftContent)
                except KeelError as exc:
                    # The first draft, with what was refused removed, still goes to a human.
                    log.warning("redraft failed for %s: %s", play.id, exc)
                else:
                    draft, problems = assemble(content)
            if problems:
                draft = scrubbed(draft, problems)
                draft = draft.model_copy(
                    update={
                        "subject": draft.subject or play.title,
                        "content_problems": reasons(problems),
                    }
                )
            draft = _mark_customer_text(draft, deps, facts)
            # What the reviewer's feedback named, checked by code after the model.
            draft = revision_checked(
                draft, feedback[-1] if feedback else None, state.get("previous_draft")
            )
        except KeelError as exc:
            log.warning("drafter failed for %s on account %s: %s", play.id, account.get("id"), exc)
            return {
                "draft": None,
                "errors": [{"step": STEP, "error": str(exc), "play": play.id}],
                "outcomes": [ActionOutcome(play=play.id, status="failed", detail=str(exc))],
            }
        return {"draft": draft.model_dump(mode="json"), "revision": revision}

    return drafter


# What a customer play claims, and the fact (a kind of line, and a tag's value when given)
# that must hold at the as-of date for the claim to be true; the reason when none does.
_CLAIMS: Final[dict[str, tuple[str, Mapping[str, str], str]]] = {
    "billing_followup": (
        "billing",
        {},
        "no invoice is open or overdue as of the review date, so a billing follow-up would "
        "tell the customer something untrue",
    ),
    "ticket_satisfaction_pulse": (
        "ticket",
        {"status": "closed"},
        "no recently closed ticket to follow up on",
    ),
    "champion_left_multithread": (
        "contact_left",
        {"role": "champion"},
        "no champion of the account has left, so there is no departure to write about",
    ),
    "adoption_congrats": (
        "signal",
        {"trend": "up"},
        "no usage measure the customer can see has risen, so there is no progress to "
        "congratulate them on",
    ),
}


def unsupported_claim(play: str, kind: str, lines: Sequence[Mapping[str, str]]) -> str:
    """Why a draft of ``play`` would say something untrue to the customer, given the fact
    lines a customer's draft may use (``""`` when its premise holds, and for internal notes)."""
    if kind in INTERNAL_DRAFT_KINDS or play not in _CLAIMS:
        return ""
    wanted, tags, reason = _CLAIMS[play]
    for line in lines:
        # A tag the line does not carry (a direction not measured) is not held against it.
        if line.get("kind") == wanted and all(line.get(k, v) == v for k, v in tags.items()):
            return ""
    return reason


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
    approved_offers: Sequence[str] = (),
) -> TypedPrompt:
    """The drafter's prompt: rules, the facts it may use, and (for a revision) the feedback;
    with its :class:`DraftRequest`."""
    account = facts.get("account") or {}
    kind = str(item.get("draft_kind") or play.draft_kind)
    # A customer's draft sees only what a customer may read about (both model paths).
    lines = lines_for_draft(facts.get("fact_lines") or [], kind)
    hypothesis = next((h for h in briefing.hypotheses if h.id == item.get("hypothesis_id")), None)
    target = item.get("internal_recipient") or {}
    if recipient:
        who = f"{recipient['name']} ({recipient.get('title') or recipient.get('role')})"
    elif target.get("name"):
        who = f"{target['name']}, who can help beyond the account's CSM"
    else:
        who = f"the owner CSM {account.get('owner_name') or '(unassigned)'}"
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
    draft_request = DraftRequest(
        play=play.id,
        play_title=play.title,
        kind=kind,
        revision=revision,
        account=plain(
            {
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
            }
        ),
        recipient=plain({k: recipient.get(k) for k in ("id", "name", "email", "title", "role")})
        if recipient
        else None,
        rationale=item.get("rationale", ""),
        hypothesis=hypothesis.model_dump(mode="json") if hypothesis else None,
        fact_lines=plain(lines),
        hints=plain(hints.as_facts()),
        allowed_links=list(allowlist),
        approved_offers=list(approved_offers),
        previous=plain({"subject": previous.get("subject"), "body": previous.get("body")})
        if previous and feedback
        else None,
        feedback=feedback,
    )
    system = DRAFTER_SYSTEM.format(
        kind=KIND_NAMES.get(kind, kind),
        play_title=play.title,
        play_description=play.description,
        allowed_links=", ".join(allowlist) or "(none)",
        approved_offers="; ".join(f'"{o}"' for o in approved_offers) or NO_APPROVED_OFFERS,
        audience=INTERNAL_AUDIENCE_RULE if kind in INTERNAL_DRAFT_KINDS else CUSTOMER_AUDIENCE_RULE,
    )
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(request)]
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
    return typed_prompt(messages, draft_request)


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
    """The draft record: the model's words around code-owned recipient and labels.

    ``allowlist`` is kept for callers; links are judged by the content policy afterwards.
    """
    account = facts.get("account") or {}
    kind = str(item.get("draft_kind") or play.draft_kind)
    lines = lines_for_draft(facts.get("fact_lines") or [], kind)
    # Evidence a customer's draft may cite is what it was given: an internal id is dropped.
    known = {line["id"] for line in lines}
    # An internal note goes to whom the planner named from the policy (an escalation: the
    # escalation contact, never the account's own CSM), else to the owner CSM.
    target: dict[str, Any] = dict(item.get("internal_recipient") or {})
    owner = str(account.get("owner_csm") or "")
    # The words are the model's, unchanged: the content policy (:func:`_problems`) judges
    # them as they would be sent, and the node removes what it refuses.
    body = content.body
    if kind not in INTERNAL_DRAFT_KINDS:
        # A greeting naming only a title ("Hello Dr.,") is fixed from the contact's name.
        body = without_bare_title(body, recipient)
    subject = " ".join(content.subject.split())
    return Draft(
        kind=kind,
        play=play.id,
        account_id=int(account.get("id") or 0),
        recipient_contact_id=recipient["id"] if recipient else None,
        recipient_name=recipient["name"] if recipient else str(target.get("name") or owner),
        recipient_address=recipient["email"] if recipient else str(target.get("address") or ""),
        subject=subject[:200] or play.title,
        body=body,
        evidence_ids=[i for i in content.evidence_ids if i in known],
        facts_used=content.facts_used,
        hypothesis_id=item.get("hypothesis_id"),
        produced_by=label,
        revision=revision,
    )


def _mark_customer_text(draft: Draft, deps: ReviewDeps, facts: dict[str, Any]) -> Draft:
    """The draft with every run of customer text it repeats shown as a marked quotation.

    The model's words must not carry a customer's (or an attacker's) words as Keel's own: a
    quotation stays, marked and inert, and the policy check sends the draft to a human.
    """
    as_of = dt.date.fromisoformat(str(facts.get("as_of") or dt.date.today().isoformat())[:10])
    sources = customer_sources(deps.engine, draft.account_id, as_of)
    if not sources:
        return draft
    customer = draft.kind not in INTERNAL_DRAFT_KINDS
    # What Keel's own fact lines say is Keel's to say, even where a customer wrote it too.
    trusted = [str(line.get("text") or "") for line in facts.get("fact_lines") or []]

    def label(source_id: str) -> str:
        # A customer reads their own words back without Keel's internal record ids.
        return "customer text, as you wrote it" if customer else f"customer text, {source_id}"

    def mark(text: str) -> str:
        return mark_quotes(text, sources, neutralise=neutralise, label=label, trusted=trusted)

    return draft.model_copy(update={"subject": mark(draft.subject), "body": mark(draft.body)})


def _recipient(item: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any] | None:
    wanted = item.get("recipient_contact_id")
    if wanted is None:
        return None
    for contact in facts.get("contacts") or []:
        if contact.get("id") == wanted:
            return dict(contact)
    raise KeelError(f"contact {wanted} is not a contact of this account")
