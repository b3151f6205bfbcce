"""The planner: chooses plays for the briefing's hypotheses, under the written policy.

The model chooses among the plays the policy allows for this account (tier, quiet list,
top-quartile rule, caps counted from earlier reviews) and says why; code then holds the
plan to the same rules: plays outside the allowed set, duplicates and unknown hypothesis
ids are dropped, at most ``max_plays`` survive, and recipients are assigned from the
account's contacts by the play's target roles, one customer-facing message per contact,
within the account's remaining frequency cap. The planner cannot produce what the policy
forbids; the policy check before approval and the executor ask the policy again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from sqlmodel import Session

from keel.agents.analyst import review_as_of
from keel.agents.context import ReviewDeps
from keel.agents.gatekeeper import TOUCH_LOOKBACK_DAYS, thread_id_of
from keel.agents.offline import TypedPrompt, typed_prompt
from keel.agents.prompts import PLANNER_REQUEST, PLANNER_SYSTEM
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, Plan, PlannedPlay
from keel.agents.selection import (
    ESCALATION_PLAY,
    account_risk_of,
    code_selected_plays,
    misfit,
    open_risk_of,
    open_risk_reason,
    thin_plays,
    withheld_growth,
)
from keel.agents.state import ReviewState
from keel.agents.step_requests import PLANNER_STEP, AllowedPlay, PlanningRequest, plain
from keel.domain.plays import PLAY_LIBRARY, Play
from keel.domain.policy import Policy, PolicyDecision
from keel.errors import KeelError
from keel.memory.actions import list_actions, recent_touches
from keel.memory.models import Account, ContactRole

log = logging.getLogger(__name__)

STEP: Final = PLANNER_STEP
# The plan's note when the run allows no play for the account (e.g. a CSM's daily cap).
RUN_LIMIT_REASON: Final = "this run drafts no more plays for the account (a daily draft cap)"
Node = Callable[[ReviewState, RunnableConfig], dict[str, Any]]


def make_planner(*, model: BaseChatModel, deps: ReviewDeps) -> Node:
    """The planner node."""

    def planner(state: ReviewState, config: RunnableConfig) -> dict[str, Any]:
        if not state.get("briefing"):
            return {"plan": None}
        briefing = Briefing.model_validate(state["briefing"])
        facts = state.get("facts") or {}
        as_of = review_as_of(state, deps)
        max_plays = plays_limit(deps)
        if max_plays <= 0:
            dropped = [{"play": "(every play)", "reason": RUN_LIMIT_REASON}]
            return {"plan": {"plays": [], "dropped": dropped, "produced_by": deps.model_label}}
        try:
            allowed, touches = allowed_plays(
                deps, facts, as_of=as_of, thread_id=thread_id_of(config)
            )
            if not allowed:
                dropped = [
                    {
                        "play": "(every play)",
                        "reason": why_nothing_allowed(deps, facts, as_of, touches),
                    }
                ]
                return {"plan": {"plays": [], "dropped": dropped, "produced_by": deps.model_label}}
            slots = remaining_account_slots(deps, touches, as_of)
            # A customer play with nothing to tell the customer beyond the renewal date is
            # not offered to the model (and refused if it plans one anyway).
            thin = thin_plays([d.play_id for d in allowed], facts)
            messages = planner_messages(
                briefing,
                [d for d in allowed if d.play_id not in thin],
                max_plays=max_plays,
                customer_slots=slots,
                account_risk=account_risk_of(facts),
                factors=_factors(facts),
                open_risk=open_risk_of(facts),
            )
            plan = invoke_structured(model, messages, Plan)
        except KeelError as exc:
            log.warning("planner failed for account %s: %s", state["account_id"], exc)
            return {"plan": None, "errors": [{"step": STEP, "error": str(exc)}]}
        items, dropped = enforce_plan(
            plan,
            briefing=briefing,
            allowed={d.play_id: d for d in allowed},
            contacts=facts.get("contacts") or [],
            customer_slots=slots,
            max_plays=max_plays,
            account_risk=account_risk_of(facts),
            factors=_factors(facts),
            open_risk=open_risk_of(facts),
            thin=thin,
        )
        dropped += _withheld(briefing, allowed, items, dropped, open_risk_of(facts))
        dropped += _thin_dropped(facts, allowed, items, dropped, thin, max_plays, slots)
        address_escalations(
            items, deps.policy, str((facts.get("account") or {}).get("owner_csm") or "")
        )
        mark_code_selected(
            items,
            code_selected_plays(
                facts,
                [d.play_id for d in allowed],
                max_plays=max_plays,
                customer_slots=slots,
            ),
        )
        return {
            "plan": {
                "plays": items,
                "dropped": dropped,
                "note": plan.note,
                "produced_by": deps.model_label,
            }
        }

    return planner


def plays_limit(deps: ReviewDeps) -> int:
    """At most this many plays: the deps' limit, lowered by the run's own when it sets one
    (:attr:`keel.agents.context.RunContext.max_plays`)."""
    from langgraph.runtime import get_runtime

    try:
        limit = getattr(get_runtime().context, "max_plays", None)
    except RuntimeError:  # not inside a graph run
        limit = None
    return deps.max_plays if limit is None else max(min(deps.max_plays, int(limit)), 0)


def allowed_plays(
    deps: ReviewDeps, facts: dict[str, Any], *, as_of: dt.date, thread_id: str
) -> tuple[list[PolicyDecision], list[Any]]:
    """The policy's allowed plays for the account, and the touches it counted."""
    account_id = int((facts.get("account") or {}).get("id") or 0)
    percentile = (facts.get("health") or {}).get("percentile")
    with Session(deps.engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise KeelError(f"account {account_id} does not exist")
        own = {a.id for a in list_actions(session, thread_id=thread_id)}
        touches = [
            t
            for t in recent_touches(
                session,
                account_id=account_id,
                since=as_of - dt.timedelta(days=TOUCH_LOOKBACK_DAYS),
                include_in_flight=True,
                as_of=as_of,
            )
            if t.action_id not in own
        ]
        decisions = deps.policy.allowed_plays_for(
            account=account, health_percentile=percentile, recent_actions=touches, today=as_of
        )
    return decisions, touches


def why_nothing_allowed(
    deps: ReviewDeps, facts: dict[str, Any], as_of: dt.date, touches: Sequence[Any]
) -> str:
    """The policy's reasons, when it allows no play at all for the account now."""
    account_id = int((facts.get("account") or {}).get("id") or 0)
    percentile = (facts.get("health") or {}).get("percentile")
    with Session(deps.engine) as session:
        account = session.get(Account, account_id)
    if account is None:
        return "unknown account"
    reasons: dict[str, None] = {}
    for play_id in PLAY_LIBRARY:
        decision = deps.policy.evaluate(
            play_id=play_id,
            account=account,
            health_percentile=percentile,
            recent_actions=touches,
            today=as_of,
        )
        blocking = [
            r for r in decision.reasons if "cap" in r or "never-touch" in r or "quartile" in r
        ]
        reasons.update(dict.fromkeys(blocking))
    return "; ".join(reasons) or "the policy allows no play for this account"


def planner_messages(
    briefing: Briefing,
    allowed: Sequence[PolicyDecision],
    *,
    max_plays: int,
    customer_slots: int | None = None,
    account_risk: float | None = None,
    factors: dict[str, str] | None = None,
    open_risk: str = "",
) -> TypedPrompt:
    """The planner's prompt (prose for any model) with its :class:`PlanningRequest`.

    ``factors`` maps the code's hypothesis ids to the health factor each rests on, so the
    shared selection rule knows a renewal-date hypothesis from a risk whatever ids the
    briefing kept; ``account_risk`` is the account's modelled risk and ``open_risk`` the
    priority list's open risk for it (no growth play while set)."""
    known = factors or {}
    plays = "\n".join(_play_line(PLAY_LIBRARY[d.play_id]) for d in allowed)
    planning = PlanningRequest(
        account_id=briefing.account_id,
        max_plays=max_plays,
        customer_slots=customer_slots,
        allowed_plays=[
            AllowedPlay(
                id=d.play_id,
                answers=[str(a) for a in PLAY_LIBRARY[d.play_id].answers],
                kind=str(PLAY_LIBRARY[d.play_id].kind),
                needs_approval=d.needs_approval,
            )
            for d in allowed
        ],
        hypotheses=plain(
            [
                {
                    "id": h.id,
                    "kind": h.kind,
                    "category": h.category,
                    "confidence": h.confidence,
                    "statement": h.statement,
                    **({"factor": known[h.id]} if h.id in known else {}),
                }
                for h in briefing.hypotheses
            ]
        ),
        account_risk=account_risk,
        open_risk=open_risk,
    )
    slots = (
        "No limit on customer-facing messages this time."
        if customer_slots is None
        else f"At most {customer_slots} customer-facing message(s) this time (frequency cap); "
        "internal plays do not count."
    )
    request = PLANNER_REQUEST.format(
        briefing=briefing.model_dump_json(indent=1, exclude={"produced_by"}),
        plays=plays,
        slots=slots,
    )
    messages = [SystemMessage(PLANNER_SYSTEM.format(max_plays=max_plays)), HumanMessage(request)]
    return typed_prompt(messages, planning)


def _withheld(
    briefing: Briefing,
    allowed: Sequence[PolicyDecision],
    items: Sequence[dict[str, Any]],
    dropped: Sequence[dict[str, str]],
    open_risk: str,
) -> list[dict[str, str]]:
    """The growth plays the briefing's hypotheses call for that the account's open risk
    rules out, as ``dropped`` entries the reviewer reads (none already planned or listed)."""
    reason = open_risk_reason(
        [{"kind": h.kind, "category": h.category} for h in briefing.hypotheses], open_risk
    )
    hypotheses = [
        {"id": h.id, "kind": h.kind, "category": h.category, "confidence": h.confidence}
        for h in briefing.hypotheses
    ]
    seen = {str(i["play"]) for i in items} | {str(d["play"]) for d in dropped}
    return [
        d
        for d in withheld_growth(hypotheses, [a.play_id for a in allowed], reason)
        if d["play"] not in seen
    ]


def _thin_dropped(
    facts: dict[str, Any],
    allowed: Sequence[PolicyDecision],
    items: Sequence[dict[str, Any]],
    dropped: Sequence[dict[str, str]],
    thin: dict[str, str],
    max_plays: int,
    slots: int | None,
) -> list[dict[str, str]]:
    """The plays the signals would have chosen but that have nothing to tell the customer,
    as ``dropped`` entries (the reviewer sees why no such draft was written)."""
    if not thin:
        return []
    wanted = code_selected_plays(
        facts,
        [d.play_id for d in allowed],
        max_plays=max_plays,
        customer_slots=slots,
        with_substance=False,
    )
    seen = {str(i["play"]) for i in items} | {str(d["play"]) for d in dropped}
    return [{"play": p, "reason": thin[p]} for p in sorted(wanted) if p in thin and p not in seen]


def _factors(facts: dict[str, Any]) -> dict[str, str]:
    """Code hypothesis id -> the health factor it rests on."""
    return {
        str(h["id"]): str(h["factor"])
        for h in facts.get("hypotheses") or []
        if h.get("id") and h.get("factor")
    }


def _play_line(play: Play) -> str:
    answers = ", ".join(str(a) for a in play.answers)
    reader = "customer-facing" if play.customer_facing else "internal"
    return f"- {play.id}: {play.title} ({reader}); answers {answers}; {play.description}"


def remaining_account_slots(deps: ReviewDeps, touches: Sequence[Any], as_of: dt.date) -> int | None:
    """Customer-facing messages the account's frequency cap still allows (None: no cap)."""
    cap = deps.policy.frequency_caps.per_account
    if cap is None:
        return None
    since = as_of - dt.timedelta(days=cap.days)
    used = sum(1 for t in touches if t.customer_facing and since < t.on <= as_of)
    return max(cap.max_touches - used, 0)


def enforce_plan(
    plan: Plan,
    *,
    briefing: Briefing,
    allowed: dict[str, PolicyDecision],
    contacts: Sequence[dict[str, Any]],
    customer_slots: int | None,
    max_plays: int,
    account_risk: float | None = None,
    factors: dict[str, str] | None = None,
    open_risk: str = "",
    thin: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Hold the model's plan to the policy and assign recipients (see the module docstring).

    With ``account_risk`` (and ``factors``, code hypothesis id -> factor), a play that does
    not fit the account by the shared selection rule (:func:`keel.agents.selection.misfit`:
    an escalation for a low-risk account, a risk play for a renewal date, a growth play over
    the account's ``open_risk``) is dropped too, and so is a customer play in ``thin`` (play
    id -> why: nothing to tell the customer, :func:`keel.agents.selection.thin_plays`).
    A play asked for in words (the chat) passes neither and is only held to the policy.
    """
    hypothesis_ids = {h.id for h in briefing.hypotheses}
    known = factors or {}
    by_id = {
        h.id: {
            "id": h.id,
            "kind": h.kind,
            "category": h.category,
            **({"factor": known[h.id]} if h.id in known else {}),
        }
        for h in briefing.hypotheses
    }
    # An open risk on the account (the priority list's, or risk language or a departed
    # champion among the hypotheses) rules out growth plays, as the offline rule does.
    open_reason = open_risk_reason(by_id.values(), open_risk)
    items: list[dict[str, Any]] = []
    dropped: list[dict[str, str]] = []
    used_contacts: set[int] = set()
    slots = customer_slots
    for planned in plan.plays:
        play = PLAY_LIBRARY.get(planned.play)
        reason = _refusal(planned, play, allowed, items, max_plays)
        if reason is None and play is not None:
            reason = misfit(
                play.id,
                by_id.get(planned.hypothesis_id or ""),
                account_risk=account_risk,
                open_risk=open_reason if factors is not None or open_risk else False,
            )
        if reason is None and play is not None and thin and play.id in thin:
            reason = thin[play.id]
        if (
            reason is None
            and play is not None
            and play.customer_facing
            and slots is not None
            and slots <= 0
        ):
            reason = "the account's frequency cap leaves no room for another message"
        recipient: dict[str, Any] | None = None
        if reason is None and play is not None and play.customer_facing:
            recipient = choose_recipient(play, contacts, exclude=used_contacts)
            if recipient is None:
                reason = "no current contact in a role this play addresses is free to contact"
        if reason is not None or play is None:
            dropped.append({"play": planned.play, "reason": reason or "unknown play"})
            continue
        if recipient is not None:
            used_contacts.add(int(recipient["id"]))
            slots = None if slots is None else slots - 1
        items.append(
            {
                "play": play.id,
                "rationale": planned.rationale,
                "hypothesis_id": planned.hypothesis_id
                if planned.hypothesis_id in hypothesis_ids
                else None,
                "draft_kind": str(play.draft_kind),
                "recipient_contact_id": recipient["id"] if recipient else None,
                "needs_approval": allowed[play.id].needs_approval,
            }
        )
    return items, dropped


def address_escalations(items: list[dict[str, Any]], policy: Policy, owner_csm: str) -> None:
    """Give each escalation its recipient: the policy's escalation contact, never the
    account's own CSM (``internal_recipient``: name and address, empty for the CS team's
    channel)."""
    target = policy.escalation_for(owner_csm)
    for item in items:
        if item["play"] == ESCALATION_PLAY:
            item["internal_recipient"] = {"name": target.name, "address": target.address}


def mark_code_selected(items: list[dict[str, Any]], selected: set[str]) -> None:
    """Mark each planned item with whether the signals alone select its play.

    A play only the model chose may still be drafted and proposed, but never sent without
    a human: ``needs_approval`` becomes True whatever the tier allows.
    """
    for item in items:
        chosen_by_code = item["play"] in selected
        item["code_selected"] = chosen_by_code
        if not chosen_by_code:
            item["needs_approval"] = True


def _refusal(
    planned: PlannedPlay,
    play: Play | None,
    allowed: dict[str, PolicyDecision],
    items: Sequence[dict[str, Any]],
    max_plays: int,
) -> str | None:
    if play is None:
        return f"'{planned.play}' is not in the play library"
    if play.id not in allowed:
        return f"the policy does not allow {play.id} for this account"
    if any(item["play"] == play.id for item in items):
        return "already planned"
    if len(items) >= max_plays:
        return f"at most {max_plays} plays per account"
    return None


def choose_recipient(
    play: Play,
    contacts: Sequence[dict[str, Any]],
    *,
    exclude: set[int] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any] | None:
    """The contact the play addresses: by the play's role order, current contacts only,
    most recently engaged first; never one already addressed in this plan."""
    current = [c for c in contacts if not c.get("left_company") and c.get("id") not in exclude]
    for role in play.target_roles:
        matching = [c for c in current if c.get("role") == str(ContactRole(role))]
        if matching:
            matching.sort(
                key=lambda c: (c.get("last_engagement") or "", -int(c["id"])), reverse=True
            )
            return matching[0]
    return None
