"""Graph state for the account review.

State holds JSON-ready dicts (``model_dump(mode="json")`` of the pydantic schemas), not
model objects: checkpoints stay readable by any process, LangGraph Server and Studio.

Two schemas: ``ReviewState`` for one account's review (analyst, planner, fan-out) and
``ActionState`` for one planned play's path (drafter, policy check, approval, executor,
intervention log), run once per play. They share only the ``outcomes`` and ``errors``
lists, whose reducers append, so parallel plays never overwrite each other.

It sits here, beside the node functions that read and write it, so the nodes need nothing
from the graph package above them; ``keel.graphs`` wires the nodes over these schemas.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired, TypedDict

JSON = dict[str, Any]


class StepError(TypedDict):
    """A step that failed cleanly: the run goes on (or ends) without it."""

    step: str
    error: str
    play: NotRequired[str]


class ActionOutcome(TypedDict):
    """What became of one planned play."""

    play: str
    status: str
    action_id: NotRequired[str | None]
    decision: NotRequired[str | None]
    decided_by: NotRequired[str | None]
    channel: NotRequired[str | None]
    recipient_contact_id: NotRequired[int | None]
    reasons: NotRequired[list[str]]
    detail: NotRequired[str]


class ReviewInput(TypedDict):
    """What a caller gives to start a review."""

    account_id: int
    as_of: NotRequired[str | None]


class ReviewState(TypedDict):
    account_id: int
    as_of: NotRequired[str | None]
    # The analyst's facts (profile, contacts, signals, evidence) for later steps.
    facts: NotRequired[JSON]
    briefing: NotRequired[JSON | None]
    plan: NotRequired[JSON | None]
    outcomes: Annotated[list[ActionOutcome], operator.add]
    errors: Annotated[list[StepError], operator.add]


class ActionOutput(TypedDict):
    """What one play's path hands back to the review: only the appended lists, so plays
    running side by side never write the same key."""

    outcomes: Annotated[list[ActionOutcome], operator.add]
    errors: Annotated[list[StepError], operator.add]


class ActionState(TypedDict):
    """One planned play, from draft to intervention log."""

    review_account_id: int
    review_as_of: str | None
    item: JSON  # the PlannedPlay
    briefing: JSON
    facts: JSON
    draft: NotRequired[JSON | None]
    previous_draft: NotRequired[JSON | None]
    revision: NotRequired[int]
    feedback: NotRequired[list[str]]
    action_id: NotRequired[str | None]
    parent_action_id: NotRequired[str | None]
    decision: NotRequired[JSON | None]
    execution: NotRequired[JSON | None]
    outcomes: Annotated[list[ActionOutcome], operator.add]
    errors: Annotated[list[StepError], operator.add]
