"""The play library: the only actions the planner may propose.

A play says what kind of work it is, which hypotheses it answers, whom it addresses (contact
roles in order of preference) and what the drafter writes for it. The policy decides which
plays are allowed for an account and which need a human's approval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from keel.errors import KeelError
from keel.memory.actions import CHANNEL_FOR_DRAFT, Channel, DraftKind, is_customer_facing
from keel.memory.models import ContactRole

PlayKind = Literal["save", "growth", "engagement", "internal"]
RiskLevel = Literal["low", "medium", "high"]


class HypothesisKind(StrEnum):
    """The kinds of risk or opportunity the analyst states and plays answer."""

    USAGE_DECLINE = "usage_decline"
    LOW_ADOPTION = "low_adoption"
    ADOPTION_WIN = "adoption_win"
    CHAMPION_LEFT = "champion_left"
    EXEC_DISENGAGEMENT = "exec_disengagement"
    RENEWAL_RISK = "renewal_risk"
    HEALTHY_RENEWAL = "healthy_renewal"
    EXPANSION = "expansion"
    QUALITY_REGRESSION = "quality_regression"
    SUPPORT_PAIN = "support_pain"
    BILLING = "billing"


@dataclass(frozen=True)
class Play:
    """One play. ``draft_kinds[0]`` is the default draft; the others are allowed too."""

    id: str
    title: str
    description: str
    kind: PlayKind
    draft_kinds: tuple[DraftKind, ...]
    target_roles: tuple[ContactRole, ...]
    answers: tuple[HypothesisKind, ...]
    risk: RiskLevel

    @property
    def draft_kind(self) -> DraftKind:
        """The default draft kind."""
        return self.draft_kinds[0]

    @property
    def channel(self) -> Channel:
        """The default channel (from the default draft kind)."""
        return CHANNEL_FOR_DRAFT[self.draft_kind]

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(dict.fromkeys(CHANNEL_FOR_DRAFT[k] for k in self.draft_kinds))

    @property
    def customer_facing(self) -> bool:
        return any(is_customer_facing(c) for c in self.channels)


_R = ContactRole
_H = HypothesisKind
_D = DraftKind

_PLAYS: tuple[Play, ...] = (
    Play(
        id="usage_drop_checkin",
        title="Usage-drop check-in",
        description=(
            "A short, helpful note to the main user of the account after usage fell: ask "
            "what changed and offer a working session; no alarm, no sales pitch."
        ),
        kind="engagement",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.CHAMPION, _R.ADMIN, _R.USER),
        answers=(_H.USAGE_DECLINE, _H.LOW_ADOPTION),
        risk="medium",
    ),
    Play(
        id="champion_left_multithread",
        title="Champion-left multi-threading",
        description=(
            "The champion has left: introduce yourself to the executive sponsor or an admin, "
            "recap the value delivered so far and propose a call to rebuild the relationship."
        ),
        kind="save",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.EXECUTIVE_SPONSOR, _R.ADMIN, _R.USER),
        answers=(_H.CHAMPION_LEFT,),
        risk="high",
    ),
    Play(
        id="exec_sponsor_briefing",
        title="Executive sponsor briefing",
        description=(
            "A one-page brief for the executive sponsor: outcomes delivered, open issues "
            "and what we propose next, with the numbers behind each."
        ),
        kind="engagement",
        draft_kinds=(_D.EXEC_BRIEF,),
        target_roles=(_R.EXECUTIVE_SPONSOR,),
        answers=(_H.EXEC_DISENGAGEMENT, _H.RENEWAL_RISK, _H.EXPANSION),
        risk="medium",
    ),
    Play(
        id="renewal_kickoff",
        title="Renewal kickoff (healthy account)",
        description=(
            "Open the renewal conversation early with a healthy account: recap the year's "
            "outcomes and propose a renewal review meeting."
        ),
        kind="growth",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.CHAMPION, _R.EXECUTIVE_SPONSOR, _R.ADMIN),
        answers=(_H.HEALTHY_RENEWAL,),
        risk="medium",
    ),
    Play(
        id="save_plan",
        title="Save plan",
        description=(
            "A structured plan for an account at serious risk of churn: the problems in "
            "their words, the commitments we make, dates and owners; sent to the sponsor."
        ),
        kind="save",
        draft_kinds=(_D.EXEC_BRIEF, _D.EMAIL),
        target_roles=(_R.EXECUTIVE_SPONSOR, _R.CHAMPION),
        answers=(_H.RENEWAL_RISK, _H.USAGE_DECLINE, _H.CHAMPION_LEFT, _H.QUALITY_REGRESSION),
        risk="high",
    ),
    Play(
        id="expansion_conversation",
        title="Expansion conversation",
        description=(
            "The account is near its seat or outcome ceiling or adopting across teams: "
            "propose a conversation about a plan that fits how they use the product."
        ),
        kind="growth",
        draft_kinds=(_D.EMAIL, _D.EXEC_BRIEF),
        target_roles=(_R.CHAMPION, _R.EXECUTIVE_SPONSOR),
        answers=(_H.EXPANSION,),
        risk="medium",
    ),
    Play(
        id="adoption_congrats",
        title="Feature-adoption congratulations with tips",
        description=(
            "Congratulate the team on adopting a feature and share two or three tips "
            "(help-centre links) for getting more out of it."
        ),
        kind="engagement",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.CHAMPION, _R.ADMIN, _R.USER),
        answers=(_H.ADOPTION_WIN, _H.LOW_ADOPTION),
        risk="low",
    ),
    Play(
        id="ticket_satisfaction_pulse",
        title="Post-ticket satisfaction pulse",
        description=(
            "After a support ticket closes, ask the requester in one or two lines whether "
            "the problem is really solved and whether anything else gets in their way."
        ),
        kind="engagement",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.USER, _R.ADMIN, _R.CHAMPION),
        answers=(_H.SUPPORT_PAIN,),
        risk="low",
    ),
    Play(
        id="billing_followup",
        title="Billing follow-up",
        description=(
            "A friendly follow-up with the billing admin about a late or failed invoice, "
            "offering help; never a threat."
        ),
        kind="engagement",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.ADMIN, _R.CHAMPION),
        answers=(_H.BILLING,),
        risk="medium",
    ),
    Play(
        id="internal_escalation",
        title="Internal escalation",
        description=(
            "An internal note to the escalation contact the policy names (the CS leader or "
            "an escalation desk, never the account's own CSM): what is wrong, the evidence, "
            "and what help is needed (product, support, leadership)."
        ),
        kind="internal",
        draft_kinds=(_D.INTERNAL_NOTE, _D.SLACK),
        target_roles=(),
        answers=(
            _H.QUALITY_REGRESSION,
            _H.SUPPORT_PAIN,
            _H.RENEWAL_RISK,
            _H.CHAMPION_LEFT,
            _H.USAGE_DECLINE,
            _H.BILLING,
        ),
        risk="low",
    ),
    Play(
        id="quality_regression_followup",
        title="Quality-regression follow-up",
        description=(
            "Outcome quality dropped: acknowledge it plainly, explain what we know and what "
            "is being done, and offer a review of their affected workflows."
        ),
        kind="save",
        draft_kinds=(_D.EMAIL,),
        target_roles=(_R.CHAMPION, _R.ADMIN),
        answers=(_H.QUALITY_REGRESSION,),
        risk="medium",
    ),
)

PLAY_LIBRARY: dict[str, Play] = {play.id: play for play in _PLAYS}


class UnknownPlay(KeelError):
    """A play id that is not in the library."""


def get_play(play_id: str) -> Play:
    """The play with this id; :class:`UnknownPlay` names the known ids otherwise."""
    try:
        return PLAY_LIBRARY[play_id]
    except KeyError:
        known = ", ".join(sorted(PLAY_LIBRARY))
        raise UnknownPlay(f"unknown play '{play_id}'; known plays: {known}") from None


def plays_answering(kinds: Iterable[HypothesisKind | str]) -> list[Play]:
    """Plays that address any of the hypothesis kinds, in library order."""
    wanted = {str(k) for k in kinds}
    return [play for play in _PLAYS if wanted & {str(a) for a in play.answers}]
