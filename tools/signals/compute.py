"""Signals for many (account, as-of date) pairs at once, from rows dated on or before each date.

Point-in-time rules (no leakage):

- usage, events, notes, NPS and risk-language matches count only if dated <= as_of;
- tickets count from ``opened_at``; a ticket is closed (and its CSAT known) only if
  ``closed_at`` <= as_of;
- contacts are present from ``added_on`` and gone from ``left_on`` (a departure with no
  date cannot be placed in time and is ignored);
- an invoice is a payment problem once its due date has passed unpaid or it was paid
  after it (both known on the due date); it is overdue while unpaid as of the date; a
  void invoice is never one, and one marked paid without a date was paid on time
  (:mod:`keel.tools.signals.billing`);
- a renewal's outcome counts only once ``decided_on`` <= as_of; its date is the contract's;
- accounts that did not exist yet (created after as_of) are marked ``exists = False``;
- the account's contract fields (outcome ceiling) describe the current term and are used
  only for dates on or after ``contract_start``.

A channel a book does not have (no tickets, no NPS, no text) yields NaN or a constant,
which the health model imputes or drops, so it contributes nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from keel.tools.risk_language import EXPANSION
from keel.tools.signals import constants as C
from keel.tools.signals.billing import payment_problems
from keel.tools.signals.book import Book
from keel.tools.signals.catalog import (
    EVENT_PREFIX,
    RAW_EVENT_PREFIX,
    RISK_LABELS,
    RISK_PREFIX,
    renewal_timing_signal,
)
from keel.tools.signals.expansion import EXPANSION_LANGUAGE_SIGNAL, says_expansion, seats_in_use
from keel.tools.signals.sentiment import sentiment_scores
from keel.tools.signals.windows import FloatArray, IntArray, WindowIndex

_HIGH_PRIORITIES = ("high", "urgent")
# Smoothing added to per-day rates before taking log-ratios, so tiny counts do not explode.
_RATE_EPS = 1.0
_MIN_SLOPE_ROWS = 14
# Window coverage needed for a rate: a week of the recent window, two of the baseline.
_MIN_RECENT_DAYS = 7
_MIN_BASELINE_DAYS = 14


@dataclass
class _Indexes:
    """Window indexes over a book's tables (built once per book)."""

    usage: WindowIndex
    usage_t0: int
    # Usage rows with more than one active user (an account that has ever had several).
    multi_user: WindowIndex
    events: dict[str, WindowIndex]
    events_start: float
    adoption: WindowIndex
    contacts_added: WindowIndex
    champions_added: WindowIndex
    champions_left: WindowIndex
    champion_engaged: WindowIndex
    sponsor_engaged: WindowIndex
    has_champion_contacts: set[int]
    has_sponsor_contacts: set[int]
    tickets_opened: WindowIndex
    tickets_closed: WindowIndex
    nps: WindowIndex
    invoice_problem_due: WindowIndex
    invoice_problem_paid: WindowIndex
    renewal_dates: WindowIndex
    renewals_decided: WindowIndex
    risk: dict[str, WindowIndex]
    account_row: pd.Series
    start_day: FloatArray


def event_names_by_coverage(
    book: Book, limit: int | None = None, *, until_day: int | None = None
) -> list[str]:
    """Every event name in the export, most widely used first (ties by name).

    All of them become signals: the model's penalty, not a cap, keeps many event columns
    in check, and a B2B product's telling events (a meeting booked, a competitor added)
    are often not its most common ones.

    Args:
        limit: at most this many names (default: all).
        until_day: count only events dated on or before this day, so which columns exist
            as of a date does not depend on later data either.
    """
    events = book.events
    if until_day is not None and not events.empty:
        events = events[events["day"] <= until_day]
    if events.empty:
        return []
    coverage = events.groupby("event_name")["account_id"].nunique()
    ranked = sorted(coverage.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return [str(name) for name, _ in (ranked if limit is None else ranked[:limit])]


def _idx(frame: pd.DataFrame, day: str, columns: dict[str, object] | None = None) -> WindowIndex:
    ok = frame[day].notna().to_numpy()
    cols = {k: np.asarray(v)[ok] for k, v in (columns or {}).items()}
    return WindowIndex(
        frame["account_id"].to_numpy()[ok], frame[day].to_numpy()[ok].astype(np.int64), cols
    )


def _engagement_events(book: Book, role: str) -> pd.DataFrame:
    """(account_id, day) of notes attended and tickets raised by contacts in ``role``."""
    contacts = book.contacts[book.contacts["role"].astype(str) == role]
    if contacts.empty:
        return pd.DataFrame({"account_id": [], "day": []})
    parts: list[pd.DataFrame] = []
    if not book.notes.empty:
        notes = book.notes[["account_id", "day", "attendees"]].copy()
        notes["who"] = notes["attendees"].fillna("").astype(str).str.lower().str.split(",")
        exploded = notes.explode("who")
        exploded["who"] = exploded["who"].astype(str).str.strip()
        keys = pd.concat(
            [
                contacts[["account_id", "email"]].rename(columns={"email": "who"}),
                contacts[["account_id", "name"]].rename(columns={"name": "who"}),
            ]
        )
        keys["who"] = keys["who"].fillna("").astype(str).str.lower().str.strip()
        keys = keys[keys["who"] != ""].drop_duplicates()
        matched = exploded.merge(keys, on=["account_id", "who"], how="inner")
        parts.append(matched[["account_id", "day"]])
    if not book.tickets.empty:
        ids = set(contacts["contact_id"].tolist())
        raised = book.tickets[book.tickets["requester_contact_id"].isin(ids)]
        parts.append(raised[["account_id", "opened"]].rename(columns={"opened": "day"}))
    if not parts:
        return pd.DataFrame({"account_id": [], "day": []})
    return pd.concat(parts, ignore_index=True)


def _account_start(book: Book) -> pd.Series:
    """First day each account existed: created, contract start or first telemetry row."""
    acc = book.accounts.set_index("account_id")
    start = acc[["created", "contract_start"]].min(axis=1, skipna=True)
    for frame in (book.usage, book.events):
        if not frame.empty:
            first = frame.groupby("account_id")["day"].min()
            start = pd.concat([start, first], axis=1).min(axis=1, skipna=True)
    return start.reindex(acc.index)


def build_indexes(book: Book) -> _Indexes:
    """Index every table of ``book`` (cached on the book)."""
    cached = book.cache.get("indexes")
    if isinstance(cached, _Indexes):
        return cached
    u = book.usage
    t0 = int(u["day"].min()) if not u.empty else 0
    t = (u["day"] - t0).astype(float)
    au = u["active_users"].astype(float)
    # Seats used from the export, else its active users; seats purchased from the export,
    # else the account's (tools.signals.expansion.seats_in_use).
    seats = seats_in_use(u, book.accounts)
    seats_ok = seats["used"].notna()
    usage = _idx(
        u,
        "day",
        {
            "au": au,
            "sess": u["sessions"].astype(float),
            "key": u["key_feature_events"].astype(float),
            "out": u["outcome_count"].astype(float),
            "q": u["outcome_quality"].astype(float).fillna(0.0),
            "qn": u["outcome_quality"].notna().astype(float),
            "seat_used": seats["used"].where(seats_ok, 0.0),
            "seat_bought": seats["bought"].where(seats_ok, 0.0),
            "teams": u["active_teams"].astype(float).fillna(0.0),
            "teams_n": u["active_teams"].notna().astype(float),
            "tx": t * au,
            "tout": t * u["outcome_count"].astype(float),
            "rolled_up": _rolled_up(u, book.events),
        },
    )
    events: dict[str, WindowIndex] = {}
    ev = book.events
    for name, group in ev.groupby("event_name") if not ev.empty else []:
        events[str(name)] = _idx(group, "day", {"n": group["n_events"].astype(float)})
    first_adopted = pd.DataFrame({"account_id": [], "day": []})
    if not book.features.empty:
        first = book.features.groupby(["account_id", "feature"])["day"].min()
        first_adopted = first.reset_index()
    contacts = book.contacts.copy()
    contacts["added0"] = contacts["added"].fillna(0)
    champs = contacts[contacts["role"].astype(str) == "champion"]
    tickets = book.tickets.copy()
    tickets["high"] = tickets["priority"].astype(str).isin(_HIGH_PRIORITIES).astype(float)
    tickets["sent"] = sentiment_scores(
        tickets["subject"].fillna("").astype(str) + ". " + tickets["body"].fillna("").astype(str)
    )
    tickets["csat_n"] = tickets["csat"].notna().astype(float)
    tickets["csat_v"] = tickets["csat"].astype(float).fillna(0.0)
    problem = payment_problems(book.invoices)
    ren = book.renewals
    decided = ren[ren["decided"].notna() & (ren["outcome"].astype(str) != "pending")]
    risk: dict[str, WindowIndex] = {}
    matches = book.risk_matches
    # Expansion language shares the cache (its own label) and is counted the same way.
    for label in (*RISK_LABELS, EXPANSION):
        rows = matches[matches["label"].astype(str) == label] if not matches.empty else matches
        if label == EXPANSION and not rows.empty:
            rows = rows[rows["snippet"].fillna("").astype(str).map(says_expansion).astype(bool)]
        risk[label] = _idx(rows, "day") if not rows.empty else WindowIndex([], [])
    account_row = pd.Series(np.arange(len(book.accounts)), index=book.accounts["account_id"])
    start = _account_start(book)
    indexes = _Indexes(
        usage=usage,
        usage_t0=t0,
        multi_user=_idx(u[au > 1], "day"),
        events=events,
        events_start=float(ev["day"].min()) if not ev.empty else np.nan,
        adoption=_idx(first_adopted, "day"),
        contacts_added=_idx(contacts, "added0"),
        champions_added=_idx(champs.assign(added0=champs["added"].fillna(0)), "added0"),
        champions_left=_idx(champs, "left_day"),
        champion_engaged=_idx(_engagement_events(book, "champion"), "day"),
        sponsor_engaged=_idx(_engagement_events(book, "executive_sponsor"), "day"),
        has_champion_contacts=set(champs["account_id"].tolist()),
        has_sponsor_contacts=set(
            contacts.loc[contacts["role"].astype(str) == "executive_sponsor", "account_id"]
        ),
        tickets_opened=_idx(tickets, "opened", {"high": tickets["high"], "sent": tickets["sent"]}),
        tickets_closed=_idx(
            tickets,
            "closed",
            {"high": tickets["high"], "csat": tickets["csat_v"], "csat_n": tickets["csat_n"]},
        ),
        nps=_idx(book.nps, "day", {"score": book.nps["score"].astype(float)}),
        invoice_problem_due=_idx(problem, "due"),
        invoice_problem_paid=_idx(problem, "settled"),
        renewal_dates=_idx(ren, "renewal"),
        renewals_decided=_idx(
            decided,
            "decided",
            {"contracted": (decided["outcome"].astype(str) == "contracted").astype(float)},
        ),
        risk=risk,
        account_row=account_row,
        start_day=start.to_numpy(dtype=np.float64),
    )
    book.cache["indexes"] = indexes
    return indexes


def _rolled_up(usage: pd.DataFrame, events: pd.DataFrame) -> FloatArray:
    """1.0 for a usage row that is the roll-up of that day's product events, else 0.0.

    A product-analytics import writes ``key_feature_events`` as the sum of the day's event
    counts (``keel.memory.importers.analytics``); an explicit usage file written over it does
    not match that sum. Checked per row, so a score never depends on rows after its date.
    """
    if usage.empty or events.empty:
        return np.zeros(len(usage))
    sums = events.groupby(["account_id", "day"])["n_events"].sum()
    keys = pd.MultiIndex.from_arrays([usage["account_id"], usage["day"]])
    day_sum = sums.reindex(keys).to_numpy(dtype=np.float64)
    key = usage["key_feature_events"].to_numpy(dtype=np.float64)
    return (~np.isnan(day_sum) & (key == day_sum)).astype(np.float64)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _log_change(recent: FloatArray, base: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        return np.log((recent + _RATE_EPS) / (base + _RATE_EPS))


def _floored(value: FloatArray, floor: FloatArray) -> FloatArray:
    """``value`` raised to ``floor`` (a missing value takes the floor); never infinite.

    The floor is -inf where there is no outcome data, so ``np.fmax`` alone would turn a
    change with no baseline into -inf: one such row makes the column's mean and spread
    non-finite and the model drops the whole signal. Such a value is missing instead (the
    model imputes it at the mean, row by row).
    """
    with np.errstate(invalid="ignore"):
        out = np.fmax(value, floor)
    return np.where(np.isfinite(out), out, np.nan)


def derive_stage(tenure_days: FloatArray, days_to_renewal: FloatArray) -> np.ndarray:
    """Lifecycle stage as of the date (the stored stage is a snapshot of today)."""
    stage = np.full(len(tenure_days), "mature", dtype=object)
    stage[tenure_days < C.ADOPTION_DAYS] = "adoption"
    stage[days_to_renewal <= C.RENEWAL_STAGE_DAYS] = "renewal"
    stage[tenure_days < C.ONBOARDING_DAYS] = "onboarding"
    return stage


def compute_signals(
    book: Book,
    account_ids: Sequence[int] | np.ndarray,
    as_of_days: Sequence[int] | np.ndarray,
    *,
    event_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Signals for each (account_ids[i], as_of_days[i]) pair.

    Args:
        book: rows loaded by :func:`keel.tools.signals.book.load_book` covering the dates.
        account_ids: internal account ids.
        as_of_days: day numbers (see :mod:`keel.tools.signals.windows`), one per account id.
        event_names: product-event names to turn into features (default: the most widely
            used in the book); pass a model's list to score with exactly its columns.

    Returns:
        One row per pair: ``account_id``, ``as_of`` (day number), ``segment``, ``stage``,
        ``exists``, ``tenure_days``, then one column per signal (NaN where no data).
    """
    ix = build_indexes(book)
    acc: IntArray = np.asarray(account_ids, dtype=np.int64)
    asof: IntArray = np.asarray(as_of_days, dtype=np.int64)
    if len(acc) != len(asof):
        raise ValueError("account_ids and as_of_days must have the same length")
    rows = ix.account_row.reindex(acc).to_numpy()
    known = ~pd.isna(rows)
    row_idx = np.where(known, rows, 0).astype(np.int64)
    accounts = book.accounts
    out: dict[str, object] = {"account_id": acc, "as_of": asof}
    start = np.where(known, ix.start_day[row_idx], np.nan)
    tenure = (asof - start).astype(float)
    out["segment"] = np.where(known, accounts["segment"].astype(str).to_numpy()[row_idx], "")
    out["exists"] = known & ~(tenure < 0)
    out["tenure_days"] = tenure

    r0, r1 = asof - C.RECENT_DAYS, asof
    b0, b1 = r0 - C.BASELINE_DAYS, r0
    sig: dict[str, FloatArray] = {}

    # --- usage (UsageDaily): calendar-day means over the recent and baseline windows ---
    # A day without a row is a day without use (product-analytics rollups only write active
    # days); days before the account or the book's usage data began are not counted.
    u = ix.usage
    u_start = np.fmax(np.nan_to_num(start, nan=-1e9), float(ix.usage_t0) if len(u) else np.inf)

    def covered(lo: IntArray, hi: IntArray) -> FloatArray:
        return np.clip(hi - np.fmax(lo, u_start - 1), 0, None).astype(np.float64)

    d_r = covered(r0, r1)
    d_b = covered(b0, b1)
    d_r = np.where(d_r >= _MIN_RECENT_DAYS, d_r, 0.0)
    d_b = np.where(d_b >= _MIN_BASELINE_DAYS, d_b, 0.0)

    def mean(col: str, lo: IntArray, hi: IntArray, n: FloatArray) -> FloatArray:
        return _ratio(u.total(col, acc, lo, hi), n)

    au_r, au_b = mean("au", r0, r1, d_r), mean("au", b0, b1, d_b)
    se_r, se_b = mean("sess", r0, r1, d_r), mean("sess", b0, b1, d_b)
    ke_r, ke_b = mean("key", r0, r1, d_r), mean("key", b0, b1, d_b)
    days = float(C.RECENT_DAYS)
    # Usage rows (days with use) in the recent window: the active-days level and the
    # rolled-up check below both read it.
    rows_r = u.count(acc, r0, r1)
    levels_r = {
        "active_users_level": np.log1p(au_r),
        "sessions_level": np.log1p(se_r * days),
        "key_events_level": np.log1p(ke_r * days),
        "active_days": _ratio(rows_r, d_r),
    }
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        change: FloatArray = np.nanmean(
            np.vstack([_log_change(au_r, au_b), _log_change(se_r, se_b), _log_change(ke_r, ke_b)]),
            axis=0,
        )
    # Least-squares slopes over the last SLOPE_DAYS calendar days, relative to the mean
    # level, per month: active users (engagement) and outcomes (for the AI-product rule).
    s0 = asof - C.SLOPE_DAYS
    first = np.fmax(s0 + 1, u_start)
    n_s = np.clip(asof - first + 1, 0, None).astype(np.float64)

    def rel_slope(column: str, t_column: str) -> FloatArray:
        sx = u.total(column, acc, s0, asof)
        with np.errstate(all="ignore"):
            # Rows carry t = day - t0; re-base to k = day - first so the sums stay small.
            skx = u.total(t_column, acc, s0, asof) - (first - ix.usage_t0) * sx
            sk = n_s * (n_s - 1) / 2.0
            skk = (n_s - 1) * n_s * (2 * n_s - 1) / 6.0
            denom = n_s * skk - sk * sk
            raw = np.where(denom > 0, (n_s * skx - sk * sx) / np.where(denom > 0, denom, 1), np.nan)
            rel = raw * 30.0 / (sx / np.maximum(n_s, 1) + 1.0)
        return np.where(n_s >= _MIN_SLOPE_ROWS, rel, np.nan)

    slope = rel_slope("au", "tx")
    outcome_slope = rel_slope("out", "tout")

    # --- outcomes ---
    out_r, out_b = mean("out", r0, r1, d_r), mean("out", b0, b1, d_b)
    q_r = _ratio(u.total("q", acc, r0, r1), u.total("qn", acc, r0, r1))
    q_b = _ratio(u.total("q", acc, b0, b1), u.total("qn", acc, b0, b1))
    outcome_change = _log_change(out_r, out_b)
    quality_change = q_r - q_b
    has_outcomes = (np.nan_to_num(out_r) + np.nan_to_num(out_b)) > 0
    sig["outcome_level"] = np.log1p(out_r * days)
    sig["outcome_change"] = np.where(has_outcomes, outcome_change, np.nan)
    sig["outcome_quality"] = q_r
    sig["quality_change"] = quality_change
    # The account's contract fields describe the current term only: use them only for
    # dates inside it, or a past cut would see a later contraction or expansion.
    term_start = np.where(
        known, accounts["contract_start"].astype(float).to_numpy()[row_idx], np.nan
    )
    in_term = term_start <= asof
    ceiling = np.where(
        known & in_term,
        accounts["outcome_ceiling_monthly"].astype(float).to_numpy()[row_idx],
        np.nan,
    )
    sig["outcome_ceiling_use"] = np.where(
        has_outcomes, _ratio(np.nan_to_num(out_r) * 30.0, ceiling), np.nan
    )
    # The AI-product rule. Engagement that falls while the product keeps delivering is not
    # risk: an engagement decline counts only as far as outcomes fell too (a decline is
    # floored at the outcome decline, so it is zero when outcomes are steady or rising),
    # and engagement levels are neutral (missing: imputed at the mean, contributing
    # nothing) while outcomes hold. Books without outcome data are not gated.
    holding = (
        has_outcomes
        & (np.nan_to_num(outcome_change, nan=-9.0) >= C.OUTCOME_HOLD_MIN_LOG_CHANGE)
        & ~(quality_change < C.OUTCOME_HOLD_MIN_QUALITY_CHANGE)
    )
    change_floor = np.where(
        has_outcomes, np.fmin(np.nan_to_num(outcome_change, nan=-np.inf), 0.0), -np.inf
    )
    slope_floor = np.where(
        has_outcomes, np.fmin(np.nan_to_num(outcome_slope, nan=-np.inf), 0.0), -np.inf
    )
    sig["outcomes_holding"] = holding.astype(float)
    # Levels rolled up from the product events the model also sees one by one (every usage
    # row in the window is such a roll-up) repeat what the event columns count: key events
    # are their sum, sessions copy active users when there are no session events, active
    # days are the days with any event. Each repeat would take weight from the events and
    # add its own "more use is healthier" prior again, and a sum mixes events that point
    # opposite ways (likes and unfriends). The multi-signal model leaves them out (missing:
    # neutral); active users stay where the account has had more than one (how many people
    # use it, which event counts do not say). The usage-only baseline keeps them all.
    rolled_up = (rows_r > 0) & (u.total("rolled_up", acc, r0, r1) == rows_r)
    single_user = ix.multi_user.count(acc, np.full(len(acc), -1), asof) == 0
    repeats = {
        "active_users_level": rolled_up & single_user,
        "sessions_level": rolled_up,
        "key_events_level": rolled_up,
        "active_days": rolled_up,
    }
    for name, level in levels_r.items():
        sig["usage_" + name] = level
        sig[name] = np.where(holding | repeats[name], np.nan, level)
    sig["usage_engagement_change"] = change
    sig["engagement_change"] = _floored(change, change_floor)
    sig["usage_engagement_slope"] = slope
    sig["engagement_slope"] = _floored(slope, slope_floor)

    # --- product events: 28-day counts per event name, log-scaled ---
    names = (
        list(event_names)
        if event_names is not None
        else event_names_by_coverage(book, until_day=int(asof.max()) if len(asof) else None)
    )
    ev_start = np.fmax(np.nan_to_num(start, nan=-1e9), ix.events_start)
    for name in names:
        index = ix.events.get(name)
        recent: FloatArray = np.zeros(len(acc))
        if index is not None:
            recent = index.total("n", acc, r0, r1)
        # Scale partial windows (accounts younger than the window) to a full window.
        eff_r = np.clip(asof - ev_start + 1, 7, C.RECENT_DAYS)
        lvl_r = np.log1p(recent * C.RECENT_DAYS / eff_r)
        sig[RAW_EVENT_PREFIX + name] = lvl_r
        sig[EVENT_PREFIX + name] = np.where(holding, np.nan, lvl_r)

    # --- feature adoption ---
    sig["adoption_breadth"] = ix.adoption.count(acc, np.full(len(acc), -1), asof)
    sig["adoption_velocity"] = ix.adoption.count(acc, asof - C.ADOPTION_VELOCITY_DAYS, asof)

    # --- seats and teams ---
    util_r = _ratio(u.total("seat_used", acc, r0, r1), u.total("seat_bought", acc, r0, r1))
    util_b = _ratio(u.total("seat_used", acc, b0, b1), u.total("seat_bought", acc, b0, b1))
    # Seat use is engagement too: the AI-product rule applies to it as well.
    sig["usage_seat_utilisation"] = util_r
    sig["usage_seat_utilisation_change"] = util_r - util_b
    sig["seat_utilisation"] = np.where(holding, np.nan, util_r)
    # A drop in seat use counts only as far as outcomes fell too (relative to the level).
    with np.errstate(invalid="ignore"):
        sig["seat_utilisation_change"] = _floored(util_r - util_b, change_floor * util_b)
    sig["team_growth"] = _ratio(u.total("teams", acc, r0, r1), u.total("teams_n", acc, r0, r1)) - (
        _ratio(u.total("teams", acc, b0, b1), u.total("teams_n", acc, b0, b1))
    )

    # --- champion and executive sponsor ---
    never = np.full(len(acc), -1)
    has_contacts = ix.contacts_added.count(acc, never, asof) > 0
    present = ix.champions_added.count(acc, never, asof) - ix.champions_left.count(acc, never, asof)
    sig["champion_present"] = np.where(has_contacts, (present > 0).astype(float), np.nan)
    # A departure counts until a new champion is named: "our champion left and nobody has
    # taken over" is the risk; a handover already made is a different, milder situation,
    # and the new champion's engagement is read by the recency signal.
    last_named = ix.champions_added.last_day(acc, asof)
    open_since = np.fmax(asof - C.CONTACT_LEFT_DAYS, np.nan_to_num(last_named, nan=-np.inf))
    sig["champion_left"] = np.where(
        has_contacts, ix.champions_left.count(acc, open_since, asof), np.nan
    )
    for key, index in (("champion", ix.champion_engaged), ("sponsor", ix.sponsor_engaged)):
        last = index.last_day(acc, asof)
        since = np.fmin(np.nan_to_num(asof - last, nan=C.RECENCY_CAP_DAYS), C.RECENCY_CAP_DAYS)
        sig[f"{key}_days_since"] = np.where(has_contacts, since, np.nan)

    # --- support tickets ---
    to = ix.tickets_opened
    n30 = to.count(acc, asof - C.TICKET_RECENT_DAYS, asof)
    n_base = to.count(
        acc, asof - C.TICKET_RECENT_DAYS - C.BASELINE_DAYS, asof - C.TICKET_RECENT_DAYS
    )
    sig["tickets_recent"] = np.log1p(n30)
    sig["ticket_change"] = np.log(
        (n30 + 1.0) / (n_base * C.TICKET_RECENT_DAYS / C.BASELINE_DAYS + 1.0)
    )
    high_open = to.total("high", acc, never, asof) - ix.tickets_closed.total(
        "high", acc, never, asof
    )
    sig["open_high_priority"] = np.maximum(high_open, 0.0)
    w = C.SENTIMENT_DAYS
    sent_r = _ratio(to.total("sent", acc, asof - w, asof), to.count(acc, asof - w, asof))
    sent_p = _ratio(
        to.total("sent", acc, asof - 2 * w, asof - w), to.count(acc, asof - 2 * w, asof - w)
    )
    sig["ticket_sentiment"] = sent_r
    sig["sentiment_change"] = sent_r - sent_p
    tc = ix.tickets_closed
    sig["csat"] = _ratio(
        tc.total("csat", acc, asof - w, asof), tc.total("csat_n", acc, asof - w, asof)
    )

    # --- NPS ---
    nw = C.NPS_DAYS
    nps_r = _ratio(ix.nps.total("score", acc, asof - nw, asof), ix.nps.count(acc, asof - nw, asof))
    nps_p = _ratio(
        ix.nps.total("score", acc, asof - 2 * nw, asof - nw),
        ix.nps.count(acc, asof - 2 * nw, asof - nw),
    )
    sig["nps"] = nps_r
    sig["nps_change"] = nps_r - nps_p

    # --- billing: a due date passed unpaid, or paid after it ---
    due_before = asof - 1
    sig["payment_problems"] = ix.invoice_problem_due.count(
        acc, due_before - C.PAYMENT_DAYS, due_before
    )
    overdue = ix.invoice_problem_due.count(acc, never, due_before) - ix.invoice_problem_paid.count(
        acc, never, asof
    )
    sig["overdue_invoices"] = np.maximum(overdue, 0.0)

    # --- renewal ---
    next_renewal = ix.renewal_dates.first_day_after(acc, asof - 1)
    snap = np.where(known, accounts["renewal"].astype(float).to_numpy()[row_idx], np.nan)
    # Without a renewal row, roll the account's renewal date by whole years to the next one.
    rolled = snap - 365.0 * np.floor((snap - asof) / 365.0)
    next_renewal = np.where(np.isnan(next_renewal), rolled, next_renewal)
    dtr = np.fmin(next_renewal - asof, C.RENEWAL_CAP_DAYS)
    sig["days_to_renewal"] = dtr
    for lo, hi in C.RENEWAL_TIMING_BINS:
        inside = ((dtr > lo) & (dtr <= hi)).astype(float)
        sig[renewal_timing_signal(lo, hi)] = np.where(np.isnan(dtr), np.nan, inside)
    rd = ix.renewals_decided
    last_decided = rd.last_day(acc, asof)
    last_day = np.nan_to_num(last_decided, nan=0.0).astype(np.int64)
    contracted = rd.total("contracted", acc, last_day - 1, last_day)
    sig["last_renewal_contracted"] = np.where(
        np.isnan(last_decided), np.nan, (contracted > 0) * 1.0
    )

    # --- tenure ---
    sig["tenure"] = np.log1p(np.clip(tenure, 0, None))

    # --- risk language (cached semantic matches) ---
    for label in RISK_LABELS:
        sig[RISK_PREFIX + label] = ix.risk[label].count(acc, asof - C.RISK_LANGUAGE_DAYS, asof)
    # --- expansion language (same cache, same window): an expansion signal, not a risk input
    sig[EXPANSION_LANGUAGE_SIGNAL] = ix.risk[EXPANSION].count(
        acc, asof - C.RISK_LANGUAGE_DAYS, asof
    )

    out["stage"] = derive_stage(np.nan_to_num(tenure, nan=1e9), np.nan_to_num(dtr, nan=1e9))
    frame = pd.DataFrame(out)
    features = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in sig.items()})
    return pd.concat([frame, features], axis=1)
