"""Grounded numbers: every number, date, percentage and amount in a draft or the briefing
is among the facts that artefact was given (normalised: see :mod:`keel.evals.numbers`).

A draft is given the fact lines the drafter handed it (for a customer, only what a
customer may read about), the hypothesis it answers, the planner's rationale and the
account's own fields; the briefing is given everything the analyst's tools returned, and
the meeting-prep brief that and the briefing.
Score: the share of numbers found that are grounded (1.0 when there is none to check).
"""

from __future__ import annotations

from keel.evals.numbers import Known, find_numbers, grounded
from keel.evals.outcome import Outcome, Score, Span
from keel.evals.text import without_notices

NAME = "grounded"


def score_grounded(outcome: Outcome) -> Score:
    checked = 0
    bad: list[Span] = []
    for artefact in outcome.artefacts:
        known = Known.of([line["text"] for line in artefact.given] + list(artefact.given_texts))
        for found in find_numbers(without_notices(artefact.text)):
            checked += 1
            if not grounded(found, known):
                bad.append(
                    Span(
                        artefact.key,
                        found.raw,
                        found.start,
                        found.end,
                        f'"{found.raw}" is not among the facts it was given',
                    )
                )
    if not checked:
        return Score(
            NAME, 1.0, "no number, date or amount to check", applicable=bool(outcome.artefacts)
        )
    if not bad:
        return Score(NAME, 1.0, f"all {checked} numbers and dates are among the facts given")
    shown = ", ".join(f'"{s.text}" ({s.artefact})' for s in bad[:5])
    return Score(
        NAME,
        1.0 - len(bad) / checked,
        f"{len(bad)} of {checked} numbers or dates are not among the facts given: {shown}",
        tuple(bad),
    )
