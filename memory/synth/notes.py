"""CSM notes: calls, meetings, QBRs and logged e-mails, written in each CSM's own style."""

from __future__ import annotations

import datetime as dt
import random
import re
from functools import cache
from typing import Any

import numpy as np

from keel.memory.synth.calendar import Window
from keel.memory.synth.contacts import Member, Roster
from keel.memory.synth.latent import Latent, tags_on
from keel.memory.synth.paraphrase import paraphrase
from keel.memory.synth.phrases import notes as npb
from keel.memory.synth.style import apply_style, style_for
from keel.memory.synth.telemetry import Usage
from keel.memory.synth.text import Slots, pick, render, run_on, usable
from keel.memory.synth.trajectories import AccountPlan
from keel.memory.synth.voice import Voice

Row = dict[str, Any]

# CSMs who write American English (the rest of the team writes British English).
_US_CSMS = frozenset({"Tom Whitaker", "Jamal Reid", "Ben Fraser", "Kwame Asante", "Maya Chen"})


def _attendees(
    rng: random.Random, roster: Roster, day: dt.date, kind: str, tags: dict[str, float]
) -> list[Member]:
    present = roster.present(day)
    if not present:
        return []
    champ = roster.champion(day)
    sponsor = roster.sponsor(day)
    newbie = roster.newcomer(day)
    out: list[Member] = []
    p_champ = 0.92 - 0.5 * tags.get("decline", 0.0)
    if champ is not None and rng.random() < p_champ:
        out.append(champ)
    if newbie is not None and newbie not in out and rng.random() < 0.75:
        out.append(newbie)
    if sponsor is not None and sponsor not in out:
        p = {"qbr": 0.75, "meeting": 0.3}.get(kind, 0.06)
        p *= 1 - 0.85 * tags.get("sponsor_silent", 0.0)
        p = min(0.95, p * (1 + 0.3 * tags.get("expansion", 0.0)))
        if rng.random() < p:
            out.append(sponsor)
    extra_p = 0.4 if kind in ("qbr", "meeting") else 0.12
    for m in present:
        if m not in out and m.role in ("admin", "user") and rng.random() < extra_p:
            out.append(m)
            if len(out) >= 5:
                break
    if not out:
        out.append(champ or present[0])
    return out


def _names(rng: random.Random, people: list[Member]) -> str:
    if not people:
        return "the customer team"
    if rng.random() < 0.5:
        parts = [f"{m.person.name} ({m.title})" for m in people]
    else:
        parts = [m.first for m in people]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _style(style: str, header: str, body: list[str], steps: list[str], rng: random.Random) -> str:
    if style == "bullets":
        out = header + "\n" + "\n".join(f"- {s}" for s in body)
        if steps:
            label = rng.choice(("Next step", "Action item", "TODO", "Follow-up", "NS"))
            out += "\n" + "\n".join(
                f"- {'NS' if s.startswith(label.lower().replace('-', ' ')) else label}: {s}"
                for s in steps
            )
        return out
    if style == "terse":
        lines = [_terse(s) for s in [header, *body]]
        out = "\n".join(lines)
        if steps:
            out += "\nNS: " + ", ".join(_terse(s) for s in steps)
        return out
    paras = [" ".join([header, *run_on(body[:2], rng, 0.2)])]
    if len(body) > 2:
        paras.append(" ".join(run_on(body[2:], rng, 0.2)))
    out = "\n\n".join(p.strip() for p in paras)
    if steps:
        lead = rng.choice(("Next steps:", "Follow-ups:", "Actions:", "Agreed:"))
        out += f"\n\n{lead} " + "; ".join(steps) + "."
    return out


def _terse(sentence: str) -> str:
    s = f" {sentence} "
    for long, short in npb.TERSE_REPLACEMENTS:
        s = s.replace(long, short)
    return s.strip().rstrip(".")


# Lines that need people in the same (virtual) room: never in a logged e-mail.
_SPOKEN = re.compile(
    r"\bcall\b|camera|minutes|Demoed|Screen-shared|Quick look|Short tour|Ten minutes|joined for"
    r"|dropped in|sat in|Spent \["
)


@cache
def _for_kind(bank: tuple[str, ...], kind: str) -> tuple[str, ...]:
    return tuple(t for t in bank if not _SPOKEN.search(t)) if kind == "email" else bank


# Situations that put a renewal at risk (with the account's stress, as the CSM senses it).
_RISK_TAGS = ("decline", "budget", "competitor", "reorg", "champion_gone", "quality_gap")


def stance_for(tags: dict[str, float], stress: float) -> str:
    """The note's stance on the renewal: renewing, at_risk or not_renewing.

    Every sentence of a note follows it: a customer who has given notice gets no renewal
    paperwork, and a confident renewal line never sits beside "needs to check internally".
    """
    if tags.get("churn_notice"):
        return "not_renewing"
    if stress > 0.4 or any(tags.get(t, 0.0) > 0.3 for t in _RISK_TAGS):
        return "at_risk"
    return "renewing"


def compose_note(
    rng: random.Random,
    kind: str,
    style: str,
    tags: dict[str, float],
    stress: float,
    slots: Slots,
) -> str:
    stance = stance_for(tags, stress)
    header = pick(rng, npb.HEADERS[kind], slots)
    body: list[str] = []
    if rng.random() < {"prose": 0.35, "bullets": 0.22, "terse": 0.12}[style]:
        body.append(pick(rng, _for_kind(npb.SMALL_TALK, kind), slots))
    if rng.random() < (0.95 if kind == "qbr" else 0.55):
        body.append(pick(rng, npb.STATUS, slots))
    topics = usable(_for_kind(npb.TOPICS, kind), slots)
    for t in rng.sample(topics, min(len(topics), rng.choice((1, 1, 2)) + (kind == "qbr"))):
        body.append(render(t, rng, slots))
    n_sig = 0
    for tag, x in sorted(tags.items(), key=lambda kv: -kv[1]):
        bank = npb.SIGNALS.get(tag)
        if not bank or n_sig >= 3:
            continue
        if tag == "sponsor_silent" and kind not in ("qbr", "meeting"):
            continue
        if tag in npb.STEPS_ONLY_FOR and npb.STEPS_ONLY_FOR[tag] != stance:
            continue
        if rng.random() < 0.15 + 0.6 * x:
            body.append(pick(rng, bank, slots))
            n_sig += 1
    if stance == "renewing" and stress < 0.3 and rng.random() < 0.15:
        body.append(pick(rng, npb.MIXED["good"], slots))
    elif stance != "renewing" and stress > 0.4 and rng.random() < 0.2:
        body.append(pick(rng, npb.MIXED["risk"], slots))
    if tags.get("renewal_soon") and rng.random() < 0.5:
        if stance == "not_renewing":
            mood = "exit"
        elif stance == "at_risk":
            mood = "risk"
        else:
            mood = "expand" if tags.get("expansion", 0) > 0.3 else "good"
        body.append(pick(rng, npb.RENEWAL[mood], slots))
    body = [b for b in body if b]
    if len(body) > 2:
        # People don't write in a fixed order; keep the status near the top.
        head, rest = body[:1], body[1:]
        rng.shuffle(rest)
        body = head + rest
    situational = [
        step
        for tag, x in tags.items()
        if x > 0.2 and npb.STEPS_ONLY_FOR.get(tag, stance) == stance
        for step in npb.NEXT_STEPS_BY_TAG.get(tag, ())
    ]
    options = usable(
        (*npb.NEXT_STEPS, *npb.NEXT_STEPS_BY_STANCE[stance], *situational, *situational), slots
    )
    # Situational steps are listed twice (more likely); a note names each step once.
    picked = list(dict.fromkeys(rng.sample(options, rng.choice((0, 1, 2, 2, 3)))))
    steps = [render(s, rng, slots) for s in picked]
    steps = [s[:1].lower() + s[1:] for s in steps]
    return _style(style, header, body, steps, rng)


def notes_for(
    plan: AccountPlan,
    lat: Latent,
    usage: Usage,
    roster: Roster,
    window: Window,
    rng: np.random.Generator,
    py: random.Random,
    voice: Voice,
    recent_subjects: dict[int, str],
) -> list[Row]:
    """Notes on a cadence set by segment, thinning or thickening with the account's situation."""
    if lat.last < lat.first:
        return []
    b = plan.base
    ep = plan.episode
    events: list[tuple[int, str, dict[str, str]]] = []
    ix = window.index
    # Planned events: kickoff, renewal decisions, discovering that a champion left, handover.
    if ix(plan.created_on) >= 0:
        events.append((lat.first, "kickoff", {}))
    for r in plan.renewals:
        k = ix(r.decided_on)
        if lat.first <= k <= lat.last and (r.outcome == "churned" or py.random() < 0.7):
            events.append((k, f"renewal:{r.outcome}", {"seats_after": str(r.seats_after)}))
    if ep.champion_leaves_on:
        k = ix(ep.champion_leaves_on) + py.randint(10, 40)
        if lat.first <= k <= lat.last:
            events.append((k, "discover", {}))
    if ep.handover_on:
        k = ix(ep.handover_on) - py.randint(0, 10)
        if lat.first <= k <= lat.last:
            events.append((k, "handover", {}))
    # Regular touches.
    i = lat.first + int(rng.integers(3, max(4, int(b.note_every_days))))
    last_qbr = -10_000
    while i <= lat.last:
        tags = tags_on(lat, i)
        quarterly = plan.segment != "smb" and i - last_qbr >= 85 and py.random() < 0.8
        # Small customers get one review a year, before their renewal.
        yearly = plan.segment == "smb" and tags.get("renewal_soon") and i - last_qbr > 200
        if quarterly or yearly:
            kind = "qbr"
        else:
            kind = py.choices(("call", "meeting", "email"), weights=(0.68, 0.15, 0.17), k=1)[0]
        if kind == "qbr":
            last_qbr = i
        events.append((i, kind, {}))
        gap = b.note_every_days * float(rng.lognormal(0.0, 0.35))
        gap *= 1 + 0.8 * tags.get("decline", 0.0) + 0.3 * tags.get("champion_gone", 0.0)
        gap *= 1 - 0.15 * tags.get("expansion", 0.0)
        if lat.stress[i] > 0.5:
            gap *= 0.8  # a CSM who senses trouble calls more often
        i += max(3, round(gap))
    csm_style = style_for(plan.csm_email, "NA" if plan.csm_name in _US_CSMS else "EMEA")
    rows: list[Row] = []
    # The words come from a stream of their own: rewording a phrase bank never moves a
    # note's date, kind or attendees.
    words = random.Random(py.getrandbits(64))
    voice.rng = words
    for seq, (i, kind, extra) in enumerate(sorted(events, key=lambda e: (e[0], e[1])), start=1):
        day = window.day(i)
        tags = tags_on(lat, i)
        real_kind = {"kickoff": "meeting", "discover": "call", "handover": "meeting"}.get(
            kind, kind
        )
        if kind.startswith("renewal:"):
            real_kind = "email" if py.random() < 0.5 else "call"
        people = _attendees(py, roster, day, real_kind, tags)
        recent = [s for k, s in recent_subjects.items() if i - 45 <= k <= i]
        slots = voice.slots(
            day,
            numbers=usage.snapshot(i),
            exclude={m.external_id for m in people},
            stick=0.35,
            extra={
                "attendees": _names(words, people),
                # The person the CSM spoke to is someone on the call, not whoever holds the
                # champion role that day.
                **({"champion": people[0].first} if people else {}),
                # No recent ticket: lines about one are not usable (none is invented).
                **({"recent_ticket": words.choice(recent)} if recent else {}),
                **extra,
            },
        )
        text = _event_text(words, kind, slots) or compose_note(
            words, real_kind, plan.csm_style, tags, float(lat.stress[i]), slots
        )
        text = apply_style(paraphrase(text, words, 0.5), csm_style)
        rows.append(
            {
                "external_id": f"{plan.external_id}-n{seq:04d}",
                "account_external_id": plan.external_id,
                "occurred_on": day,
                "kind": real_kind,
                "author": plan.csm_email,
                "attendees": ",".join(m.email for m in people),
                "text": text,
            }
        )
    return rows


def _event_text(rng: random.Random, kind: str, slots: Slots) -> str | None:
    if kind == "kickoff":
        return pick(rng, npb.KICKOFF, slots)
    if kind.startswith("renewal:"):
        outcome = kind.split(":", 1)[1]
        text = pick(rng, npb.RENEWAL_OUTCOME[outcome], slots)
        if outcome == "churned" and rng.random() < 0.6:
            # The reason is said once: the follow-up line is about the wind-down.
            more = [t for t in npb.SIGNALS["churn_notice"] if "{reason}" not in t]
            text += " " + pick(rng, more, slots)
        return text
    if kind == "discover":
        return pick(rng, npb.HEADERS["call"], slots) + " " + pick(rng, npb.DISCOVER, slots)
    if kind == "handover":
        return pick(rng, npb.SIGNALS["handover"], slots)
    return None
