"""Hidden daily state of an account, derived from its plan: what drives every channel.

Arrays cover the whole history window (index 0 = first day); ``active`` marks the days the
account is a customer. Channels (usage, tickets, notes, NPS, invoices) read these arrays and
add their own noise, so a trajectory shows in several channels at once, never identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from keel.memory.synth.calendar import Window
from keel.memory.synth.trajectories import SAVED_TURN_DAYS, AccountPlan
from keel.memory.truth import Trajectory

# Sudden-risk sub-cause -> the situation tag texts react to.
_SUDDEN_TAGS = {
    "champion_left": "champion_gone",
    "reorg": "reorg",
    "budget_cut": "budget",
    "competitor_evaluation": "competitor",
}


# A contracted account's trouble fades over this many days after the renewal.
SETTLE_DAYS = (45.0, 100.0)


@dataclass
class Latent:
    active: np.ndarray  # bool: the account is a customer that day
    eng: np.ndarray  # engagement multiplier for people using the product (no seasonality)
    demand: np.ndarray  # seats the customer wants assigned
    seats: np.ndarray  # seats purchased (the contract)
    ceiling: np.ndarray  # contracted monthly outcome volume (nan for seat pricing)
    teams: np.ndarray
    quality: np.ndarray
    outcome: np.ndarray  # multiplier on outcome volume (decoupled from eng for AI accounts)
    stress: np.ndarray  # [0, 1]: how unhappy the customer is; drives tone, CSAT, NPS
    tickets: np.ndarray  # multiplier on ticket volume
    tags: dict[str, np.ndarray]  # situation tag -> [0, 1] intensity per day
    first: int  # first active index
    last: int  # last active index (inclusive); -1 if never active in the window


def _ramp(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.asarray(np.clip((t - a) / max(1.0, b - a), 0.0, 1.0))


def _ar(rng: np.random.Generator, n: int, sd: float, phi: float = 0.97) -> np.ndarray:
    """Slowly wandering noise (AR(1)), stationary sd about ``sd``."""
    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    return np.asarray(lfilter([1.0], [1.0, -phi], e))


def latent_for(plan: AccountPlan, window: Window, rng: np.random.Generator) -> Latent:
    n = window.n_days
    t = np.arange(n, dtype=float)
    ix = window.index
    b = plan.base
    ep = plan.episode
    s = ep.severity

    first = max(0, ix(plan.created_on))
    churn = plan.churned_on
    stop = min(n, ix(churn)) if churn else n
    active = (t >= first) & (t < stop)

    eng = (1.0 + b.growth * (t - first) / 365.0) * np.exp(_ar(rng, n, 0.07))
    if ix(plan.created_on) >= 0:  # onboarding ramp for accounts that start during history
        eng *= 0.25 + 0.75 * _ramp(t, first, first + rng.uniform(60, 120))
    util = np.exp(_ar(rng, n, 0.04, phi=0.99))
    teams = np.full(n, float(b.teams))
    quality = b.quality + _ar(rng, n, 0.012)
    stress = 0.08 + np.abs(_ar(rng, n, 0.05))
    ticket_mult = np.ones(n)
    tags: dict[str, np.ndarray] = {}
    outcome_extra = np.ones(n)

    # Contract in force each day.
    seats = np.full(n, float(plan.seats0))
    ceiling = np.full(n, np.nan if plan.ceiling0 is None else plan.ceiling0)
    for r in plan.renewals:
        k = ix(r.date)
        if 0 <= k < n:
            seats[k:] = r.seats_after
            ceiling[k:] = np.nan if r.ceiling_after is None else r.ceiling_after

    E = ix(ep.start) if ep.start else None
    R = ix(ep.target) if ep.target else None
    outcome = ep.target_outcome
    saved = outcome in ("renewed", "expanded")
    traj = ep.trajectory

    # A saved account turns around before its renewal: the save play (a new champion, a
    # success plan, a fix) takes hold a quarter or so ahead, and the signs fade from then.
    turn = None
    if saved and E is not None and R is not None:
        turn = max(E + 30.0, R - rng.uniform(*SAVED_TURN_DAYS))
    # A contracted account settles after its renewal: it now pays for what it uses, and the
    # trouble (stress, tickets, the talk in notes) fades; the lower usage stays.
    settle = np.ones(n)
    if outcome == "contracted" and R is not None:
        settle = 1 - _ramp(t, R, R + rng.uniform(*SETTLE_DAYS))

    if traj is Trajectory.SLOW_DECLINE and E is not None and R is not None:
        d = _ramp(t, E, R) ** 1.3
        if turn is not None:
            d = np.minimum(d, _ramp(np.asarray(turn), E, R) ** 1.3) * (
                1 - 0.8 * _ramp(t, turn, turn + 60)
            )
        eng *= 1 - 0.6 * s * d
        util *= 1 - 0.45 * s * d
        teams *= 1 - 0.3 * s * d
        quality -= 0.02 * s * d
        stress += 0.45 * s * d * settle
        ticket_mult *= 1 - 0.3 * s * d * settle
        tags["decline"] = d * s * settle
    elif traj is Trajectory.SUDDEN_RISK and E is not None and R is not None:
        on = (t >= E).astype(float)
        if turn is not None:
            on = on * (1 - 0.9 * _ramp(t, turn, turn + 60))
        on = on * settle
        late = _ramp(t, R - 50, R) * (1.0 if turn is None else 0.0)
        eng *= 1 - 0.06 * s * on - 0.35 * s * late
        stress += (0.3 + 0.4 * s) * on
        ticket_mult *= 1 + 0.4 * s * on
        sub = ep.sub_cause or ""
        tags[_SUDDEN_TAGS.get(sub, sub)] = on * (0.4 + 0.6 * s)
        if sub == "champion_left":
            eng *= 1 - 0.07 * on
        elif sub == "budget_cut":
            util *= 1 - 0.12 * s * _ramp(t, E, E + 60) * on
        elif sub == "competitor_evaluation" and ep.team_lost_on:
            # One team moves to the other vendor: fewer active teams, a little less usage.
            lost = (t >= ix(ep.team_lost_on)).astype(float) * on
            teams -= np.maximum(1.0, 0.15 * b.teams) * lost
            eng *= 1 - 0.12 * s * lost
        if ep.sponsor_leaves_on:
            tags["sponsor_silent"] = on
    elif traj is Trajectory.QUALITY_REGRESSION and E is not None:
        rec = ix(ep.recovered_on) if ep.recovered_on else n + 1000
        if outcome == "contracted" and R is not None:
            rec = min(rec, R + int(rng.uniform(*SETTLE_DAYS)))  # the fix ships at last
        gap = (t >= E).astype(float) * (1 - _ramp(t, rec, rec + rng.uniform(20, 50)))
        if turn is not None and not ep.recovered_on:
            # Saved without a fix: a workaround and a success plan take the heat out,
            # though the lower quality stays in the numbers.
            heat = gap * (1 - 0.8 * _ramp(t, turn, turn + 60))
        else:
            heat = gap
        drop = 0.08 + 0.17 * s
        quality -= drop * gap
        eng *= 1 - 0.2 * s * _ramp(t, E, E + 60) * gap
        outcome_extra *= 1 - 0.3 * s * gap
        stress += (0.25 + 0.45 * s) * heat
        ticket_mult *= 1 + 1.5 * s * heat
        tags["quality_gap"] = heat * (0.5 + 0.5 * s)
        if ep.recovered_on:
            tags["quality_recovered"] = _ramp(t, rec, rec + 20) * (
                1 - _ramp(t, rec + 60, rec + 120)
            )
        if not saved and R is not None:
            eng *= 1 - 0.3 * s * _ramp(t, R - 60, R)
    elif traj is Trajectory.EXPANSION_READY and E is not None and R is not None:
        g = _ramp(t, E, R)
        strength = 0.6 + 0.4 * s
        util *= 1 + (1.06 / b.util - 1) * g * strength
        util *= 1 + 0.15 * _ramp(t, R, R + 200)
        teams += np.round((1 + 3 * s) * g)
        eng *= 1 + 0.2 * s * g
        outcome_extra *= 1 + 0.45 * strength * g
        stress -= 0.04 * g
        ticket_mult *= 1 + 0.3 * g
        tags["expansion"] = g * strength * (1 - _ramp(t, R, R + 60))
    elif traj is Trajectory.AI_PRODUCT and E is not None:
        g = _ramp(t, E, E + rng.uniform(90, 180))
        before_ai = eng.copy()
        eng *= 1 - (0.25 + 0.2 * s) * g
        util *= 1 - 0.12 * s * g
        outcome_extra *= (before_ai / np.maximum(eng, 1e-6)) * (1 + (0.3 + 0.5 * s) * g)
        quality += (0.03 + 0.05 * s) * g
        stress -= 0.04 * g
        ticket_mult *= 1 - 0.2 * g
        tags["ai_gains"] = g * (0.5 + 0.5 * s)

    if traj is Trajectory.SLOW_DECLINE and E is not None:
        back = 1 - _ramp(t, turn, turn + 60) if turn is not None else settle
        tags["sponsor_silent"] = _ramp(t, E, E + 60) * back

    # Noise on healthy accounts: mixed signals that do not lead to churn.
    if ep.mild_dip_on:
        m = ix(ep.mild_dip_on)
        dip = (t >= m).astype(float) * (1 - _ramp(t, m + 15, m + 45))
        quality -= rng.uniform(0.02, 0.05) * dip
        stress += 0.12 * dip
        tags["mild_dip"] = dip
    if ep.quiet_month_on:
        q = ix(ep.quiet_month_on)
        eng *= 1 - 0.2 * ((t >= q) & (t < q + 30))
    for day, tag in ((ep.champion_leaves_on, "champion_gone"), (ep.handover_on, "handover")):
        if day:
            k = ix(day)
            tags[tag] = np.maximum(tags.get(tag, 0.0), ((t >= k) & (t < k + 120)).astype(float))

    # After a churn notice the customer winds down until the contract ends.
    for r in plan.renewals:
        if r.outcome == "churned":
            dn, rn = ix(r.decided_on), ix(r.date)
            eng *= 1 - rng.uniform(0.2, 0.5) * _ramp(t, dn, rn)
            tags["churn_notice"] = ((t >= dn) & (t < rn)).astype(float)
    # A customer that contracts buys about what it uses; demand adapts to the new size.
    demand = plan.seats0 * b.util * util
    for r in plan.renewals:
        k = ix(r.date)
        if r.outcome == "contracted" and 0 <= k < n and demand[k] > 0.93 * r.seats_after:
            demand[k:] *= 0.93 * r.seats_after / demand[k] * rng.uniform(0.9, 1.0)

    # Renewal talk in the 120 days before each renewal.
    soon = np.zeros(n)
    for r in plan.renewals:
        k = ix(r.date)
        soon = np.maximum(soon, ((t >= k - 120) & (t < k)).astype(float))
    tags["renewal_soon"] = soon
    if ix(plan.created_on) >= 0:
        tags["onboarding"] = ((t >= first) & (t < first + 90)).astype(float)

    last = stop - 1 if stop > first else -1
    return Latent(
        active=active,
        eng=np.clip(eng, 0.02, None),
        demand=np.clip(demand, 1.0, None),
        seats=seats,
        ceiling=ceiling,
        teams=np.clip(teams, 1.0, None),
        quality=np.clip(quality, 0.05, 0.995),
        outcome=np.clip(eng * outcome_extra, 0.02, None),
        stress=np.clip(stress, 0.0, 1.0),
        tickets=np.clip(ticket_mult, 0.1, None),
        tags={k: np.clip(v, 0.0, 1.0) for k, v in tags.items()},
        first=first,
        last=last,
    )


def tags_on(latent: Latent, i: int) -> dict[str, float]:
    """Situation tags with their intensity on day ``i`` (only those present)."""
    return {k: float(v[i]) for k, v in latent.tags.items() if v[i] > 0.05}
