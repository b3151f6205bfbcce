"""Support tickets: when they are opened, what they are about, how they read and end."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np

from keel.memory.synth.calendar import Window, season_factors
from keel.memory.synth.contacts import Member, Roster
from keel.memory.synth.latent import Latent, tags_on
from keel.memory.synth.paraphrase import paraphrase
from keel.memory.synth.phrases import tickets as tp
from keel.memory.synth.style import apply_style, style_for
from keel.memory.synth.telemetry import Usage
from keel.memory.synth.text import Slots, lead_in, maybe, pick, render, run_on, usable
from keel.memory.synth.trajectories import AccountPlan
from keel.memory.synth.voice import Voice

Row = dict[str, Any]

PRIORITIES = ("low", "normal", "high", "urgent")
# Median hours to resolve by priority.
RESOLUTION_HOURS = {"low": 90.0, "normal": 40.0, "high": 16.0, "urgent": 4.0}
ROLE_WEIGHT = {"champion": 3.0, "admin": 3.0, "user": 1.5, "executive_sponsor": 0.15}
# Some tickets wait: on the customer (a PO, a verification, an example) or on the vendor
# (engineering, the product team). (chance, median days waiting, share waiting on customer)
WAITS: dict[str, tuple[float, float, float]] = {
    "how_to": (0.14, 5.0, 0.6),
    "bug": (0.26, 8.0, 0.35),
    "outage": (0.05, 2.0, 0.2),
    "quality": (0.3, 9.0, 0.35),
    "billing": (0.26, 6.0, 0.75),
    "account": (0.24, 6.0, 0.7),
    "feature_request": (0.5, 21.0, 0.1),
}
# Nothing stays open for more than this: old tickets are settled one way or another.
MAX_OPEN_DAYS = 80.0


def _boosted(issue: tp.IssueSpec, tags: dict[str, float]) -> float:
    w = issue.weight
    for tag, factor in issue.boosts.items():
        x = tags.get(tag)
        if x:
            w *= 1 + (factor - 1) * x
    return w


def choose_issue(rng: random.Random, use_case: str, tags: dict[str, float]) -> tp.IssueSpec:
    issues = [i for i in tp.ISSUES if use_case in i.use_cases]
    weights = [_boosted(i, tags) for i in issues]
    return rng.choices(issues, weights=weights, k=1)[0]


def _requester(rng: random.Random, present: list[Member], tags: dict[str, float]) -> Member | None:
    if not present:
        return None
    weights = []
    for m in present:
        w = ROLE_WEIGHT.get(m.role, 1.0)
        if m.newcomer and ("champion_gone" in tags or "reorg" in tags):
            w *= 6.0  # the new person is the one asking how things work
        weights.append(w)
    return rng.choices(present, weights=weights, k=1)[0]


def compose_ticket(
    rng: random.Random,
    issue: tp.IssueSpec,
    tone: str,
    tags: dict[str, float],
    slots: Slots,
    *,
    newcomer: bool,
) -> tuple[str, str]:
    """Subject and body of one ticket about ``issue`` in ``tone`` (calm|concerned|frustrated)."""
    subjects = usable(issue.subjects, slots)
    subject = render(rng.choice(tp.SUBJECT_PREFIXES) + rng.choice(subjects), rng, slots)
    problem = pick(rng, issue.problems, slots)
    ask = pick(rng, issue.asks, slots)
    if rng.random() < 0.1:
        terse = rng.choice(tp.TERSE_BODIES)
        body = render(terse, rng, {**slots, "problem": problem, "ask": ask})
        return subject, body + "\n\n" + render("{me}", rng, slots)
    angry = tone == "frustrated"
    family = tp.FAMILY[issue.category]
    paras: list[list[str]] = []
    paras.append([pick(rng, tp.GREETINGS_ANGRY if angry else tp.GREETINGS, slots)])
    intro = [
        x
        for x in (
            maybe(rng, 0.04 if angry else 0.18, tp.SMALL_TALK, slots),
            maybe(rng, 0.85, tp.CONTEXT_NEW_ADMIN, slots)
            if newcomer
            else maybe(rng, 0.18, tp.CONTEXT[family], slots),
        )
        if x
    ]
    if intro:
        paras.append(intro)
    core: list[str] = []
    praise = maybe(rng, 0.08 if angry else 0.18, tp.PRAISE[family], slots)
    if praise:
        core.append(praise)
    core.append(_lead(rng, 0.12, tp.LEAD_INS, problem, slots))
    details = usable(issue.details, slots)
    for d in rng.sample(details, min(len(details), rng.choice((0, 1, 1, 1, 2)))):
        core.append(_lead(rng, 0.3, tp.LEAD_INS, render(d, rng, slots), slots))
    paras.append(core)
    signals = _signals(rng, tags, slots, family)
    if signals:
        paras.append(signals)
    tail: list[str] = []
    tried = tp.TRIED[issue.category]
    if tried and rng.random() < 0.25:
        tail.append(_lead(rng, 0.2, tp.LEAD_INS, pick(rng, tried, slots), slots))
    impact_bank = {
        "calm": tp.IMPACT_CALM,
        "concerned": tp.IMPACT_CONCERNED,
        "frustrated": tp.IMPACT_FRUSTRATED,
    }[tone][family]
    if rng.random() < 0.6:
        tail.append(_lead(rng, 0.15, tp.LEAD_INS, pick(rng, impact_bank, slots), slots))
    if tail:
        paras.append(tail)
    signoff = render(rng.choice(tp.SIGNOFFS), rng, slots)
    thanked = signoff.lower().startswith(("thank", "many thanks"))
    end: list[str] = []
    if rng.random() < 0.85:
        end.append(_lead(rng, 0.3, tp.ASK_LEAD_INS, ask, slots))
    if rng.random() < 0.8:
        if angry and rng.random() < 0.6:
            bank = tp.CLOSINGS_ANGRY
        else:
            short = rng.random() < 0.65
            # Someone who signs off with "Thanks" does not also close with "Thanks!".
            bank = tp.CLOSINGS_SHORT if short else tp.CLOSINGS[family]
        if not (thanked and bank is tp.CLOSINGS_SHORT):
            end.append(pick(rng, bank, slots))
    if end:
        paras.append(end)
    body = "\n\n".join(" ".join(run_on(p, rng, 0.42)) for p in paras)
    return subject, body + "\n\n" + signoff


def _lead(rng: random.Random, p: float, bank: tuple[str, ...], sentence: str, slots: Slots) -> str:
    if not sentence or rng.random() >= p:
        return sentence
    return lead_in(render(rng.choice(bank), rng, slots) + " ", sentence).replace("  ", " ")


def _signals(rng: random.Random, tags: dict[str, float], slots: Slots, family: str) -> list[str]:
    out: list[str] = []
    for tag, x in sorted(tags.items(), key=lambda kv: -kv[1]):
        bank = tp.SIGNALS.get(tag)
        if not bank or len(out) >= 2 or family not in tp.SIGNAL_FAMILIES.get(tag, (family,)):
            continue
        p = 0.12 + 0.5 * x if tag != "renewal_soon" else 0.04
        if rng.random() < p:
            out.append(pick(rng, bank, slots))
    return out


def tickets_for(
    plan: AccountPlan,
    lat: Latent,
    usage: Usage,
    roster: Roster,
    window: Window,
    rng: np.random.Generator,
    py: random.Random,
    voice: Voice,
) -> list[Row]:
    b = plan.base
    season = season_factors(window, plan.region)
    scale = np.sqrt(np.maximum(usage.seats_used, 1) / max(plan.seats0, 1))
    lam = b.ticket_rate * lat.tickets * scale * (0.15 + 0.85 * season) * lat.active
    counts = rng.poisson(lam)
    end_dt = dt.datetime.combine(window.end, dt.time(23, 59, 59, tzinfo=dt.UTC))
    rows: list[Row] = []
    seq = 0
    # The words come from a stream of their own: rewording a phrase bank never moves a
    # ticket's category, priority, requester or dates.
    words = random.Random(py.getrandbits(64))
    voice.rng = words
    for i in np.nonzero(counts)[0].tolist():
        day = window.day(i)
        tags = tags_on(lat, i)
        present = roster.present(day)
        for _ in range(int(counts[i])):
            who = _requester(py, present, tags)
            t = dict(tags)
            if who is not None and who.newcomer:
                t["new_admin"] = 1.0
            issue = choose_issue(py, plan.use_case, t)
            f = float(
                np.clip(0.1 + 0.7 * lat.stress[i] + issue.frustration + rng.normal(0, 0.12), 0, 1)
            )
            tone = "calm" if f < 0.33 else "concerned" if f < 0.6 else "frustrated"
            k = PRIORITIES.index(py.choices(PRIORITIES, weights=issue.priority, k=1)[0])
            if f > 0.6 and k < 3 and py.random() < 0.3:
                k += 1
            priority = PRIORITIES[k]
            hour = int(np.clip(rng.normal(11.5, 3.0), 0, 23))
            clock = dt.time(hour, int(rng.integers(0, 60)), int(rng.integers(0, 60)), tzinfo=dt.UTC)
            opened = dt.datetime.combine(day, clock)
            hours = RESOLUTION_HOURS[priority] * float(rng.lognormal(0.0, 0.8)) * (1 + 0.5 * f)
            chance, median_days, on_customer = WAITS[issue.category]
            waits_on_customer = False
            if py.random() < chance:
                hours += 24.0 * median_days * py.lognormvariate(0.0, 0.7)
                waits_on_customer = py.random() < on_customer
            hours = min(hours, 24.0 * MAX_OPEN_DAYS)
            # Whole seconds: help desks export timestamps without microseconds.
            closed: dt.datetime | None = opened + dt.timedelta(seconds=round(hours * 3600))
            if closed is not None and closed > end_dt:
                closed = None
            if closed is None:
                status = "pending" if waits_on_customer else "open"
            elif closed < end_dt - dt.timedelta(days=4):
                status = "closed"
            else:
                status = "solved"
            csat = None
            if closed is not None and py.random() < 0.42:
                bump = 0.3 if priority in ("high", "urgent") else 0.0
                csat = int(np.clip(round(4.95 - 2.6 * f - bump + rng.normal(0, 0.6)), 1, 5))
            slots = voice.slots(day, speaker=who, numbers=usage.snapshot(i))
            subject, body = compose_ticket(
                words, issue, tone, t, slots, newcomer=bool(who and who.newcomer)
            )
            body = paraphrase(body, words)
            if who is not None:
                body = apply_style(body, style_for(who.email, plan.region))
            seq += 1
            rows.append(
                {
                    "external_id": f"{plan.external_id}-t{seq:04d}",
                    "account_external_id": plan.external_id,
                    "requester_contact_external_id": who.external_id if who else None,
                    "opened_at": opened,
                    "closed_at": closed,
                    "priority": priority,
                    "category": issue.category,
                    "status": status,
                    "subject": subject[:512],
                    "body": body,
                    "csat": csat,
                }
            )
    return rows
