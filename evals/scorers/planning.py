"""Hypotheses and the play against the scenario's expert list.

- **recall**: the share of the categories the expert expects that the briefing raised
  (not applicable when the expert expects none).
- **precision**: the share of the briefing's hypotheses whose category the expert
  expects or accepts (1.0 when it raised none and none was expected; not applicable
  when the scenario lists no hypothesis at all, e.g. an injection case).
- **play choice**: 1.0 when the plan holds a play the expert would choose and none the
  expert forbids; 0.5 when it holds only acceptable plays; 0.0 otherwise. With no
  expected play (nothing calls for action), 1.0 unless a forbidden play was planned.
"""

from __future__ import annotations

from keel.evals.outcome import Outcome, Score, Span


def score_hypothesis_recall(outcome: Outcome) -> Score:
    name = "hypothesis_recall"
    expected = list(dict.fromkeys(outcome.expected.hypotheses))
    if not expected:
        return Score(name, 1.0, "the expert expects no particular hypothesis", applicable=False)
    raised = {str(h.get("category")) for h in outcome.hypotheses}
    missing = [c for c in expected if c not in raised]
    score = 1.0 - len(missing) / len(expected)
    if not missing:
        return Score(name, 1.0, f"raised every expected hypothesis: {', '.join(expected)}")
    spans = tuple(Span("briefing", c, -1, -1, f"expected a {c} hypothesis") for c in missing)
    return Score(
        name,
        score,
        f"missed {', '.join(missing)} (raised: {', '.join(sorted(raised)) or 'none'})",
        spans,
    )


def score_hypothesis_precision(outcome: Outcome) -> Score:
    name = "hypothesis_precision"
    fitting = {*outcome.expected.hypotheses, *outcome.expected.acceptable_hypotheses}
    if not fitting:
        return Score(name, 1.0, "the expert list says nothing about hypotheses", applicable=False)
    raised = [str(h.get("category")) for h in outcome.hypotheses]
    if not raised:
        if outcome.expected.hypotheses:
            return Score(
                name, 1.0, "raised nothing (recall says what is missing)", applicable=False
            )
        return Score(name, 1.0, "raised nothing, and nothing was expected")
    wrong = [c for c in raised if c not in fitting]
    if not wrong:
        return Score(name, 1.0, f"all {len(raised)} hypotheses fit the situation")
    spans = tuple(Span("briefing", c, -1, -1, f"an expert would not raise {c} here") for c in wrong)
    return Score(
        name,
        1.0 - len(wrong) / len(raised),
        f"{len(wrong)} of {len(raised)} hypotheses do not fit: {', '.join(wrong)}",
        spans,
    )


def score_play(outcome: Outcome) -> Score:
    name = "play_choice"
    expected = outcome.expected
    planned = list(outcome.plays)
    forbidden = [p for p in planned if p in expected.forbidden_plays]
    shown = ", ".join(planned) or "no play"
    if forbidden:
        spans = tuple(Span("plan", p, -1, -1, f"{p} is wrong here") for p in forbidden)
        return Score(
            name, 0.0, f"planned {', '.join(forbidden)}, which the expert forbids here", spans
        )
    if not expected.plays:
        return Score(name, 1.0, f"nothing forbidden planned ({shown})")
    if any(p in expected.plays for p in planned):
        return Score(
            name, 1.0, f"planned {shown}; the expert chooses {' or '.join(expected.plays)}"
        )
    if any(p in expected.acceptable_plays for p in planned):
        return Score(
            name,
            0.5,
            f"planned {shown}: acceptable, but the expert chooses {' or '.join(expected.plays)}",
        )
    spans = (Span("plan", shown, -1, -1, f"expected {' or '.join(expected.plays)}"),)
    return Score(
        name, 0.0, f"planned {shown}; the expert chooses {' or '.join(expected.plays)}", spans
    )
