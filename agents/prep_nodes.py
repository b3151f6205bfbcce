"""The meeting-prep node: after the analyst, a one-page brief and, with a call note, its
summary. Wired by :mod:`keel.graphs.prep`; builds no clients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from keel.agents.context import ReviewDeps
from keel.agents.prep import summarise_call, write_meeting_prep
from keel.agents.schemas import Briefing
from keel.errors import KeelError
from keel.redact import redact_secrets

STEP = "prep"


def make_prep_node(
    *, model: BaseChatModel, deps: ReviewDeps
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The prep node: reads the analyst's briefing and facts from the state."""

    def prep(state: dict[str, Any]) -> dict[str, Any]:
        raw = state.get("briefing")
        if not raw:
            return {}
        briefing = Briefing.model_validate(raw)
        facts = state.get("facts") or {}
        as_of = dt.date.fromisoformat(str(state.get("as_of")))
        try:
            meeting = write_meeting_prep(
                model, briefing=briefing, facts=facts, as_of=as_of, label=deps.model_label
            )
            out: dict[str, Any] = {"prep": meeting.model_dump(mode="json")}
            note = state.get("note")
            if note:
                summary = summarise_call(
                    model,
                    note=str(note),
                    facts=facts,
                    source=str(state.get("note_source") or "call note"),
                    label=deps.model_label,
                )
                out["call_summary"] = summary.model_dump(mode="json")
        except KeelError as exc:
            return {"errors": [{"step": STEP, "error": redact_secrets(str(exc))}]}
        return out

    return prep
