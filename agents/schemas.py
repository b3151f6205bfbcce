"""What the agents write: pydantic models for briefings, plans, drafts and meeting prep.

Two families live here. The *model-facing* schemas (``Briefing``, ``Plan``,
``DraftContent``, ``MeetingPrep``, ``CallSummary``) are what a chat model fills through
structured output; they hold prose and the evidence ids it cites. The *records* (``Draft``)
are assembled by code around model output: recipients, channels and the producing model's
label are facts Keel decides, never text a model (or a customer's ticket) can choose.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

HypothesisKind = Literal["risk", "expansion"]
DraftKind = Literal["email", "exec_brief", "internal_note", "slack"]
TALKING_POINTS = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in ids if i))


# Evidence ids in citation order, without blanks or repeats.
EvidenceIds = Annotated[list[str], AfterValidator(_unique)]


class Change(_Model):
    """One thing that changed for the account, and since when."""

    description: str = Field(min_length=1)
    since: dt.date | None = Field(default=None, description="When the change started.")
    evidence_ids: EvidenceIds = Field(default_factory=list)


class Hypothesis(_Model):
    """A risk or expansion hypothesis, grounded in the evidence it cites."""

    id: str = Field(min_length=1, description="Stable id, e.g. 'risk:usage_drop'.")
    kind: HypothesisKind
    category: str = Field(
        default="",
        description="What it is about: a play-library hypothesis kind, e.g. usage_decline.",
    )
    statement: str = Field(min_length=1)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    evidence_ids: EvidenceIds = Field(min_length=1)


class Briefing(_Model):
    """The analyst's account briefing: what is going on, what changed, what it may mean."""

    account_id: int
    account_name: str
    as_of: dt.date
    summary: str = Field(min_length=1)
    changes: list[Change] = Field(default_factory=list)
    risk_hypotheses: list[Hypothesis] = Field(default_factory=list)
    expansion_hypotheses: list[Hypothesis] = Field(default_factory=list)
    produced_by: str = ""

    @property
    def hypotheses(self) -> list[Hypothesis]:
        return [*self.risk_hypotheses, *self.expansion_hypotheses]

    @property
    def evidence_ids(self) -> list[str]:
        ids: list[str] = []
        for change in self.changes:
            ids.extend(change.evidence_ids)
        for hypothesis in self.hypotheses:
            ids.extend(hypothesis.evidence_ids)
        return _unique(ids)


class PlannedPlay(_Model):
    """One play the planner chose, why, and which hypothesis it answers."""

    play: str = Field(min_length=1, description="Key of a play in the play library.")
    rationale: str = Field(min_length=1)
    hypothesis_id: str | None = Field(
        default=None, description="Id of the briefing hypothesis this play answers."
    )


class Plan(_Model):
    """The planner's choice of plays for one account."""

    plays: list[PlannedPlay] = Field(default_factory=list)
    note: str = Field(default="", description="Why no play (or anything else to know).")
    produced_by: str = ""


class DraftContent(_Model):
    """What the drafter's model writes for one action: the words and what they rest on."""

    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1)
    evidence_ids: EvidenceIds = Field(default_factory=list)
    facts_used: list[str] = Field(default_factory=list)


class Draft(_Model):
    """One outreach draft, ready for policy check and approval.

    ``recipient_contact_id`` is one of the account's contacts (``None`` for internal notes
    and Slack messages, which go to the owner CSM); Keel sets it, not the model.
    """

    kind: DraftKind
    play: str
    account_id: int
    recipient_contact_id: int | None = None
    recipient_name: str = ""
    recipient_address: str = Field(default="", description="Email or channel; set by code.")
    subject: str
    body: str
    evidence_ids: EvidenceIds = Field(default_factory=list)
    facts_used: list[str] = Field(default_factory=list)
    hypothesis_id: str | None = None
    produced_by: str = ""
    revision: int = 0
    # Set by code: what the content policy removed from the model's words, and why.
    content_problems: list[str] = Field(default_factory=list)


class MeetingPrep(_Model):
    """A one-page brief for a customer meeting with three talking points."""

    title: str = Field(min_length=1)
    brief: str = Field(min_length=1, description="One page of markdown.")
    talking_points: list[str] = Field(min_length=TALKING_POINTS, max_length=TALKING_POINTS)
    evidence_ids: EvidenceIds = Field(default_factory=list)
    produced_by: str = ""


class ActionItem(_Model):
    owner: str = Field(min_length=1)
    task: str = Field(min_length=1)
    due: dt.date | None = None


class CallSummary(_Model):
    """A summary of a call note with its action items."""

    summary: str = Field(min_length=1)
    action_items: list[ActionItem] = Field(default_factory=list)
    produced_by: str = ""
