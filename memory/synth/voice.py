"""Slot values for the phrase templates: who speaks, about what, with which specifics.

A ``Voice`` belongs to one account and one text channel; ``slots(day, ...)`` returns the
values a template may ask for on that day. Random specifics (a queue, an error code, a
number) are drawn fresh on each use, which is what keeps sentences from repeating.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Callable

from keel.memory.synth.calendar import Window
from keel.memory.synth.contacts import Member, Roster
from keel.memory.synth.names import PRODUCT
from keel.memory.synth.phrases.common import (
    BROWSERS,
    CHURN_REASONS,
    CITIES,
    COMPETITORS,
    DOCUMENT_QUEUES,
    ERRORS,
    FEATURES,
    HOLIDAY_PLACES,
    INTEGRATIONS,
    MONTHS,
    NEW_DEPARTMENTS,
    SPORTS,
    SUPPORT_AGENTS,
    SUPPORT_QUEUES,
    TEAMS,
    WEEKDAYS,
)
from keel.memory.synth.text import SlotValue
from keel.memory.synth.trajectories import RELEASES, AccountPlan

UNIT_SHORT = {
    "tickets resolved": "tickets",
    "conversations automated": "conversations",
    "documents processed": "documents",
    "claims processed": "claims",
}


class Voice:
    def __init__(
        self,
        plan: AccountPlan,
        roster: Roster,
        window: Window,
        rng: random.Random,
        *,
        profile_seed: int,
    ) -> None:
        self.plan = plan
        self.roster = roster
        self.window = window
        self.rng = rng
        uc = plan.use_case
        self.features = [v[0] for v in FEATURES.values() if uc in v[2] and not v[1]]
        self.ai_features = [v[0] for v in FEATURES.values() if uc in v[2] and v[1]]
        self.queues = SUPPORT_QUEUES if uc == "support" else DOCUMENT_QUEUES
        self.cities = CITIES[plan.region]
        self.us_dates = plan.region == "NA"
        # Stable per account, the same in every channel: the integrations and teams they
        # actually have, the vendor they look at, and so on.
        profile = random.Random(profile_seed)
        self.integrations = profile.sample(INTEGRATIONS, 4)
        self.teams = profile.sample(TEAMS, 5)
        self.competitor = profile.choice(COMPETITORS)
        self.new_dept = profile.choice(NEW_DEPARTMENTS)
        self.reason = profile.choice(CHURN_REASONS)

    # -- formatting helpers -------------------------------------------------------------
    def fmt_date(self, d: dt.date) -> str:
        m = MONTHS[d.month - 1]
        return f"{m} {d.day}" if self.us_dates else f"{d.day} {m}"

    def _pick(self, seq: tuple[str, ...] | list[str]) -> Callable[[], str]:
        rng = self.rng
        return lambda: seq[rng.randrange(len(seq))]

    def _num(self, lo: int, hi: int, fmt: str = "{}") -> Callable[[], str]:
        rng = self.rng
        return lambda: fmt.format(rng.randint(lo, hi))

    def _day_ref(self, day: dt.date) -> Callable[[], str]:
        """A moment in the recent past that reads on its own ("on Tuesday", "yesterday")."""
        rng = self.rng

        def f() -> str:
            back = day - dt.timedelta(days=rng.randint(2, 12))
            options = (
                "yesterday",
                "this morning",
                f"on {WEEKDAYS[rng.randrange(5)]}",
                "over the weekend",
                f"on {self.fmt_date(back)}",
                "earlier this week",
                "last week",
                "yesterday afternoon",
            )
            return options[rng.randrange(len(options))]

        return f

    def _since(self, day: dt.date) -> Callable[[], str]:
        """A moment in the recent past that reads after "since" or "until"."""
        rng = self.rng

        def f() -> str:
            back = day - dt.timedelta(days=rng.randint(2, 14))
            options = (
                WEEKDAYS[rng.randrange(5)],
                f"{WEEKDAYS[rng.randrange(5)]} morning",
                self.fmt_date(back),
                f"the {_ordinal(back.day)}",
                "last week",
                "yesterday",
                "the weekend",
                "the last release",
            )
            return options[rng.randrange(len(options))]

        return f

    def _date_future(self, day: dt.date) -> Callable[[], str]:
        rng = self.rng

        def f() -> str:
            ahead = day + dt.timedelta(days=rng.randint(4, 40))
            options = (
                self.fmt_date(ahead),
                f"the end of {MONTHS[ahead.month - 1]}",
                f"next {WEEKDAYS[rng.randrange(5)]}",
                f"the {_ordinal(ahead.day)}",
                f"{calendar.day_name[ahead.weekday()]} the {_ordinal(ahead.day)}",
            )
            return options[rng.randrange(len(options))]

        return f

    def _known(self, day: dt.date) -> list[Member]:
        """Everyone of this account known by ``day``, present or gone (never a stranger)."""
        return [m for m in self.roster.members if m.added_on <= day]

    def _first_or(self, m: Member | None, day: dt.date) -> str:
        """``m``'s first name, else someone of this account, else a role (no invented names)."""
        if m is not None:
            return m.first
        known = self._known(day)
        return known[-1].first if known else "the team lead"

    def _person(self, day: dt.date, exclude: set[str]) -> Callable[[], str]:
        """A colleague of this account: present and not excluded, else anyone of the account."""
        rng = self.rng
        others = [m.first for m in self.roster.present(day) if m.external_id not in exclude]
        if not others:
            others = [m.first for m in self._known(day) if m.external_id not in exclude]
        if not others:
            others = ["a colleague", "someone on the team", "one of the team leads"]

        def f() -> str:
            return others[rng.randrange(len(others))]

        return f

    def _sticky(self, seq: tuple[str, ...] | list[str], stick: float) -> Callable[[], str]:
        """Draw once, then mostly repeat: a ticket names one integration, not three."""
        rng = self.rng
        chosen: list[str] = []

        def f() -> str:
            if chosen and rng.random() < stick:
                return chosen[0]
            value = seq[rng.randrange(len(seq))]
            if not chosen:
                chosen.append(value)
            return value

        return f

    def _release(self, day: dt.date) -> tuple[str, dt.date]:
        """The release a customer would blame: theirs, else the latest one before ``day``."""
        dated = [(name, self.window.start + dt.timedelta(days=off)) for off, name in RELEASES]
        label = self.plan.episode.release
        if label:
            return next(x for x in dated if x[0] == label)
        past = [x for x in dated if x[1] <= day]
        return past[-1] if past else dated[0]

    # -- the slot table -------------------------------------------------------------------
    def slots(
        self,
        day: dt.date,
        *,
        speaker: Member | None = None,
        numbers: dict[str, float] | None = None,
        extra: dict[str, SlotValue] | None = None,
        exclude: set[str] | None = None,
        stick: float = 1.0,
    ) -> dict[str, SlotValue]:
        """Slot values on ``day``.

        Args:
            speaker: who writes (a ticket's requester); defaults to the champion.
            numbers: the account's real figures that day (``Usage.snapshot``).
            extra: slots particular to one text (attendees, a recent ticket subject).
            exclude: contact ids ``{person}`` must not name (e.g. the attendees).
            stick: chance that a repeated ``{integration}``, ``{queue}``... is the same.
        """
        plan = self.plan
        roster = self.roster
        rng = self.rng
        champ = roster.champion(day)
        me = speaker or champ
        prev = day.replace(day=1) - dt.timedelta(days=1)
        nxt = (day.replace(day=28) + dt.timedelta(days=5)).replace(day=1)
        q = (day.month - 1) // 3 + 1
        nq = f"Q{q + 1}" if q < 4 else f"Q1 {day.year + 1}"
        lq = f"Q{q - 1}" if q > 1 else f"Q4 {day.year - 1}"
        release, release_day = self._release(day)
        nums = numbers or {}
        renewal = next((r.date for r in plan.renewals if r.date > day), None)
        unit = plan.outcome_unit
        short = UNIT_SHORT.get(unit, "items")
        teams_n = int(nums.get("teams", plan.base.teams))
        skip = set(exclude or ())
        if me is not None:
            skip.add(me.external_id)
        sponsor = roster.sponsor(day)
        if sponsor is not None:
            skip.add(sponsor.external_id)  # the sponsor has a slot of their own
        s: dict[str, SlotValue] = {
            "company": plan.company.short,
            "company_tag": f"[{plan.company.short}]",
            "product": PRODUCT,
            "csm": plan.csm_name.split(" ")[0],
            "unit": unit,
            "unit_short": short,
            "unit_one": short.rstrip("s"),
            "champion": self._first_or(champ, day),
            "me": self._first_or(me, day),
            "me_full": me.person.name if me else self._first_or(None, day),
            "me_title": me.title if me else "Operations Manager",
            "person": self._person(day, skip),
            "agent": self._sticky(SUPPORT_AGENTS, stick),
            "clock": self._pick(
                ("9:30", "10:00", "noon", "14:00", "15:30", "16:00", "five", "six")
            ),
            "feature": self._sticky(self.features, stick),
            "ai_feature": self._sticky(self.ai_features, stick),
            "integration": self._sticky(self.integrations, stick),
            "queue": self._sticky(self.queues, stick),
            "team": self._sticky(self.teams, stick),
            "error": self._sticky(ERRORS, stick),
            "browser": self._sticky(BROWSERS, stick),
            "city": self._sticky(self.cities, stick),
            "holiday_place": self._pick(HOLIDAY_PLACES),
            "sport": self._pick(SPORTS),
            "competitor": self.competitor,
            "new_dept": self.new_dept,
            "reason": self.reason,
            "n2": self._num(2, 9),
            "n10": self._num(10, 60),
            "n100": self._num(100, 900),
            "big": lambda: f"{rng.randint(12, 480) * 100:,}",
            "pct": self._num(15, 70),
            "pct_small": self._num(2, 15),
            "pct_hi": self._num(85, 95),
            "pct_lo": self._num(55, 80),
            "hours": self._num(2, 48),
            "minutes": self._num(10, 45),
            "weeks": self._num(2, 7),
            "ticket_ref": self._num(10_000, 99_999, "#{}"),
            "weekday": self._pick(WEEKDAYS),
            "day_ref": self._day_ref(day),
            "since": self._since(day),
            "date_future": self._date_future(day),
            "date_future_ref": self._pick(
                (
                    "next week",
                    "in two weeks",
                    f"at the end of {MONTHS[day.month - 1]}",
                    "next month",
                )
            ),
            "month": MONTHS[day.month - 1],
            "last_month": MONTHS[prev.month - 1],
            "next_month": MONTHS[nxt.month - 1],
            "last_month_day": lambda: self.fmt_date(prev.replace(day=rng.randint(1, prev.day))),
            "last_year": str(day.year - 1),
            "quarter": f"Q{q}",
            "last_quarter": lq,
            "next_quarter": nq,
            "release": release,
            "release_date": self.fmt_date(release_day),
            "release_month": MONTHS[release_day.month - 1],
            "renewal_date": self.fmt_date(renewal) if renewal else "the end of the contract",
            "seats_used": str(int(nums.get("seats_used", plan.seats0 * plan.base.util))),
            "seats_total": str(int(nums.get("seats_total", plan.seats0))),
            "active_avg": str(round(nums.get("active_avg", 0.0))),
            "outcome_30d": f"{int(nums.get('outcome_30d', 0.0)):,}",
            "quality_pct": _pct(nums.get("quality")),
            "teams_n": str(teams_n),
            "teams_phrase": f"{teams_n} team" if teams_n == 1 else f"{teams_n} teams",
        }
        # People who may not exist on this day: templates about them are then not usable.
        if sponsor is not None:
            s["sponsor"] = sponsor.first
        old_ch = roster.departed(day, "champion")
        if old_ch is not None:
            s["old_champion"] = old_ch.first
        old_sp = roster.departed(day, "executive_sponsor")
        if old_sp is not None:
            s["old_sponsor"] = old_sp.first
        newbie = roster.newcomer(day)
        if newbie is not None:
            s["new_person"] = newbie.first
            s["new_title"] = newbie.title
        if extra:
            s.update(extra)
        return s


def _pct(q: float | None) -> str:
    if q is None or q != q:
        return "n/a"
    return str(round(q * 100))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
