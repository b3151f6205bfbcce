"""How far a judge agrees with people: accuracy and Cohen's kappa on 1-5 ratings.

Pure functions over two equal-length sequences of ratings (the people's, the judge's).
Kappa corrects accuracy for the agreement two raters would reach by chance given how
often each uses each rating: 1 is perfect agreement, 0 what chance gives, below 0 worse
than chance. The weighted kappa (quadratic weights) counts a 4 against a 5 as a near
miss and a 1 against a 5 as a far one, the usual reading for ordinal scales.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

SCALE = (1, 2, 3, 4, 5)


def _check(people: Sequence[int], judge: Sequence[int]) -> None:
    if len(people) != len(judge):
        raise ValueError(f"{len(people)} human ratings but {len(judge)} judge ratings")
    if not people:
        raise ValueError("no ratings to compare")
    outside = sorted({r for r in (*people, *judge) if r not in SCALE})
    if outside:
        raise ValueError(f"ratings outside 1-5: {outside}")


def accuracy(people: Sequence[int], judge: Sequence[int]) -> float:
    """Share of items rated exactly alike."""
    _check(people, judge)
    return sum(a == b for a, b in zip(people, judge, strict=True)) / len(people)


def within_one(people: Sequence[int], judge: Sequence[int]) -> float:
    """Share of items rated at most one point apart."""
    _check(people, judge)
    return sum(abs(a - b) <= 1 for a, b in zip(people, judge, strict=True)) / len(people)


def cohen_kappa(people: Sequence[int], judge: Sequence[int], *, weights: str = "none") -> float:
    """Cohen's kappa on the 1-5 scale; ``weights`` ``none`` (exact matches) or ``quadratic``.

    When chance alone would already agree fully (both raters always give one and the same
    rating) kappa is 1.0; 0/0 has no other reading.
    """
    _check(people, judge)
    if weights not in {"none", "quadratic"}:
        raise ValueError(f"weights must be 'none' or 'quadratic', not {weights!r}")
    n = len(people)
    k = len(SCALE)

    def disagreement(a: int, b: int) -> float:
        if weights == "none":
            return 0.0 if a == b else 1.0
        return ((a - b) / (k - 1)) ** 2

    observed = sum(disagreement(a, b) for a, b in zip(people, judge, strict=True)) / n
    left, right = Counter(people), Counter(judge)
    expected = sum(left[a] * right[b] * disagreement(a, b) for a in SCALE for b in SCALE) / (n * n)
    if expected == 0:
        return 1.0 if observed == 0 else 0.0
    return 1.0 - observed / expected


def agreement(people: Sequence[int], judge: Sequence[int]) -> dict[str, Any]:
    """All the measures for one criterion, rounded for a report."""
    return {
        "n": len(people),
        "accuracy": round(accuracy(people, judge), 4),
        "within_one": round(within_one(people, judge), 4),
        "kappa": round(cohen_kappa(people, judge), 4),
        "weighted_kappa": round(cohen_kappa(people, judge, weights="quadratic"), 4),
    }
