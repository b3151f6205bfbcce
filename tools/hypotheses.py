"""Risk and expansion hypotheses per account, each a short claim with the evidence behind it.

Risk hypotheses follow the health explanation: one per factor that raises risk, with
metric deltas (values and the dates they compare), the ids of the records behind it
(tickets, notes, NPS responses, invoices, contacts, renewals: the customer's own external
ids, so an analyst can cite them) and, when the account resembles churned accounts, a
pattern hypothesis naming them with their similarity. Expansion hypotheses come from
expansion signals: seats near the ceiling, new teams, fast adoption, outcome volume near
the contracted ceiling. Everything is deterministic and JSON-serialisable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from keel.domain.features import display_name
from keel.errors import KeelError
from keel.text import money
from keel.tools.claims import check_claims
from keel.tools.cohort import SimilarAccount, similar_churned
from keel.tools.health.explain import (
    Explanation,
    FactorContribution,
    SignalContribution,
    contrary,
)
from keel.tools.health.service import (
    DEFAULT_HORIZON_DAYS,
    BookScores,
    score_book,
    text_prototype_version,
)
from keel.tools.risk_language import EXPANSION, RISK_KINDS, TEXT_UNAVAILABLE
from keel.tools.signals.billing import days_late, is_unpaid, payment_problems
from keel.tools.signals.book import Book, latest_data_date, load_book
from keel.tools.signals.catalog import EVENT_PREFIX, RISK_PREFIX
from keel.tools.signals.constants import (
    ADOPTION_VELOCITY_DAYS,
    CONTACT_LEFT_DAYS,
    NPS_DAYS,
    RECENT_DAYS,
    RISK_LANGUAGE_DAYS,
)
from keel.tools.signals.expansion import (
    EXPANSION_CUES,
    EXPANSION_LANGUAGE_SIGNAL,
    near_ceiling,
    seats_in_use,
)
from keel.tools.signals.sentiment import sentiment_scores
from keel.tools.signals.windows import day_date, day_number
from keel.tools.ticket_words import ticket_phrase

# Metric deltas compare the 28 days ending now with the 28 days ending this long before.
DELTA_DAYS = 90
EVIDENCE_DAYS = 180
MAX_RECORDS = 5
# A ticket rated this or lower (of 5) is evidence of low satisfaction.
LOW_CSAT = 3
MAX_RISK_HYPOTHESES = 4
PATTERN_MIN_SIMILARITY = 0.6
# A change smaller than this is no evidence of a trend: "-0%" or "+2%" is not "falling"
# or "rising". Relative for counts and rates; in points for scores (``_MIN_POINTS``).
MIN_RELATIVE_CHANGE = 0.05
_MIN_POINTS: dict[str, float] = {
    "nps": 0.5,
    "csat": 0.2,
    "ticket_sentiment": 0.05,
}
# Metrics counted in whole units (seats, teams, tickets): shown without fractions.
WHOLE_METRICS = frozenset({"seats_used", "active_teams", "tickets", "active_users"})
# An invoice paid this many days late (or still unpaid this long past due) is a payment
# problem worth a claim; one paid a few days late is ordinary payment-run timing.
LATE_CLAIM_DAYS = 7
# Contact roles whose departure puts the relationship at risk.
RELATIONSHIP_ROLES = ("champion", "executive_sponsor")
# What a record must say to be cited for a risk-language label: the semantic match finds
# candidates, and a record is cited only when its matched text carries one of these cues
# (a routine note near a prototype in meaning is no "quality complaint").
LABEL_CUES: dict[str, str] = {
    "competitor_evaluation": (
        r"competit|rival|another (?:vendor|provider|tool|product|platform|solution)|"
        r"other (?:vendor|provider|tool|product|platform|solution)s?|alternative|"
        r"\bpilot|\btrial|evaluat|comparing|compare|switch|migrat|move to|moving to|"
        r"\bRFP\b|demo from|cheaper|standardi[sz]|not the default"
    ),
    "budget_cut": (
        r"budget|spend|cost|cfo|financ|licen[cs]e|cut|freeze|frozen|justif|approv|"
        r"procurement|cheaper|price|holding payments"
    ),
    "reorg": (
        r"reorg|re-org|restructur|merg|layoff|laid off|new leadership|reports? into|"
        r"department|leadership change|new (?:vp|director|head|ceo|cto|cio)|"
        r"vendor review|re-?review\w* (?:all )?vendors|new (?:security|it|procurement) team"
    ),
    "champion_leaving": (
        r"\bleft\b|leaving|leave|departed|no longer (?:works|with)|handed over|hand over|"
        r"bounce|replac|successor|new (?:champion|contact|owner)|lost our|moved on"
    ),
    "quality_complaint": (
        r"wrong|error|inaccura|accura|quality|mistake|incorrect|hallucinat|making things up|"
        r"made[- ]up|worse|trust|complain|unreliable|broken|bad (?:answers|results|output)|"
        r"check every|by hand|regress|outdated"
    ),
    # Growth in the customer's words (the expansion signal counts only such records too).
    EXPANSION: EXPANSION_CUES,
}

Kind = Literal["risk", "expansion"]


class MetricDelta(BaseModel):
    metric: str
    label: str
    start: dt.date
    end: dt.date
    before: float
    after: float
    change_pct: float | None
    text: str

    @property
    def trend(self) -> Literal["up", "down", "flat"]:
        """Which way the metric moved, ``flat`` when the change is too small to be evidence
        (under :data:`MIN_RELATIVE_CHANGE`, or a score's minimum change in points)."""
        return trend_of(self.metric, self.before, self.after, self.change_pct)


def trend_of(
    metric: str, before: float, after: float, change_pct: float | None
) -> Literal["up", "down", "flat"]:
    """The direction of a before/after change, ``flat`` below the claim thresholds."""
    diff = after - before
    if change_pct is not None:
        if abs(change_pct) < MIN_RELATIVE_CHANGE:
            return "flat"
    elif metric in _MIN_POINTS:
        if abs(diff) < _MIN_POINTS[metric]:
            return "flat"
    elif metric in WHOLE_METRICS or before == 0:
        # From zero, or in whole units: a change of less than one unit is no change.
        if abs(diff) < 1:
            return "flat"
    elif before and abs(diff / before) < MIN_RELATIVE_CHANGE:
        return "flat"
    return "up" if diff > 0 else "down" if diff < 0 else "flat"


class EvidenceRecord(BaseModel):
    kind: Literal["ticket", "note", "nps", "invoice", "contact", "renewal", "feature"]
    external_id: str
    date: dt.date | None
    summary: str


class Hypothesis(BaseModel):
    id: str
    account_external_id: str
    kind: Kind
    factor: str
    claim: str
    strength: float
    metrics: list[MetricDelta] = Field(default_factory=list)
    records: list[EvidenceRecord] = Field(default_factory=list)
    similar_accounts: list[SimilarAccount] = Field(default_factory=list)


class AccountHypotheses(BaseModel):
    account_id: int
    external_id: str
    name: str
    as_of: dt.date
    probability: float
    summary: str
    text_evidence: bool
    text_note: str | None
    risk: list[Hypothesis] = Field(default_factory=list)
    expansion: list[Hypothesis] = Field(default_factory=list)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts (typed loosely: values come from the database)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _language_record(rec: dict[str, Any], what: str) -> EvidenceRecord:
    """A matched sentence's record as evidence: its ticket, note or NPS response, dated,
    with what it says and how close the match was."""
    source = str(rec["source_kind"])
    kind: Literal["ticket", "note", "nps"] = (
        "ticket" if source == "ticket" else "nps" if source == "nps" else "note"
    )
    return EvidenceRecord(
        kind=kind,
        external_id=str(rec["external_id"]),
        date=day_date(int(rec["day"])),
        summary=f"{what} (similarity {float(rec['score']):.2f})",
    )


def _fmt(value: float, *, whole: bool = False) -> str:
    if whole or abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def support_headline(prior: int, recent: int) -> str:
    """Say what the ticket counts show: the factor can fire on a high level that is easing."""
    pct = (recent - prior) / prior if prior else None
    trend = trend_of("tickets", float(prior), float(recent), pct)
    if trend == "up":
        return "Support load is rising"
    if trend == "down":
        return "Support load is heavy, though easing"
    return "Support load stays heavy"


def _delta(
    metric: str,
    label: str,
    before: float,
    after: float,
    start: dt.date,
    end: dt.date,
    *,
    relative: bool = True,
) -> MetricDelta:
    """A dated before/after change; ``relative=False`` for a score that can cross zero
    (a sentiment from +0.2 to -0.1 is no percentage change) or a score on a fixed scale
    (NPS, CSAT: points, not percent). Whole-unit metrics (seats, teams, tickets) are
    rounded to whole units first, so the numbers and the text agree."""
    whole = metric in WHOLE_METRICS
    if whole:
        before, after = float(round(before)), float(round(after))
    pct = (after - before) / before if before and relative else None

    def shown(value: float) -> str:
        # Scores on a 0-10 or 1-5 scale read with one decimal ("7.5", not "7.50").
        return f"{value:.1f}" if metric in ("nps", "csat") else _fmt(value, whole=whole)

    if not relative:
        diff = after - before
        change = f" ({diff:+.2f})" if abs(diff) < 1 else f" ({diff:+.1f})"
        if f"{abs(diff):.2f}" == "0.00":
            change = " (unchanged)"
    elif pct is not None:
        change = f" ({pct:+.0%})" if round(abs(pct) * 100) >= 1 else " (unchanged)"
    else:
        change = ""
    return MetricDelta(
        metric=metric,
        label=label,
        start=start,
        end=end,
        before=float(before),
        after=float(after),
        change_pct=pct,
        text=f"{label} {shown(before)} -> {shown(after)}{change} between {start} and {end}",
    )


def _signal_text(signal: SignalContribution) -> str:
    """A level signal as a claim's evidence: "seat utilisation 45% (typical 80%)"."""
    if signal.display in ("yes", "no"):
        return f"{signal.label}: {signal.display}"
    typical = f" (typical {signal.typical})" if signal.typical else ""
    return f"{signal.label} {signal.display}{typical}"


# Signals that measure a change (their value is a delta, not a level).
def _is_change_signal(name: str) -> bool:
    return name.endswith(("_change", "_slope")) or name == "team_growth"


def _level_driver(factor: FactorContribution) -> SignalContribution | None:
    """The level signal (not a change) raising the factor's risk most, if any."""
    candidates = [
        s
        for s in factor.signals
        if not contrary(s) and s.contribution > 0 and not _is_change_signal(s.name)
    ]
    return max(candidates, key=lambda s: s.contribution, default=None)


def _trend_claim(
    falling: str,
    low: str,
    metrics: list[MetricDelta],
    factor: FactorContribution,
) -> tuple[str, list[MetricDelta]] | None:
    """A claim that follows its numbers: "<falling>: <delta>" when a metric fell by enough
    to be evidence, else "<low>: <level signal>" when a level is what raises the risk, else
    no claim. Metrics that rose or held are not cited as evidence of a decline."""
    down = [m for m in metrics if m.trend == "down"]
    if down:
        return f"{falling}: {down[0].text}", down
    driver = _level_driver(factor)
    if driver is not None:
        return f"{low}: {_signal_text(driver)}", []
    return None


class _Evidence:
    """Raw rows of one account, for deltas and record ids."""

    def __init__(self, book: Book, account_id: int, as_of: dt.date) -> None:
        self.today = day_number(as_of)
        self.as_of = as_of
        self.before_end = self.today - DELTA_DAYS

        def mine(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["account_id"] == account_id]

        self.usage = mine(book.usage)
        self.usage = self.usage[self.usage["day"] <= self.today]
        # Seats as the seat signals read them: active users stand for seats used where
        # the export has no seats-used column (tools.signals.expansion.seats_in_use).
        seats = seats_in_use(self.usage, mine(book.accounts))
        self.usage = self.usage.assign(
            seats_used=seats["used"],
            seats_purchased=seats["bought"],
            seats_derived=seats["derived"],
        )
        self.events = mine(book.events)
        self.events = self.events[self.events["day"] <= self.today]
        self.tickets = mine(book.tickets)
        self.tickets = self.tickets[self.tickets["opened"] <= self.today]
        self.nps = mine(book.nps)
        self.nps = self.nps[self.nps["day"] <= self.today]
        self.invoices = mine(book.invoices)
        self.contacts = mine(book.contacts)
        self.renewals = mine(book.renewals)
        self.features = mine(book.features)
        self.features = self.features[self.features["day"] <= self.today]
        self.matches = mine(book.risk_matches)
        self.matches = self.matches[self.matches["day"] <= self.today]

    def window_mean(self, column: str, end: int) -> float | None:
        rows = self.usage[(self.usage["day"] > end - RECENT_DAYS) & (self.usage["day"] <= end)]
        values = rows[column].dropna()
        return float(values.mean()) if len(values) else None

    def usage_delta(self, column: str, label: str, scale: float = 1.0) -> MetricDelta | None:
        before = self.window_mean(column, self.before_end)
        after = self.window_mean(column, self.today)
        if before is None or after is None:
            return None
        return _delta(
            column,
            label,
            before * scale,
            after * scale,
            day_date(self.before_end),
            self.as_of,
        )

    def event_delta(self, name: str) -> MetricDelta | None:
        rows = self.events[self.events["event_name"] == name]

        def total(end: int) -> float:
            sel = rows[(rows["day"] > end - RECENT_DAYS) & (rows["day"] <= end)]
            return float(sel["n_events"].sum())

        return _delta(
            EVENT_PREFIX + name,
            f"{display_name(name)} events per 28 days",
            total(self.before_end),
            total(self.today),
            day_date(self.before_end),
            self.as_of,
        )

    def recent_tickets(self) -> pd.DataFrame:
        t = self.tickets[self.tickets["opened"] > self.today - EVIDENCE_DAYS].copy()
        if t.empty:
            return t
        t["sent"] = sentiment_scores(
            t["subject"].fillna("").astype(str) + ". " + t["body"].fillna("").astype(str)
        )
        return t


def says(label: str, text: str) -> bool:
    """Whether a record's matched text carries what it would be cited for (``label``)."""
    cue = LABEL_CUES.get(label)
    return bool(cue and text and re.search(cue, text, re.IGNORECASE))


def _driver(factor: FactorContribution) -> SignalContribution | None:
    """The signal raising a factor's risk most in its documented direction."""
    candidates = [s for s in factor.signals if not contrary(s) and s.contribution > 0]
    return max(candidates, key=lambda s: s.contribution, default=None)


def _csat_evidence(
    ev: _Evidence, tickets: pd.DataFrame, since: dt.date
) -> tuple[list[MetricDelta], pd.DataFrame]:
    """Mean CSAT of tickets closed before ``since`` and after it, and the low-rated ones."""
    if tickets.empty:
        return [], tickets
    closed = tickets["closed"]
    rated = tickets[tickets["csat"].notna() & closed.notna() & (closed <= ev.today)]
    now = rated[rated["closed"] > ev.today - DELTA_DAYS]
    before = rated[rated["closed"] <= ev.today - DELTA_DAYS]
    metrics = []
    if len(now) and len(before):
        metrics.append(
            _delta(
                "csat",
                "CSAT (mean, 1-5)",
                float(before["csat"].mean()),
                float(now["csat"].mean()),
                since,
                ev.as_of,
                relative=False,
            )
        )
    low = rated[rated["csat"] <= LOW_CSAT].sort_values(["csat", "closed"], ascending=[True, False])
    return metrics, low


def _ticket_record(row: dict[str, Any], today: int) -> EvidenceRecord:
    subject = str(row.get("subject") or "")[:80]
    status = " (open)" if pd.isna(row["closed"]) or row["closed"] > today else ""
    csat = row.get("csat")
    rated = f", CSAT {int(csat)}/5" if csat is not None and not pd.isna(csat) else ""
    return EvidenceRecord(
        kind="ticket",
        external_id=str(row["external_id"]),
        date=day_date(int(row["opened"])),
        # No guessed category: an uncategorised ticket is "urgent ticket" (issue 20).
        summary=f"{ticket_phrase(row['priority'], row['category'], priority_word=False)}: "
        f"{subject!r}{rated}{status}",
    )


def _risk_hypothesis(
    factor: FactorContribution, ev: _Evidence, external_id: str, n: int, book: Book
) -> Hypothesis | None:
    """The factor's claim with its evidence; None when the numbers support no claim (a
    metric that rose is no decline, a payment a few days late is no slipping, a record
    that does not say it is no evidence)."""
    metrics: list[MetricDelta] = []
    records: list[EvidenceRecord] = []
    claim = factor.text
    key = factor.factor
    if key == "engagement":
        for column, label in (("active_users", "active users"), ("sessions", "sessions per day")):
            d = ev.usage_delta(column, label)
            if d:
                metrics.append(d)
        said = _trend_claim("Engagement is falling", "Engagement is low", metrics, factor)
        if said is None:
            return None
        claim, metrics = said
    elif key == "outcomes":
        for column, label in (
            ("outcome_count", "outcomes per day"),
            ("outcome_quality", "outcome quality"),
        ):
            d = ev.usage_delta(column, label)
            if d:
                metrics.append(d)
        said = _trend_claim("Outcomes are slipping", "Outcomes are low", metrics, factor)
        if said is None:
            return None
        claim, metrics = said
    elif key == "seats":
        d = ev.usage_delta("seats_used", "seats used")
        said = _trend_claim("Seat use is dropping", "Seat use is low", [d] if d else [], factor)
        if said is None:
            return None
        claim, metrics = said
    elif key == "product_events":
        names = [s.name[len(EVENT_PREFIX) :] for s in factor.signals if s.contribution > 0]
        for name in names[:3]:
            d = ev.event_delta(name)
            if d:
                metrics.append(d)
        said = _trend_claim("Product use is falling", "Product use is low", metrics, factor)
        if said is None:
            return None
        claim, metrics = said
    elif key == "relationships":
        # Departures the signal counts: a champion or sponsor who left in its window.
        left = ev.contacts[
            ev.contacts["left_day"].notna()
            & (ev.contacts["left_day"] <= ev.today)
            & (ev.contacts["left_day"] > ev.today - CONTACT_LEFT_DAYS)
            & ev.contacts["role"].astype(str).isin(RELATIONSHIP_ROLES)
        ]
        for rec in _records(left.sort_values("left_day", ascending=False).head(MAX_RECORDS)):
            role = str(rec["role"]).replace("_", " ")
            records.append(
                EvidenceRecord(
                    kind="contact",
                    external_id=str(rec["external_id"]),
                    date=day_date(int(rec["left_day"])),
                    summary=f"{rec['name']} ({role}) left",
                )
            )
        if records:
            claim = (
                f"The champion relationship is at risk: {records[0].summary} on {records[0].date}"
            )
        else:
            driver = _level_driver(factor)
            claim = "Champion and sponsor engagement has gone quiet" + (
                f": {_signal_text(driver)}" if driver is not None else ""
            )
    elif key in ("support", "sentiment"):
        tickets = ev.recent_tickets()
        is_recent = (
            (tickets["opened"] > ev.today - DELTA_DAYS).to_numpy()
            if len(tickets)
            else np.zeros(0, dtype=bool)
        )
        recent = int(is_recent.sum())
        prior = len(tickets) - recent
        since = day_date(ev.today - DELTA_DAYS)
        volume = _delta("tickets", "tickets per 90 days", prior, recent, since, ev.as_of)
        worst = (
            tickets.sort_values(["sent", "opened"], ascending=[True, False])
            if len(tickets)
            else tickets
        )
        driver = _driver(factor)
        if key == "support":
            metrics.append(volume)
        elif driver is not None and driver.name == "csat":
            # Low satisfaction scores, not the tone of the tickets, raise the risk here.
            csat_metrics, worst = _csat_evidence(ev, tickets, since)
            # A CSAT that held or rose is no evidence of low satisfaction getting worse.
            metrics.extend(m for m in csat_metrics if m.trend == "down")
        else:
            # Soured sentiment rests on the tone of the tickets: their mean sentiment then
            # and now, the volume only when it rose too, and only tickets that read
            # negative ("Updated billing contact" is no evidence of a souring).
            if prior and recent:
                metrics.append(
                    _delta(
                        "ticket_sentiment",
                        "ticket sentiment (mean, -1 to +1)",
                        float(tickets.loc[~is_recent, "sent"].mean()),
                        float(tickets.loc[is_recent, "sent"].mean()),
                        since,
                        ev.as_of,
                        relative=False,
                    )
                )
            if recent > prior:
                metrics.append(volume)
            if len(worst):
                worst = worst[worst["sent"] < 0]
        for rec in _records(worst.head(MAX_RECORDS)):
            records.append(_ticket_record(rec, ev.today))
        if key == "support":
            claim = f"{support_headline(prior, recent)}: {metrics[0].text}"
        elif driver is not None and driver.name == "csat":
            typical = f" (typical {driver.typical})" if driver.typical else ""
            claim = f"Support satisfaction is low: {driver.label} {driver.display}{typical}"
        else:
            tone = [m for m in metrics if m.metric == "ticket_sentiment"]
            if tone and tone[0].trend != "down":
                # The tone did not sour: cite it only as the level it is, never as a change.
                metrics = [m for m in metrics if m.metric != "ticket_sentiment"]
                tone = []
            if not tone and not records:
                return None
            headline = "Ticket sentiment has soured" if tone else "Recent tickets read negative"
            claim = headline + (
                f": most negative {records[0].external_id} ({records[0].summary})"
                if records
                else f": {tone[0].text}"
            )
    elif key == "nps":
        nps = ev.nps.sort_values("day", ascending=False)
        in_window = nps[nps["day"] > ev.today - NPS_DAYS]
        nps_now = in_window["score"]
        nps_before = nps[
            (nps["day"] <= ev.today - NPS_DAYS) & (nps["day"] > ev.today - 2 * NPS_DAYS)
        ]["score"]
        if len(nps_now) and len(nps_before):
            # A 0-10 score moves in points, not percent.
            metrics.append(
                _delta(
                    "nps",
                    "NPS (mean, 0-10)",
                    float(nps_before.mean()),
                    float(nps_now.mean()),
                    day_date(ev.today - NPS_DAYS),
                    ev.as_of,
                    relative=False,
                )
            )
        # Detractors in the window the signal reads, not from years ago.
        for rec in _records(in_window[in_window["score"] <= 6].head(MAX_RECORDS)):
            records.append(
                EvidenceRecord(
                    kind="nps",
                    external_id=str(rec["external_id"]),
                    date=day_date(int(rec["day"])),
                    summary=f"NPS {int(rec['score'])}",
                )
            )
        said = _trend_claim("NPS is falling", "NPS is low", metrics, factor)
        if said is None:
            return None
        claim, metrics = said
    elif key == "billing":
        # One rule for what is late (tools.signals.billing): void invoices are not owed,
        # and one marked paid without a date was paid on time. A claim rests only on
        # invoices paid a week or more late or still unpaid that long past due: a payment
        # run a few days after the due date is no sign of trouble.
        problem = payment_problems(ev.invoices)
        problem = problem[(problem["due"] < ev.today) & (problem["due"] > ev.today - 365)]
        serious: list[dict[str, Any]] = []
        for rec in _records(problem.sort_values("due", ascending=False)):
            due = int(rec["due"])
            settled = float(rec["settled"])
            late = days_late(due, settled, ev.today)
            if late < LATE_CLAIM_DAYS:
                continue
            serious.append(rec)
            if len(records) >= MAX_RECORDS:
                continue
            state = (
                f"unpaid, {late} days past due"
                if is_unpaid(settled, ev.today)
                else f"paid {late} days late"
            )
            records.append(
                EvidenceRecord(
                    kind="invoice",
                    external_id=str(rec["external_id"]),
                    date=day_date(due),
                    summary=f"invoice of {money(rec['amount'])} due {day_date(due)}: {state}",
                )
            )
        if not serious:
            return None
        unpaid = sum(1 for r in serious if is_unpaid(float(r["settled"]), ev.today))
        n = len(serious)
        what = "invoice" if n == 1 else "invoices"
        now = f", {unpaid} still unpaid" if unpaid else ""
        # One late invoice is a late payment; "slipping" takes more than one.
        headline = "Payments are slipping" if n > 1 else "A payment ran late"
        claim = (
            f"{headline}: {n} {what} paid {LATE_CLAIM_DAYS}+ days late or unpaid in 12 months{now}"
        )
    elif key == "risk_language":
        # The matches the signal counts (its window) for the labels it counts, and of
        # those only records whose matched text says it (:data:`LABEL_CUES`).
        counted = {
            s.name[len(RISK_PREFIX) :]
            for s in factor.signals
            if s.name.startswith(RISK_PREFIX) and (s.value or 0) > 0
        }
        window = ev.matches[ev.matches["day"] > ev.today - RISK_LANGUAGE_DAYS]
        cited: list[str] = []
        for rec in _records(window.sort_values(["day", "score"], ascending=[False, False])):
            label = str(rec["label"])
            if label not in RISK_KINDS or (counted and label not in counted):
                continue
            if not says(label, str(rec.get("snippet") or "")):
                continue
            if len(records) >= MAX_RECORDS:
                break
            records.append(_language_record(rec, label.replace("_", " ")))
            cited.append(label)
        if not records:
            return None
        labels = sorted({x.replace("_", " ") for x in cited})
        claim = f"Risk language in notes and tickets: {', '.join(labels)}"
    elif key == "renewal":
        upcoming = ev.renewals[ev.renewals["renewal"] >= ev.today].sort_values("renewal")
        if len(upcoming):
            row = _records(upcoming.head(1))[0]
            days = int(row["renewal"]) - ev.today
            records.append(
                EvidenceRecord(
                    kind="renewal",
                    external_id=str(row["external_id"]),
                    date=day_date(int(row["renewal"])),
                    summary=f"renewal in {days} days",
                )
            )
            claim = f"Renewal is close: {day_date(int(row['renewal']))} (in {days} days)"
    elif key == "adoption":
        driver = _driver(factor)
        if driver is not None and driver.name == "adoption_breadth":
            claim = f"Few features adopted: {driver.display} (typical {driver.typical})"
        else:
            typical = f" (typical {driver.typical} in 90 days)" if driver and driver.typical else ""
            claim = f"Feature adoption has stalled: no new feature in 90 days{typical}"
    return Hypothesis(
        id=f"{external_id}:risk:{n}:{key}",
        account_external_id=external_id,
        kind="risk",
        factor=key,
        claim=claim,
        # What the claim rests on: the factor's signals read in their documented direction.
        strength=round(factor.acting(), 4),
        metrics=metrics,
        records=records,
    )


def _expansion_hypotheses(
    signals: Any, ev: _Evidence, external_id: str, book: Book
) -> list[Hypothesis]:
    out: list[Hypothesis] = []

    def add(
        factor: str,
        claim: str,
        strength: float,
        metrics: list[MetricDelta],
        records: list[EvidenceRecord],
    ) -> None:
        out.append(
            Hypothesis(
                id=f"{external_id}:expansion:{len(out) + 1}:{factor}",
                account_external_id=external_id,
                kind="expansion",
                factor=factor,
                claim=claim,
                strength=round(strength, 4),
                metrics=metrics,
                records=records,
            )
        )

    # Expansion language in the window the signal counts: cited by the telemetry claim it
    # backs (seats first), or on its own when no telemetry shows growth.
    mentions = signals.get(EXPANSION_LANGUAGE_SIGNAL, np.nan)
    said = _expansion_language_records(ev) if near_ceiling("language", mentions) else []
    util = signals.get("usage_seat_utilisation", np.nan)
    # Expansion thresholds are the ones every view uses (tools.signals.expansion).
    if near_ceiling("seats", util):
        recent = ev.usage[ev.usage["day"] > ev.today - RECENT_DAYS]
        used = round(ev.window_mean("seats_used", ev.today) or 0.0)
        bought = round(ev.window_mean("seats_purchased", ev.today) or 0.0)
        derived = bool(recent["seats_derived"].any())
        # Active users stand for seats used when the export has no seats-used column.
        label = "seats in use (active users)" if derived else "seats used"
        d = ev.usage_delta("seats_used", label)
        if d is not None and d.trend == "down":
            d = None  # seats in use falling is no evidence of growth
        figure = (
            f"{used:,} active users on {bought:,} purchased seats"
            if derived
            else f"{used:,} of {bought:,} seats used"
        )
        claim = f"Seats near the ceiling: {figure} ({util:.0%})"
        if said:
            claim += f", and expansion language in {_where_said(said)}"
        add("seats", claim, float(util), [d] if d else [], said)
        said = []
    growth = signals.get("team_growth", np.nan)
    if near_ceiling("teams", growth):
        d = ev.usage_delta("active_teams", "active teams")
        grew = d is not None and d.trend == "up"
        add(
            "teams",
            f"New teams invited: {d.text}"
            if grew and d is not None
            else f"New teams invited: {growth:+.0f} active teams against the quarter before",
            float(growth),
            [d] if grew and d is not None else [],
            [],
        )
    velocity = signals.get("adoption_velocity", np.nan)
    if near_ceiling("adoption", velocity):
        # First use of each feature over the whole history: a feature adopted last year and
        # used by more people this quarter is not new. The count is the list's own length.
        firsts = ev.features.groupby("feature")["day"].min()
        new = firsts[firsts > ev.today - ADOPTION_VELOCITY_DAYS].sort_values(ascending=False)
        shown = [display_name(str(f)) for f in new.index[:5]]
        more = len(new) - len(shown)
        names = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
        if len(new):
            what = "feature" if len(new) == 1 else "features"
            add(
                "adoption",
                f"Fast adoption: {len(new)} new {what} in 90 days ({names})",
                float(velocity),
                [],
                [],
            )
    ceiling_use = signals.get("outcome_ceiling_use", np.nan)
    if near_ceiling("ceiling", ceiling_use):
        monthly = (ev.window_mean("outcome_count", ev.today) or 0.0) * 30
        d = ev.usage_delta("outcome_count", "outcomes per month", scale=30.0)
        if d is not None and d.trend == "down":
            d = None  # a falling volume is no evidence of growth toward the ceiling
        add(
            "outcome_ceiling",
            f"Outcome volume near the contracted ceiling: {monthly:,.0f} a month "
            f"({ceiling_use:.0%} of the contract)",
            float(ceiling_use),
            [d] if d else [],
            [],
        )
    if said:
        add(
            "language",
            f"Expansion language in notes and tickets: {_where_said(said)} "
            f"in {RISK_LANGUAGE_DAYS} days",
            float(mentions),
            [],
            said,
        )
    return out


def _where_said(records: Sequence[EvidenceRecord]) -> str:
    """ "1 note", "2 notes and 1 ticket": where the cited language was found."""
    names = {"note": "note", "ticket": "ticket", "nps": "NPS comment"}
    parts = []
    for kind in ("note", "ticket", "nps"):
        n = sum(1 for r in records if r.kind == kind)
        if n:
            parts.append(f"{n} {names[kind]}{'' if n == 1 else 's'}")
    return " and ".join(parts)


def _expansion_language_records(ev: _Evidence) -> list[EvidenceRecord]:
    """Records with expansion language in the window the signal counts, newest first, each
    only when its matched text says it (:data:`LABEL_CUES`), at most ``MAX_RECORDS``."""
    m = ev.matches
    window = m[(m["label"].astype(str) == EXPANSION) & (m["day"] > ev.today - RISK_LANGUAGE_DAYS)]
    records: list[EvidenceRecord] = []
    for rec in _records(window.sort_values(["day", "score"], ascending=[False, False])):
        if not says(EXPANSION, str(rec.get("snippet") or "")):
            continue
        records.append(_language_record(rec, "expansion language"))
        if len(records) >= MAX_RECORDS:
            break
    return records


def resolve_account(book: Book, account: str | int) -> int:
    """The internal id of an account given by external id, name or internal id."""
    acc = book.accounts
    text = str(account).strip()
    for column in ("external_id", "name"):
        hit = acc[acc[column].astype(str).str.lower() == text.lower()]
        if len(hit) == 1:
            return int(hit["account_id"].iloc[0])
    if text.isdigit():
        hit = acc[acc["account_id"] == int(text)]
        if len(hit) == 1:
            return int(text)
    raise KeelError(f"no account matches {account!r} (give its external id, name or id)")


def hypotheses_for(
    scores: BookScores,
    history: Book,
    account_ids: Sequence[int],
    *,
    explanations: dict[int, Explanation] | None = None,
    similar: dict[int, list[SimilarAccount]] | None = None,
) -> list[AccountHypotheses]:
    """Hypotheses for scored accounts, with ``history`` for evidence and cohort matching.

    Args:
        similar: the accounts' cohort matches if already computed (``similar_churned``).
    """
    signals = scores.frame.drop_duplicates("account_id").set_index("account_id")
    wanted = [a for a in account_ids if a in signals.index]
    explained = explanations or {e.account_id: e for e in scores.explain(wanted)}
    if similar is None:
        similar = similar_churned(history, wanted, scores.as_of)
    info = history.accounts.set_index("account_id")
    out: list[AccountHypotheses] = []
    for account in wanted:
        ext = str(info.at[account, "external_id"])
        explanation = explained[account]
        ev = _Evidence(history, account, scores.as_of)
        risk: list[Hypothesis] = []
        top = explanation.actionable_risk_factors(MAX_RISK_HYPOTHESES)
        for n, factor in enumerate(top, start=1):
            made = _risk_hypothesis(factor, ev, ext, n, history)
            if made is not None:
                risk.append(made)
        matches = [s for s in similar.get(account, []) if s.similarity >= PATTERN_MIN_SIMILARITY]
        if matches:
            named = ", ".join(f"{s.name} ({s.similarity:.2f})" for s in matches)
            risk.append(
                Hypothesis(
                    id=f"{ext}:risk:{len(risk) + 1}:pattern",
                    account_external_id=ext,
                    kind="risk",
                    factor="pattern",
                    claim=f"Now resembles accounts that churned: {named}",
                    strength=round(matches[0].similarity, 4),
                    similar_accounts=matches,
                )
            )
        out.append(
            AccountHypotheses(
                account_id=account,
                external_id=ext,
                name=str(info.at[account, "name"]),
                as_of=scores.as_of,
                probability=explanation.probability,
                summary=explanation.summary,
                text_evidence=scores.text_evidence,
                text_note=None if scores.text_evidence else TEXT_UNAVAILABLE,
                # The last word: any statement its own numbers contradict is reworded or
                # dropped (tools.claims), whatever built it.
                risk=check_claims(risk),
                expansion=check_claims(
                    _expansion_hypotheses(signals.loc[account], ev, ext, history)
                ),
            )
        )
    return out


def build_hypotheses(
    engine: Engine,
    account: str | int,
    *,
    as_of: dt.date | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    scores: BookScores | None = None,
) -> AccountHypotheses:
    """Risk and expansion hypotheses for one account (by external id, name or id)."""
    when = as_of or (scores.as_of if scores else latest_data_date(engine))
    if when is None:
        raise KeelError("the book has no telemetry yet: import or seed data first")
    history = load_book(engine, until=when, prototype_version=text_prototype_version(engine))
    account_id = resolve_account(history, account)
    if scores is None:
        scores = score_book(engine, as_of=when, horizon_days=horizon_days)
    if account_id not in set(scores.frame["account_id"].tolist()):
        raise KeelError(f"account {account!r} is not active on {when} (churned or not yet started)")
    return hypotheses_for(scores, history, [account_id])[0]
