"""Registry of table modules beyond telemetry (vector index state, approvals, outbox, runs).

Each module that defines tables is imported here so ``init_db`` creates them all.
"""

from __future__ import annotations

import keel.memory.actions  # approval record, interventions, CRM tasks
import keel.memory.index_state  # vector store: per-document index state
import keel.memory.intel_tables  # insight layer: models, risk-language cache
import keel.memory.interventions  # interventions' signals and outcomes
import keel.memory.runs  # nightly run records
import keel.memory.snapshots  # noqa: F401  (the scored book)
