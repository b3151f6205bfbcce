"""The last check on a hypothesis: its words must agree with its own numbers.

Hypotheses are built to follow their numbers (``keel.tools.hypotheses``); this check runs
after, on every statement, whatever built it, and rewords or drops what still disagrees:

- **direction**: a statement that says "falling", "dropping", "slipping" or "soured"
  about a metric it cites must cite one that went down by enough to count (and "rising"
  or "growing" one that went up); a change too small to be evidence (``trend`` "flat")
  is no trend either way. Such a statement is dropped; a cited metric moving against the
  statement is removed from its evidence.
- **no zero changes**: "(-0%)" or "(+0%)" reads as a change; it is reworded "(unchanged)".
- **counts match lists**: "4 new features in 90 days (A, B)" is reworded to the list's
  length.
- **units**: whole-unit metrics (seats, teams, tickets) carry whole numbers; a fraction
  of a seat drops the metric (and the statement, when it cites it).
- **names as the product shows them**: a code name (``workflow_builder``) in a statement
  becomes the product's name ("Workflow Builder").
- **labels have records**: "Risk language ...: competitor evaluation, budget cut" names
  only labels a cited record was cited for.
- **the measure that moved**: an outcomes statement names the measure its evidence moved,
  outcome volume or outcome quality ("Outcomes are slipping" over a quality drop while the
  volume rose read as fewer outcomes); a quality change within the health model's own
  "outcomes are holding" band (0.05) is no drop, so it is no evidence of a quality
  regression beside a volume drop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from keel.domain.features import display_name
from keel.tools.signals.constants import OUTCOME_HOLD_MIN_QUALITY_CHANGE

if TYPE_CHECKING:
    from keel.tools.hypotheses import Hypothesis, MetricDelta

log = logging.getLogger(__name__)

FALLING: Final = re.compile(
    r"\b(?:falling|dropping|slipping|declin\w*|soured|shrinking|fell|dropped)\b", re.I
)
RISING: Final = re.compile(r"\b(?:rising|growing|grew|increasing|climbing)\b", re.I)
_ZERO_CHANGE: Final = re.compile(r"\(\s*[+-]0(?:\.0+)?%\s*\)")
_COUNTED_LIST: Final = re.compile(r"\b(\d+) ((?:new )?[a-z][a-z ]*?s?)\b([^():]*?)\(([^()]*)\)")
_CODE_NAME: Final = re.compile(r"(?<![\w:/.-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-])")
_RISK_LANGUAGE: Final = "Risk language in notes and tickets: "
# The outcome measures a statement can be about, as its headline names them.
_MEASURES: Final = {"outcome_count": "volume", "outcome_quality": "quality"}
# An outcomes headline: "Outcomes are slipping", "Outcome quality is low", ...
_OUTCOMES_HEAD: Final = re.compile(
    r"^Outcomes?(?P<measure>(?: volume| quality| volume and quality)?) (?:is|are) (?P<verb>.+)$"
)
# Level evidence by the measure it reads ("outcome quality (28-day mean) 0.71").
_LEVEL_MEASURE: Final = (
    ("quality", re.compile(r"\bquality\b", re.I)),
    ("volume", re.compile(r"\boutcomes? (?:delivered|volume)\b|\boutcome volume\b", re.I)),
)
# A level claim: "... is low: <label> 0.79 (typical 0.84)".
_LOW_HEAD: Final = re.compile(r"\b(?:is|are) low\b", re.IGNORECASE)
_LEVEL: Final = re.compile(
    r"([+-]?\d[\d,]*(?:\.\d+)?)%?\s*\(typical\s+([+-]?\d[\d,]*(?:\.\d+)?)%?\)"
)
# A quality change this small is the model's "outcomes are holding", not a drop or a rise.
QUALITY_HOLD_POINTS: Final = abs(OUTCOME_HOLD_MIN_QUALITY_CHANGE)


def cited_metric(hypothesis: Hypothesis) -> MetricDelta | None:
    """The metric whose text the statement quotes, if any."""
    return next((m for m in hypothesis.metrics if m.text and m.text in hypothesis.claim), None)


def moved(metric: MetricDelta) -> str:
    """Which way a metric moved by enough to be evidence: its ``trend``, except that outcome
    quality (0-1) counts only beyond the model's holding band of 0.05 points."""
    if metric.metric == "outcome_quality":
        diff = round(metric.after - metric.before, 6)
        if abs(diff) <= QUALITY_HOLD_POINTS:
            return "flat"
        return "up" if diff > 0 else "down"
    return metric.trend


def _direction(claim: str) -> str | None:
    head = claim.split(":", 1)[0]
    if FALLING.search(head):
        return "down"
    if RISING.search(head):
        return "up"
    return None


def problems(hypothesis: Hypothesis) -> list[str]:
    """Why the statement disagrees with its numbers (empty when it agrees)."""
    out: list[str] = []
    claim = hypothesis.claim
    said = _direction(claim)
    cited = cited_metric(hypothesis)
    if said is not None and cited is not None and moved(cited) != said:
        out.append(f"says {said} but cites {cited.metric} going {moved(cited)}")
    if (
        said is not None
        and cited is None
        and not hypothesis.records
        and hypothesis.metrics
        and not any(moved(m) == said for m in hypothesis.metrics)
    ):
        out.append(f"says {said} but no metric went {said}")
    wrong = _wrong_measure(hypothesis)
    if wrong:
        out.append(wrong)
    not_low = _not_low(claim)
    if not_low:
        out.append(not_low)
    if _ZERO_CHANGE.search(claim):
        out.append("cites a zero change as a change")
    for match in _COUNTED_LIST.finditer(claim):
        items = _list_items(match.group(4))
        if items is not None and int(match.group(1)) != len(items):
            out.append(f"counts {match.group(1)} {match.group(2)} but lists {len(items)}")
    for metric in hypothesis.metrics:
        if _fractional_whole(metric):
            out.append(f"{metric.metric} in fractions of a unit")
    ids = {r.external_id for r in hypothesis.records}
    codes = [c for c in _CODE_NAME.findall(claim) if c not in ids]
    if codes:
        out.append(f"code names in the statement: {', '.join(codes)}")
    if claim.startswith(_RISK_LANGUAGE):
        named = [x.strip() for x in claim[len(_RISK_LANGUAGE) :].split(",") if x.strip()]
        backed = {r.summary.split(" (", 1)[0] for r in hypothesis.records}
        missing = [x for x in named if x not in backed]
        if missing:
            out.append(f"names {', '.join(missing)} with no record cited for it")
    return out


def _list_items(text: str) -> list[str] | None:
    """The items of a parenthesised list "A, B and 2 more" (None: not a list of names)."""
    if "," not in text or "%" in text or re.search(r"\band \d+ more\b", text):
        return None
    return [x.strip() for x in re.split(r",\s*|\s+and\s+", text) if x.strip()]


def _fractional_whole(metric: MetricDelta) -> bool:
    from keel.tools.hypotheses import WHOLE_METRICS

    return metric.metric in WHOLE_METRICS and not (
        float(metric.before).is_integer() and float(metric.after).is_integer()
    )


def check_claim(hypothesis: Hypothesis) -> Hypothesis | None:
    """The hypothesis reworded to agree with its numbers, or None when it cannot."""
    claim = hypothesis.claim
    metrics = [m for m in hypothesis.metrics if not _fractional_whole(m)]
    if any(m.text in claim for m in hypothesis.metrics if m not in metrics):
        return _drop(hypothesis, "cites a whole-unit metric in fractions")
    said = _direction(claim)
    if said is not None:
        # Evidence moving against the statement, or too little to count, is no evidence.
        metrics = [m for m in metrics if moved(m) == said]
        if _OUTCOMES_HEAD.match(_head(claim)):
            reworded = _outcomes_trend_claim(claim, metrics)
            if reworded is None:
                return _drop(hypothesis, f"says outcomes went {said}, no outcome measure did")
            claim = reworded
        cited = cited_metric(hypothesis.model_copy(update={"claim": claim}))
        if cited is not None and moved(cited) != said:
            return _drop(hypothesis, f"says {said}, its metric went {moved(cited)}")
        if cited is None and not hypothesis.records and not metrics and hypothesis.metrics:
            return _drop(hypothesis, f"says {said}, no metric went {said}")
    elif _OUTCOMES_HEAD.match(_head(claim)):
        claim = _outcomes_level_claim(claim)
    claim = _ZERO_CHANGE.sub("(unchanged)", claim)
    claim = _recount(claim)
    ids = {r.external_id for r in hypothesis.records}
    claim = _CODE_NAME.sub(
        lambda m: m.group(0) if m.group(0) in ids else display_name(m.group(0)), claim
    )
    if claim.startswith(_RISK_LANGUAGE):
        backed = {r.summary.split(" (", 1)[0] for r in hypothesis.records}
        named = [x.strip() for x in claim[len(_RISK_LANGUAGE) :].split(",") if x.strip()]
        kept = [x for x in named if x in backed]
        if not kept:
            return _drop(hypothesis, "names risk language no cited record carries")
        claim = _RISK_LANGUAGE + ", ".join(kept)
    checked = hypothesis.model_copy(update={"claim": claim, "metrics": metrics})
    left = problems(checked)
    if left:
        return _drop(hypothesis, "; ".join(left))
    return checked


def _head(claim: str) -> str:
    return claim.split(":", 1)[0].strip()


def _outcomes_head(measures: list[str], verb: str) -> str:
    """ "Outcome quality is slipping", "Outcome volume and quality are low"."""
    if len(measures) > 1:
        return f"Outcome volume and quality are {verb}"
    return f"Outcome {measures[0]} is {verb}"


def _outcomes_trend_claim(claim: str, metrics: list[MetricDelta]) -> str | None:
    """An outcomes trend statement naming the measures that moved, each with its delta
    (None when no outcome measure moved the way it says)."""
    match = _OUTCOMES_HEAD.match(_head(claim))
    assert match is not None
    cited = [m for m in metrics if m.metric in _MEASURES]
    if not cited:
        return None
    cited.sort(key=lambda m: list(_MEASURES).index(m.metric))
    head = _outcomes_head([_MEASURES[m.metric] for m in cited], match.group("verb"))
    return f"{head}: " + "; ".join(m.text for m in cited)


def _outcomes_level_claim(claim: str) -> str:
    """An outcomes level statement ("Outcomes are low: outcome quality 0.71 ...") headed by
    the measure its evidence reads; unchanged when the evidence names none."""
    match = _OUTCOMES_HEAD.match(_head(claim))
    assert match is not None
    rest = claim.split(":", 1)[1] if ":" in claim else ""
    measures = [name for name, cue in _LEVEL_MEASURE if cue.search(rest)]
    if not measures:
        return claim
    measures.sort(key=lambda m: ("volume", "quality").index(m))
    return _outcomes_head(measures, match.group("verb")) + (f":{rest}" if rest else "")


def _not_low(claim: str) -> str | None:
    """A "... is low" statement whose level is not below the typical value it cites
    ("outcome quality 0.84 (typical 0.84)")."""
    if not _LOW_HEAD.search(_head(claim)):
        return None
    level = _LEVEL.search(claim.split(":", 1)[1] if ":" in claim else "")
    if level is None:
        return None
    value, typical = (float(x.replace(",", "")) for x in level.groups())
    if value >= typical:
        return f"says low but cites {level.group(1)} against a typical {level.group(2)}"
    return None


def _wrong_measure(hypothesis: Hypothesis) -> str | None:
    """An outcomes headline naming a measure its cited evidence is not about."""
    match = _OUTCOMES_HEAD.match(_head(hypothesis.claim))
    if match is None:
        return None
    named = match.group("measure").strip()
    cited = {
        _MEASURES[m.metric]
        for m in hypothesis.metrics
        if m.metric in _MEASURES and m.text in hypothesis.claim
    }
    if not cited:
        return None
    if not named:
        return f"says outcomes, cites outcome {' and '.join(sorted(cited))}"
    said = {"volume", "quality"} if named == "volume and quality" else {named}
    if said != cited:
        return f"names outcome {named}, cites outcome {' and '.join(sorted(cited))}"
    return None


def _recount(claim: str) -> str:
    def fix(match: re.Match[str]) -> str:
        items = _list_items(match.group(4))
        if items is None or int(match.group(1)) == len(items):
            return match.group(0)
        return f"{len(items)} {match.group(2)}{match.group(3)}({match.group(4)})"

    return _COUNTED_LIST.sub(fix, claim)


def _drop(hypothesis: Hypothesis, why: str) -> Hypothesis | None:
    log.info("dropped hypothesis %s (%r): %s", hypothesis.id, hypothesis.claim, why)
    return None


def check_claims(hypotheses: Iterable[Hypothesis]) -> list[Hypothesis]:
    """Every hypothesis reworded to agree with its numbers; those that cannot, dropped."""
    out: list[Hypothesis] = []
    for hypothesis in hypotheses:
        checked = check_claim(hypothesis)
        if checked is not None:
            out.append(checked)
    return out
