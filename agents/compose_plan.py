"""How the offline model writes the planner's plan: plays chosen by the shared selection rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from keel.agents.compose_text import lower_first, strip_period
from keel.agents.offline import (
    ComposeRequest,
    vary,
)
from keel.agents.schemas import (
    PlannedPlay,
)
from keel.agents.selection import MIN_PLAY_CONFIDENCE, select_plays
from keel.agents.step_requests import (
    PlanningRequest,
)
from keel.domain.plays import PLAY_LIBRARY

# --------------------------------------------------------------------------- plan


_RATIONALES: Final = (
    "{title} answers {hid}: {statement}",
    "Chosen for {hid} — {statement}",
    "{title}, because {statement_lower}",
)


def compose_plan(ask: ComposeRequest) -> dict[str, Any]:
    planning = ask.facts_as(PlanningRequest)
    allowed = [p.id for p in planning.allowed_plays]
    key = str(planning.account_id)
    selected = select_plays(
        planning.hypotheses,
        allowed,
        max_plays=planning.max_plays or 3,
        customer_slots=planning.customer_slots,
        account_risk=planning.account_risk,
        open_risk=planning.open_risk,
    )
    chosen = [_planned(s.play, s.hypothesis, key) for s in selected]
    note = ""
    if not chosen:
        note = (
            f"No hypothesis reaches {MIN_PLAY_CONFIDENCE:.0%} confidence with an allowed play "
            "(a renewal date alone calls for none): nothing calls for outreach now."
        )
    return {"plays": [p.model_dump(mode="json") for p in chosen], "note": note}


def _planned(play_id: str, hypothesis: Mapping[str, Any], key: str) -> PlannedPlay:
    play = PLAY_LIBRARY[play_id]
    statement = strip_period(str(hypothesis.get("statement") or hypothesis.get("category") or ""))
    hid = str(hypothesis.get("id"))
    rationale = vary(_RATIONALES, f"{key}:{play_id}").format(
        title=play.title,
        hid=hid,
        statement=statement or hid,
        statement_lower=lower_first(statement or hid),
    )
    return PlannedPlay(play=play_id, rationale=rationale + ".", hypothesis_id=hid)
