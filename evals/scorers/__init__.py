"""The deterministic scorers, by name, in report order.

Each is a pure function ``Outcome -> Score``: a score in [0, 1], a reason a person can
read, and the offending spans. :func:`score_all` runs them all on one outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from keel.evals.outcome import Outcome, Score
from keel.evals.scorers.chat import score_chat_citations, score_chat_correctness
from keel.evals.scorers.citations import score_citations
from keel.evals.scorers.grounded import score_grounded
from keel.evals.scorers.personal import score_personalisation
from keel.evals.scorers.planning import (
    score_hypothesis_precision,
    score_hypothesis_recall,
    score_play,
)
from keel.evals.scorers.policy import score_policy

Scorer = Callable[[Outcome], Score]

SCORERS: Final[dict[str, Scorer]] = {
    "grounded": score_grounded,
    "citations": score_citations,
    "policy": score_policy,
    "personalisation": score_personalisation,
    "hypothesis_recall": score_hypothesis_recall,
    "hypothesis_precision": score_hypothesis_precision,
    "play_choice": score_play,
    "chat_correctness": score_chat_correctness,
    "chat_citations": score_chat_citations,
}


def score_all(outcome: Outcome) -> list[Score]:
    """Every scorer's verdict on ``outcome``, in :data:`SCORERS` order."""
    return [scorer(outcome) for scorer in SCORERS.values()]
