"""Operating metrics a CS leader tracks (issue 21 item 4), and the recording of
interventions and their outcomes that they rest on.

Recording (called by the nightly review after delivery, :func:`record_interventions`): each
sent action (an ``intervention`` row the executor wrote) gets a record with the signal that
prompted it, and every record's 30/60/90-day windows and renewal are judged as far as the
night's date allows (:mod:`keel.memory.interventions`).

Reporting (:func:`operating_metrics`, ``keel metrics``):

- **coverage**: accounts briefed in the last run / accounts its snapshot scored (the active
  book);
- **risk-flag accuracy** on flags whose window has closed: for each nightly run's date and
  each account scored on it whose first renewal after that date was decided within the
  window (and on or before the latest run's date): a flag is right when the renewal
  churned or contracted, no flag is right when it renewed or expanded. Precision (of the
  flags) and accuracy (of all such accounts) with their counts; accounts with no renewal
  decided in the window are not judged (counted apart);
- **median time from first signal to first approved action**: per account and episode of
  flags, from the first nightly date it was flagged to its first approved action's data
  date plus the approval's wait (the decision time minus the proposal time);
- **intervention success rate by play**: per play, the interventions, how many the AI-led
  tier sent alone, and for each window the share recovered among those judged (with the
  counts, open and unmeasured apart), and renewal outcomes once known. Beside them, the
  same recovery rates for flagged accounts that got no intervention: a comparison, not a
  controlled experiment (the planner chose whom to act on);
- **accounts per CSM** in the latest snapshot;
- **drafts approved / edited / rejected** (and responded, auto-approved, still pending).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select

from keel.app import App
from keel.errors import KeelError
from keel.memory import interventions as iv
from keel.memory import runs
from keel.memory.actions import ActionDecision, ActionStatus, ProposedAction
from keel.memory.models import Renewal, RenewalOutcome
from keel.memory.snapshots import health_rows

FLAG_WINDOW_DAYS = 90
BAD_RENEWALS = frozenset({RenewalOutcome.CHURNED, RenewalOutcome.CONTRACTED})
GOOD_RENEWALS = frozenset({RenewalOutcome.RENEWED, RenewalOutcome.EXPANDED})


# ----------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class Recorded:
    interventions: int
    outcomes: int
    renewals: int


def record_interventions(app: App, *, as_of: dt.date, run_id: int | None = None) -> Recorded:
    """Record every sent action not recorded yet, then judge what ``as_of`` lets us judge."""
    from keel.domain.plays import get_play

    items: list[iv.NewIntervention] = []
    for found in iv.unrecorded(app.engine):
        action, sent = found.action, found.intervention
        kind: str
        try:
            kind = get_play(action.play_id).kind
        except KeelError:
            kind = ""
        items.append(
            iv.NewIntervention(
                intervention_id=int(sent.id or 0),
                action_id=action.id,
                account_id=action.account_id,
                external_id=found.external_id,
                owner_csm=found.owner_csm,
                play_id=action.play_id,
                play_kind=kind,
                channel=action.channel,
                thread_id=action.thread_id,
                on=_review_date(app, action.thread_id) or sent.sent_at.date(),
                sent_at=sent.sent_at,
                proposed_at=action.created_at,
                decided_at=found.decided_at,
                approved_by=found.approved_by,
                decision=found.decision,
                ai_led=not action.needs_approval,
            )
        )
    written = iv.record(app.engine, items)
    measured = iv.measure(app.engine, as_of=as_of, run_id=run_id)
    return Recorded(written, measured.outcomes, measured.renewals)


def _review_date(app: App, thread_id: str) -> dt.date | None:
    """The data date the thread's review ran as of (its id says it for a nightly thread)."""
    from keel.api.services.nightly import thread_date
    from keel.graphs.runner import thread_config

    day = thread_date(thread_id)
    if day is not None:
        return day
    values = app.review_graph.get_state(thread_config(thread_id)).values or {}
    raw = values.get("as_of")
    try:
        return dt.date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


# ----------------------------------------------------------------------------- reporting


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``n`` judged; ``open`` not judged yet, ``unmeasured`` judged unknowable."""

    hits: int
    n: int
    open: int = 0
    unmeasured: int = 0

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None


@dataclass(frozen=True)
class PlayMetrics:
    play_id: str
    interventions: int
    ai_led: int
    flagged_at_send: int
    recovery: dict[int, Rate]
    renewals: dict[str, int]

    @property
    def renewal_success(self) -> Rate:
        good = sum(self.renewals.get(o, 0) for o in GOOD_RENEWALS)
        bad = sum(self.renewals.get(o, 0) for o in BAD_RENEWALS)
        return Rate(good, good + bad)


@dataclass(frozen=True)
class FlagAccuracy:
    window_days: int
    true_flags: int
    false_flags: int
    true_clear: int
    missed: int
    undecided: int

    @property
    def precision(self) -> Rate:
        return Rate(self.true_flags, self.true_flags + self.false_flags)

    @property
    def accuracy(self) -> Rate:
        right = self.true_flags + self.true_clear
        return Rate(right, right + self.false_flags + self.missed)


@dataclass
class OperatingMetrics:
    as_of: dt.date | None
    runs: int
    coverage: Rate
    flags: FlagAccuracy
    signal_to_action_days: float | None
    signal_to_action_n: int
    plays: list[PlayMetrics]
    no_intervention: dict[int, Rate]
    accounts_per_csm: dict[str, int]
    drafts: dict[str, int] = field(default_factory=dict)


def operating_metrics(app: App) -> OperatingMetrics:
    """The metrics as of the latest nightly run (all of them 'not yet' before any run)."""
    engine = app.engine
    latest = runs.list_runs(engine, limit=1)
    last = latest[0] if latest else None
    nights = _nights(app)
    as_of = last.as_of if last is not None else None
    coverage = Rate(0, 0)
    per_csm: dict[str, int] = {}
    if last is not None and last.snapshot_id is not None:
        scored = health_rows(engine, last.snapshot_id)
        rows = runs.run_accounts(engine, last.id or 0)
        briefed = {r.account_id for r in rows if r.status == runs.DONE}
        coverage = Rate(len(briefed & {r.account_id for r in scored}), len(scored))
        per_csm = dict(sorted(Counter(r.owner_csm or "(unassigned)" for r in scored).items()))
    records = iv.records(engine)
    outcome_rows = iv.outcomes(engine)
    days, n = _signal_to_action(records)
    return OperatingMetrics(
        as_of=as_of,
        runs=len(nights),
        coverage=coverage,
        flags=_flag_accuracy(app, nights, as_of),
        signal_to_action_days=days,
        signal_to_action_n=n,
        plays=_plays(records, outcome_rows),
        no_intervention=_no_intervention(app, nights, records, as_of),
        accounts_per_csm=per_csm,
        drafts=_drafts(app),
    )


def _nights(app: App) -> list[tuple[dt.date, int]]:
    with Session(app.engine) as session:
        found = session.exec(
            select(col(runs.NightlyRun.as_of), col(runs.NightlyRun.snapshot_id))
            .where(col(runs.NightlyRun.snapshot_id).is_not(None))
            .order_by(col(runs.NightlyRun.as_of))
        ).all()
    return [(day, int(sid)) for day, sid in found if sid is not None]


def _first_renewals(app: App) -> dict[int, list[Renewal]]:
    with Session(app.engine) as session:
        found = session.exec(select(Renewal).order_by(col(Renewal.renewal_date))).all()
        for r in found:
            session.expunge(r)
    out: dict[int, list[Renewal]] = defaultdict(list)
    for r in found:
        out[r.account_id].append(r)
    return out


def _decided_in(
    renewals: Sequence[Renewal], start: dt.date, end: dt.date, latest: dt.date
) -> RenewalOutcome | None:
    """The outcome of the first renewal dated after ``start`` if it was decided by ``end``
    (and not after the latest night: nothing later is known)."""
    first = next((r for r in renewals if r.renewal_date > start), None)
    if first is None or first.outcome == RenewalOutcome.PENDING or first.decided_on is None:
        return None
    if first.decided_on > min(end, latest):
        return None
    return RenewalOutcome(first.outcome)


def _flag_accuracy(
    app: App, nights: Sequence[tuple[dt.date, int]], latest: dt.date | None
) -> FlagAccuracy:
    counts: Counter[str] = Counter()
    if latest is not None:
        renewals = _first_renewals(app)
        for day, snapshot_id in nights:
            end = day + dt.timedelta(days=FLAG_WINDOW_DAYS)
            if end > latest:
                continue  # the window is still open
            for row in health_rows(app.engine, snapshot_id):
                outcome = _decided_in(renewals.get(row.account_id, []), day, end, latest)
                if outcome is None:
                    counts["undecided"] += 1
                elif row.flagged:
                    counts["true_flags" if outcome in BAD_RENEWALS else "false_flags"] += 1
                else:
                    counts["missed" if outcome in BAD_RENEWALS else "true_clear"] += 1
    return FlagAccuracy(
        window_days=FLAG_WINDOW_DAYS,
        true_flags=counts["true_flags"],
        false_flags=counts["false_flags"],
        true_clear=counts["true_clear"],
        missed=counts["missed"],
        undecided=counts["undecided"],
    )


def _approval_wait_days(r: iv.InterventionRecord) -> float:
    if r.decided_at is None:
        return 0.0
    decided, proposed = r.decided_at, r.proposed_at
    if decided.tzinfo is None:
        decided = decided.replace(tzinfo=dt.UTC)
    if proposed.tzinfo is None:
        proposed = proposed.replace(tzinfo=dt.UTC)
    return max((decided - proposed).total_seconds(), 0.0) / 86_400


def _signal_to_action(records: Sequence[iv.InterventionRecord]) -> tuple[float | None, int]:
    """Median days from an episode's first flag to its first approved action."""
    first: dict[tuple[int, dt.date], float] = {}
    for r in records:
        if r.first_signal_on is None:
            continue
        days = (r.on - r.first_signal_on).days + _approval_wait_days(r)
        key = (r.account_id, r.first_signal_on)
        first[key] = min(days, first.get(key, days))
    values = list(first.values())
    return (statistics.median(values) if values else None), len(values)


def _plays(
    records: Sequence[iv.InterventionRecord], outcome_rows: Sequence[iv.InterventionOutcome]
) -> list[PlayMetrics]:
    by_record: dict[int, dict[int, str]] = defaultdict(dict)
    for o in outcome_rows:
        by_record[o.record_id][o.window_days] = o.status
    grouped: dict[str, list[iv.InterventionRecord]] = defaultdict(list)
    for r in records:
        grouped[r.play_id].append(r)
    out: list[PlayMetrics] = []
    for play_id, group in sorted(grouped.items()):
        recovery: dict[int, Rate] = {}
        for window in iv.WINDOWS:
            statuses = [by_record[r.id or 0].get(window) for r in group if r.flagged]
            recovery[window] = Rate(
                hits=statuses.count(iv.RECOVERED),
                n=statuses.count(iv.RECOVERED) + statuses.count(iv.NOT_RECOVERED),
                open=statuses.count(None),
                unmeasured=statuses.count(iv.UNMEASURED),
            )
        out.append(
            PlayMetrics(
                play_id=play_id,
                interventions=len(group),
                ai_led=sum(1 for r in group if r.ai_led),
                flagged_at_send=sum(1 for r in group if r.flagged),
                recovery=recovery,
                renewals=dict(Counter(r.renewal_outcome for r in group if r.renewal_outcome)),
            )
        )
    return out


def _no_intervention(
    app: App,
    nights: Sequence[tuple[dt.date, int]],
    records: Sequence[iv.InterventionRecord],
    latest: dt.date | None,
) -> dict[int, Rate]:
    """Recovery of accounts newly flagged on a night (one sample per episode) with no
    intervention in the window (nor in the window before), judged on the nightly
    snapshots as interventions are."""
    result = {w: Rate(0, 0) for w in iv.WINDOWS}
    if latest is None or not nights:
        return result
    touched: dict[int, list[dt.date]] = defaultdict(list)
    for r in records:
        touched[r.account_id].append(r.on)
    flagged: dict[int, dict[dt.date, bool]] = defaultdict(dict)
    for day, snapshot_id in nights:
        for row in health_rows(app.engine, snapshot_id):
            flagged[row.account_id][day] = row.flagged
    counts: dict[int, Counter[str]] = {w: Counter() for w in iv.WINDOWS}
    for account_id, series in flagged.items():
        days = sorted(series)
        for k, day in enumerate(days):
            # One sample per episode: the night the flag was raised.
            if not series[day] or (k > 0 and series[days[k - 1]]):
                continue
            for window in iv.WINDOWS:
                end = day + dt.timedelta(days=window)
                lo = day - dt.timedelta(days=window)
                if any(lo <= t <= end for t in touched.get(account_id, [])):
                    continue
                inside = [d for d in days if day < d <= min(end, latest)]
                if any(not series[d] for d in inside):
                    counts[window]["recovered"] += 1
                elif end > latest:
                    counts[window]["open"] += 1
                elif not inside:
                    counts[window]["unmeasured"] += 1
                else:
                    counts[window]["not_recovered"] += 1
    for window, c in counts.items():
        result[window] = Rate(
            hits=c["recovered"],
            n=c["recovered"] + c["not_recovered"],
            open=c["open"],
            unmeasured=c["unmeasured"],
        )
    return result


def _drafts(app: App) -> dict[str, int]:
    """Human decisions on drafts by kind, the policy's auto-approvals, and what still waits."""
    with Session(app.engine) as session:
        decided = session.exec(
            select(ActionDecision.decision, func.count()).group_by(col(ActionDecision.decision))
        ).all()
        pending = session.exec(
            select(func.count())
            .select_from(ProposedAction)
            .where(ProposedAction.status == ActionStatus.PENDING)
        ).one()
    names = {"approve": "approved", "edit": "edited", "reject": "rejected"}
    names |= {"respond": "responded", "auto": "auto_approved", "retry": "retried"}
    out = {label: 0 for label in ("approved", "edited", "rejected", "responded")}
    for decision, n in decided:
        out[names.get(str(decision), str(decision))] = int(n)
    out["pending"] = int(pending)
    return out
