"""The realistic synthetic book behind ``keel seed``.

Each account follows a hidden trajectory (healthy, slow decline, sudden risk, quality
regression, expansion-ready, or the AI-product case) that drives every signal and text with
noise. The trajectory and real outcomes are ground truth (``keel.memory.truth``), written apart
from the telemetry database.

Public API:
    generate_book(n_accounts, seed, end, months) -> Book   pure, in memory
    iter_accounts(...) -> Iterator[Book]                   one account at a time
    seed_book(engine, ...) -> BookSummary                  bulk write + truth file
"""

from keel.memory.synth.book import (
    Book,
    check_params,
    generate_account,
    generate_book,
    iter_accounts,
)
from keel.memory.synth.calendar import DEFAULT_END, DEFAULT_MONTHS
from keel.memory.synth.writer import BookSummary, seed_book

__all__ = [
    "DEFAULT_END",
    "DEFAULT_MONTHS",
    "Book",
    "BookSummary",
    "check_params",
    "generate_account",
    "generate_book",
    "iter_accounts",
    "seed_book",
]
