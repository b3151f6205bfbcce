"""The nightly review over worker processes (``keel nightly --workers N``).

One process runs Keel's own work for every account under one interpreter lock: past about
four accounts a second (a real model's calls overlap; the nodes', LangGraph's and the
client's Python work does not) more threads only queue for the lock. Worker processes
each build their own application object (engine, checkpointer, model, graphs) from a
picklable factory and review accounts side by side, ``concurrency`` threads each.

The split of work keeps every guarantee of the single-process night:

- **This process is the dispatcher.** It hands out the accounts most urgent first, keeps
  at most ``workers x concurrency`` of them in flight, and holds the per-CSM daily draft
  cap: before handing an account out it reserves its drafts
  (:func:`keel.api.services.nightly.prepare_account`); when the outcome comes back, what
  the account did not draft goes back (``settle_account``). One cap, one place, exactly
  as with threads.
- **A worker runs the unit of work**, :func:`keel.api.services.nightly.review_night_account`
  (application object, run, account task): it writes the account's run row, reviews in
  the account's deterministic thread and records the outcome. Every account is handed to
  exactly one worker; the database's unique keys (one action per thread, interrupt and
  payload; one row per run and account) hold across processes as they do across threads.
  SQLite runs in WAL mode with a busy timeout, PostgreSQL as is.
- **A worker that dies** (killed, out of memory) takes only its accounts in flight: they
  are recorded failed with the reason, the others go on, and the next run of the night
  continues their threads from their checkpoints. A worker whose dispatcher dies is
  killed by the kernel (``PR_SET_PDEATHSIG`` on Linux) or stops before its next account,
  so a resumed night never races an orphan.

The night's model budget is split evenly over the workers (each gets its share as its own
night budget; an account's limit is unchanged).

A task queue (procrastinate on PostgreSQL) can replace the pool: one task per account
calling ``review_night_account`` with the task the dispatcher prepared, the dispatcher
reserving drafts as it enqueues and settling as results come back.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from keel.agents.budget import RunBudget
from keel.api.services.nightly import (
    AccountOutcome,
    AccountTask,
    AppFactory,
    DraftCap,
    NightUnit,
    prepare_account,
    review_night_account,
    settle_account,
)
from keel.app import App
from keel.errors import KeelError
from keel.memory import runs
from keel.memory.snapshots import AccountHealthRow

# How often the dispatcher looks at its workers while it waits for an outcome.
POLL_S = 0.5
# Accounts queued in a worker's inbox beyond its threads: threads / this (at least one).
# Their drafts are reserved when they are queued, still most urgent first.
PREFETCH_SHARE = 1


@dataclass(frozen=True)
class _WorkerSpec:
    """What a worker process is started with (pickled to it)."""

    factory: AppFactory
    threads: int
    max_calls: int
    max_tokens: int
    parent_pid: int


class WorkerPool:
    """Worker processes for one night, started before the book is scored so that their
    start (imports, the migrations check, graphs, the model client: seconds each)
    overlaps the scoring; then :meth:`review` hands them the accounts. Close it (``with``)
    to stop them.
    """

    def __init__(
        self, factory: AppFactory, *, workers: int, concurrency: int, budget: RunBudget
    ) -> None:
        self.threads = max(1, concurrency)
        workers = max(1, workers)
        context = mp.get_context("spawn")  # never fork a process holding threads and sockets
        self.results: Any = context.Queue()
        spec = _WorkerSpec(
            factory=factory,
            threads=self.threads,
            max_calls=budget.max_calls // workers,
            max_tokens=budget.max_tokens // workers,
            parent_pid=os.getpid(),
        )
        self.workers: list[_Worker] = []
        for i in range(workers):
            inbox: Any = context.Queue()
            process = context.Process(
                target=_worker_main, args=(spec, inbox, self.results), name=f"keel-nightly-{i}"
            )
            # A few accounts more than its threads wait in its inbox, so a thread that
            # finishes starts the next at once instead of after a round trip here.
            slots = self.threads + max(1, self.threads // PREFETCH_SHARE)
            self.workers.append(
                _Worker(process=process, inbox=inbox, slots=slots, threads=self.threads)
            )
        for worker in self.workers:
            worker.process.start()
        self._closed = False
        # When each worker was ready (``time.time()``, sent by the worker).
        self.ready_at: list[float] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def review(
        self,
        app: App,
        night: NightUnit,
        todo: Sequence[AccountHealthRow],
        known: Mapping[int, runs.NightlyAccount],
        *,
        cap: DraftCap,
        on_done: Callable[[AccountHealthRow, AccountOutcome], None],
    ) -> None:
        """Review ``todo`` (in that order); call ``on_done`` here as each account ends.

        Raises:
            KeelError: a worker could not start (its application object failed to build).
        """
        _Dispatch(app, night, known, cap, self.workers, on_done, self.ready_at).run(
            todo, self.results
        )

    def started_after(self, moment: float) -> float:
        """Seconds after ``moment`` (``time.time()``) the last worker became ready (0 when
        all were ready before it); known once :meth:`review` returned."""
        return max([0.0] + [at - moment for at in self.ready_at])

    def close(self) -> None:
        """Stop the workers (each thread takes one stop mark) and wait for them."""
        if self._closed:
            return
        self._closed = True
        for worker in self.workers:
            if worker.process.is_alive():
                for _ in range(self.threads):
                    worker.inbox.put(None)
        for worker in self.workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.inbox.close()
        self.results.close()


@dataclass
class _Worker:
    process: BaseProcess
    inbox: Any
    slots: int
    threads: int
    holds: dict[int, AccountTask] = field(default_factory=dict)

    def free(self, *, prefetch: bool) -> int:
        return (self.slots if prefetch else self.threads) - len(self.holds)


@dataclass
class _Dispatch:
    """Hands the accounts out, one worker's free thread at a time, and takes them back."""

    app: App
    night: NightUnit
    known: Mapping[int, runs.NightlyAccount]
    cap: DraftCap
    pool: list[_Worker]
    on_done: Callable[[AccountHealthRow, AccountOutcome], None]
    ready_at: list[float]

    def run(self, todo: Sequence[AccountHealthRow], results: Any) -> None:
        self.pending = deque(todo)
        # Accounts a worker thread took up (the rest of a worker's holds wait in its inbox).
        self.started: set[int] = set()
        by_pid = {w.process.pid: w for w in self.pool}
        while True:
            alive = [w for w in self.pool if w.process.is_alive()]
            # Near the end of the night nothing waits in an inbox: a worker whose threads
            # are free must not sit idle while another's inbox holds the last accounts.
            prefetch = len(self.pending) > sum(w.slots for w in alive)
            for worker in sorted(alive, key=lambda w: -w.free(prefetch=prefetch)):
                while self.pending and worker.free(prefetch=prefetch) > 0:
                    row = self.pending.popleft()
                    task = prepare_account(
                        self.app, self.night, row, self.known.get(row.account_id), self.cap
                    )
                    worker.holds[row.account_id] = task
                    worker.inbox.put((self.night, task))
            if not self.pending and not any(w.holds for w in self.pool):
                return
            if not alive:  # every worker died: what is left fails and waits for a rerun
                self._bury_dead()
                while self.pending:
                    row = self.pending.popleft()
                    self.on_done(
                        row, AccountOutcome(row.account_id, runs.FAILED, "no worker left", 0)
                    )
                continue
            try:
                message = results.get(timeout=POLL_S)
            except queue.Empty:
                self._bury_dead()
                continue
            kind, pid, payload = message
            if kind == "fatal":
                raise KeelError(f"a nightly worker process could not start: {payload}")
            if kind == "ready":
                self.ready_at.append(payload)
            elif kind == "started":
                self.started.add(payload)
            else:
                outcome: AccountOutcome = payload
                task = by_pid[pid].holds.pop(outcome.account_id)
                self.started.discard(outcome.account_id)
                settle_account(self.cap, task, outcome)
                self.on_done(task.row, outcome)

    def _bury_dead(self) -> None:
        """A dead worker's accounts: those it had started fail (recorded with the reason;
        the next run of the night resumes their threads, and what they held stays counted
        as drafted); those still in its inbox go back to the front of the line."""
        for worker in self.pool:
            if worker.process.is_alive() or not worker.holds:
                continue
            reason = f"the nightly worker process died (exit code {worker.process.exitcode})"
            rows = runs.account_rows(self.app.engine, self.night.run_id)
            back = []
            for account_id, task in list(worker.holds.items()):
                del worker.holds[account_id]
                if account_id not in self.started:
                    settle_account(self.cap, task, AccountOutcome(account_id, "", "", task.before))
                    back.append(task.row)
                    continue
                self.started.discard(account_id)
                outcome = AccountOutcome(account_id, runs.FAILED, reason, task.before + task.held)
                settle_account(self.cap, task, outcome)
                if account_id in rows:  # it may have died before writing its row
                    runs.mark_finished(
                        self.app.engine,
                        run_id=self.night.run_id,
                        account_id=account_id,
                        status=runs.FAILED,
                        reason=reason,
                    )
                self.on_done(task.row, outcome)
            self.pending.extendleft(reversed(back))


# ---------------------------------------------------------------------- the worker process


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphan keeps reviewing)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent check before each account
        pass


def _worker_main(spec: _WorkerSpec, tasks: Any, results: Any) -> None:
    _die_with_parent()
    pid = os.getpid()
    try:
        app = spec.factory()
        _ = app.review_graph  # build the shared parts before the threads race to
        _ = app.engine
    except BaseException as exc:  # the dispatcher reports it and stops the night
        results.put(("fatal", pid, f"{type(exc).__name__}: {exc}"))
        return
    budget = RunBudget(max_calls=spec.max_calls, max_tokens=spec.max_tokens)
    results.put(("ready", pid, time.time()))

    def loop() -> None:
        while True:
            message: tuple[NightUnit, AccountTask] | None = tasks.get()
            if message is None or os.getppid() != spec.parent_pid:
                return
            night, task = message
            results.put(("started", pid, task.row.account_id))
            try:
                outcome = review_night_account(app, night, task, budget=budget)
            except Exception as exc:  # recording the row failed (the database): say so
                outcome = AccountOutcome(
                    task.row.account_id, runs.FAILED, f"{type(exc).__name__}: {exc}", 0
                )
            results.put(("done", pid, outcome))

    with app:
        pool = [threading.Thread(target=loop, daemon=True) for _ in range(spec.threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
