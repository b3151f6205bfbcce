"""Benchmark the nightly review on the real OpenAI client: achieved throughput against the
ideal, at several concurrencies.

    python bench/nightly_llm.py [--accounts 48] [--seed 7] [--delay-ms 300] \\
        [--concurrency 1 8 32]

For each concurrency level: a fresh scratch workspace with the same synthetic book
(no vector index), and Keel's real client (``ResilientChatOpenAI``, i.e. ``ChatOpenAI``
over httpx, as :func:`keel.agents.llm.make_chat_model` builds it for ``KEEL_LLM_BASE_URL``)
pointed at a local OpenAI-compatible server on loopback that answers every request a
fixed ``--delay-ms`` after it arrived. The server is the one the hostile-model tests use
with no attack registered (``tests/hostile_model.py``): it answers tool calls and
structured outputs as Keel's offline model would, so the review goes through every step
(analyst tool loop, briefing, planner, drafts) as it does offline. Its client subclass only
hands the server, in process, the typed facts each prompt carries (the offline model writes
structured answers from them; they never go over the wire).

Then the nightly service (``keel.api.services.nightly.run_nightly``, what ``keel nightly
--concurrency c`` runs) reviews the whole book and the bench prints, per level:

- achieved: accounts reviewed per second over the review phase (scoring excluded: it makes
  no model call);
- calls per account: the night's model calls (the run record's) / accounts reviewed;
- ideal: ``c / (calls_per_account * delay)``, the accounts per second if every model call
  cost exactly the delay and everything else were free;
- the ratio achieved / ideal (the issue's target: at least 0.8 at concurrency 8), and the
  mean wall time of a model call as the client saw it (delay + client and server work +
  waiting for the GIL).

The server runs in the same process (the facts hand-over needs it), so its work (the offline
model answering, about as much CPU as an offline review's model calls) competes for the
same interpreter and cores as the review; the bench measures its share (about a tenth of
the process's CPU). Also printed per level: the process's CPU per account (the ceiling of
one interpreter is 1 / that), an account's mean review time, and the share of the review
phase the workers were busy (the rest is the tail: the night's last accounts running while
the other workers have nothing left to start).

Measured on the shared 2-core machine (load average 4-5 from other sessions), 60 accounts
seeded, 51 active, default policy, ``python bench/nightly_llm.py --accounts 60``:

    conc  calls/acct  review s  achieved/s  ideal/s  ratio  call ms  account s  busy
       1        4.88      77.6       0.657    0.683   0.96      305       1.52  100%
       8        4.88      12.3       4.149    5.462   0.76      321       1.78   92%
      32        4.86       7.2       7.080   21.935   0.32      453       3.70   82%

(48 accounts: 0.94 / 0.73-0.76 / 0.32; 120 accounts at 8: 0.77, workers busy 96%.) The
target at 8 (0.8) is not met. What limits it, from these figures and from sampling the
workers' stacks at 8 (not from any one lock):

- the tail of a small book: 51 accounts over 8 workers leave them idle 8% of the review
  phase (4% at 100 accounts; negligible for a real book);
- each account's review is slower side by side (1.78 s against 1.52 s alone; a model call
  321 ms against 305 ms): the review's own Python work, about 0.1 s of CPU per account
  (Keel's nodes, LangGraph, the OpenAI client's request building, the in-process server's
  HTTP and answers), runs under one interpreter lock, on cores other sessions keep busy.
  About a tenth of the busy workers' samples were threads blocked in
  ``ThreadPoolExecutor.submit`` on the process-wide executor lock while another thread
  starts a thread: LangGraph and LangChain create a fresh executor per graph invocation
  and per tool-node call (about 11 new threads per account). SQLite (Keel's database and
  the checkpointer) was under 3% of the samples; the client's HTTP connection limits and
  LangGraph's max_concurrency played no part;
- at 32 the process is CPU-bound: 7.1 accounts/s against a one-interpreter ceiling of
  1 / 115 ms = 8.7, with model calls waiting for the interpreter (453 ms).

More throughput past ~4 accounts/s per process needs more processes, not more threads.
The ideal counts every call of an account as sequential, but an account's drafts are
written side by side, which is why concurrency 1 reaches 0.96 with ~0.1 s of CPU per
account.

**Worker processes** (``--workers W``: ``keel nightly --workers``, the concurrency split
over W processes, each with its own delayed server, started before the book is scored).
Side by side, 200 accounts seeded (168 active), the same machine run by run
(``python bench/nightly_llm.py --accounts 200 --concurrency 8 --workers 1``, then
``--workers 2``):

    conc procs  calls/acct  review s  achieved/s  ideal/s  ratio  account s  busy  load
       8     1        4.72      40.1       4.184    5.649   0.74       1.88   98%   3.8
       8     2        4.68      38.8       4.333    5.693   0.76       1.71   93%   2.6
       8     4        4.68      36.6       4.587    5.693   0.81       1.60   92%   1.1
      32     2        4.46      18.9       8.882   23.893   0.37       3.09   86%   2.2

(``--workers 4`` is 4 processes of 2 threads; at 32 the single process measured 0.32,
7.08 accounts/s, above.)

(the same pair earlier at load 7-9: 0.72 / 0.71; 60 accounts at load ~10: 1 process 0.88
at concurrency 1, 2 processes 0.51 at 8, where the workers' start and a 51-account book's
tail are a third of the review phase.) More processes make each account's review faster
(1.88 s in one, 1.71 s in two, 1.60 s in four; the model-latency bound is 4.68 x 0.3 =
1.40 s): at concurrency 8 four processes of two threads reach the target (0.81, on a
machine at load ~1); two reach 0.76. What is left: the workers' own CPU (~0.2-0.3 s per
account with their servers, their start included) on two cores shared with other
sessions, and 7-8% of the workers' time in the dispatch and the night's last accounts. At
32 the two cores are the limit (8.9 accounts/s against 7.1 in one process).
Nothing is asserted: the script prints.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402

from bench.review import Timer  # noqa: E402
from keel.api.services.nightly import NightlyRequest, run_nightly  # noqa: E402
from keel.api.services.seeding import SeedRequest, seed_book  # noqa: E402
from keel.app import App  # noqa: E402
from keel.memory import runs  # noqa: E402
from keel.settings import Settings  # noqa: E402
from tests.hostile_model import client_model, serve_hostile  # noqa: E402


@dataclass(frozen=True)
class Level:
    concurrency: int  # accounts in flight: workers x threads per worker
    workers: int
    accounts: int
    failed: int
    review_s: float
    total_s: float
    model_calls: int
    drafts: int
    mean_call_s: float
    server_requests: int
    cpu_s: float  # the process's CPU time from the first review's start to the night's end
    server_cpu_s: float  # of which the server's threads (HTTP, JSON, the answers)
    answers_cpu_s: float  # of which working out the answers (the offline model)
    account_s: float  # the accounts' own review times (the run rows'), summed
    start_s: float = 0.0  # of the review phase, waiting for the last worker process to start

    @property
    def mean_account_s(self) -> float:
        return self.account_s / max(self.accounts, 1)

    @property
    def per_worker(self) -> int:
        return self.concurrency // max(self.workers, 1)

    @property
    def busy_share(self) -> float:
        """The workers' time spent reviewing an account (the rest: waiting for the last
        accounts of the night, with nothing left to start)."""
        return self.account_s / max(self.concurrency * self.review_s, 1e-9)

    @property
    def cpu_per_account(self) -> float:
        return self.cpu_s / max(self.accounts, 1)

    @property
    def client_cpu_per_account(self) -> float:
        return (self.cpu_s - self.server_cpu_s) / max(self.accounts, 1)

    @property
    def calls_per_account(self) -> float:
        return self.model_calls / max(self.accounts, 1)

    @property
    def achieved(self) -> float:
        return self.accounts / max(self.review_s, 1e-9)

    @property
    def achieved_started(self) -> float:
        """Accounts per second once every worker process was up."""
        return self.accounts / max(self.review_s - self.start_s, 1e-9)

    def ideal(self, delay_s: float) -> float:
        return self.concurrency / max(self.calls_per_account * delay_s, 1e-9)

    def ratio(self, delay_s: float) -> float:
        return self.achieved / self.ideal(delay_s)


class ReviewsStarted(BaseCallbackHandler):
    """Notes the process's CPU time when the first review starts (after the scoring)."""

    def __init__(self) -> None:
        self.cpu_at: float | None = None

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        if self.cpu_at is None:
            self.cpu_at = time.process_time()


class ServerClock:
    """Sums the CPU time of the server's threads working out answers (``script.next``)."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any]) -> None:
        self.answer = answer
        self.cpu_s = 0.0
        self.lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Any:
        started = time.thread_time()
        try:
            return self.answer(request)
        finally:
            with self.lock:
                self.cpu_s += time.thread_time() - started


def _server_threads_cpu() -> float:
    """CPU seconds of the server's threads so far: uvicorn's event loop thread and the
    event loop's worker threads that work out the answers."""
    total = 0.0
    for thread in threading.enumerate():
        name = thread.name
        if thread.ident is None or not (
            name.startswith(("asyncio_", "uvloop_")) or "(run)" in name
        ):
            continue
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
    return total


# Each worker process's own delayed server (kept open for the process's life).
_WORKER_SERVERS = ExitStack()


@dataclass(frozen=True)
class DelayedModelApp:
    """A worker process's application object: its own delayed server on loopback (the
    facts hand-over needs the server in the client's process) and Keel's real client."""

    settings: Settings
    delay_s: float

    def __call__(self) -> App:
        server = _WORKER_SERVERS.enter_context(serve_hostile(delay_s=self.delay_s))
        settings = self.settings.model_copy(update={"llm_base_url": server.base_url})
        model = client_model(settings, server)
        return App(settings=settings, model=model, use_vectors=False)


def run_level(
    n_accounts: int, seed: int, delay_s: float, concurrency: int, workers: int = 1
) -> Level:
    """Seed a fresh book, serve the delayed model, run the night with ``concurrency``
    accounts in flight (over ``workers`` processes when above 1)."""
    per_worker = math.ceil(concurrency / max(workers, 1))
    with (
        tempfile.TemporaryDirectory(prefix="keel-bench-nightly-llm-") as scratch,
        serve_hostile(delay_s=delay_s) as server,
    ):
        settings = Settings(
            data_dir=Path(scratch) / "keel-data",
            llm_base_url=server.base_url,
            llm_model="delayed-offline-model",
            openai_api_key="sk-bench-dummy",
            llm_timeout_s=120.0,
            llm_max_calls=10**7,
            llm_max_tokens=10**12,
            llm_max_calls_per_account=10**4,
            llm_max_tokens_per_account=10**9,
        )
        model = client_model(settings, server)
        with App(settings=settings, model=model, use_vectors=False) as app:
            seed_book(app, SeedRequest(accounts=n_accounts, seed=seed))
            timer, reviews = Timer(), ReviewsStarted()
            clock = ServerClock(server.model.next)
            server.model.next = clock  # type: ignore[method-assign]
            server_cpu_before = _server_threads_cpu()
            children_before = _children_cpu()
            started = time.perf_counter()
            if workers > 1:
                report = run_nightly(
                    app,
                    NightlyRequest(concurrency=per_worker, workers=workers),
                    app_factory=DelayedModelApp(settings, delay_s),
                )
                # The workers' CPU (all of it: their servers too) after they were joined.
                cpu_s = _children_cpu() - children_before
            else:
                report = run_nightly(
                    app, NightlyRequest(concurrency=concurrency, callbacks=[timer, reviews])
                )
                cpu_s = time.process_time() - (reviews.cpu_at or time.process_time())
            total_s = time.perf_counter() - started
            server_threads_cpu = _server_threads_cpu()
            account_s = sum(r.seconds for r in runs.run_accounts(app.engine, report.run_id))
        reviewed = report.total - report.skipped
        return Level(
            concurrency=per_worker * workers if workers > 1 else concurrency,
            workers=workers,
            accounts=reviewed,
            failed=report.failed,
            review_s=report.phases.get("review", 0.0),
            total_s=total_s,
            model_calls=report.model_calls,
            drafts=report.drafts_proposed,
            mean_call_s=timer.totals["model"] / max(timer.counts["model"], 1),
            server_requests=server.model.total_requests,
            cpu_s=cpu_s,
            server_cpu_s=server_threads_cpu - server_cpu_before if workers <= 1 else 0.0,
            answers_cpu_s=clock.cpu_s,
            account_s=account_s,
            start_s=report.phases.get("workers_start", 0.0),
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--delay-ms", type=float, default=300.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="Accounts in flight (over all workers).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Worker processes (keel nightly --workers) at each concurrency above 1; the "
        "concurrency is split over them.",
    )
    args = parser.parse_args()
    delay_s = args.delay_ms / 1000
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    print(
        f"nightly review, real ChatOpenAI client, local server answering {args.delay_ms:.0f} ms "
        f"after each request; {args.accounts} accounts seeded (seed {args.seed}); "
        f"load average {load} on {os.cpu_count()} cores"
    )
    header = (
        f"{'conc':>4} {'procs':>5} {'accounts':>8} {'failed':>6} {'calls/acct':>10} "
        f"{'review s':>9} {'achieved/s':>10} {'ideal/s':>8} {'ratio':>6} {'call ms':>8} "
        f"{'drafts':>6}"
    )
    levels = []
    for concurrency in args.concurrency:
        workers = min(args.workers, concurrency)
        level = run_level(args.accounts, args.seed, delay_s, concurrency, workers)
        levels.append(level)
        if len(levels) == 1:
            print(header)
        print(
            f"{level.concurrency:>4} {level.workers:>5} {level.accounts:>8} {level.failed:>6} "
            f"{level.calls_per_account:>10.2f} {level.review_s:>9.1f} {level.achieved:>10.3f} "
            f"{level.ideal(delay_s):>8.3f} {level.ratio(delay_s):>6.2f} "
            f"{level.mean_call_s * 1000:>8.0f} {level.drafts:>6}",
            flush=True,
        )
        if level.workers > 1:
            print(
                f"     the review phase waited {level.start_s:.1f}s for the last worker to "
                f"start; from then on: achieved {level.achieved_started:.3f}/s, ratio "
                f"{level.achieved_started / level.ideal(delay_s):.2f}"
            )
            print(
                f"     CPU per account {level.cpu_per_account * 1000:.0f} ms over "
                f"{level.workers} worker processes of {level.per_worker} threads (their "
                f"delayed servers included; call ms not measured across processes)"
            )
            print(
                f"     an account's review {level.mean_account_s:.2f}s on average; workers "
                f"busy {level.busy_share:.0%} of the review phase (the rest: starting the "
                f"processes and the night's last accounts)"
            )
            continue
        print(
            f"     CPU per account {level.cpu_per_account * 1000:.0f} ms (the in-process server "
            f"{(level.cpu_per_account - level.client_cpu_per_account) * 1000:.0f} ms, of which "
            f"its answers {level.answers_cpu_s / max(level.accounts, 1) * 1000:.0f} ms; "
            f"Keel and the client {level.client_cpu_per_account * 1000:.0f} ms); one "
            f"interpreter's ceiling 1/CPU = {1 / max(level.cpu_per_account, 1e-9):.2f} accounts/s"
        )
        print(
            f"     an account's review {level.mean_account_s:.2f}s on average; workers busy "
            f"{level.busy_share:.0%} of the review phase (the rest: the night's last accounts)"
        )
        if level.server_requests != level.model_calls:
            print(
                f"     (the server answered {level.server_requests} requests, the run record "
                f"counts {level.model_calls} model calls)"
            )
    print(
        "ideal = concurrency / (calls per account x delay); achieved = accounts reviewed / "
        "the review phase's seconds; call ms = mean model-call wall time the client saw"
    )


if __name__ == "__main__":
    main()
