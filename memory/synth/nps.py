"""NPS survey responses: twice a year, a share of contacts answer, some leave a comment."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np

from keel.memory.synth.calendar import Window
from keel.memory.synth.contacts import Roster
from keel.memory.synth.latent import Latent, tags_on
from keel.memory.synth.paraphrase import paraphrase
from keel.memory.synth.phrases import nps as nb
from keel.memory.synth.style import apply_style, style_for
from keel.memory.synth.text import Slots, pick, run_on
from keel.memory.synth.trajectories import AccountPlan
from keel.memory.synth.voice import Voice

Row = dict[str, Any]

# Survey waves go out to every customer in these months.
WAVE_MONTHS = (3, 9)


def _waves(window: Window) -> list[dt.date]:
    out = []
    for year in range(window.start.year, window.end.year + 1):
        for m in WAVE_MONTHS:
            d = dt.date(year, m, 10)
            if window.start <= d <= window.end:
                out.append(d)
    return out


def _bucket(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def nps_for(
    plan: AccountPlan,
    lat: Latent,
    roster: Roster,
    window: Window,
    rng: np.random.Generator,
    py: random.Random,
    voice: Voice,
) -> list[Row]:
    rows: list[Row] = []
    seq = 0
    words = random.Random(py.getrandbits(64))  # wording apart from who answers and when
    voice.rng = words
    for wave in _waves(window):
        for member in roster.present(wave):
            if member.role == "executive_sponsor" and py.random() < 0.7:
                continue
            answered = wave + dt.timedelta(days=int(rng.integers(0, 21)))
            i = window.index(answered)
            if i > lat.last or i < lat.first or answered > window.end:
                continue
            if not member.present(answered) or py.random() > 0.38:
                continue
            tags = tags_on(lat, i)
            mean = 8.5 - 6.0 * float(lat.stress[i])
            mean += 0.5 * tags.get("expansion", 0.0) + 0.4 * tags.get("ai_gains", 0.0)
            if member.newcomer:
                mean -= 0.8  # no attachment to a tool they inherited
            score = int(np.clip(round(mean + rng.normal(0.0, 1.4)), 0, 10))
            comment = ""
            if py.random() < 0.6:
                comment = _comment(words, score, tags, voice.slots(answered, speaker=member))
                comment = paraphrase(comment, words)
                comment = apply_style(comment, style_for(member.email, plan.region))
            seq += 1
            rows.append(
                {
                    "external_id": f"{plan.external_id}-nps{seq:03d}",
                    "account_external_id": plan.external_id,
                    "contact_external_id": member.external_id,
                    "responded_on": answered,
                    "score": score,
                    "comment": comment,
                }
            )
    return rows


def _comment(rng: random.Random, score: int, tags: dict[str, float], slots: Slots) -> str:
    bucket = _bucket(score)
    themed = [(t, x) for t, x in tags.items() if t in nb.THEMED and _fits(t, bucket)]
    parts: list[str] = []
    if themed and rng.random() < 0.75:
        tag = max(themed, key=lambda kv: kv[1] + rng.random() * 0.3)[0]
        parts.append(pick(rng, nb.THEMED[tag], slots))
    if not parts or rng.random() < 0.45:
        parts.append(pick(rng, nb.GENERIC[bucket], slots))
    return " ".join(run_on(parts, rng, 0.3))


def _fits(tag: str, bucket: str) -> bool:
    """Praise themes fit people who are not detractors; complaints, people who are not fans."""
    if tag in ("expansion", "ai_gains"):
        return bucket != "detractor"
    return bucket != "promoter"
