"""The dependencies of one review run, built by the caller and passed in (never global).

Node functions receive what they need from a ``ReviewDeps``; none of them builds a client.
The model label travels with the deps so every artefact records which model produced it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

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
