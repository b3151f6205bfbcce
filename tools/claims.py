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
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from keel.domain.features import display_name

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


def cited_metric(hypothesis: Hypothesis) -> MetricDelta | None:
    """The metric whose text the statement quotes, if any."""
    return next((m for m in hypothesis.metrics if m.text and m.text in hypothesis.claim), None)


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
    if said is not None and cited is not None and cited.trend != said:
        out.append(f"says {said} but cites {cited.metric} going {cited.trend}")
    if (
        said is not None
        and cited is None
        and not hypothesis.records
        and hypothesis.metrics
        and not any(m.trend == said for m in hypothesis.metrics)
    ):
        out.append(f"says {said} but no metric went {said}")
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
        cited = cited_metric(hypothesis)
        if cited is not None and cited.trend != said:
            return _drop(hypothesis, f"says {said}, its metric went {cited.trend}")
        # Evidence moving against the statement is no evidence for it.
        metrics = [m for m in metrics if m.trend == said or m.text in claim]
        if cited is None and not hypothesis.records and not metrics and hypothesis.metrics:
            return _drop(hypothesis, f"says {said}, no metric went {said}")
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
