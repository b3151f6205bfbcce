"""Benchmark the nightly review on the offline model: accounts per second, where the time
goes, peak memory.

    python bench/nightly.py [--accounts 1000] [--seed 7] [--concurrency 1] [--workers 1] \
        [--book DIR]

Seeds a synthetic book into a scratch workspace, then runs the nightly service
(``keel.api.services.nightly.run_nightly``) over the whole book once, as ``keel nightly``
does: score the date, review every active account in its own thread (SQLite checkpointer,
``durability="sync"``), one delivery pass, the digests. Prints:

- accounts reviewed per second over the review phase, and the time of every phase;
- per phase (score, review, deliver, outcomes, digest): its seconds, the night's accounts
  per second through it, and what it processed (accounts scored and reviewed, actions
  sent, interventions and outcomes recorded, digest files) per second;
- the share of the review phase outside tool and model calls (Keel's own work inside the
  nodes plus graph and persistence overhead), from LangChain callbacks (see
  ``bench/review.py``); with ``--concurrency`` above 1 the call times overlap, so the share
  is reported for concurrency 1 only;
- the process's peak resident memory (and, with ``--workers``, the largest worker's);
- the load average before and after the night (the machine is shared).

``--workers N`` runs the reviews over N worker processes (``keel nightly --workers``);
``--book DIR`` keeps the seeded book and copies it into the next run's scratch workspace
(seeding 10,000 accounts takes minutes), so every night starts unreviewed.

Measured on a shared, busy 2-core machine (load ~9) with the default policy (daily cap of 15
drafts per CSM): 1,000 accounts (894 active): seeding 91 s; the night 370 s: scoring 200 s,
reviews 169 s (5.3 accounts/s; 780 accounts past their CSM's cap, briefed without drafts),
delivery and digests under 1 s; 64% of the review phase outside tool and model calls;
peak memory 836 MB. With ``--no-cap`` (every account's plays drafted), 300 accounts (256
active): 526 drafts, reviews 98 s (2.6 accounts/s), 79% outside tool and model calls, peak
465 MB.

Over two worker processes (``--accounts 1000 --workers 2 --concurrency 2 --book DIR``,
load 1.5 before the night, 5.3 after): 894 of 894 active accounts briefed, 0 failed, 629
past the cap, 249 drafts, 26 sent alone; the night 114 s: scoring 61 s, reviews 52 s (17.2
accounts/s; the workers were up before the scoring ended), delivery, outcomes and digests
under 0.2 s; peak memory 830 MB in the dispatcher (it scores the book), 326 MB in the
largest worker.

Where the time goes (py-spy, 150 accounts, one process, load ~17): the score phase is
199 s of the night's 246 s, and 80% of it is fitting the health model
(``tools/health/model.choose_c``: logistic regressions over a grid of C on the whole
history), which grows with the book; in the review phase (2.7 accounts/s) LangGraph and
LangChain starting a fresh thread pool per graph invocation and tool call take ~15%, the
quote index of a draft's source text (``tools/outbound/quotes._source_index``) ~10%, the
analyst's grounding of the briefing in Keel's voice ~11%.

The 10,000-account night (``--accounts 10000 --workers 2 --concurrency 2 --book DIR``,
load 1.2 before, 3.8 after): seeding 304 s; 9,005 of 9,005 active accounts briefed, 0
failed, 8,849 past the cap, 270 drafts, 25 sent alone; the night 973 s (16.2 min, the aim
is 15): scoring 626 s (the health model's fit and the book's signals and hypotheses, in
the dispatcher), reviews 344 s (26.1 accounts/s), delivery, outcomes and digests 0.9 s;
peak memory 5.8 GB in the dispatcher (scoring), 346 MB in the largest worker. The
scoring (``tools/health``) is what is left to cut. The real client's throughput against
the ideal at concurrency 1/8/32 (a local server answering after a fixed delay) is
``bench/nightly_llm.py``'s.

Nothing is asserted: the script prints figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.review import Timer  # noqa: E402
from keel.api.services.nightly import (  # noqa: E402
    AccountProgress,
    NightlyReport,
    NightlyRequest,
    run_nightly,
)
from keel.api.services.seeding import SeedRequest, seed_book  # noqa: E402
from keel.app import App  # noqa: E402
from keel.settings import Settings  # noqa: E402


def phase_throughput(report: NightlyReport) -> list[tuple[str, float, int, str, float]]:
    """Per phase: seconds, what it processed (count and unit), and the book's accounts per
    second through that phase (the night's accounts / the phase's seconds)."""
    processed = {
        "score": (report.total, "accounts scored"),
        "review": (report.total - report.skipped, "accounts reviewed"),
        # The AI-led tier's sends may happen inside the reviews already: this is the night's.
        "deliver": (report.actions_sent, "actions sent in the night"),
        "outcomes": (
            report.interventions_recorded + report.outcomes_recorded,
            "interventions and outcomes recorded",
        ),
        "digest": (len(report.digests), "digest files"),
    }
    rows = []
    for name, seconds in report.phases.items():
        if name in ("total", "workers_start"):  # a wait inside the review phase
            continue
        count, unit = processed.get(name, (0, ""))
        rows.append((name, seconds, count, unit, report.total / max(seconds, 1e-9)))
    return rows


def print_phase_throughput(report: NightlyReport) -> None:
    print(f"{'phase':<10}{'seconds':>10}{'accounts/s':>14}  processed")
    for name, seconds, count, unit, per_second in phase_throughput(report):
        rate = f"{count / max(seconds, 1e-9):,.1f}/s" if count else "-"
        print(f"{name:<10}{seconds:>10.2f}{per_second:>14,.1f}  {count} {unit} ({rate})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Worker processes (keel nightly --workers); --concurrency accounts each.",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=None,
        help="Keep the seeded book here and reuse it on the next run with the same "
        "--accounts and --seed (seeding 10,000 accounts takes minutes); each run copies it "
        "into its scratch workspace, so the night always starts unreviewed.",
    )
    parser.add_argument(
        "--no-cap",
        action="store_true",
        help="Lift the policy's daily draft cap per CSM, so every account's plays are drafted "
        "(with the cap, most accounts of a large book are briefed only, which is faster).",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keel-bench-nightly-") as scratch:
        policy = None
        if args.no_cap:
            from keel.domain.policy import DEFAULT_POLICY_PATH

            policy = Path(scratch) / "policy.yaml"
            policy.write_text(
                DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
                    "daily_drafts_per_csm: 15", "daily_drafts_per_csm: null"
                ),
                encoding="utf-8",
            )
        data_dir = Path(scratch) / "keel-data"
        cached = args.book / f"book-{args.accounts}-{args.seed}" if args.book else None
        if cached is not None and cached.is_dir():
            shutil.copytree(cached, data_dir)
            print(f"book of {args.accounts} accounts copied from {cached}")
        settings = Settings(data_dir=data_dir, policy_path=policy)
        with App(settings=settings, use_vectors=False) as app:
            if cached is None or not cached.is_dir():
                started = time.perf_counter()
                seed_book(app, SeedRequest(accounts=args.accounts, seed=args.seed))
                print(
                    f"seeded {args.accounts} accounts in {time.perf_counter() - started:.1f}s",
                    flush=True,
                )
                if cached is not None:
                    app.engine.dispose()  # the SQLite files complete before the copy
                    shutil.copytree(data_dir, cached)
            timer = Timer()
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"load average before the night: {load} on {os.cpu_count()} cores")
            night_started = time.perf_counter()

            def on_account(p: AccountProgress) -> None:
                # A long night says how far it got (the figures come at its end).
                if (p.done + p.failed) % max(100, p.total // 20) == 0:
                    print(
                        f"  {p.done + p.failed} of {p.total} accounts after "
                        f"{time.perf_counter() - night_started:.0f}s of the night",
                        flush=True,
                    )

            report = run_nightly(
                app,
                NightlyRequest(
                    concurrency=args.concurrency, workers=args.workers, callbacks=[timer]
                ),
                progress=on_account,
            )
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"load average after the night: {load}")

    review = report.phases.get("review", 0.0)
    print(
        f"night of {report.as_of}: {report.done} of {report.total} accounts briefed, "
        f"{report.failed} failed, {report.capped} past the daily draft cap; "
        f"{report.drafts_proposed} drafts, {report.actions_sent} sent alone"
    )
    print(
        "phases: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.phases.items())
    )
    print_phase_throughput(report)
    print(
        f"accounts per second (offline model, {args.workers} process(es) x concurrency "
        f"{args.concurrency}): "
        f"{report.total / max(review, 1e-9):.2f} over the review phase, "
        f"{report.total / max(report.phases.get('total', 0.0), 1e-9):.2f} end to end"
    )
    tool, model_s = timer.totals["tool"], timer.totals["model"]
    if args.concurrency == 1 and args.workers == 1 and review > 0:
        outside = max(review - tool - model_s, 0.0)
        print(
            f"share of the review phase outside tool and model calls: {outside / review:.0%} "
            f"(tools {tool:.1f}s, model {model_s:.1f}s, the rest {outside:.1f}s)"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    if args.workers > 1:
        worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"peak resident memory of the largest worker process: {worker_mb:.0f} MB "
            f"(at most {peak_mb + args.workers * worker_mb:.0f} MB together)"
        )


if __name__ == "__main__":
    main()
