"""Risk flags: an absolute threshold, and a rule relative to the book.

An account is **flagged at risk** when

- its probability of churn or contraction within the horizon is at or above the absolute
  threshold (0.5: more likely than not), or
- it is in the book's top decile by risk **and** its risk is at least twice the book's
  base rate (lift >= 2).

The base rate is the mean predicted risk over the accounts scored that day: what the
model expects the book's rate to be (over many days, the observed rate, when the model is
calibrated). On a book whose monthly churn is 1-2% almost no account reaches 0.5, yet the
riskiest tenth, at two or more times the base rate, is where the churn concentrates; the
lift condition keeps a book whose accounts all look alike from flagging a tenth of them
for nothing. A backtest applies the rule to each monthly cut on its own (the accounts
scored in that calendar month).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ABSOLUTE_THRESHOLD = 0.5
TOP_SHARE = 0.1
MIN_LIFT = 2.0


@dataclass(frozen=True)
class FlagRule:
    """The flag rule's parameters (see the module docstring)."""

    threshold: float = ABSOLUTE_THRESHOLD
    top_share: float = TOP_SHARE
    min_lift: float = MIN_LIFT

    def describe(self) -> str:
        return (
            f"p >= {self.threshold:.2f}, or in the book's top {self.top_share:.0%} by risk "
            f"at >= {self.min_lift:g}x its base rate (the mean risk)"
        )


@dataclass(frozen=True)
class Flags:
    """Per row: flagged by the absolute threshold, by the relative rule, and the lift."""

    absolute: np.ndarray
    relative: np.ndarray
    lift: npt.NDArray[np.float64]

    @property
    def any(self) -> np.ndarray:
        return np.asarray(self.absolute | self.relative)

    def reason(self, i: int, rule: FlagRule) -> str:
        """Why row ``i`` is flagged, in a few words ("" when it is not): ``p >= 0.50``, or
        ``top 10% (2.8x)`` for the relative rule with the lift over the base rate."""
        if self.absolute[i]:
            return f"p >= {rule.threshold:.2f}"
        if self.relative[i]:
            return f"top {rule.top_share:.0%} ({self.lift[i]:.1f}x)"
        return ""


def flag(
    p: npt.ArrayLike,
    rule: FlagRule | None = None,
    *,
    groups: Sequence[object] | npt.ArrayLike | None = None,
) -> Flags:
    """Apply ``rule`` to the probabilities ``p``; each of ``groups`` is a book on its own.

    Args:
        p: Probabilities of churn or contraction within the horizon.
        rule: Default :class:`FlagRule`.
        groups: One label per row (e.g. the month of its cut); default one group.
    """
    rule = rule or FlagRule()
    probs = np.asarray(p, dtype=np.float64)
    relative = np.zeros(len(probs), dtype=bool)
    lift = np.full(len(probs), np.nan)
    keys = np.zeros(len(probs), dtype=np.int64) if groups is None else np.asarray(groups)
    for key in np.unique(keys) if len(probs) else []:
        rows = np.flatnonzero(keys == key)
        values = probs[rows]
        base = float(np.mean(values))
        if base <= 0:
            continue
        k = max(math.ceil(rule.top_share * len(values)), 1)
        # Ties at the decile's edge are all in: equal risks get equal flags.
        cutoff = float(np.sort(values)[-k])
        lift[rows] = values / base
        relative[rows] = (values >= cutoff) & (values >= rule.min_lift * base)
    return Flags(absolute=probs >= rule.threshold, relative=relative, lift=lift)
