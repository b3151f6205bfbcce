"""Which plays the deterministic signals alone select for an account.

One rule, used twice: the offline model's planner writes its plan with it, and the real
planner's plan is compared with it. A play the model planned that this rule would not
have chosen (from the code's own candidate hypotheses, never the model's briefing) may be
drafted, but it never goes out without a human, whatever the tier: an injection that
talks a model into swapping the plays cannot make an AI-led account send them alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from keel.agents.facts import lines_for_draft
from keel.domain.plays import PLAY_LIBRARY

SAVE_PLAN_CONFIDENCE: Final = 0.75
# Hypotheses below this confidence are mentioned in the briefing but get no play.
MIN_PLAY_CONFIDENCE: Final = 0.45
ESCALATION_CONFIDENCE: Final = 0.6
ESCALATION_PLAY: Final = "internal_escalation"
SAVE_PLAY: Final = "save_plan"
# The account's modelled risk (churn or contraction within the horizon) from which a save
# plan or an internal escalation is warranted, and below which growth plays come first. A
# 3%-risk account with a renewal coming is a renewal kickoff, not an escalation.
SERIOUS_RISK: Final = 0.3
# From this modelled risk the account's strongest risk answered by a save plan gets one,
# whatever that hypothesis's own confidence.
SAVE_PLAN_RISK: Final = 0.4
# Factors that say *when* to talk, not that something is wrong: the renewal date is
# context (tools.signals.catalog), so "Renewal is close" alone calls for no risk play.
TIMING_FACTORS: Final = frozenset({"renewal"})
# Hypothesis kinds a growth play answers; the plays that answer them.
GROWTH_CATEGORIES: Final = frozenset({"healthy_renewal", "expansion", "adoption_win"})
# Hypothesis kinds with a play made for them: it comes before a save plan, whatever the
# risk (a departed champion is answered by multi-threading; a save plan may follow).
DEDICATED_PLAYS: Final[dict[str, str]] = {"champion_left": "champion_left_multithread"}
# Open risks no growth play talks over, whatever the modelled risk. The rule is the priority
# list's (keel.tools.health.ranking.open_risks: flagged or above the book's mean risk, risk
# language in 90 days, a departed champion, a recent loss), stored with the scored account
# and read from the health tool (``facts["health"]["open_risk"]``), so the list's expansion
# picks and the planner's growth plays never disagree, even when a hypothesis that would
# have said so was dropped (a cited record without the cue). The hypotheses' own kinds below
# only stand in where no scored account is given (a plan checked without the health tool).
OPEN_RISK_FACTORS: Final = frozenset({"risk_language"})
OPEN_RISK_CATEGORIES: Final = frozenset({"champion_left"})
# What a customer play must be able to tell the customer: at least one fact they can read
# (agents.facts.lines_for_draft) beyond the renewal date, of a kind the play is about, moving
# the way the play says where it says one. Without it the demo drafted an exec brief whose
# only content was "your renewal is in 305 days", an expansion e-mail citing the renewal
# date alone and a usage check-in that "noticed a change" and named none. A renewal
# kickoff's subject is the renewal itself; internal plays are the CS team's, not the rule's.
PLAY_SUBSTANCE: Final[dict[str, tuple[frozenset[str], str | None]]] = {
    "usage_drop_checkin": (frozenset({"signal"}), "down"),
    "adoption_congrats": (frozenset({"signal"}), "up"),
    "expansion_conversation": (frozenset({"signal"}), "up"),
    "exec_sponsor_briefing": (frozenset({"signal", "ticket", "billing", "contact_left"}), None),
    "save_plan": (frozenset({"signal", "ticket", "billing", "contact_left"}), None),
    "champion_left_multithread": (frozenset({"contact_left"}), None),
    "ticket_satisfaction_pulse": (frozenset({"ticket"}), None),
    "billing_followup": (frozenset({"billing"}), None),
    "quality_regression_followup": (frozenset({"signal", "ticket"}), None),
}
SUBSTANCE_FREE: Final = frozenset({"renewal_kickoff"})
# Signals that count problems: more tickets is never growth, fewer never lost use.
PROBLEM_COUNTS: Final = frozenset({"metric:tickets"})


@dataclass(frozen=True)
class Selected:
    """One play the rule chose and the hypothesis it answers."""

    play: str
    hypothesis: Mapping[str, Any]


def plannable(
    hypotheses: Iterable[Mapping[str, Any]], *, require_evidence: bool = False
) -> list[Mapping[str, Any]]:
    """Hypotheses strong enough for a play, strongest first (ties by id).

    With ``require_evidence``, only risk or expansion hypotheses that cite evidence count:
    the same ones a briefing may keep (a briefing's hypotheses were filtered so already).
    """
    kept = [
        h
        for h in hypotheses
        if float(h.get("confidence") or 0) >= MIN_PLAY_CONFIDENCE
        and (
            not require_evidence
            or (h.get("kind") in ("risk", "expansion") and h.get("id") and h.get("evidence_ids"))
        )
    ]
    kept.sort(key=lambda h: (-float(h.get("confidence") or 0), str(h.get("id"))))
    return kept


def factor_of(hypothesis: Mapping[str, Any]) -> str:
    """The health factor a hypothesis rests on: its ``factor``, else the last part of a
    code hypothesis id (``acc-00006:risk:1:renewal``)."""
    factor = hypothesis.get("factor")
    if factor:
        return str(factor)
    parts = str(hypothesis.get("id") or "").split(":")
    return parts[-1] if len(parts) >= 3 else ""


def timing_only(hypothesis: Mapping[str, Any]) -> bool:
    """A risk hypothesis that rests on the calendar alone (the renewal is close)."""
    return hypothesis.get("kind") == "risk" and factor_of(hypothesis) in TIMING_FACTORS


def is_open_risk(hypothesis: Mapping[str, Any]) -> bool:
    """A risk no growth play should talk over (:data:`OPEN_RISK_FACTORS`, a departed
    champion)."""
    if hypothesis.get("kind") != "risk" or timing_only(hypothesis):
        return False
    category = str(hypothesis.get("category") or "")
    return factor_of(hypothesis) in OPEN_RISK_FACTORS or category in OPEN_RISK_CATEGORIES


def is_growth(hypothesis: Mapping[str, Any]) -> bool:
    return str(hypothesis.get("category") or "") in GROWTH_CATEGORIES or (
        hypothesis.get("kind") == "expansion"
    )


def open_risk_of(facts: Mapping[str, Any]) -> str:
    """The account's open risk from the review's facts: the priority list's reason stored
    with the scored account (``facts["health"]["open_risk"]``), "" when it has none."""
    return str((facts.get("health") or {}).get("open_risk") or "").strip()


def open_risk_reason(hypotheses: Iterable[Mapping[str, Any]], account_open_risk: str = "") -> str:
    """Why no growth play fits the account ("" when one may): the scored account's open
    risk, else an open-risk hypothesis (:func:`is_open_risk`) among ``hypotheses``."""
    if account_open_risk.strip():
        return account_open_risk.strip()
    for h in hypotheses:
        if is_open_risk(h):
            if str(h.get("category") or "") in OPEN_RISK_CATEGORIES:
                return "a champion left and is not yet replaced"
            return "risk language in the customer's own words"
    return ""


def growth_refusal(reason: str) -> str:
    """The reviewer's line for a growth play withheld over an open risk."""
    return f"the account has an open risk ({reason}): no growth play talks over it"


def withheld_growth(
    hypotheses: Iterable[Mapping[str, Any]], allowed: Collection[str], reason: str
) -> list[dict[str, str]]:
    """The growth plays the hypotheses would have called for but an open risk rules out,
    as the plan's ``dropped`` entries (the reviewer sees why no expansion was proposed)."""
    if not reason:
        return []
    out: dict[str, str] = {}
    for h in plannable(hypotheses):
        if not is_growth(h):
            continue
        category = str(h.get("category") or "")
        for play_id in allowed:
            play = PLAY_LIBRARY.get(play_id)
            if play is not None and category in {str(a) for a in play.answers}:
                out.setdefault(play_id, growth_refusal(reason))
    return [{"play": p, "reason": r} for p, r in out.items()]


def select_plays(
    hypotheses: Iterable[Mapping[str, Any]],
    allowed: Collection[str],
    *,
    max_plays: int,
    customer_slots: int | None,
    require_evidence: bool = False,
    account_risk: float | None = None,
    open_risk: str = "",
) -> list[Selected]:
    """The plays the signals select, in order.

    The rule: a hypothesis resting on the renewal date alone gets no risk play (on an
    account known not to be at serious risk it is a healthy renewal: the kickoff); one play per
    kind of hypothesis, the most specific allowed (a departed champion: multi-threading;
    expansion: the expansion conversation; a healthy renewal: the renewal kickoff). When
    the account's risk is known, below :data:`SERIOUS_RISK` growth hypotheses come first
    and no save plan or escalation is chosen; at or above it, risk comes first and no
    growth play is chosen (an account at risk is not sold more); nor is one over an open
    risk (``open_risk``, the priority list's reason for the account, or an open-risk
    hypothesis, :func:`is_open_risk`), whatever the modelled risk.

    Args:
        hypotheses: Candidate hypotheses (``id``, ``kind``, ``category``, ``confidence``,
            ``evidence_ids``, optionally ``factor``), in any order.
        allowed: Play ids the policy allows for the account now.
        max_plays: At most this many plays.
        customer_slots: Customer-facing messages the frequency cap still allows (None: no
            cap); internal plays do not count.
        require_evidence: Skip hypotheses that cite no evidence (raw candidates).
        account_risk: The account's modelled risk (0-1); None when unknown (then every
            risk hypothesis may be answered by a save plan or an escalation, by confidence).
        open_risk: The scored account's open risk (:func:`open_risk_of`); "" when none.
    """
    serious = account_risk is None or account_risk >= SERIOUS_RISK
    candidates = plannable(hypotheses, require_evidence=require_evidence)
    troubled = any(h.get("kind") == "risk" and not timing_only(h) for h in candidates)
    ranked: list[Mapping[str, Any]] = []
    for h in candidates:
        if not timing_only(h):
            ranked.append(h)
        elif account_risk is not None and not serious and not troubled:
            # A renewal coming on an account with nothing else wrong: a renewal kickoff.
            ranked.append({**h, "kind": "expansion", "category": "healthy_renewal"})
    blocked = bool(open_risk_reason(candidates, open_risk))
    if blocked:
        ranked = [h for h in ranked if not is_growth(h)]
    if account_risk is not None:
        growth = [h for h in ranked if is_growth(h)]
        risks = [h for h in ranked if not is_growth(h)]
        ranked = risks if serious else growth + risks
        # A hypothesis with a play made for it (a departed champion) comes first: nobody
        # else on the account is reached well until the relationship is rebuilt.
        ranked.sort(key=lambda h: str(h.get("category") or "") not in DEDICATED_PLAYS)
    chosen: list[Selected] = []
    answered: set[str] = set()
    for hypothesis in ranked:
        if len(chosen) >= max_plays:
            break
        category = str(hypothesis.get("category") or "")
        if category and category in answered:
            continue
        customer = sum(1 for s in chosen if PLAY_LIBRARY[s.play].customer_facing)
        full = customer_slots is not None and customer >= int(customer_slots)
        play_id = best_play(
            hypothesis,
            allowed,
            {s.play for s in chosen},
            internal_only=full,
            serious=serious,
            save=account_risk is not None and account_risk >= SAVE_PLAN_RISK,
        )
        if play_id is not None:
            chosen.append(Selected(play_id, hypothesis))
            answered.add(category)
    risks = [h for h in ranked if h.get("kind") == "risk"]
    if (
        serious
        and len(chosen) < max_plays
        and ESCALATION_PLAY in allowed
        and ESCALATION_PLAY not in {s.play for s in chosen}
        and risks
        and float(risks[0].get("confidence") or 0) >= ESCALATION_CONFIDENCE
    ):
        chosen.append(Selected(ESCALATION_PLAY, risks[0]))
    return chosen


def best_play(
    hypothesis: Mapping[str, Any],
    allowed: Collection[str],
    taken: Collection[str],
    *,
    internal_only: bool = False,
    serious: bool = True,
    save: bool = False,
) -> str | None:
    """The most specific allowed play answering the hypothesis: its dedicated play when it
    has one, a save plan when the hypothesis is strong and the account at serious risk,
    else the customer play answering the fewest kinds. No escalation or save plan for an
    account that is not at serious risk (``serious=False``); ``save``: the account's risk
    alone calls for a save plan (:data:`SAVE_PLAN_RISK`)."""
    category = str(hypothesis.get("category") or "")
    answering = [
        PLAY_LIBRARY[p]
        for p in allowed
        if p in PLAY_LIBRARY
        and category in {str(a) for a in PLAY_LIBRARY[p].answers}
        and p not in taken
        and (not internal_only or not PLAY_LIBRARY[p].customer_facing)
        and (serious or p not in (SAVE_PLAY, ESCALATION_PLAY))
    ]
    if not answering:
        return None
    risk = hypothesis.get("kind") == "risk"
    can_save = serious and risk and any(p.id == SAVE_PLAY for p in answering)
    if can_save and save:
        # The account's own risk calls for a save plan (to the sponsor): it comes first,
        # and for a departed champion it is the multi-threading move as well.
        return SAVE_PLAY
    dedicated = DEDICATED_PLAYS.get(category)
    if dedicated is not None and any(p.id == dedicated for p in answering):
        return dedicated
    if can_save and float(hypothesis.get("confidence") or 0) >= SAVE_PLAN_CONFIDENCE:
        return SAVE_PLAY
    customer = [p for p in answering if p.kind != "internal"] or answering
    order = list(PLAY_LIBRARY)
    customer.sort(key=lambda p: (len(p.answers), order.index(p.id)))
    return customer[0].id


def substance(play_id: str, fact_lines: Iterable[Mapping[str, str]]) -> list[str]:
    """The evidence ids of the customer-visible facts a play could rest on
    (:data:`PLAY_SUBSTANCE`); every fact a customer may read for a play not listed."""
    kinds, trend = PLAY_SUBSTANCE.get(play_id, (None, None))
    out: list[str] = []
    for line in lines_for_draft(fact_lines, "email"):
        kind = line.get("kind")
        if kind == "renewal" or (kinds is not None and kind not in kinds):
            continue
        if (
            kind == "signal"
            and trend is not None
            and (line.get("trend") != trend or line.get("id") in PROBLEM_COUNTS)
        ):
            continue
        out.append(str(line.get("id") or ""))
    return out


def thin_plays(allowed: Iterable[str], facts: Mapping[str, Any]) -> dict[str, str]:
    """The allowed customer plays with nothing to tell the customer, each with the reason
    the reviewer reads; none when the facts carry no fact lines (nothing to judge by)."""
    if "fact_lines" not in facts:
        return {}
    lines: Sequence[Mapping[str, str]] = facts.get("fact_lines") or []
    out: dict[str, str] = {}
    for play_id in allowed:
        play = PLAY_LIBRARY.get(play_id)
        if play is None or not play.customer_facing or play_id in SUBSTANCE_FREE:
            continue
        if not substance(play_id, lines):
            trend = PLAY_SUBSTANCE.get(play_id, (frozenset(), None))[1]
            what = {
                "down": "a fall in their own use",
                "up": "growth in their own use (seats, teams, volume)",
            }.get(str(trend), "a change, ticket, invoice or departure they can see")
            out[play_id] = (
                f"nothing to tell the customer beyond the renewal date: {play.title.lower()} "
                f"needs {what}, and the facts hold none"
            )
    return out


def code_selected_plays(
    facts: Mapping[str, Any],
    allowed: Collection[str],
    *,
    max_plays: int,
    customer_slots: int | None,
    with_substance: bool = True,
) -> set[str]:
    """The play ids the code's own candidate hypotheses (``facts["hypotheses"]``) select,
    among the allowed plays with something to tell the customer (:func:`thin_plays`; all of
    them with ``with_substance=False``)."""
    hypotheses: Sequence[Mapping[str, Any]] = facts.get("hypotheses") or []
    thin = thin_plays(allowed, facts) if with_substance else {}
    return {
        s.play
        for s in select_plays(
            hypotheses,
            [p for p in allowed if p not in thin],
            max_plays=max_plays,
            customer_slots=customer_slots,
            require_evidence=True,
            account_risk=account_risk_of(facts),
            open_risk=open_risk_of(facts),
        )
    }


def account_risk_of(facts: Mapping[str, Any]) -> float | None:
    """The account's modelled risk from the review's facts (``facts["health"]["risk"]``)."""
    risk = (facts.get("health") or {}).get("risk")
    try:
        return None if risk is None else float(risk)
    except (TypeError, ValueError):
        return None


def misfit(
    play_id: str,
    hypothesis: Mapping[str, Any] | None,
    *,
    account_risk: float | None,
    open_risk: bool | str = False,
) -> str | None:
    """Why a play a model planned does not fit the account (None when it fits).

    The same rule as :func:`select_plays`, as a check on a plan it did not write: no save
    plan or escalation below :data:`SERIOUS_RISK`, no growth play at or above it, and no
    risk play answering a renewal date alone; no growth play, nor any play answering a
    growth hypothesis, over an open risk (``open_risk``: the reason, or True).
    """
    play = PLAY_LIBRARY.get(play_id)
    if play is None:
        return None
    if open_risk and (play.kind == "growth" or (hypothesis is not None and is_growth(hypothesis))):
        reason = (
            open_risk
            if isinstance(open_risk, str)
            else "the customer's own words of risk, or a departed champion"
        )
        return growth_refusal(reason)
    if account_risk is not None:
        if play_id in (SAVE_PLAY, ESCALATION_PLAY) and account_risk < SERIOUS_RISK:
            return (
                f"the account's risk ({account_risk:.0%}) is below the {SERIOUS_RISK:.0%} a "
                "save plan or an escalation needs"
            )
        if play.kind == "growth" and account_risk >= SERIOUS_RISK:
            return f"an account at {account_risk:.0%} risk gets no growth play"
    if hypothesis is not None and timing_only(hypothesis) and play.kind != "growth":
        return "a renewal date alone is no risk: it calls for no risk play"
    return None
