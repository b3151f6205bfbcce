"""Expansion language in notes, tickets and NPS comments: new teams, more seats, a new use
case, budget approved for growth, a wider rollout.

Found by the same machinery as risk language (``keel.tools.risk_language``): the phrases
are ``EXPANSION_PROTOTYPES``, matched in the same scan of the vector store against every
kind's phrases and the contrast phrases, kept at or above ``THRESHOLDS[EXPANSION]``, and
cached in ``risk_language_match`` under the label ``"expansion"`` (the risk signals count
only their own labels). ``bench/risk_language.py`` prints its precision and recall on the
team's labelled set beside the risk kinds'.

How the matches reach the scored book, as risk language's do: the signals count an
account's expansion matches over the last 90 days (``expansion_language`` in
``keel.tools.signals.compute``; a match counts only when its text names growth,
``keel.tools.signals.expansion.says_expansion``); the expansion rule
(``keel.tools.signals.expansion``) makes one such record an expansion opportunity for the
priority list, and the account's expansion hypotheses cite the records (on the seat
claim when seats are near the ceiling, else on their own). This module is for readers
outside the scored book:

* :func:`expansion_matches`: the cached matches of an account in a date range (each with
  its document, date, score and the matched sentence as ``snippet``);
* :func:`expansion_sentences`: label texts outside the index (e.g. a note not yet indexed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keel.tools.risk_language import (
    EXPANSION,
    EXPANSION_PROTOTYPES,
    THRESHOLDS,
    TextLabel,
    label_texts,
    matches_for,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from keel.memory.embeddings import Embedder
    from keel.memory.intel_tables import RiskLanguageMatch

EXPANSION_THRESHOLD = THRESHOLDS[EXPANSION]


def expansion_matches(
    engine: Engine,
    *,
    account_ids: Sequence[int] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[RiskLanguageMatch]:
    """Cached expansion-language matches dated in [since, until], newest first.

    Empty until a risk-language scan ran on an indexed book
    (``keel.tools.risk_language.refresh_if_needed``).
    """
    return matches_for(engine, account_ids=account_ids, since=since, until=until, kinds=[EXPANSION])


def expansion_sentences(embedder: Embedder, texts: Sequence[str]) -> list[TextLabel]:
    """The texts that read as expansion language (each labelled as a scan would)."""
    return [t for t in label_texts(embedder, texts) if t.kind == EXPANSION]


__all__ = [
    "EXPANSION",
    "EXPANSION_PROTOTYPES",
    "EXPANSION_THRESHOLD",
    "expansion_matches",
    "expansion_sentences",
]
