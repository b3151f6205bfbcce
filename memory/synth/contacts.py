"""The people at a customer: roles, arrivals and departures (a champion leaving is a signal)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from keel.memory.synth.calendar import Window
from keel.memory.synth.names import Person, people
from keel.memory.synth.phrases.common import TITLES
from keel.memory.synth.trajectories import SAVED_TURN_DAYS, AccountPlan

_SIZES = {"smb": (3, 5), "mid_market": (5, 9), "enterprise": (8, 14)}


@dataclass
class Member:
    external_id: str
    person: Person
    email: str
    title: str
    role: str  # a ContactRole value
    added_on: dt.date
    left_on: dt.date | None = None
    newcomer: bool = False  # arrived to replace someone: unfamiliar with the product
    replaces: Member | None = None

    @property
    def first(self) -> str:
        return self.person.first

    def present(self, day: dt.date) -> bool:
        return self.added_on <= day and (self.left_on is None or day < self.left_on)


class Roster:
    """All contacts of one account with point-in-time lookups."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members

    def present(self, day: dt.date) -> list[Member]:
        return [m for m in self.members if m.present(day)]

    def _role(self, day: dt.date, role: str) -> Member | None:
        for m in self.members:
            if m.role == role and m.present(day):
                return m
        return None

    def champion(self, day: dt.date) -> Member | None:
        """Who the CSM talks to: the champion, else whoever replaced them, else an admin."""
        found = self._role(day, "champion")
        if found:
            return found
        for m in self.members:
            if m.newcomer and m.present(day) and m.role != "executive_sponsor":
                return m
        return self._role(day, "admin") or next(iter(self.present(day)), None)

    def sponsor(self, day: dt.date) -> Member | None:
        return self._role(day, "executive_sponsor")

    def departed(self, day: dt.date, role: str) -> Member | None:
        """The most recent person in ``role`` who left before ``day``."""
        gone = [m for m in self.members if m.role == role and m.left_on and m.left_on <= day]
        return max(gone, key=lambda m: m.left_on or day) if gone else None

    def newcomer(self, day: dt.date) -> Member | None:
        for m in self.members:
            if m.newcomer and m.present(day):
                return m
        return None


def _title(rng: random.Random, role: str) -> str:
    return rng.choice(TITLES[role])


def roster_for(plan: AccountPlan, window: Window, rng: random.Random) -> Roster:
    """Draw the contacts of an account; departures follow the plan's episode."""
    lo, hi = _SIZES[plan.segment]
    n = rng.randint(lo, hi)
    taken: set[str] = set()
    folks = people(rng, n + 3, taken=taken)  # spares for newcomers
    roles = ["champion"]
    if plan.segment != "smb" or rng.random() < 0.4:
        roles.append("executive_sponsor")
    roles += ["admin"] * (2 if plan.segment == "enterprise" else 1)
    roles += ["user"] * max(0, n - len(roles))
    start = plan.created_on
    members: list[Member] = []
    domain = plan.company.domain
    for k, role in enumerate(roles):
        p = folks[k]
        if role == "user" and rng.random() < 0.15:
            added = window.start + dt.timedelta(days=rng.randint(0, window.n_days - 1))
            added = max(added, start)
        elif role == "champion":
            added = start  # the person who bought it is there from day one
        else:
            added = start + dt.timedelta(days=rng.randint(0, 45 if role != "user" else 150))
        members.append(
            Member(
                external_id=f"{plan.external_id}-c{k + 1:02d}",
                person=p,
                email=p.email(domain),
                title=_title(rng, role),
                role=role,
                added_on=added,
            )
        )
    spares = iter(folks[len(roles) :])
    next_id = len(roles) + 1

    def newcomer(role: str, on: dt.date, replaces: Member | None, title_role: str) -> None:
        nonlocal next_id
        p = next(spares)
        members.append(
            Member(
                external_id=f"{plan.external_id}-c{next_id:02d}",
                person=p,
                email=p.email(domain),
                title=_title(rng, title_role),
                role=role,
                added_on=on,
                newcomer=True,
                replaces=replaces,
            )
        )
        next_id += 1

    ep = plan.episode
    champion = members[0]
    sponsor = next((m for m in members if m.role == "executive_sponsor"), None)
    if ep.champion_leaves_on:
        champion.left_on = ep.champion_leaves_on
        # After a sudden departure someone unfamiliar turns up; in a slow drift, often nobody.
        if ep.sub_cause == "champion_left" or rng.random() < 0.5:
            on = ep.champion_leaves_on + dt.timedelta(days=rng.randint(7, 45))
            newcomer("admin" if rng.random() < 0.6 else "user", on, champion, "newcomer")
        saved = ep.target_outcome in ("renewed", "expanded")
        if ep.sub_cause == "champion_left" and saved and ep.target is not None:
            # The save play: the CSM finds and wins over a new champion a quarter or so
            # before the renewal (the turnaround the account's other signals show too).
            named = max(
                ep.champion_leaves_on + dt.timedelta(days=30),
                ep.target - dt.timedelta(days=rng.randint(*SAVED_TURN_DAYS)),
            )
            newcomer("champion", named, champion, "champion")
            members[-1].newcomer = False  # won over: they speak for the account now
    if ep.handover_on:
        champion.left_on = ep.handover_on
        on = ep.handover_on - dt.timedelta(days=rng.randint(0, 20))
        newcomer(
            "champion", max(on, champion.added_on + dt.timedelta(days=1)), champion, "champion"
        )
        members[-1].newcomer = False  # a planned handover: the successor knows the product
    if ep.sponsor_leaves_on:
        if sponsor is not None:
            sponsor.left_on = ep.sponsor_leaves_on
        on = ep.sponsor_leaves_on + dt.timedelta(days=rng.randint(0, 30))
        newcomer("executive_sponsor", on, sponsor, "newcomer")
    # Ordinary turnover among users: noise that has nothing to do with the account's health.
    for m in members:
        if m.role == "user" and not m.newcomer and rng.random() < 0.1:
            leave = m.added_on + dt.timedelta(days=rng.randint(60, 700))
            if window.start < leave:
                m.left_on = leave
    return Roster(members)
