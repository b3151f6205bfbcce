"""When an observation's churn label is already determined, from the book's own data.

An observation (account, ``as_of``, label window ``W``) asks whether the account's churn
or contraction becomes known within ``(as_of, as_of + W]`` (the convention of
:func:`keel.tools.health.labels.labels`). As of a later date ``T`` its label is *known* when

* the window has closed: ``as_of + W <= T``; or
* **positive observed**: a churn or contraction became known (its decision date, else
  its renewal date, as in :func:`keel.tools.health.labels.outcome_events`) in
  ``(as_of, min(T, as_of + W)]``; or
* **committed**: as of ``T`` the account is inside a contract term that runs past the
  window: every renewal up to its current term is decided by ``T`` (decision date, else
  renewal date, on or before ``T``), the last of them is not a churn, and the next
  renewal's date, less the longest lead with which the book has decided a renewal so
  far (see :func:`decision_lead`), is after ``as_of + W``. No outcome of that next
  renewal can then become known inside the window, and every earlier one is already
  known (a churn or contraction among them in ``(as_of, T]`` makes the row *observed*).
  An account with no renewal decided yet is in its first term, committed to its first
  renewal, once it exists in the book (created on or before ``T``).

Only outcomes decided on or before ``T``, renewal *dates* (a contract's term end is
fixed when the term starts) and account creation dates are read; the observation's
label never is. Two assumptions, true of the importers and the synthetic book: outcomes
are recorded against renewal rows dated at term ends, and no outcome is decided earlier
before its renewal than the longest lead seen by ``T``. A first-ever notice given
earlier than that would make a *committed* label turn positive later (the backtest's
notes count given labels that disagree with the book).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from keel.tools.health.labels import NEGATIVE_OUTCOMES, outcome_index
from keel.tools.signals.book import Book

PENDING = "pending"
CHURNED = "churned"
# Far beyond any day number, for "no such day".
_NEVER = 10**9


@dataclass(frozen=True)
class KnownLabels:
    """Which observations' labels are determined as of one date, and why (boolean arrays).

    ``closed``, ``observed`` (a churn or contraction already known inside the window) and
    ``committed`` (contract term runs past the window) can overlap; ``known`` is their
    union, restricted to observations dated before the date asked about.
    """

    closed: np.ndarray
    observed: np.ndarray
    committed: np.ndarray
    known: np.ndarray
    lead_days: int


def _decided_renewals(book: Book, at: int) -> pd.DataFrame:
    """Renewal rows with ``known`` (decision day, else renewal day) and ``decided_by``."""
    ren = book.renewals[["account_id", "renewal", "decided", "outcome"]].copy()
    ren = ren[ren["renewal"].notna()]
    ren["outcome"] = ren["outcome"].astype(str)
    ren["known"] = ren["decided"].fillna(ren["renewal"])
    ren["decided_by"] = (ren["outcome"] != PENDING) & (ren["known"] <= at)
    return ren


def decision_lead(book: Book, at: int) -> int:
    """Longest lead (renewal day minus decision day) among renewals decided by ``at``.

    Churns and contractions set it when any were decided by then (how early the book
    learns of bad news), else every decided renewal does; 0 when nothing was decided
    yet or decisions never came before the renewal date (billing-period imports).
    """
    ren = _decided_renewals(book, at)
    done = ren[ren["decided_by"]]
    negative = done[done["outcome"].isin(NEGATIVE_OUTCOMES)]
    rows = negative if not negative.empty else done
    if rows.empty:
        return 0
    return max(int((rows["renewal"] - rows["known"]).max()), 0)


def committed_until(book: Book, at: int) -> pd.Series:
    """Per account id, the renewal day its contract is committed to as of ``at``.

    That is the first renewal not yet decided by ``at``, provided every earlier one was
    and the latest of them was not a churn. Accounts without such a renewal (churned,
    an overdue undecided renewal, no renewal row after the current term) are absent.
    """
    ren = _decided_renewals(book, at).sort_values(
        ["account_id", "renewal", "decided_by"], ascending=[True, True, False], kind="stable"
    )
    # Leading decided rows of each account; the first row after them is the next renewal.
    prefix = ren["decided_by"].astype(np.int64).groupby(ren["account_id"]).cummin().astype(bool)
    nxt = ren[~prefix].groupby("account_id")["renewal"].first()
    last = ren[prefix].groupby("account_id")["outcome"].last()
    churned = last[last == CHURNED].index
    nxt = nxt.drop(index=churned, errors="ignore")
    # No renewal decided yet: the first term counts once the account exists.
    created = book.accounts.set_index("account_id")["created"]
    first_term = ~nxt.index.isin(last.index)
    exists = created.reindex(nxt.index).le(at).to_numpy()
    keep = ~first_term | exists
    return nxt[keep].astype(np.int64)


def known_labels(
    book: Book, account_ids: npt.ArrayLike, as_of: npt.ArrayLike, window: int, at: int
) -> KnownLabels:
    """Which observations ``(account_ids, as_of)`` have labels determined as of day ``at``.

    See the module docstring for the rule. Observations dated on or after ``at`` are
    never known (they are not in the past of ``at``).
    """
    acc = np.asarray(account_ids, dtype=np.int64)
    days = np.asarray(as_of, dtype=np.int64)
    ends = days + window
    before = days < at
    closed = ends <= at
    # Bad news known after the observation and by ``at`` (inside the window when open).
    negatives = outcome_index(book)
    observed = negatives.count(acc, days, np.minimum(ends, at)) > 0
    lead = decision_lead(book, at)
    until = committed_until(book, at).reindex(acc).to_numpy(dtype=np.float64)
    term_ends = np.nan_to_num(until, nan=-float(_NEVER))
    committed = term_ends - lead > ends
    known = before & (closed | observed | committed)
    return KnownLabels(
        closed=closed & before,
        observed=observed & before,
        committed=committed & before,
        known=known,
        lead_days=lead,
    )
