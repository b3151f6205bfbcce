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

from keel.domain.plays import PLAY_LIBRARY

SAVE_PLAN_CONFIDENCE: Final = 0.75
# Hypotheses below this confidence are mentioned in the briefing but get no play.
MIN_PLAY_CONFIDENCE: Final = 0.45
ESCALATION_CONFIDENCE: Final = 0.6
ESCALATION_PLAY: Final = "internal_escalation"


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


def select_plays(
    hypotheses: Iterable[Mapping[str, Any]],
    allowed: Collection[str],
    *,
    max_plays: int,
    customer_slots: int | None,
    require_evidence: bool = False,
) -> list[Selected]:
    """The plays the signals select, in order.

    Args:
        hypotheses: Candidate hypotheses (``id``, ``kind``, ``category``, ``confidence``,
            ``evidence_ids``), strongest first or in any order.
        allowed: Play ids the policy allows for the account now.
        max_plays: At most this many plays.
        customer_slots: Customer-facing messages the frequency cap still allows (None: no
            cap); internal plays do not count.
        require_evidence: Skip hypotheses that cite no evidence (raw candidates).
    """
    ranked = plannable(hypotheses, require_evidence=require_evidence)
    chosen: list[Selected] = []
    for hypothesis in ranked:
        if len(chosen) >= max_plays:
            break
        customer = sum(1 for s in chosen if PLAY_LIBRARY[s.play].customer_facing)
        full = customer_slots is not None and customer >= int(customer_slots)
        play_id = best_play(hypothesis, allowed, {s.play for s in chosen}, internal_only=full)
        if play_id is not None:
            chosen.append(Selected(play_id, hypothesis))
    risks = [h for h in ranked if h.get("kind") == "risk"]
    if (
        len(chosen) < max_plays
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
) -> str | None:
    """The most specific allowed play answering the hypothesis; a save plan when risk is high."""
    category = str(hypothesis.get("category") or "")
    answering = [
        PLAY_LIBRARY[p]
        for p in allowed
        if p in PLAY_LIBRARY
        and category in {str(a) for a in PLAY_LIBRARY[p].answers}
        and p not in taken
        and (not internal_only or not PLAY_LIBRARY[p].customer_facing)
    ]
    if not answering:
        return None
    high_risk = (
        hypothesis.get("kind") == "risk"
        and float(hypothesis.get("confidence") or 0) >= SAVE_PLAN_CONFIDENCE
    )
    if high_risk and any(p.id == "save_plan" for p in answering):
        return "save_plan"
    customer = [p for p in answering if p.kind != "internal"] or answering
    order = list(PLAY_LIBRARY)
    customer.sort(key=lambda p: (len(p.answers), order.index(p.id)))
    return customer[0].id


def code_selected_plays(
    facts: Mapping[str, Any],
    allowed: Collection[str],
    *,
    max_plays: int,
    customer_slots: int | None,
) -> set[str]:
    """The play ids the code's own candidate hypotheses (``facts["hypotheses"]``) select."""
    hypotheses: Sequence[Mapping[str, Any]] = facts.get("hypotheses") or []
    return {
        s.play
        for s in select_plays(
            hypotheses,
            allowed,
            max_plays=max_plays,
            customer_slots=customer_slots,
            require_evidence=True,
        )
    }
