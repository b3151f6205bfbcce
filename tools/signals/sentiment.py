"""Ticket sentiment from a small word list: deterministic, fast and explainable.

A score in [-1, 1] per text: (positive hits - negative hits) / (hits + 1). It only needs
to rank tickets and follow their trend, not to read tone like a person; the phrases that
matter most for churn (competitors, budget, reorg, ...) are found semantically by
``keel.tools.risk_language`` instead.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

NEGATIVE_WORDS: tuple[str, ...] = (
    "angry",
    "annoyed",
    "awful",
    "bad",
    "broken",
    "cancel",
    "complain",
    "complaint",
    "crash",
    "critical",
    "disappointed",
    "disappointing",
    "down",
    "escalate",
    "escalation",
    "fail",
    "failed",
    "failing",
    "frustrated",
    "frustrating",
    "horrible",
    "inaccurate",
    "issue",
    "poor",
    "problem",
    "slow",
    "still",
    "terrible",
    "unacceptable",
    "unhappy",
    "unusable",
    "urgent",
    "useless",
    "worse",
    "worst",
    "wrong",
)

POSITIVE_WORDS: tuple[str, ...] = (
    "appreciate",
    "awesome",
    "excellent",
    "glad",
    "great",
    "happy",
    "helpful",
    "love",
    "perfect",
    "pleased",
    "quick",
    "resolved",
    "smooth",
    "thank",
    "thanks",
    "wonderful",
    "works",
)


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


_NEGATIVE = _pattern(NEGATIVE_WORDS)
_POSITIVE = _pattern(POSITIVE_WORDS)


def sentiment_scores(texts: pd.Series) -> np.ndarray:
    """Sentiment in [-1, 1] for each text (0 for empty text)."""
    series = texts.fillna("").astype(str)
    neg = series.str.count(_NEGATIVE.pattern, flags=re.IGNORECASE).to_numpy(dtype=float)
    pos = series.str.count(_POSITIVE.pattern, flags=re.IGNORECASE).to_numpy(dtype=float)
    return (pos - neg) / (pos + neg + 1.0)
