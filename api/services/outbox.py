"""The outbox: deliver what was approved, once (see :mod:`keel.tools.outbound.delivery`).

``keel outbox run``, the decisions of ``keel approvals`` and (next) the worker and the
scheduler of ``keel serve`` call these; none of them builds the model or loads the vector
store, so a delivery pass starts in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

from keel.app import App
from keel.tools.outbound.delivery import (
    DeliveryDeps,
    DeliveryReport,
    deliver_due,
    deliver_forever,
)


def delivery(app: App, worker_id: str) -> DeliveryDeps:
    """The delivery loop's dependencies for this process, named for the worker."""
    return DeliveryDeps(
        engine=app.engine,
        adapters=app.outbound,
        policy=app.policy,
        link_allowlist=list(app.settings.link_allowlist),
        options=app.execution_options,
        worker_id=worker_id,
    )


def deliver_once(app: App, *, worker_id: str = "outbox", retry_now: bool = False) -> DeliveryReport:
    """One pass: every due action executed once (new approvals, unfinished sends, retries)."""
    return deliver_due(delivery(app, worker_id), retry_now=retry_now)


def deliver_watching(
    app: App,
    *,
    interval_s: float,
    on_report: Callable[[DeliveryReport], None],
    worker_id: str = "outbox",
) -> None:
    """Pass after pass every ``interval_s`` seconds until interrupted."""
    deliver_forever(
        delivery(app, worker_id), interval_s=interval_s, on_report=on_report, sleep_first=True
    )
