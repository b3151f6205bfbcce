"""What each agent step asks a model for, as typed facts.

A step's prompt is prose for a real model; alongside it the step attaches one of these
(:func:`keel.agents.offline.typed_prompt`), built from the same values, for models that
cannot read prose: the offline model's composers write from them. Nested records (the
account, fact lines, the briefing) stay the plain JSON mappings the rest of the review
passes around; :func:`plain` makes them so (dates as ISO strings), the form they had when
the offline model read them back out of a JSON block in the prompt.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

from pydantic import BaseModel, Field

# Step names: the config metadata value (``keel.agents.offline.STEP_KEY``) that names the
# calling step, and the ``step`` of an error record.
ANALYST_STEP: Final = "analyst"
PLANNER_STEP: Final = "planner"
DRAFTER_STEP: Final = "drafter"


def plain(value: Any) -> Any:
    """``value`` as plain JSON values (what ``json.dumps(value, default=str)`` keeps)."""
    return json.loads(json.dumps(value, default=str))


class BriefingRequest(BaseModel):
    """The analyst's ask for a briefing (the tool results are in the conversation)."""

    account_id: int
    account_name: str
    as_of: dt.date


class AllowedPlay(BaseModel):
    """A play the policy allows for the account now."""

    id: str
    answers: list[str]
    kind: str
    needs_approval: bool


class PlanningRequest(BaseModel):
    """The planner's ask: the briefing's hypotheses and the plays it may choose from."""

    account_id: int
    max_plays: int
    customer_slots: int | None = Field(
        description="Customer-facing messages the frequency cap still allows (None: no cap)."
    )
    allowed_plays: list[AllowedPlay]
    hypotheses: list[dict[str, Any]]
    # The account's modelled risk (0-1; None when unknown): the shared selection rule
    # (agents.selection) weighs growth against risk plays by it.
    account_risk: float | None = None
    # The account's open risk (the priority list's rule, agents.selection.open_risk_of): no
    # growth play while it is set; "" when none.
    open_risk: str = ""


class DraftRequest(BaseModel):
    """The drafter's ask: one draft for one planned play."""

    play: str
    play_title: str
    kind: str
    revision: int
    account: dict[str, Any]
    recipient: dict[str, Any] | None
    rationale: str | None
    hypothesis: dict[str, Any] | None
    fact_lines: list[dict[str, Any]]
    hints: dict[str, Any]
    allowed_links: list[str]
    approved_offers: list[str]
    previous: dict[str, Any] | None
    feedback: str | None


class PrepRequest(BaseModel):
    """Meeting prep's ask: the briefing, fact lines and people of one account."""

    as_of: str
    account: dict[str, Any]
    briefing: dict[str, Any]
    fact_lines: list[dict[str, Any]]
    contacts: list[dict[str, Any]]


class CallRequest(BaseModel):
    """The call-note summary's ask (the note wrapped as customer content)."""

    account_name: str | None
    owner_csm: str | None
    people: list[str]
    note: str
