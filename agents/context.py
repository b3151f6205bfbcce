"""The dependencies of one review run, built by the caller and passed in (never global).

Node functions receive what they need from a ``ReviewDeps``; none of them builds a client.
The model label travels with the deps so every artefact records which model produced it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from keel.agents.budget import RunBudget

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from keel.domain.policy import Policy
    from keel.memory.vectors import VectorStore
    from keel.settings import Settings
    from keel.tools.outbound.executor import ExecutionOptions

DEFAULT_MAX_PLAYS = 3


@dataclass(frozen=True)
class ReviewDeps:
    """What a review needs besides its model and tools.

    Attributes:
        engine: The telemetry and approvals database.
        settings: Keel settings (link allow-list, data dir, channels).
        policy: The loaded approval policy.
        model_label: Which model writes (e.g. ``offline`` or ``openai:gpt-4o-mini``).
        vector_store: Evidence search over tickets, notes and NPS; SQL recency when None.
        adapters: Outbound adapters by channel, used by the executor node only.
        as_of: Review date; today when None.
        max_plays: At most this many plays per account.
        execution: Lease, retry policy and step hooks for the executor node; the
            executor's defaults when None.
    """

    engine: Engine
    settings: Settings
    policy: Policy
    model_label: str = "offline"
    vector_store: VectorStore | None = None
    adapters: Mapping[str, Any] = field(default_factory=dict)
    as_of: dt.date | None = None
    max_plays: int = DEFAULT_MAX_PLAYS
    execution: ExecutionOptions | None = None

    def review_date(self) -> dt.date:
        return self.as_of or dt.date.today()

    def with_as_of(self, as_of: dt.date | None) -> ReviewDeps:
        return replace(self, as_of=as_of)

    @property
    def link_allowlist(self) -> list[str]:
        return list(self.settings.link_allowlist)


@dataclass(frozen=True)
class RunContext:
    """What belongs to one run, passed to the graph as LangGraph's ``context=`` and read by
    nodes through their ``Runtime`` -- never closed into the process-wide dependencies.

    Attributes:
        as_of: The review date; the latest data date when None.
        user: Who started the run (a CSM, ``nightly``), recorded on what it proposes.
        thread_id: The LangGraph thread the run writes to.
        budget: Model calls and tokens this run (or this account of a larger run) may
            spend; every model call made inside the run is charged to it
            (:func:`keel.agents.budget.budget_in_run`). None: the model's own budget.
        snapshot_id: The scored-book snapshot the run reads.
        account_id: The account reviewed, when the run is about one.
        max_plays: At most this many plays for this run, below the deps' own limit (the
            nightly review lowers it to hold a CSM's daily draft cap; 0: brief only).
    """

    as_of: dt.date | None = None
    user: str | None = None
    thread_id: str | None = None
    budget: RunBudget | None = None
    snapshot_id: int | None = None
    account_id: int | None = None
    max_plays: int | None = None


def context_in_run() -> RunContext | None:
    """The run context of the graph run the caller is part of; None outside a run or when
    the run has none."""
    from langgraph.runtime import get_runtime

    try:
        runtime = get_runtime()
    except RuntimeError:  # not inside a runnable at all
        return None
    context = getattr(runtime, "context", None) if runtime is not None else None
    return context if isinstance(context, RunContext) else None
