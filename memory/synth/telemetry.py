"""Numeric channels: daily usage and outcomes, feature adoption, invoices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from keel.memory.synth.calendar import Window, add_months, add_years, season_factors
from keel.memory.synth.latent import Latent
from keel.memory.synth.phrases.common import FEATURES
from keel.memory.synth.trajectories import AccountPlan
from keel.memory.truth import Trajectory

Row = dict[str, Any]

# Order in which features are usually adopted (core first, AI later, admin on demand).
ADOPTION_ORDER: tuple[str, ...] = (
    "shared_inbox",
    "routing_rules",
    "macros",
    "analytics",
    "knowledge_base",
    "doc_extract",
    "validation_rules",
    "ai_triage",
    "crm_sync",
    "slack_app",
    "ai_reply_drafts",
    "workflow_builder",
    "sso_scim",
    "ai_summaries",
    "public_api",
    "ai_qa_scoring",
    "sentiment_alerts",
    "ai_autopilot",
    "sandbox",
)


@dataclass
class Usage:
    """Daily usage arrays over the window (zeros where the account is not active)."""

    active_users: np.ndarray
    sessions: np.ndarray
    kfe: np.ndarray
    outcome: np.ndarray
    quality: np.ndarray  # nan where no outcome that day
    seats: np.ndarray
    seats_used: np.ndarray
    teams: np.ndarray

    def snapshot(self, i: int) -> dict[str, float]:
        """What a CSM would quote in a note on day ``i`` (trailing windows)."""
        lo = max(0, i - 29)
        wk = slice(max(0, i - 13), i + 1)
        au = self.active_users[wk]
        weekday_avg = float(np.mean(np.sort(au)[-10:])) if au.size else 0.0
        q = self.quality[lo : i + 1]
        q = q[~np.isnan(q)]
        return {
            "seats_used": float(self.seats_used[i]),
            "seats_total": float(self.seats[i]),
            "active_avg": weekday_avg,
            "outcome_30d": float(self.outcome[lo : i + 1].sum()),
            "quality": float(q.mean()) if q.size else float("nan"),
            "teams": float(self.teams[i]),
        }


def features_for(
    plan: AccountPlan, lat: Latent, window: Window, rng: np.random.Generator
) -> tuple[list[Row], np.ndarray]:
    """Feature adoption rows and the number of adopted features per day."""
    n = window.n_days
    keys = [k for k in ADOPTION_ORDER if plan.use_case in FEATURES[k][2]]
    ep = plan.episode
    ix = window.index
    adopt_day: dict[str, int] = {}
    cursor = ix(plan.created_on)
    pending = list(keys)
    # Rate of new adoptions per day, shaped by the trajectory.
    rate = np.full(n, 1 / 140)
    E = ix(ep.start) if ep.start else None
    if ep.trajectory is Trajectory.SLOW_DECLINE and E is not None:
        rate[max(0, E) :] *= 0.15
    if ep.trajectory is Trajectory.EXPANSION_READY and E is not None:
        rate[max(0, E) : max(0, E + 120)] *= 5.0
    if "onboarding" in lat.tags:
        rate *= 1 + 5 * lat.tags["onboarding"]
    if ep.trajectory is Trajectory.AI_PRODUCT and E is not None:
        for k in ("ai_autopilot", "ai_triage"):
            if k in pending:
                pending.remove(k)
                adopt_day[k] = E + (0 if k == "ai_autopilot" else int(rng.integers(-60, 20)))
    # Accounts that predate history already use a few features.
    if cursor < 0:
        age_years = -cursor / 365
        k0 = min(len(pending) - 2, int(2 + 1.8 * age_years + rng.integers(0, 3)))
        for k in pending[:k0]:
            adopt_day[k] = int(rng.integers(cursor, 0))
        pending = pending[k0:]
    for i in range(max(0, cursor), n):
        if not pending or not lat.active[i]:
            continue
        if rng.random() < rate[i]:
            # Mostly in order, sometimes skipping ahead.
            j = 0 if rng.random() < 0.7 else int(rng.integers(len(pending)))
            adopt_day[pending.pop(j)] = i
    rows: list[Row] = []
    count = np.zeros(n)
    seq = 0
    seats_used = np.minimum(lat.seats, np.round(lat.demand))
    share_hi = 1.0 if ep.trajectory is Trajectory.EXPANSION_READY else 0.85
    for key, day in sorted(adopt_day.items(), key=lambda kv: (kv[1], kv[0])):
        if day > lat.last and day >= 0:
            continue
        count[max(0, day) :] += 1
        ref = int(np.clip(day, 0, n - 1))
        users = max(1, round(seats_used[ref] * rng.uniform(0.04, 0.2)))
        seq += 1
        rows.append(_feature_row(plan, seq, key, window.day(day), users))
        share = rng.uniform(0.2, share_hi)
        for later in (30, 90, 180):
            d = day + later + int(rng.integers(-5, 6))
            if d < 0 or d > lat.last or d >= n:
                continue
            grown = round(seats_used[d] * share * min(1.0, later / 120))
            if grown > users:
                users = grown
                seq += 1
                rows.append(_feature_row(plan, seq, key, window.day(d), users))
    return rows, count


def _feature_row(plan: AccountPlan, seq: int, key: str, day: dt.date, users: int) -> Row:
    return {
        "external_id": f"{plan.external_id}-f{seq:03d}",
        "account_external_id": plan.external_id,
        "feature": key,
        "day": day,
        "users": int(users),
    }


def usage_for(
    plan: AccountPlan,
    lat: Latent,
    window: Window,
    adopted: np.ndarray,
    rng: np.random.Generator,
) -> Usage:
    n = window.n_days
    b = plan.base
    season = season_factors(window, plan.region)
    act = lat.active
    seats = np.round(lat.seats).astype(np.int64)
    used = np.clip(np.minimum(seats, np.round(lat.demand)), 1, None).astype(np.int64)
    p = np.clip(b.p_active * lat.eng * season * rng.lognormal(0.0, 0.08, n), 0.0, 0.98)
    active_users = rng.binomial(used, p)
    sessions = rng.poisson(active_users * b.sessions_per_user * rng.lognormal(0.0, 0.1, n))
    n_feat = max(1, len([k for k in FEATURES if plan.use_case in FEATURES[k][2]]))
    kfe = rng.poisson(sessions * b.kfe_rate * (0.6 + 0.8 * np.minimum(adopted / n_feat, 1.0)))
    base = plan.seats0 * b.util * b.p_active * b.outcome_per_active
    # Automation and backlogs keep outcomes coming at weekends, more than logins do.
    season_out = 0.3 + 0.7 * season
    outcome = rng.poisson(base * lat.outcome * season_out * rng.lognormal(0.0, 0.1, n))
    quality = np.clip(lat.quality + rng.normal(0.0, 0.02, n), 0.0, 1.0)
    quality = np.where(outcome > 0, np.round(quality, 3), np.nan)
    teams = np.round(lat.teams).astype(np.int64)
    zero = ~act
    for arr in (active_users, sessions, kfe, outcome, used, teams, seats):
        arr[zero] = 0
    quality[zero] = np.nan
    return Usage(
        active_users=active_users,
        sessions=sessions,
        kfe=kfe,
        outcome=outcome,
        quality=quality,
        seats=seats,
        seats_used=used,
        teams=teams,
    )


def usage_rows(plan: AccountPlan, usage: Usage, lat: Latent, window: Window) -> list[Row]:
    if lat.last < lat.first:
        return []
    ext = plan.external_id
    rows: list[Row] = []
    au, se, kf, oc = (
        x.tolist() for x in (usage.active_users, usage.sessions, usage.kfe, usage.outcome)
    )
    q, sp, su, tm = (
        usage.quality.tolist(),
        usage.seats.tolist(),
        usage.seats_used.tolist(),
        usage.teams.tolist(),
    )
    start = window.start
    for i in range(lat.first, lat.last + 1):
        qi = q[i]
        rows.append(
            {
                "account_external_id": ext,
                "day": start + dt.timedelta(days=i),
                "active_users": au[i],
                "sessions": se[i],
                "key_feature_events": kf[i],
                "outcome_count": oc[i],
                "outcome_quality": None if qi != qi else qi,  # nan -> None
                "seats_purchased": sp[i],
                "seats_used": su[i],
                "active_teams": tm[i],
            }
        )
    return rows


def _term_starts(plan: AccountPlan, window: Window) -> list[dt.date]:
    """Start of every contract year that overlaps history."""
    if plan.created_on >= window.start:
        first = plan.created_on
    else:
        k = 0
        while add_years(plan.created_on, k + 1) <= window.start:
            k += 1
        first = add_years(plan.created_on, k)
    return [first] + [r.date for r in plan.renewals if r.outcome != "churned"]


def invoices_for(
    plan: AccountPlan, lat: Latent, window: Window, rng: np.random.Generator
) -> list[Row]:
    """Invoices issued in history with their payment as known on ``as_of``."""
    months = {"smb": 1, "mid_market": 3}.get(plan.segment, 12 if rng.random() < 0.7 else 3)
    card = plan.segment == "smb" and rng.random() < 0.7
    budget = lat.tags.get("budget")
    churn = plan.churned_on
    rows: list[Row] = []
    seq = 0
    for ts in _term_starts(plan, window):
        arr, _, _ = plan.term_at(ts)
        term_end = add_years(ts, 1)
        k = 0
        while (issued := add_months(ts, k * months)) < term_end:
            k += 1
            if issued < window.start or issued > window.end:
                continue
            if churn and issued >= churn:
                break
            i = window.index(issued)
            pressure = float(budget[i]) if budget is not None else 0.0
            due = issued if card else issued + dt.timedelta(days=30)
            p_late = 0.035 + 0.55 * pressure + 0.05 * float(lat.stress[i])
            failed = False
            paid: dt.date | None
            if card:
                failed = rng.random() < 0.02 + 0.5 * pressure
                delay = int(rng.integers(3, 40)) if failed else 0
            elif rng.random() < p_late:
                delay = int(rng.integers(12, 80))
            else:
                delay = int(np.clip(round(rng.normal(-4, 5)), -25, 10))
            paid = due + dt.timedelta(days=delay)
            if (failed or delay > 10) and rng.random() < 0.25 * pressure:
                paid = None  # still unpaid
            if paid is not None and paid > window.end:
                paid = None
            if paid is not None:
                status = "paid"
            elif failed:
                status = "failed"
            elif due < window.end:
                status = "late"
            else:
                status = "open"
            seq += 1
            rows.append(
                {
                    "external_id": f"{plan.external_id}-inv{seq:03d}",
                    "account_external_id": plan.external_id,
                    "issued_on": issued,
                    "due_on": due,
                    "amount": round(arr * months / 12.0, 2),
                    "status": status,
                    "paid_on": paid,
                }
            )
    return rows
