"""The hidden plan of one account: contract, renewals, trajectory, episode and outcomes.

Everything else (usage, tickets, notes, NPS, invoices) is derived from this plan with noise.
The plan is ground truth: only ``AccountTruth`` leaves this package with it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from keel.memory.synth.calendar import Window, add_years
from keel.memory.synth.names import Company, company, csm_for
from keel.memory.synth.rng import Streams
from keel.memory.truth import AccountTruth, RenewalTruth, Trajectory

# Target mix of trajectories (the numbers). Accounts whose dates cannot host an
# episode fall back to healthy, so the realised share of healthy is a little higher.
TRAJECTORY_WEIGHTS: dict[Trajectory, float] = {
    Trajectory.HEALTHY: 0.45,
    Trajectory.SLOW_DECLINE: 0.12,
    Trajectory.SUDDEN_RISK: 0.13,
    Trajectory.QUALITY_REGRESSION: 0.08,
    Trajectory.EXPANSION_READY: 0.12,
    Trajectory.AI_PRODUCT: 0.10,
}

SUB_CAUSES: dict[Trajectory, dict[str, float]] = {
    Trajectory.HEALTHY: {"steady": 1.0},
    Trajectory.SLOW_DECLINE: {
        "adoption_stalled": 0.4,
        "value_unclear": 0.35,
        "key_users_disengaged": 0.25,
    },
    Trajectory.SUDDEN_RISK: {
        "champion_left": 0.3,
        "reorg": 0.2,
        "budget_cut": 0.25,
        "competitor_evaluation": 0.25,
    },
    Trajectory.QUALITY_REGRESSION: {"recovered": 0.55, "not_recovered": 0.45},
    Trajectory.EXPANSION_READY: {"seats": 0.4, "new_teams": 0.35, "volume": 0.25},
    Trajectory.AI_PRODUCT: {"automation_gains": 1.0},
}

# Outcome of the renewal an episode targets: (trajectory, sub_cause or "*") -> probabilities.
OUTCOME_RATES: dict[tuple[Trajectory, str], dict[str, float]] = {
    (Trajectory.HEALTHY, "*"): {
        "renewed": 0.79,
        "expanded": 0.14,
        "contracted": 0.04,
        "churned": 0.03,
    },
    (Trajectory.SLOW_DECLINE, "*"): {
        "churned": 0.42,
        "contracted": 0.28,
        "renewed": 0.28,
        "expanded": 0.02,
    },
    (Trajectory.SUDDEN_RISK, "champion_left"): {
        "churned": 0.45,
        "contracted": 0.2,
        "renewed": 0.35,
    },
    (Trajectory.SUDDEN_RISK, "reorg"): {"churned": 0.35, "contracted": 0.3, "renewed": 0.35},
    (Trajectory.SUDDEN_RISK, "budget_cut"): {
        "churned": 0.25,
        "contracted": 0.45,
        "renewed": 0.3,
    },
    (Trajectory.SUDDEN_RISK, "competitor_evaluation"): {
        "churned": 0.5,
        "contracted": 0.15,
        "renewed": 0.35,
    },
    (Trajectory.QUALITY_REGRESSION, "recovered"): {
        "churned": 0.08,
        "contracted": 0.1,
        "renewed": 0.72,
        "expanded": 0.1,
    },
    (Trajectory.QUALITY_REGRESSION, "not_recovered"): {
        "churned": 0.45,
        "contracted": 0.25,
        "renewed": 0.3,
    },
    (Trajectory.EXPANSION_READY, "*"): {"expanded": 0.8, "renewed": 0.17, "contracted": 0.03},
    (Trajectory.AI_PRODUCT, "*"): {
        "renewed": 0.55,
        "expanded": 0.35,
        "contracted": 0.06,
        "churned": 0.04,
    },
}

BAD_OUTCOMES = frozenset({"churned", "contracted"})
# Severity of risk episodes, and how steeply it sets the odds of a bad renewal (log-odds
# per unit of severity): see ``_risk_outcome``.
SEVERITY_RANGE = (0.2, 1.0)
BAD_OUTCOME_STEEPNESS = 12.0

SEGMENT_WEIGHTS = {"smb": 0.5, "mid_market": 0.35, "enterprise": 0.15}
REGION_WEIGHTS = {"NA": 0.45, "EMEA": 0.35, "APAC": 0.12, "LATAM": 0.08}
# (median ARR, log-sd, floor, cap) per segment.
ARR_PARAMS = {
    "smb": (14_000.0, 0.5, 4_000.0, 45_000.0),
    "mid_market": (65_000.0, 0.45, 25_000.0, 200_000.0),
    "enterprise": (320_000.0, 0.55, 120_000.0, 1_500_000.0),
}
SEAT_PRICE = {"smb": 540.0, "mid_market": 660.0, "enterprise": 780.0}
PLANS = {
    "smb": ("Starter", "Growth"),
    "mid_market": ("Growth", "Business"),
    "enterprise": ("Enterprise", "Enterprise Plus"),
}
PRICING_WEIGHTS = {
    "smb": {"seat": 0.7, "usage": 0.2, "outcome": 0.1},
    "mid_market": {"seat": 0.45, "usage": 0.3, "outcome": 0.25},
    "enterprise": {"seat": 0.35, "usage": 0.3, "outcome": 0.35},
}
USE_CASES = {
    "support": ("tickets resolved", "conversations automated"),
    "documents": ("documents processed", "claims processed"),
}
# Product releases (offsets in days from the start of history) that some accounts feel as a
# quality regression. They are shared by the whole book, as real releases are.
RELEASES: tuple[tuple[int, str], ...] = (
    (80, "reply model v4"),
    (205, "triage classifier 3.0"),
    (335, "extraction engine 2.2"),
    (465, "routing engine migration"),
)
NEW_ACCOUNT_SHARE = 0.16


@dataclass(frozen=True)
class RenewalPlan:
    date: dt.date
    outcome: str
    decided_on: dt.date
    arr_before: float
    arr_after: float
    seats_after: int
    ceiling_after: float | None


@dataclass(frozen=True)
class Base:
    """Per-account behaviour constants (how this customer uses the product when healthy)."""

    p_active: float
    sessions_per_user: float
    kfe_rate: float
    util: float
    teams: int
    quality: float
    outcome_per_active: float
    growth: float
    ticket_rate: float
    note_every_days: float


@dataclass(frozen=True)
class Episode:
    trajectory: Trajectory
    sub_cause: str | None
    severity: float
    start: dt.date | None
    target: dt.date | None
    target_outcome: str
    release: str | None = None
    recovered_on: dt.date | None = None
    champion_leaves_on: dt.date | None = None
    sponsor_leaves_on: dt.date | None = None
    team_lost_on: dt.date | None = None
    # Noise on healthy accounts: a mild dip after a release; a champion handing over.
    mild_dip_on: dt.date | None = None
    handover_on: dt.date | None = None
    quiet_month_on: dt.date | None = None


@dataclass(frozen=True)
class AccountPlan:
    index: int
    external_id: str
    company: Company
    segment: str
    region: str
    pricing_model: str
    plan_name: str
    use_case: str
    outcome_unit: str
    csm_name: str
    csm_email: str
    csm_style: str
    created_on: dt.date
    seats0: int
    arr0: float
    ceiling0: float | None
    base: Base
    episode: Episode
    renewals: tuple[RenewalPlan, ...] = field(default_factory=tuple)

    @property
    def churned_on(self) -> dt.date | None:
        for r in self.renewals:
            if r.outcome == "churned":
                return r.date
        return None

    def term_at(self, day: dt.date) -> tuple[float, int, float | None]:
        """(ARR, seats, monthly ceiling) of the contract in force on ``day``."""
        arr, seats, ceiling = self.arr0, self.seats0, self.ceiling0
        for r in self.renewals:
            if r.date <= day:
                arr, seats, ceiling = r.arr_after, r.seats_after, r.ceiling_after
        return arr, seats, ceiling

    def truth(self, as_of: dt.date) -> AccountTruth:
        ep = self.episode
        return AccountTruth(
            external_id=self.external_id,
            trajectory=ep.trajectory.value,
            sub_cause=ep.sub_cause,
            severity=round(ep.severity, 3),
            episode_start=ep.start,
            target_renewal_date=ep.target,
            target_outcome=ep.target_outcome,
            product_change_on=ep.start if ep.trajectory is Trajectory.QUALITY_REGRESSION else None,
            recovered_on=ep.recovered_on,
            churned_on=self.churned_on,
            renewals=tuple(
                RenewalTruth(
                    renewal_date=r.date,
                    outcome=r.outcome,
                    decided_on=r.decided_on,
                    arr_before=r.arr_before,
                    arr_after=r.arr_after,
                    after_as_of=r.date > as_of,
                )
                for r in self.renewals
            ),
        )


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _days(rng: np.random.Generator, lo: int, hi: int) -> dt.timedelta:
    return dt.timedelta(days=int(rng.integers(lo, hi + 1)))


def _round_arr(x: float) -> float:
    return float(round(x / 100.0) * 100.0)


def _base(rng: np.random.Generator, segment: str, trajectory: Trajectory) -> Base:
    teams = {"smb": (1, 3), "mid_market": (2, 6), "enterprise": (5, 18)}[segment]
    rate = {"smb": 0.025, "mid_market": 0.065, "enterprise": 0.15}[segment]
    every = {"smb": (40, 75), "mid_market": (18, 32), "enterprise": (9, 16)}[segment]
    util_lo = 0.76 if trajectory is Trajectory.EXPANSION_READY else 0.6
    return Base(
        p_active=float(rng.uniform(0.45, 0.75)),
        sessions_per_user=float(rng.uniform(1.8, 3.5)),
        kfe_rate=float(rng.uniform(0.5, 1.6)),
        util=float(rng.uniform(util_lo, 0.88)),
        teams=int(rng.integers(teams[0], teams[1] + 1)),
        quality=float(rng.uniform(0.78, 0.92)),
        outcome_per_active=float(rng.uniform(3.0, 11.0)),
        growth=float(rng.normal(0.06, 0.08)),
        ticket_rate=float(rate * rng.lognormal(0.0, 0.35)),
        note_every_days=float(rng.uniform(*every)),
    )


def _renewal_dates(created: dt.date, window: Window) -> list[dt.date]:
    """Anniversaries inside history plus the first one after ``as_of``."""
    out: list[dt.date] = []
    k = 1
    while True:
        r = add_years(created, k)
        k += 1
        if r < window.start:
            continue
        out.append(r)
        if r > window.end:
            return out


def _lead_range(
    r: dt.date, created: dt.date, window: Window, traj: Trajectory
) -> tuple[int, int] | None:
    """Feasible days between episode start and renewal ``r`` (signals lead by 120-300 days).

    The episode must start after a baseline (30 days into history, 60 days after the account
    started) and at least 30 days before ``as_of`` so it leaves traces in the data.
    """
    earliest = max(window.start + dt.timedelta(days=30), created + dt.timedelta(days=60))
    lo = max(120, (r - window.end).days + 30)
    hi = min(300, (r - earliest).days)
    if traj is Trajectory.QUALITY_REGRESSION:
        # The episode starts at a release; the release must sit inside the lead window.
        starts = [window.start + dt.timedelta(days=off) for off, _ in RELEASES]
        ok = [(r - s).days for s in starts if lo <= (r - s).days <= hi]
        return (min(ok), max(ok)) if ok else None
    return (lo, hi) if lo <= hi else None


def _release_for(start: dt.date, window: Window) -> str | None:
    for off, label in RELEASES:
        if window.start + dt.timedelta(days=off) == start:
            return label
    return None


def _choose_episode(
    rng: np.random.Generator,
    traj: Trajectory,
    created: dt.date,
    renewals: list[dt.date],
    window: Window,
) -> Episode:
    if traj is Trajectory.HEALTHY:
        return _healthy_episode(rng, created, renewals, window)
    options = [(r, lr) for r in renewals if (lr := _lead_range(r, created, window, traj))]
    if not options:
        return _healthy_episode(rng, created, renewals, window)
    target, (lo, hi) = options[int(rng.integers(len(options)))]
    if traj is Trajectory.QUALITY_REGRESSION:
        fits = [
            window.start + dt.timedelta(days=off)
            for off, _ in RELEASES
            if lo <= (target - (window.start + dt.timedelta(days=off))).days <= hi
        ]
        start = fits[int(rng.integers(len(fits)))]
    else:
        start = target - dt.timedelta(days=int(rng.integers(lo, hi + 1)))
    sub = _pick(rng, SUB_CAUSES[traj])
    rates = OUTCOME_RATES.get((traj, sub)) or OUTCOME_RATES[(traj, "*")]
    if traj in (Trajectory.EXPANSION_READY, Trajectory.AI_PRODUCT):
        outcome = _pick(rng, rates)
        # Strength of the positive pattern; weaker when the renewal did not go well.
        severity = rng.uniform(0.45, 1.0) if outcome == "expanded" else rng.uniform(0.2, 0.75)
    else:
        severity, outcome = _risk_outcome(rng, rates)
    ep = Episode(
        trajectory=traj,
        sub_cause=sub,
        severity=float(severity),
        start=start,
        target=target,
        target_outcome=outcome,
    )
    return _episode_extras(rng, ep, window)


def _risk_outcome(rng: np.random.Generator, rates: dict[str, float]) -> tuple[float, str]:
    """Severity of a risk episode, then its outcome: deeper trouble ends badly more often.

    The share of bad outcomes (churn or contraction) over all severities stays the rate
    in ``rates``; how likely one account's renewal goes badly rises steeply with how
    severe its episode is (``BAD_OUTCOME_STEEPNESS`` per unit of severity on the log-odds).
    A mild episode is mostly saved, a severe one mostly lost, and the middle is a coin
    flip: the severity shows in the data (how far usage falls, how unhappy tickets and
    notes sound), so a model can read the odds from it, but never with certainty.
    """
    severity = float(rng.uniform(*SEVERITY_RANGE))
    bad_share = sum(p for k, p in rates.items() if k in BAD_OUTCOMES) / sum(rates.values())
    p_bad = _sigmoid(BAD_OUTCOME_STEEPNESS * (severity - _midpoint(bad_share)))
    side = BAD_OUTCOMES if rng.random() < p_bad else frozenset(rates) - BAD_OUTCOMES
    return severity, _pick(rng, {k: p for k, p in rates.items() if k in side})


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _midpoint(bad_share: float) -> float:
    """Severity at which P(bad) = 1/2, so that P(bad) averaged over severity = ``bad_share``."""
    lo, hi = SEVERITY_RANGE
    grid = np.linspace(lo, hi, 401)
    a, b = lo - 1.0, hi + 1.0
    for _ in range(60):  # bisection: the mean of P(bad) falls as the midpoint rises
        mid = (a + b) / 2
        mean = float(np.mean(1.0 / (1.0 + np.exp(-BAD_OUTCOME_STEEPNESS * (grid - mid)))))
        a, b = (mid, b) if mean > bad_share else (a, mid)
    return (a + b) / 2


# A saved account's trouble turns around this many days before its renewal: the save
# play (a new champion, a success plan, a fix) takes hold a quarter or so ahead.
SAVED_TURN_DAYS = (75, 130)
# A fix that ships later than this before the renewal comes too late to change a
# decision already taking shape.
LATE_FIX_DAYS = 40


def _recovery_day(rng: np.random.Generator, ep: Episode) -> dt.date:
    """When a quality regression that gets fixed is fixed, given how the renewal went.

    The fix ships 45-130 days into the regression; when the account was saved it had
    shipped a quarter or so before the renewal (the same turnaround other saved accounts
    show), and when the account was lost anyway it shipped too late, in the last weeks
    before the renewal or after it.
    """
    assert ep.start is not None and ep.target is not None
    fix = ep.start + _days(rng, 45, 130)
    if ep.target_outcome in BAD_OUTCOMES:
        return max(fix, ep.target - _days(rng, 0, LATE_FIX_DAYS))
    saving = ep.target - _days(rng, *SAVED_TURN_DAYS)
    return max(ep.start + dt.timedelta(days=30), min(fix, saving))


def _episode_extras(rng: np.random.Generator, ep: Episode, window: Window) -> Episode:
    assert ep.start is not None and ep.target is not None
    kw: dict[str, Any] = {}
    if ep.trajectory is Trajectory.QUALITY_REGRESSION:
        kw["release"] = _release_for(ep.start, window)
        if ep.sub_cause == "recovered":
            kw["recovered_on"] = _recovery_day(rng, ep)
    elif ep.trajectory is Trajectory.SUDDEN_RISK:
        if ep.sub_cause == "champion_left":
            kw["champion_leaves_on"] = ep.start
        elif ep.sub_cause == "reorg":
            kw["sponsor_leaves_on"] = ep.start + _days(rng, 5, 35)
        elif ep.sub_cause == "competitor_evaluation":
            kw["team_lost_on"] = ep.start + _days(rng, 25, 70)
    elif ep.trajectory is Trajectory.SLOW_DECLINE and rng.random() < 0.3:
        # Part of a slow decline: the champion drifts off mid-way (often not announced).
        kw["champion_leaves_on"] = ep.start + _days(rng, 40, 110)
    for key in ("recovered_on", "champion_leaves_on", "sponsor_leaves_on", "team_lost_on"):
        v = kw.get(key)
        if isinstance(v, dt.date) and v > window.end:
            kw[key] = None  # not happened by as_of; the episode still holds in the truth
    return replace(ep, **kw)


def _healthy_episode(
    rng: np.random.Generator, created: dt.date, renewals: list[dt.date], window: Window
) -> Episode:
    outcome = _pick(rng, OUTCOME_RATES[(Trajectory.HEALTHY, "*")])
    target = renewals[int(rng.integers(len(renewals)))]
    mild_dip: dt.date | None = None
    handover: dt.date | None = None
    quiet: dt.date | None = None
    lo = max(window.start, created + dt.timedelta(days=45))
    span = (window.end - lo).days - 20
    if span > 30:
        if rng.random() < 0.25:
            offs = [o for o, _ in RELEASES if window.start + dt.timedelta(days=o) > lo]
            if offs:
                mild_dip = window.start + dt.timedelta(days=int(rng.choice(offs)))
        if rng.random() < 0.07:
            handover = lo + _days(rng, 0, span)
        if rng.random() < 0.3:
            quiet = lo + _days(rng, 0, span)
    return Episode(
        trajectory=Trajectory.HEALTHY,
        sub_cause=None,
        severity=0.0,
        start=None,
        target=target,
        target_outcome=outcome,
        mild_dip_on=mild_dip,
        handover_on=handover,
        quiet_month_on=quiet,
    )


def _decided(rng: np.random.Generator, r: dt.date, outcome: str) -> dt.date:
    lo, hi = {
        "churned": (30, 90),
        "contracted": (5, 45),
        "renewed": (-10, 40),
        "expanded": (0, 60),
    }[outcome]
    return r - _days(rng, lo, hi)


def _ratio(rng: np.random.Generator, outcome: str, traj: Trajectory) -> float:
    if outcome == "expanded":
        return float(
            rng.uniform(1.25, 1.8) if traj is Trajectory.EXPANSION_READY else rng.uniform(1.12, 1.5)
        )
    if outcome == "contracted":
        return float(rng.uniform(0.45, 0.85))
    if outcome == "renewed":
        return float(rng.uniform(1.0, 1.07))
    return 0.0


def _outcomes(
    rng: np.random.Generator,
    ep: Episode,
    dates: list[dt.date],
    arr0: float,
    seats0: int,
    ceiling0: float | None,
    window: Window,
) -> tuple[RenewalPlan, ...]:
    out: list[RenewalPlan] = []
    arr, seats, ceiling = arr0, seats0, ceiling0
    for r in dates:
        if ep.target is not None and r < ep.target:
            outcome = "expanded" if rng.random() < 0.16 else "renewed"
        elif r == ep.target:
            outcome = ep.target_outcome
        else:
            outcome = _pick(rng, {"renewed": 0.85, "expanded": 0.1, "contracted": 0.05})
        ratio = _ratio(rng, outcome, ep.trajectory)
        new_arr = _round_arr(arr * ratio)
        if outcome == "renewed":
            new_seats, new_ceiling = seats, ceiling  # a price uplift, same contract
        else:
            new_seats = max(1, round(seats * ratio)) if outcome != "churned" else 0
            new_ceiling = None if ceiling is None else float(round(ceiling * ratio, -2) or 100.0)
            if outcome == "churned":
                new_ceiling = None if ceiling is None else 0.0
        decided = _decided(rng, r, outcome)
        if r > window.end:
            # Renewals after as_of are still open on as_of: decided later, never before.
            decided = min(r, max(decided, window.end + dt.timedelta(days=1)))
        else:
            decided = min(decided, window.end)
        out.append(
            RenewalPlan(
                date=r,
                outcome=outcome,
                decided_on=decided,
                arr_before=arr,
                arr_after=new_arr,
                seats_after=new_seats,
                ceiling_after=new_ceiling,
            )
        )
        if outcome == "churned":
            break
        arr, seats, ceiling = new_arr, new_seats, new_ceiling
    return tuple(out)


def plan_account(streams: Streams, index: int, seed: int, window: Window) -> AccountPlan:
    """Draw the hidden plan of account ``index`` (deterministic for ``seed``)."""
    rng = streams.np("plan")
    py = streams.py("plan")
    comp = company(index, seed)
    segment = _pick(rng, SEGMENT_WEIGHTS)
    region = _pick(rng, REGION_WEIGHTS)
    pricing = _pick(rng, PRICING_WEIGHTS[segment])
    use_case = "documents" if rng.random() < 0.3 else "support"
    unit = USE_CASES[use_case][int(rng.integers(2))]
    med, sd, lo, hi = ARR_PARAMS[segment]
    arr0 = _round_arr(float(np.clip(med * rng.lognormal(0.0, sd), lo, hi)))
    seats0 = max(3, round(arr0 / (SEAT_PRICE[segment] * rng.uniform(0.8, 1.2))))
    if rng.random() < NEW_ACCOUNT_SHARE:
        created = window.start + _days(rng, 0, max(0, window.n_days - 22))
    else:
        created = window.start - _days(rng, 30, 1600)
    traj = Trajectory(_pick(rng, {t.value: w for t, w in TRAJECTORY_WEIGHTS.items()}))
    base = _base(rng, segment, traj)
    ceiling0: float | None = None
    if pricing != "seat":
        monthly = seats0 * base.util * base.p_active * base.outcome_per_active * 21.7
        ceiling0 = float(max(100.0, round(monthly / rng.uniform(0.55, 0.8), -2)))
    dates = _renewal_dates(created, window)
    episode = _choose_episode(rng, traj, created, dates, window)
    renewals = _outcomes(rng, episode, dates, arr0, seats0, ceiling0, window)
    csm_name, csm_mail, style = csm_for(segment, py)
    plan_name = PLANS[segment][int(rng.integers(2))]
    return AccountPlan(
        index=index,
        external_id=f"acc-{index + 1:05d}",
        company=comp,
        segment=segment,
        region=region,
        pricing_model=pricing,
        plan_name=plan_name,
        use_case=use_case,
        outcome_unit=unit,
        csm_name=csm_name,
        csm_email=csm_mail,
        csm_style=style,
        created_on=created,
        seats0=seats0,
        arr0=arr0,
        ceiling0=ceiling0,
        base=base,
        episode=episode,
        renewals=renewals,
    )
