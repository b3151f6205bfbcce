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
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from keel.errors import KeelError
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
from keel.tools.risk_language import TEXT_UNAVAILABLE
from keel.tools.signals.billing import days_late, is_unpaid, payment_problems
from keel.tools.signals.book import Book, latest_data_date, load_book
from keel.tools.signals.catalog import EVENT_PREFIX
from keel.tools.signals.constants import RECENT_DAYS
from keel.tools.signals.expansion import near_ceiling
from keel.tools.signals.sentiment import sentiment_scores
from keel.tools.signals.windows import day_date, day_number

# Metric deltas compare the 28 days ending now with the 28 days ending this long before.
DELTA_DAYS = 90
EVIDENCE_DAYS = 180
MAX_RECORDS = 5
# A ticket rated this or lower (of 5) is evidence of low satisfaction.
LOW_CSAT = 3
MAX_RISK_HYPOTHESES = 4
PATTERN_MIN_SIMILARITY = 0.6

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


def _fmt(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.2f}"


def support_headline(prior: int, recent: int) -> str:
    """Say what the ticket counts show: the factor can fire on a high level that is easing."""
    if recent > prior:
        return "Support load is rising"
    if recent < prior:
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
    (a sentiment from +0.2 to -0.1 is no percentage change)."""
    pct = (after - before) / before if before and relative else None
    change = f" ({pct:+.0%})" if pct is not None else ""
    if not relative:
        change = f" ({after - before:+.2f})"
    return MetricDelta(
        metric=metric,
        label=label,
        start=start,
        end=end,
        before=float(before),
        after=float(after),
        change_pct=pct,
        text=f"{label} {_fmt(before)} -> {_fmt(after)}{change} between {start} and {end}",
    )


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
            f"'{name}' events per 28 days",
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
        summary=f"{row['priority']} {row['category']} ticket: {subject!r}{rated}{status}",
    )


def _risk_hypothesis(
    factor: FactorContribution, ev: _Evidence, external_id: str, n: int, book: Book
) -> Hypothesis:
    metrics: list[MetricDelta] = []
    records: list[EvidenceRecord] = []
    claim = factor.text
    key = factor.factor
    if key == "engagement":
        for column, label in (("active_users", "active users"), ("sessions", "sessions per day")):
            d = ev.usage_delta(column, label)
            if d:
                metrics.append(d)
        claim = "Engagement is falling" + (f": {metrics[0].text}" if metrics else "")
    elif key == "outcomes":
        for column, label in (
            ("outcome_count", "outcomes per day"),
            ("outcome_quality", "outcome quality"),
        ):
            d = ev.usage_delta(column, label)
            if d:
                metrics.append(d)
        claim = "Outcomes are slipping" + (f": {metrics[0].text}" if metrics else "")
    elif key == "seats":
        d = ev.usage_delta("seats_used", "seats used")
        if d:
            metrics.append(d)
        claim = "Seat use is dropping" + (f": {d.text}" if d else "")
    elif key == "product_events":
        names = [s.name[len(EVENT_PREFIX) :] for s in factor.signals if s.contribution > 0]
        for name in names[:3]:
            d = ev.event_delta(name)
            if d:
                metrics.append(d)
        claim = "Product use is low or falling" + (f": {metrics[0].text}" if metrics else "")
    elif key == "relationships":
        left = ev.contacts[ev.contacts["left_day"].notna() & (ev.contacts["left_day"] <= ev.today)]
        for rec in _records(left.sort_values("left_day", ascending=False).head(MAX_RECORDS)):
            records.append(
                EvidenceRecord(
                    kind="contact",
                    external_id=str(rec["external_id"]),
                    date=day_date(int(rec["left_day"])),
                    summary=f"{rec['name']} ({rec['role']}) left",
                )
            )
        if records:
            claim = (
                f"The champion relationship is at risk: {records[0].summary} on {records[0].date}"
            )
        else:
            claim = "Champion and sponsor engagement has gone quiet"
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
            metrics.extend(csat_metrics)
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
            claim = "Ticket sentiment has soured" + (
                f": most negative {records[0].external_id} ({records[0].summary})"
                if records
                else ""
            )
    elif key == "nps":
        nps = ev.nps.sort_values("day", ascending=False)
        nps_now = nps[nps["day"] > ev.today - 180]["score"]
        nps_before = nps[(nps["day"] <= ev.today - 180) & (nps["day"] > ev.today - 360)]["score"]
        if len(nps_now) and len(nps_before):
            metrics.append(
                _delta(
                    "nps",
                    "NPS (mean)",
                    float(nps_before.mean()),
                    float(nps_now.mean()),
                    day_date(ev.today - 180),
                    ev.as_of,
                )
            )
        for rec in _records(nps[nps["score"] <= 6].head(MAX_RECORDS)):
            records.append(
                EvidenceRecord(
                    kind="nps",
                    external_id=str(rec["external_id"]),
                    date=day_date(int(rec["day"])),
                    summary=f"NPS {int(rec['score'])}",
                )
            )
        claim = "NPS is low or falling" + (f": {metrics[0].text}" if metrics else "")
    elif key == "billing":
        # One rule for what is late (tools.signals.billing): void invoices are not owed,
        # and one marked paid without a date was paid on time.
        problem = payment_problems(ev.invoices)
        problem = problem[(problem["due"] < ev.today) & (problem["due"] > ev.today - 365)]
        for rec in _records(problem.sort_values("due", ascending=False).head(MAX_RECORDS)):
            due = int(rec["due"])
            settled = float(rec["settled"])
            state = (
                "unpaid"
                if is_unpaid(settled, ev.today)
                else f"paid {days_late(due, settled, ev.today)} days late"
            )
            records.append(
                EvidenceRecord(
                    kind="invoice",
                    external_id=str(rec["external_id"]),
                    date=day_date(due),
                    summary=f"invoice of {float(rec['amount']):,.0f} due {day_date(due)}: {state}",
                )
            )
        claim = f"Payments are slipping: {len(problem)} invoices late or unpaid in 12 months"
    elif key == "risk_language":
        for rec in _records(ev.matches.sort_values("day", ascending=False).head(MAX_RECORDS)):
            source = str(rec["source_kind"])
            kind: Literal["ticket", "note", "nps"] = (
                "ticket" if source == "ticket" else "nps" if source == "nps" else "note"
            )
            records.append(
                EvidenceRecord(
                    kind=kind,
                    external_id=str(rec["external_id"]),
                    date=day_date(int(rec["day"])),
                    summary=f"{str(rec['label']).replace('_', ' ')} "
                    f"(similarity {float(rec['score']):.2f})",
                )
            )
        labels = sorted({str(x).replace("_", " ") for x in ev.matches["label"]})
        claim = "Risk language in notes and tickets" + (f": {', '.join(labels)}" if labels else "")
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

    util = signals.get("usage_seat_utilisation", np.nan)
    # Expansion thresholds are the ones every view uses (tools.signals.expansion).
    if near_ceiling("seats", util):
        used = ev.window_mean("seats_used", ev.today) or 0.0
        bought = ev.window_mean("seats_purchased", ev.today) or 0.0
        d = ev.usage_delta("seats_used", "seats used")
        add(
            "seats",
            f"Seats near the ceiling: {used:.0f} of {bought:.0f} seats used ({util:.0%})",
            float(util),
            [d] if d else [],
            [],
        )
    growth = signals.get("team_growth", np.nan)
    if near_ceiling("teams", growth):
        d = ev.usage_delta("active_teams", "active teams")
        add(
            "teams",
            "New teams invited" + (f": {d.text}" if d else ""),
            float(growth),
            [d] if d else [],
            [],
        )
    velocity = signals.get("adoption_velocity", np.nan)
    if near_ceiling("adoption", velocity):
        new = ev.features[ev.features["day"] > ev.today - 90]
        firsts = new.groupby("feature")["day"].min().sort_values(ascending=False)
        names = ", ".join(str(f) for f in firsts.index[:5])
        add(
            "adoption",
            f"Fast adoption: {int(velocity)} new features in 90 days ({names})",
            float(velocity),
            [],
            [],
        )
    ceiling_use = signals.get("outcome_ceiling_use", np.nan)
    if near_ceiling("ceiling", ceiling_use):
        monthly = (ev.window_mean("outcome_count", ev.today) or 0.0) * 30
        d = ev.usage_delta("outcome_count", "outcomes per month", scale=30.0)
        add(
            "outcome_ceiling",
            f"Outcome volume near the contracted ceiling: {monthly:,.0f} a month "
            f"({ceiling_use:.0%} of the contract)",
            float(ceiling_use),
            [d] if d else [],
            [],
        )
    return out


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
            risk.append(_risk_hypothesis(factor, ev, ext, n, history))
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
                risk=risk,
                expansion=_expansion_hypotheses(signals.loc[account], ev, ext, history),
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
