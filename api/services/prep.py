"""Meeting prep: the analyst's briefing of one account, then a one-page brief with three
talking points and, given a call note, its summary with action items."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from keel.agents.schemas import CallSummary, MeetingPrep
from keel.api.services.reviews import AccountRef, review_date, run_context
from keel.app import App
from keel.errors import KeelError
from keel.tools.account_tools import resolve_account

MAX_NOTE_BYTES = 1_000_000


@dataclass(frozen=True)
class PrepRun:
    account: AccountRef
    as_of: dt.date
    model_label: str
    prep: MeetingPrep
    call_summary: CallSummary | None


def prepare(
    app: App,
    account: str,
    *,
    as_of: dt.date | None = None,
    note: str | None = None,
    note_source: str = "call note",
    user: str | None = None,
) -> PrepRun:
    """Prep a meeting with ``account`` (and summarise ``note`` when given).

    Raises:
        AccountNotFound: no account matches.
        KeelError: the note is empty, or the analyst or the prep step failed (the reason
            is in the message).
    """
    if note is not None and not note.strip():
        raise KeelError(f"the {note_source} is empty")
    found = resolve_account(app.engine, account)
    day = review_date(app, as_of)
    context = run_context(
        app, as_of=day, user=user, thread_id=f"prep:{uuid.uuid4().hex[:12]}", account_id=found.id
    )
    state = app.prep_graph.invoke(
        {
            "account_id": found.id or 0,
            "as_of": day.isoformat(),
            "note": note,
            "note_source": note_source,
        },
        context=context,
    )
    if not state.get("prep"):
        errors = "; ".join(e["error"] for e in state.get("errors") or []) or "no brief written"
        step = "the analyst could not brief" if not state.get("briefing") else "could not prepare"
        raise KeelError(f"{step} {found.name}: {errors}")
    summary = state.get("call_summary")
    return PrepRun(
        account=AccountRef(id=found.id or 0, external_id=found.external_id, name=found.name),
        as_of=day,
        model_label=app.model_label,
        prep=MeetingPrep.model_validate(state["prep"]),
        call_summary=CallSummary.model_validate(summary) if summary else None,
    )
