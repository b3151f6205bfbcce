"""Values an export leaves out that other cells of the same row determine.

- an invoice without an issue date was issued its payment terms before its due date
  (``Net 30``, ``30``, ``due on receipt``; 30 days when the file has no terms);
- an invoice without a status was paid when the row gives a payment date, and is open
  (unpaid) when the file has a status or payment-date column but the row gives neither;
  an export with *no* payment column at all says nothing of payment, so its invoices
  are taken as paid (never late): a late payment is only ever read from the export's own
  account of it (``keel.tools.signals.billing``);
- an NPS response without an id is ``nps:<account>:<day>``, with ``:<n>`` for the n-th
  response of that account and day in the file, so importing the same file again
  matches the same rows.

The defaults fill new rows only: a stored row keeps what an earlier import gave (see
``prepare.db_frame``). docs/import-format.md states these rules for users.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from keel.memory.importers.columns import DEFAULT_PAYMENT_TERMS_DAYS
from keel.memory.importers.values import shown
from keel.memory.models import InvoiceStatus

# "30", "net 30", "Net30", "NET-30", "net 30 days", "30 days".
_NET_DAYS = re.compile(r"^(?:net[\s_-]*)?(\d{1,3})(?:\s*days?)?$")
# Terms that mean payment on the issue date.
_ON_RECEIPT = frozenset(
    {"due on receipt", "due upon receipt", "on receipt", "upon receipt", "immediate", "cod"}
)
TERMS_HINT = "expected a number of days or net terms, e.g. 30, Net 30 or due on receipt"
# External id columns are this long (``NpsResponse.external_id``); longer ids are hashed.
_ID_LENGTH = 128


def parse_terms(cells: pd.Series, empty: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Payment terms in days (``Int64``; missing where empty or unreadable) and the bad mask."""
    lowered = cells.str.strip().str.lower().str.replace(r"[\s_]+", " ", regex=True)
    digits = lowered.str.extract(_NET_DAYS, expand=False)
    days = pd.to_numeric(digits, errors="coerce")
    days = days.where(~lowered.isin(_ON_RECEIPT), 0.0).where(~empty)
    bad = (~empty & days.isna()).to_numpy()
    return days.astype("Int64"), bad


def terms_reason(value: str) -> str:
    return f"{shown(value)} is not payment terms; {TERMS_HINT}"


def default_issue_dates(frame: pd.DataFrame) -> pd.Series:
    """``issued_on`` where given, else ``due_on`` less the payment terms (default 30 days)."""
    due = frame["due_on"]
    terms = (
        frame["payment_terms"].astype("Float64").fillna(DEFAULT_PAYMENT_TERMS_DAYS)
        if "payment_terms" in frame
        else pd.Series(float(DEFAULT_PAYMENT_TERMS_DAYS), index=frame.index)
    )
    derived = due - pd.to_timedelta(terms.astype(float).to_numpy(), unit="D")
    if "issued_on" not in frame:
        return derived
    return frame["issued_on"].where(frame["issued_on"].notna(), derived)


def says_nothing_of_payment(frame: pd.DataFrame) -> bool:
    """Whether an invoices file has neither a status nor a payment-date column."""
    return "status" not in frame and "paid_on" not in frame


def default_invoice_status(frame: pd.DataFrame) -> pd.Series:
    """``status`` where given, else ``paid`` for a row with a payment date, else ``open``;
    ``paid`` for every row of a file that says nothing of payment (see the module doc)."""
    if says_nothing_of_payment(frame):
        return pd.Series(InvoiceStatus.PAID.value, index=frame.index, dtype=object)
    paid = frame["paid_on"].notna() if "paid_on" in frame else pd.Series(False, index=frame.index)
    fallback = pd.Series(InvoiceStatus.OPEN.value, index=frame.index, dtype=object).where(
        ~paid, InvoiceStatus.PAID.value
    )
    if "status" not in frame:
        return fallback
    status = frame["status"].astype(object)
    given = status.notna() & status.astype(str).ne("")
    return status.where(given, fallback)


def nps_ids(frame: pd.DataFrame) -> pd.Series:
    """The id an NPS row without one gets: ``nps:<account>:<day>`` (``:<n>`` from the second
    response of that account and day on, in file order; hashed when too long)."""
    day = frame["responded_on"].dt.strftime("%Y-%m-%d")
    base = "nps:" + frame["account_id"].astype(str) + ":" + day
    nth = base.groupby(base).cumcount() + 1
    ids = base.where(nth == 1, base + ":" + nth.astype(str))
    long = ids.str.len() > _ID_LENGTH
    if long.any():
        ids = ids.where(~long, ids[long].map(_hashed_id))
    return ids


def _hashed_id(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()
