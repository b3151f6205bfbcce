"""Date helpers for the synthetic book: the history window, anniversaries, seasonality."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DEFAULT_END = dt.date(2026, 10, 31)
# Thirty months: every account passes at least two renewals, so a walk-forward backtest
# with a 180-day horizon has a year or more of cuts fitted on closed outcomes.
DEFAULT_MONTHS = 30


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` shifted by whole months, clamped to the last day of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def add_years(day: dt.date, years: int) -> dt.date:
    return add_months(day, 12 * years)


@dataclass(frozen=True)
class Window:
    """The book's history: ``start`` .. ``end`` (= ``as_of``) inclusive."""

    start: dt.date
    end: dt.date

    @classmethod
    def of(cls, end: dt.date, months: int) -> Window:
        return cls(start=add_months(end + dt.timedelta(days=1), -months), end=end)

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    def index(self, day: dt.date) -> int:
        """Day offset from ``start`` (may be negative or beyond the window)."""
        return (day - self.start).days

    def day(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(index))


@lru_cache(maxsize=32)
def season_factors(window: Window, region: str) -> np.ndarray:
    """Multiplicative activity factor per day: weekends, year-end, summer, local holidays.

    B2B tools are quiet at weekends and over the holidays; EMEA quietens in August, North
    America around Thanksgiving. Healthy accounts show these dips too (a mixed signal).
    """
    n = window.n_days
    days = [window.day(i) for i in range(n)]
    f = np.ones(n)
    for i, d in enumerate(days):
        wd = d.weekday()
        if wd == 5:
            f[i] *= 0.16
        elif wd == 6:
            f[i] *= 0.11
        if (d.month == 12 and d.day >= 22) or (d.month == 1 and d.day <= 2):
            f[i] *= 0.42
        elif d.month == 12 and d.day >= 15:
            f[i] *= 0.85
        if d.month == 8:
            f[i] *= 0.72 if region == "EMEA" else 0.9
        if region == "NA" and d.month == 11 and 22 <= d.day <= 28 and wd in (3, 4):
            f[i] *= 0.45
        if region == "APAC" and (d.month == 2 and d.day <= 10):
            f[i] *= 0.8
    f.setflags(write=False)  # cached and shared between accounts
    return f


def weekday_mask(window: Window) -> np.ndarray:
    start_wd = window.start.weekday()
    return np.asarray(((np.arange(window.n_days) + start_wd) % 7) < 5)
