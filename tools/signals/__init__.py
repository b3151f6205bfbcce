"""Signals as of any date, computed from data that existed then, for many accounts at once.

Typical use::

    book = load_book(engine, until=as_of)
    frame = compute_signals(book, account_ids, [day_number(as_of)] * len(account_ids))
"""

from keel.tools.signals.book import Book, latest_data_date, load_book
from keel.tools.signals.catalog import FACTOR_LABELS, SPECS, SignalSpec, model_features, spec_for
from keel.tools.signals.compute import build_indexes, compute_signals, event_names_by_coverage
from keel.tools.signals.windows import WindowIndex, day_date, day_number, to_days

__all__ = [
    "FACTOR_LABELS",
    "SPECS",
    "Book",
    "SignalSpec",
    "WindowIndex",
    "build_indexes",
    "compute_signals",
    "day_date",
    "day_number",
    "event_names_by_coverage",
    "latest_data_date",
    "load_book",
    "model_features",
    "spec_for",
    "to_days",
]
