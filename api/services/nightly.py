"""The nightly review of the whole book: score, brief every active account, propose plays
under the policy, deliver what the AI-led tier may send alone, write the morning digests.

One run per as-of date (:mod:`keel.memory.runs`). Each account is reviewed in its own
thread, ``nightly:<as-of>:<generation>:<external id>``, so running the same night again
finds it (the generation is the run record's; a night run again after the book was wiped
or re-seeded gets a new one, so the old book's threads are never taken for this one's):

- an account whose row is ``done`` is skipped (nothing is redone);
- a thread that exists but is not finished (a crash, a kill) is continued from its last
  checkpoint, not restarted; its nodes find what they already wrote (an action is keyed
  by thread, interrupt and payload), so nothing is proposed or sent twice;
- a thread not started yet is started.

One account failing (an exception, or the analyst writing no briefing) is recorded with
its reason and the run goes on. Accounts run ``concurrency`` at a time on a thread pool
(the application object's model, graph, engine and checkpointer are shared; each review
has its own run context and a child of the night's budget).

**The daily draft cap per CSM** (``caps.daily_drafts_per_csm`` in the policy) is held by
the run, not by the planner: accounts are taken most urgent first; before an account starts,
the run reserves up to the usual number of plays from its CSM's remaining allowance and
passes that as the review's play limit (``RunContext.max_plays``; 0 means the account is
briefed and nothing is drafted); once the review ends, what it did not use goes back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.callbacks import BaseCallbackHandler
from sqlalchemy import func
from sqlmodel import Session, col, select

from keel.agents.budget import RunBudget
from keel.agents.context import DEFAULT_MAX_PLAYS
from keel.agents.step_requests import ANALYST_STEP
from keel.api.services.digest import DigestDelivery
from keel.api.services.metrics import record_interventions
from keel.api.services.outbox import deliver_once
from keel.api.services.reviews import review_account, run_context
from keel.api.services.scoring import score_book
from keel.app import App
from keel.errors import KeelError
from keel.graphs.runner import ReviewResult, continue_review, review_result, thread_config
from keel.memory import runs
from keel.memory.actions import ActionStatus, ProposedAction
from keel.memory.snapshots import AccountHealthRow, health_rows

if TYPE_CHECKING:
    from keel.api.services.nightly_workers import WorkerPool

NIGHTLY_USER = "nightly"
WORKER_ID = "keel nightly"


def nightly_thread_id(as_of: dt.date, external_id: str, generation: str = "") -> str:
    """The review thread of one account on one night (the same on every rerun of the
    night's generation; runs recorded before generations existed have none)."""
    return f"{thread_prefix(as_of, generation)}{external_id}"


def thread_prefix(as_of: dt.date, generation: str = "") -> str:
    return f"nightly:{as_of.isoformat()}:" + (f"{generation}:" if generation else "")


def thread_date(thread_id: str) -> dt.date | None:
    """The night a nightly thread belongs to (None: not a nightly thread)."""
    parts = thread_id.split(":")
    if len(parts) < 3 or parts[0] != "nightly":
        return None
    try:
        return dt.date.fromisoformat(parts[1])
    except ValueError:
        return None


@dataclass(frozen=True)
class NightlyRequest:
    """What to run.

    Attributes:
        as_of: The night's date; the latest data date when None.
        owner: Only this CSM's accounts (the run record is the date's, shared).
        concurrency: Accounts reviewed side by side (in each worker process).
        workers: Worker processes reviewing accounts (1: this process only). Each builds
            its own application object; see :mod:`keel.api.services.nightly_workers`.
        limit: Only the first ``limit`` accounts by priority (the demo's top-N).
        digest: Write the morning digests at the end.
        send_digests: Also send them through the outbound adapters (internal channel).
        digest_leader: The CS leader's address for the leader's digest (None: the
            internal channel itself, addressed to nobody).
        max_calls: The night's model calls; ``KEEL_LLM_MAX_CALLS`` when None.
        max_tokens: The night's model tokens; ``KEEL_LLM_MAX_TOKENS`` when None.
        callbacks: LangChain handlers for every account's review (tracing, timing); in
            this process only (worker processes' reviews run without them).
    """

    as_of: dt.date | None = None
    owner: str | None = None
    concurrency: int = 1
    workers: int = 1
    limit: int | None = None
    digest: bool = True
    send_digests: bool = False
    digest_leader: str | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    callbacks: Sequence[BaseCallbackHandler] = ()


@dataclass(frozen=True)
class AccountProgress:
    """Sent to the progress callback after each account."""

    external_id: str
    name: str
    status: str
    reason: str
    done: int
    failed: int
    total: int


Progress = Callable[[AccountProgress], None]
# Builds a worker process's application object (picklable: it crosses to the process).
AppFactory = Callable[[], App]


@dataclass(frozen=True)
class AccountFailure:
    external_id: str
    name: str
    reason: str


@dataclass(frozen=True)
class NightlyReport:
    """What a run (this attempt, and the night so far) did."""

    run_id: int
    as_of: dt.date
    model_label: str
    total: int
    done: int
    skipped: int
    failed: int
    capped: int
    drafts_proposed: int
    actions_sent: int
    model_calls: int
    model_tokens: int
    phases: dict[str, float]
    failures: list[AccountFailure] = field(default_factory=list)
    pending_action_ids: list[str] = field(default_factory=list)
    digests: list[Path] = field(default_factory=list)
    digest_deliveries: list[DigestDelivery] = field(default_factory=list)
    # The run record's generation (part of its thread ids: see nightly_thread_id).
    generation: str = ""
    # Sent actions recorded as interventions tonight, and outcomes judged tonight.
    interventions_recorded: int = 0
    outcomes_recorded: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0


class DraftCap:
    """Each CSM's remaining allowance of drafts for the night, shared by the workers."""

    def __init__(self, limit: int | None, used: dict[str, int]) -> None:
        self.limit = limit
        self._used: dict[str, int] = defaultdict(int, used)
        self._held: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def reserve(self, owner: str, wanted: int, *, force: bool = False) -> int:
        """Hold up to ``wanted`` drafts for one account of ``owner`` (``force``: all of
        them, for a review whose plan was made before a crash)."""
        with self._lock:
            if self.limit is None or force:
                granted = wanted
            else:
                free = self.limit - self._used[owner] - self._held[owner]
                granted = max(0, min(wanted, free))
            self._held[owner] += granted
            return granted

    def settle(self, owner: str, held: int, drafted: int) -> None:
        """The account drafted ``drafted``; the rest of what it held goes back."""
        with self._lock:
            self._held[owner] -= held
            self._used[owner] += drafted


def run_nightly(
    app: App,
    request: NightlyRequest = NightlyRequest(),
    progress: Progress | None = None,
    *,
    app_factory: AppFactory | None = None,
) -> NightlyReport:
    """Review the book for one night; resumable and idempotent per as-of date.

    ``app_factory`` builds each worker process's application object when
    ``request.workers`` is above 1 (a picklable callable: a module-level function or a
    ``functools.partial`` of one); by default an ``App`` over ``app``'s settings.

    Raises:
        KeelError: the book has no telemetry to score.
    """
    budget = RunBudget(
        max_calls=request.max_calls
        if request.max_calls is not None
        else app.settings.llm_max_calls,
        max_tokens=(
            request.max_tokens if request.max_tokens is not None else app.settings.llm_max_tokens
        ),
    )
    with ExitStack() as stack:
        pool = None
        if request.workers > 1:
            from keel.api.services.nightly_workers import WorkerPool

            # Started now, so the workers get ready while this process scores the book.
            pool = stack.enter_context(
                WorkerPool(
                    app_factory or default_app_factory(app),
                    workers=request.workers,
                    concurrency=request.concurrency,
                    budget=budget,
                )
            )
        return _run(app, request, progress, budget, pool)


def _run(
    app: App,
    request: NightlyRequest,
    progress: Progress | None,
    budget: RunBudget,
    pool: WorkerPool | None,
) -> NightlyReport:
    phases: dict[str, float] = {}
    started = time.perf_counter()
    try:
        scored = score_book(app, as_of=request.as_of)
    except ValueError as exc:  # no telemetry yet: a user's problem, not a bug
        raise KeelError(str(exc)) from None
    as_of = scored.as_of
    phases["score"] = time.perf_counter() - started

    # Build the shared parts once, before the workers race to build them.
    _ = app.review_graph
    run = runs.open_run(app.engine, as_of=as_of, model_label=app.model_label)
    run_id, generation = int(run.id or 0), run.generation
    runs.attach_snapshot(app.engine, run_id, scored.snapshot_id)
    rows = _accounts(app, scored.snapshot_id, request)
    known = runs.account_rows(app.engine, run_id)
    todo = [
        r
        for r in rows
        if known.get(r.account_id) is None or known[r.account_id].status != runs.DONE
    ]
    skipped = len(rows) - len(todo)
    cap = DraftCap(app.policy.caps.daily_drafts_per_csm, _drafts_by_owner(app, as_of, generation))
    tick = time.perf_counter()
    counter = _Counter(total=len(rows), done=skipped)
    night = NightUnit(run_id=run_id, as_of=as_of, generation=generation)
    # Threads a crash left with a plan hold their drafts first, so the cap counts them.
    # Only an account with a row can have a thread (the row is written before the review
    # starts), so a first attempt reads no checkpoint here.
    planned_first = {
        r.account_id
        for r in todo
        if r.account_id in known and _has_plan(app, night.thread(r.external_id))
    }
    todo.sort(key=lambda r: r.account_id not in planned_first)

    def finished(row: AccountHealthRow, outcome: AccountOutcome) -> None:
        counter.add(outcome.status)
        if progress is not None:
            progress(
                AccountProgress(
                    row.external_id,
                    row.name,
                    outcome.status,
                    outcome.reason,
                    counter.done,
                    counter.failed,
                    counter.total,
                )
            )

    if pool is not None:
        review_began = time.time()
        pool.review(app, night, todo, known, cap=cap, on_done=finished)
        pool.close()  # their memory back before the digests
        # Part of the review phase spent waiting for the last worker to start (the rest of
        # its start overlapped the scoring).
        phases["workers_start"] = pool.started_after(review_began)
    else:
        with ThreadPoolExecutor(max_workers=max(request.concurrency, 1)) as threads:
            futures = {
                threads.submit(
                    _review_here,
                    app,
                    night,
                    row,
                    known.get(row.account_id),
                    cap=cap,
                    budget=budget,
                    callbacks=request.callbacks,
                ): row
                for row in todo
            }
            for future in as_completed(futures):
                finished(futures[future], future.result())
    phases["review"] = time.perf_counter() - tick

    tick = time.perf_counter()
    deliver_once(app, worker_id=WORKER_ID)
    phases["deliver"] = time.perf_counter() - tick

    # Every action sent (tonight or since the last night, by any entry point) becomes an
    # intervention with its signal; earlier interventions' windows are judged as of tonight.
    tick = time.perf_counter()
    recorded = record_interventions(app, as_of=as_of, run_id=run_id)
    phases["outcomes"] = time.perf_counter() - tick

    digests: list[Path] = []
    deliveries: list[DigestDelivery] = []
    if request.digest:
        from keel.api.services.digest import build_digests, send_digests, write_digests

        tick = time.perf_counter()
        built = build_digests(app, as_of=as_of)
        digests = write_digests(app, as_of=as_of, digests=built)
        if request.send_digests:
            deliveries = send_digests(
                app, built, generation=generation, leader=request.digest_leader
            )
        phases["digest"] = time.perf_counter() - tick
    phases["total"] = time.perf_counter() - started

    names = {r.account_id: r.name for r in rows}
    report = _finish(app, run_id, as_of, scored.snapshot_id, skipped, names, phases)
    return replace(
        report,
        generation=generation,
        digests=digests,
        digest_deliveries=deliveries,
        interventions_recorded=recorded.interventions,
        outcomes_recorded=recorded.outcomes + recorded.renewals,
    )


# ---------------------------------------------------------------------------- one account


@dataclass
class _Counter:
    total: int
    done: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: str) -> None:
        with self._lock:
            if status == runs.FAILED:
                self.failed += 1
            else:
                self.done += 1


@dataclass(frozen=True)
class NightUnit:
    """What every account review of one night shares; small and picklable, so a worker
    process (or, next, a task queue's task) gets it with each account."""

    run_id: int
    as_of: dt.date
    generation: str

    def thread(self, external_id: str) -> str:
        return nightly_thread_id(self.as_of, external_id, self.generation)


@dataclass(frozen=True)
class AccountTask:
    """One account's review as the dispatcher hands it out.

    Attributes:
        row: The account's scored row.
        held: Drafts the dispatcher reserved from its CSM's daily allowance.
        before: Plays its thread drafted already (an earlier attempt of the night).
        planned: Plays an earlier attempt's plan holds; None when it planned nothing yet.
    """

    row: AccountHealthRow
    held: int
    before: int = 0
    planned: int | None = None


@dataclass(frozen=True)
class AccountOutcome:
    account_id: int
    status: str
    reason: str
    drafted: int


def prepare_account(
    app: App,
    night: NightUnit,
    row: AccountHealthRow,
    known: runs.NightlyAccount | None,
    cap: DraftCap,
) -> AccountTask:
    """Reserve the account's drafts from its CSM's allowance (the dispatcher's part: the
    cap is held by whoever hands out the accounts, one place per night)."""
    planned: int | None = None
    before = 0
    if known is not None:  # a thread exists only for an account with a row
        thread = night.thread(row.external_id)
        planned = _planned_plays(app, thread)
        before = _drafts_of(app, thread)
    held = cap.reserve(
        row.owner_csm,
        max(planned - before, 0) if planned is not None else DEFAULT_MAX_PLAYS,
        force=planned is not None,
    )
    return AccountTask(row=row, held=held, before=before, planned=planned)


def settle_account(cap: DraftCap, task: AccountTask, outcome: AccountOutcome) -> None:
    """Give back what the account did not draft of what it held."""
    cap.settle(task.row.owner_csm, task.held, max(outcome.drafted - task.before, 0))


def _review_here(
    app: App,
    night: NightUnit,
    row: AccountHealthRow,
    known: runs.NightlyAccount | None,
    *,
    cap: DraftCap,
    budget: RunBudget,
    callbacks: Sequence[BaseCallbackHandler] = (),
) -> AccountOutcome:
    """Reserve, review and settle one account in this process (a thread of the pool)."""
    task = prepare_account(app, night, row, known, cap)
    outcome = AccountOutcome(row.account_id, runs.FAILED, "not reviewed", task.before)
    try:
        outcome = review_night_account(app, night, task, budget=budget, callbacks=callbacks)
    finally:
        settle_account(cap, task, outcome)
    return outcome


def review_night_account(
    app: App,
    night: NightUnit,
    task: AccountTask,
    *,
    budget: RunBudget,
    callbacks: Sequence[BaseCallbackHandler] = (),
) -> AccountOutcome:
    """The unit of work of a night: review one account within what ``task`` holds of its
    CSM's cap, and record it on the run. Never raises for the review itself (a failure is
    recorded and returned); the same in a thread, a worker process or a queued task.

    Args:
        app: This process's application object.
        night: The run.
        task: The account and its reservation (:func:`prepare_account`).
        budget: The night's model budget in this process; the account gets a child of it.
        callbacks: LangChain handlers for the review.
    """
    engine, row = app.engine, task.row
    thread = night.thread(row.external_id)
    runs.mark_started(
        engine,
        run_id=night.run_id,
        account_id=row.account_id,
        external_id=row.external_id,
        account_name=row.name,
        owner_csm=row.owner_csm,
        thread_id=thread,
    )
    tick = time.perf_counter()
    account_budget = budget.for_account(app.settings)
    try:
        result = _run_review(
            app,
            night,
            row,
            thread,
            account_budget,
            max_plays=task.held + task.before,
            callbacks=callbacks,
        )
        status, reason = _outcome(result)
    except Exception as exc:  # one account's failure is recorded; the night goes on
        status, reason = runs.FAILED, f"{type(exc).__name__}: {exc}"
    drafted = _drafts_of(app, thread)
    capped = status == runs.DONE and task.held == 0 and task.planned is None
    runs.mark_finished(
        engine,
        run_id=night.run_id,
        account_id=row.account_id,
        status=status,
        reason=reason,
        drafts=drafted,
        capped=capped,
        model_calls=account_budget.calls_used,
        model_tokens=account_budget.tokens_used,
        seconds=time.perf_counter() - tick,
    )
    return AccountOutcome(row.account_id, status, reason, drafted)


def _run_review(
    app: App,
    night: NightUnit,
    row: AccountHealthRow,
    thread: str,
    budget: RunBudget,
    *,
    max_plays: int,
    callbacks: Sequence[BaseCallbackHandler],
) -> ReviewResult:
    state = app.review_graph.get_state(thread_config(thread))
    # Started by an earlier attempt: finished or waiting for approval means done;
    # otherwise go on from its last checkpoint. A thread that finished without a
    # briefing (the analyst failed: the model, the budget) is run again from the start
    # on the same thread; it proposed nothing, so there is nothing to repeat.
    unfinished = any(not task.interrupts for task in state.tasks)
    failed = bool(state.values) and not state.tasks and not state.values.get("briefing")
    if not state.values or failed:
        return review_account(
            app,
            row.external_id,
            as_of=night.as_of,
            user=NIGHTLY_USER,
            budget=budget,
            thread_id=thread,
            deliver=False,
            worker_id=WORKER_ID,
            callbacks=callbacks,
            max_plays=max_plays,
        ).result
    if unfinished:
        context = run_context(
            app,
            as_of=night.as_of,
            user=NIGHTLY_USER,
            thread_id=thread,
            account_id=row.account_id,
            budget=budget,
            max_plays=max_plays,
        )
        return continue_review(app.review_graph, thread, engine=app.engine, context=context)
    return review_result(app.review_graph, thread)


def default_app_factory(app: App) -> AppFactory:
    """Workers' application objects over ``app``'s settings (its vector setting too; the
    executor options an embedding application installed stay in this process).

    Raises:
        KeelError: ``app`` was given a model in code (a worker could not build the same).
    """
    if app.model is not None:
        raise KeelError(
            "nightly workers build their own model from the settings; this application "
            "object was given one in code, so pass app_factory (or run with --workers 1)"
        )
    return partial(App, settings=app.settings, use_vectors=app.use_vectors)


def _outcome(result: ReviewResult) -> tuple[str, str]:
    if result.briefing is None:
        return runs.FAILED, "; ".join(result.failures) or "no briefing was written"
    # Briefed: done, whatever a play's draft or send did (those are in the reason). An
    # analyst error beside a briefing is an earlier attempt's, in the thread's history.
    current = [f for f in result.failures if not f.startswith(f"{ANALYST_STEP}:")]
    return runs.DONE, "; ".join(current)


# ------------------------------------------------------------------------------- reading


def _accounts(app: App, snapshot_id: int, request: NightlyRequest) -> list[AccountHealthRow]:
    """Every account the snapshot scored (the active book), most urgent first."""
    rows = sorted(
        health_rows(app.engine, snapshot_id), key=lambda r: (-r.priority_score, r.risk_rank)
    )
    if request.owner is not None:
        wanted = request.owner.casefold()
        rows = [r for r in rows if r.owner_csm.casefold() == wanted]
    if request.limit is not None:
        rows = rows[: request.limit]
    return rows


def _drafts_of(app: App, thread: str) -> int:
    """Plays drafted in a thread (first revisions: a redraft is the same play)."""
    with Session(app.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(ProposedAction)
                .where(
                    ProposedAction.thread_id == thread,
                    col(ProposedAction.parent_action_id).is_(None),
                )
            ).one()
        )


def _drafts_by_owner(app: App, as_of: dt.date, generation: str) -> dict[str, int]:
    """Drafts already proposed tonight by CSM (an earlier attempt of the same night)."""
    from keel.memory.models import Account

    with Session(app.engine) as session:
        found = session.exec(
            select(Account.owner_csm, func.count())
            .select_from(ProposedAction)
            .join(Account, col(Account.id) == col(ProposedAction.account_id))
            .where(
                col(ProposedAction.thread_id).startswith(thread_prefix(as_of, generation)),
                col(ProposedAction.parent_action_id).is_(None),
            )
            .group_by(col(Account.owner_csm))
        ).all()
    return {str(owner): int(n) for owner, n in found}


def _planned_plays(app: App, thread: str) -> int | None:
    """How many plays the thread's plan holds, when an earlier attempt planned already."""
    values = app.review_graph.get_state(thread_config(thread)).values or {}
    plan = values.get("plan")
    if "plan" not in values:
        return None
    return len((plan or {}).get("plays") or [])


def _has_plan(app: App, thread: str) -> bool:
    return _planned_plays(app, thread) is not None


def _finish(
    app: App,
    run_id: int,
    as_of: dt.date,
    snapshot_id: int,
    skipped: int,
    names: dict[int, str],
    phases: dict[str, float],
) -> NightlyReport:
    """Count the night from its rows (every attempt), write it on the run record, report."""
    rows = runs.run_accounts(app.engine, run_id)
    threads = {r.thread_id for r in rows}
    with Session(app.engine) as session:
        found = session.exec(
            select(ProposedAction).where(
                col(ProposedAction.thread_id).startswith(thread_prefix(as_of)),
                col(ProposedAction.parent_action_id).is_(None),
            )
        ).all()
        actions = [a for a in found if a.thread_id in threads]
    failed = [r for r in rows if r.status != runs.DONE]
    done = len(rows) - len(failed)
    capped = sum(1 for r in rows if r.capped)
    sent = sum(1 for a in actions if a.status == ActionStatus.SENT)
    calls = sum(r.model_calls for r in rows)
    tokens = sum(r.model_tokens for r in rows)
    runs.finish_run(
        app.engine,
        run_id,
        phases=phases,
        status=runs.FAILED if failed else runs.DONE,
        snapshot_id=snapshot_id,
        accounts_total=len(rows),
        accounts_done=done,
        accounts_skipped=skipped,
        accounts_failed=len(failed),
        accounts_capped=capped,
        drafts_proposed=len(actions),
        actions_sent=sent,
        model_calls=calls,
        model_tokens=tokens,
    )
    return NightlyReport(
        run_id=run_id,
        as_of=as_of,
        model_label=app.model_label,
        total=len(rows),
        done=done,
        skipped=skipped,
        failed=len(failed),
        capped=capped,
        drafts_proposed=len(actions),
        actions_sent=sent,
        model_calls=calls,
        model_tokens=tokens,
        phases=phases,
        failures=[
            AccountFailure(r.external_id, names.get(r.account_id, r.external_id), r.reason)
            for r in failed
        ],
        pending_action_ids=_pending(actions),
    )


def _pending(actions: Iterable[ProposedAction]) -> list[str]:
    return [a.id for a in actions if a.status == ActionStatus.PENDING]
