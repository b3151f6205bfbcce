"""Vectorised point-in-time window queries over dated rows.

Rows are keyed by ``account * STRIDE + day`` and sorted once; cumulative sums then answer
"sum of column X for account A over days (start, end]" for any number of (account, window)
pairs with two binary searches each. This is what lets a backtest evaluate thousands of
(account, as-of date) cuts without a Python loop per account.

Days are integers: days since :data:`EPOCH` (1900-01-01), so every real date is positive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPOCH = dt.date(1900, 1, 1)
_EPOCH_ORDINAL = EPOCH.toordinal()
# Larger than any day number we will meet (year 1900 + 11,000): keys never overlap accounts.
STRIDE = np.int64(1 << 22)


def day_number(value: dt.date) -> int:
    """The day number of a date."""
    return value.toordinal() - _EPOCH_ORDINAL


def day_date(number: int | float | np.integer | np.floating) -> dt.date:
    """The date of a day number."""
    return dt.date.fromordinal(int(number) + _EPOCH_ORDINAL)


def to_days(values: pd.Series | npt.ArrayLike) -> FloatArray:
    """Day numbers of dates/datetimes/strings (NaN where missing), as float64."""
    series = pd.Series(values)
    if series.empty:
        return np.zeros(0, dtype=np.float64)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    stamps = pd.to_datetime(series, errors="coerce")
    days = (stamps - pd.Timestamp(EPOCH)).dt.days
    return np.asarray(days.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


class WindowIndex:
    """Dated rows of many accounts, indexed for window sums and last-row lookups.

    Args:
        account: internal account id per row.
        day: day number per row (rows with a missing day must be dropped by the caller).
        columns: values to sum, one array per name, aligned with ``account``.
    """

    def __init__(
        self,
        account: npt.ArrayLike,
        day: npt.ArrayLike,
        columns: Mapping[str, npt.ArrayLike] | None = None,
    ) -> None:
        acc = np.asarray(account, dtype=np.int64)
        days = np.asarray(day, dtype=np.int64)
        key = acc * STRIDE + days
        order = np.argsort(key, kind="stable")
        self._key: IntArray = key[order]
        self._day: IntArray = days[order]
        self._cum: dict[str, FloatArray] = {"n": np.arange(len(key) + 1, dtype=np.float64)}
        for name, values in (columns or {}).items():
            vals = np.nan_to_num(np.asarray(values, dtype=np.float64)[order])
            self._cum[name] = np.concatenate(([0.0], np.cumsum(vals)))

    def __len__(self) -> int:
        return len(self._key)

    def _position(self, account: IntArray, day: npt.ArrayLike) -> IntArray:
        # Rows of ``account`` dated <= day come before this position.
        d = np.asarray(day, dtype=np.int64)
        return np.searchsorted(self._key, account * STRIDE + d, side="right").astype(np.int64)

    def total(
        self, name: str, account: IntArray, start: npt.ArrayLike, end: npt.ArrayLike
    ) -> FloatArray:
        """Sum of ``name`` over rows with ``start < day <= end`` (``n`` counts rows)."""
        cum = self._cum[name]
        return cum[self._position(account, end)] - cum[self._position(account, start)]

    def count(self, account: IntArray, start: npt.ArrayLike, end: npt.ArrayLike) -> FloatArray:
        """Number of rows with ``start < day <= end``."""
        return self.total("n", account, start, end)

    def last_day(self, account: IntArray, end: npt.ArrayLike) -> FloatArray:
        """Day of the latest row dated <= ``end`` for each account (NaN when none)."""
        pos = self._position(account, end) - 1
        safe = np.clip(pos, 0, max(len(self._key) - 1, 0))
        if len(self._key) == 0:
            return np.full(len(account), np.nan)
        same = (pos >= 0) & (self._key[safe] // STRIDE == account)
        return np.where(same, self._day[safe].astype(np.float64), np.nan)

    def first_day_after(self, account: IntArray, start: npt.ArrayLike) -> FloatArray:
        """Day of the earliest row dated > ``start`` for each account (NaN when none)."""
        pos = self._position(account, start)
        if len(self._key) == 0:
            return np.full(len(account), np.nan)
        safe = np.clip(pos, 0, len(self._key) - 1)
        same = (pos < len(self._key)) & (self._key[safe] // STRIDE == account)
        return np.where(same, self._day[safe].astype(np.float64), np.nan)
