"""The demo book reads like people wrote it (issue 19, item 10).

One test per finding: ticket lines agree with their category, no impossible dates or
ordinals, names belong to the account, notes do not contradict themselves on the renewal,
open tickets in realistic shares near the as-of date, and call-note sentences that are
mostly distinct once numbers, dates and names are masked.

The book is generated in memory (no database): 120 accounts, seed 7, as ``keel seed``
builds it.
"""

from __future__ import annotations

import calendar
import collections
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import pytest

from keel.memory.synth import Book, generate_book
from keel.memory.synth.names import CSM_TEAM, FIRST_NAMES, LAST_NAMES, csm_email
from keel.memory.synth.phrases.common import MONTHS, SUPPORT_AGENTS, WEEKDAYS
from keel.memory.synth.text import sentences

N_ACCOUNTS = 120
SEED = 7

Row = dict[str, Any]


@pytest.fixture(scope="module")
def book() -> Book:
    return generate_book(N_ACCOUNTS, seed=SEED)


def _by_account(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = collections.defaultdict(list)
    for r in rows:
        out[r["account_external_id"]].append(r)
    return out


_CSM_BY_EMAIL = {csm_email(n): n for team in CSM_TEAM.values() for n, _ in team}


def _account_names(book: Book) -> dict[str, set[str]]:
    """Per account: every name its texts may use (contacts, company, its CSM)."""
    out: dict[str, set[str]] = collections.defaultdict(set)
    for c in book.contacts:
        first, last = c["name"].split(" ", 1)
        out[c["account_external_id"]].update({c["name"], first, last})
    for a in book.accounts:
        names = out[a["external_id"]]
        names.update({a["name"], a["name"].split(" ", 1)[0]})
        csm = _CSM_BY_EMAIL[a["owner_csm"]]
        names.update({csm, *csm.split(" ", 1)})
    return out


def _texts(book: Book) -> dict[str, list[str]]:
    """Every free text of each account: ticket subjects and bodies, notes, NPS comments."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    for t in book.tickets:
        out[t["account_external_id"]] += [t["subject"], t["body"]]
    for n in book.notes:
        out[n["account_external_id"]].append(n["text"])
    for r in book.nps:
        if r["comment"]:
            out[r["account_external_id"]].append(r["comment"])
    return out


# ---------------------------------------------------------------- distinct sentences

_DATE_WORDS = "|".join((*MONTHS, *WEEKDAYS, *(m[:3] for m in MONTHS)))
_DATE_RX = re.compile(rf"\b(?:{_DATE_WORDS})\b")
_ORDINAL_RX = re.compile(r"\b\d+(?:st|nd|rd|th)\b")
_DIGITS_RX = re.compile(r"\d+(?:[.,:]\d+)*")


def _masker(names: Iterable[str]) -> re.Pattern[str]:
    alts = sorted({n for n in names if n}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(a) for a in alts) + r")(?:'s)?\b")


def mask(sentence: str, names: re.Pattern[str]) -> str:
    """A sentence with its names, dates and numbers replaced by placeholders."""
    s = names.sub("<name>", sentence)
    s = _DATE_RX.sub("<date>", s)
    s = _ORDINAL_RX.sub("<nth>", s)
    s = _DIGITS_RX.sub("#", s)
    return s


def distinct_note_share(book: Book) -> float:
    """Distinct masked sentences / all sentences, over every CSM note of the book."""
    names = _account_names(book)
    everyone = {n for ns in names.values() for n in ns} | set(SUPPORT_AGENTS)
    rx = _masker(everyone)
    found = [mask(s, rx) for n in book.notes for s in sentences(n["text"])]
    assert len(found) > 5_000, len(found)
    return len(set(found)) / len(found)


def test_call_note_sentences_are_mostly_distinct_after_masking(book: Book) -> None:
    share = distinct_note_share(book)
    assert share >= 0.75, f"only {share:.1%} of masked note sentences are distinct"


# ---------------------------------------------------------------- tickets agree with category

# Lines that only make sense for a technical fault: never in a billing, account or
# feature-request ticket (a declined card is not fixed by clearing the cache).
_TROUBLESHOOTING = re.compile(
    r"cache|logged out and back in|restarted everything|in (?:Chrome|Edge|Firefox|Safari)\b"
    r"|HAR file|screen recording|re-authori[sz]ed|reproduced it|the desktop app"
    r"|steps in your help|nothing has changed|can't see anything wrong",
    re.I,
)
# Lines about an AI feature or a queue's operations failing: never in a billing/account ticket.
_OPERATIONS = re.compile(
    r"SLA on|needs a human|getting in the way|slowing .{1,40} down|when this happens"
    r"|manual work|doing it by hand|AI suggestions|this bit still",
    re.I,
)
_NOT_TECHNICAL = ("billing", "account", "feature_request")


def ticket_contradictions(book: Book) -> list[Row]:
    bad = []
    for t in book.tickets:
        body, category = t["body"], t["category"]
        fault = category in _NOT_TECHNICAL and _TROUBLESHOOTING.search(body)
        operations = category in ("billing", "account") and _OPERATIONS.search(body)
        if fault or operations:
            bad.append(t)
    return bad


def test_ticket_lines_agree_with_their_category(book: Book) -> None:
    bad = ticket_contradictions(book)
    examples = [(t["category"], t["subject"]) for t in bad[:5]]
    assert not bad, (
        f"{len(bad)} of {len(book.tickets)} tickets contradict their category: {examples}"
    )


# ---------------------------------------------------------------- dates and ordinals

_ORD = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_MONTH_DAY = re.compile(rf"\b({'|'.join(MONTHS)}) (\d{{1,2}})\b(?!,? \d{{4}})")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}}) ({'|'.join(MONTHS)})\b")


def _suffix(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def bad_dates(texts: Iterable[str]) -> list[str]:
    out = []
    for text in texts:
        for m in _ORD.finditer(text):
            n = int(m.group(1))
            if m.group(2) != _suffix(n) or not 1 <= n <= 31:
                out.append(m.group(0))
        for month, day in [(a, b) for a, b in _MONTH_DAY.findall(text)] + [
            (b, a) for a, b in _DAY_MONTH.findall(text)
        ]:
            k = MONTHS.index(month) + 1
            if not 1 <= int(day) <= calendar.monthrange(2024, k)[1]:
                out.append(f"{month} {day}")
    return out


def test_no_impossible_ordinals_or_dates(book: Book) -> None:
    texts = [t for ts in _texts(book).values() for t in ts]
    bad = bad_dates(texts)
    assert not bad, f"{len(bad)} impossible dates/ordinals, e.g. {bad[:5]}"


# ---------------------------------------------------------------- names belong to the account

# Words that are also first names but mostly read as ordinary words ("Will send ...").
_AMBIGUOUS = {"Will", "Mark", "Grace"}


def leaked_names(book: Book) -> list[tuple[str, str]]:
    """(account, name) for every person's name in an account's text that is not its own."""
    own = _account_names(book)
    pool = (set(FIRST_NAMES) | {c["name"].split(" ", 1)[0] for c in book.contacts}) - _AMBIGUOUS
    pool |= {n.split(" ", 1)[0] for team in CSM_TEAM.values() for n, _ in team}
    rx = re.compile(r"\b(" + "|".join(sorted(pool, key=len, reverse=True)) + r")\b")
    lasts = re.compile(r"\b(" + "|".join(LAST_NAMES) + r")\b")
    vendor = set(SUPPORT_AGENTS)  # the vendor's support desk answers every account's tickets
    out = []
    for acc, texts in _texts(book).items():
        mine = own[acc] | vendor
        for text in texts:
            for name in rx.findall(text):
                if name not in mine:
                    out.append((acc, name))
            for name in lasts.findall(text):
                if name not in mine:
                    out.append((acc, name))
    return out


def test_names_in_texts_belong_to_the_account(book: Book) -> None:
    bad = leaked_names(book)
    assert not bad, f"{len(bad)} names from outside the account, e.g. {bad[:5]}"
    assert not set(SUPPORT_AGENTS) & set(FIRST_NAMES), "a support agent shares a customer name"


# ---------------------------------------------------------------- notes agree with themselves

_NOT_RENEWING = re.compile(
    r"will not renew|won't renew|non-renewal|decision is final|not renewing|wind(?:ing)? down"
    r"|move off by|exit call|offboarding timeline",
    re.I,
)
_RENEWING = re.compile(
    r"renewal paperwork|straightforward renewal|budget for the renewal is approved|lock pricing"
    r"|expansion (?:proposal|quote)|renewal signed|came back signed|add \d+ seats",
    re.I,
)
_AT_RISK = re.compile(
    r"vague about timing|see the numbers first|reduce the seat count|smaller package",
    re.I,
)
_CONFIDENT = re.compile(
    r"straightforward renewal|budget for the renewal is approved|lock pricing|expansion proposal",
    re.I,
)


def note_stances(text: str) -> set[str]:
    found = set()
    if _NOT_RENEWING.search(text):
        found.add("not_renewing")
    if _RENEWING.search(text):
        found.add("renewing")
    if _AT_RISK.search(text):
        found.add("at_risk")
    return found


def self_contradicting_notes(book: Book) -> list[Row]:
    bad = []
    for n in book.notes:
        stances = note_stances(n["text"])
        if {"not_renewing", "renewing"} <= stances or (
            "at_risk" in stances and _CONFIDENT.search(n["text"])
        ):
            bad.append(n)
    return bad


def test_notes_do_not_contradict_themselves_on_the_renewal(book: Book) -> None:
    bad = self_contradicting_notes(book)
    assert not bad, f"{len(bad)} notes contradict themselves, e.g. {[n['text'] for n in bad[:2]]}"


# ---------------------------------------------------------------- open tickets


def recent_open_share(book: Book, days: int = 30) -> tuple[float, int]:
    since = book.as_of - dt.timedelta(days=days)
    recent = [t for t in book.tickets if t["opened_at"].date() > since]
    still = [t for t in recent if t["status"] in ("open", "pending")]
    return len(still) / len(recent), len(recent)


def test_recent_tickets_are_often_still_open(book: Book) -> None:
    share, n = recent_open_share(book)
    assert n > 50
    assert 0.10 <= share <= 0.30, f"{share:.1%} of the last 30 days' tickets are open or pending"
    statuses = collections.Counter(t["status"] for t in book.tickets)
    assert statuses["open"] and statuses["pending"] and statuses["solved"]
    # Open means not closed, and closed means a close date no later than as-of.
    end = dt.datetime.combine(book.as_of, dt.time.max, tzinfo=dt.UTC)
    for t in book.tickets:
        assert (t["closed_at"] is None) == (t["status"] in ("open", "pending")), t
        assert t["closed_at"] is None or t["opened_at"] <= t["closed_at"] <= end, t
    # Old tickets are settled: nothing opened over 90 days ago is still open.
    old = book.as_of - dt.timedelta(days=90)
    assert not [t for t in book.tickets if t["opened_at"].date() < old and not t["closed_at"]]
