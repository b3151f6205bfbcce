"""What an invoice says about payment, by the billing export's own account.

One rule, read by the billing signals, the hypotheses and the account tools:

- a **void** invoice (voided, cancelled, refunded: ``InvoiceStatus.VOID``) is not owed
  and never a payment problem;
- an invoice is **settled** on its payment date when the export gives one; one marked
  ``paid`` without a payment date is taken as paid on time (settled on its due date:
  the export says it was paid and nothing says it was late);
- an owed invoice is a **payment problem** once its due date has passed and it was not
  settled by then: paid after the due date (late by that many days), or still unpaid
  (open, late or failed) as of the date asked about.

Point in time: a payment dated after the as-of date is not known yet, so the invoice is
unpaid as of that date; a ``paid`` status without a date is what the export knew when it
was written, and is read as the payment on the due date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

PAID = "paid"
VOID = "void"
FAILED = "failed"
LATE = "late"
OPEN = "open"


def settled_day(invoices: pd.DataFrame) -> pd.Series:
    """The day each invoice was paid (day numbers): its payment date, else its due date
    when the export marks it paid without one; NaN while unpaid.

    Args:
        invoices: Rows with ``due``, ``paid`` (day numbers, NaN when none) and ``status``
            (lower-case values), as :func:`keel.tools.signals.book.load_book` reads them.
    """
    status = invoices["status"].astype(str).str.lower()
    paid = invoices["paid"].astype(float)
    return paid.where(paid.notna(), invoices["due"].astype(float).where(status == PAID))


def payment_problems(invoices: pd.DataFrame) -> pd.DataFrame:
    """The owed invoices that were not paid by their due date, with a ``settled`` column.

    A row is a problem from its due date on; as of an earlier date it is not one yet,
    and as of a date before ``settled`` it is still unpaid (overdue).
    """
    status = invoices["status"].astype(str).str.lower()
    settled = settled_day(invoices)
    due = invoices["due"].astype(float)
    owed = status != VOID
    late = due.notna() & (settled.isna() | (settled > due))
    return invoices.assign(settled=settled)[(owed & late).to_numpy(dtype=bool)]


def status_as_of(status: str, due: dt.date, paid: dt.date | None, as_of: dt.date) -> str:
    """One invoice's state on ``as_of``: ``paid``, ``void``, ``failed``, ``late`` or ``open``.

    ``late`` means owed, unpaid and past its due date as of that day; a payment dated
    later is not known yet.
    """
    value = str(status).lower()
    if value == VOID:
        return VOID
    if paid is not None:
        if paid <= as_of:
            return PAID
    elif value == PAID:
        # Paid, date unknown: on time by the export's account (see the module docstring).
        return PAID if due <= as_of else OPEN
    if value == FAILED:
        return FAILED
    return LATE if due < as_of else OPEN


def days_late(due: float, settled: float, today: int) -> int:
    """Days past due: until payment, or until ``today`` while unpaid (NaN-safe)."""
    end = settled if settled == settled and settled <= today else today
    return int(max(end - due, 0))


def is_unpaid(settled: float, today: int) -> bool:
    """Whether an invoice settled on ``settled`` (NaN: never) was still unpaid on ``today``."""
    return bool(np.isnan(settled) or settled > today)
