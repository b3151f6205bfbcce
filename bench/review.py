"""Benchmark the account review on the offline model: throughput and where the time goes.

    python bench/review.py [--accounts 100] [--seed 7] [--model-latency-ms 400]

1. Seeds a synthetic book into a scratch workspace and scores it once with the scoring job
   (``keel.api.services.scoring``): the health model, hypotheses and cohort matches of
   every account, as the nightly review does before it fans out; printed apart.
2. Reviews every active account through the review service
   (``keel.api.services.reviews.review_account``) of one application object, on the offline
   model, compiled with the SQLite checkpointer and store and run with
   ``durability="sync"``: analyst (tool loop and briefing), planner, a draft per play,
   policy check, approval queue (the run stops at each interrupt), the executor for what
   the AI-led tier may send unapproved (dry-run outbox). Plays run one at a time here
   (``max_concurrency=1``) so the shares add up to wall time.
3. Prints accounts reviewed per second and how the time splits, from LangChain callbacks:

   - tool calls and model calls;
   - Keel's own work inside the nodes (building facts, grounding the briefing, the quote,
     content and policy checks, the approval rows, the executor): node time minus the
     tool and model calls made inside it;
   - graph and persistence overhead: everything outside the nodes (LangGraph scheduling,
     checkpoint and store writes, the service's own reads).

   "Outside tool and model calls" is the last two together.

Nothing is asserted: the script prints figures. It runs in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402

from keel.api.services.reviews import review_account  # noqa: E402
from keel.api.services.scoring import score_book  # noqa: E402
from keel.api.services.seeding import SeedRequest, seed_book  # noqa: E402
from keel.app import App  # noqa: E402
from keel.settings import Settings  # noqa: E402

# The review graph's leaf nodes (the play subgraph's nodes included, not the subgraph).
NODES = frozenset({"analyst", "planner", "draft", "policy_check", "approval", "execute", "log"})


class Timer(BaseCallbackHandler):
    """Sums the wall time of tool calls, chat-model calls and graph nodes from callbacks."""

    def __init__(self, latency: float = 0.0) -> None:
        # A wait at the start of every chat-model call, counted as model time: a hosted
        # model's round trip (``--model-latency-ms``).
        self.latency = latency
        self.started: dict[UUID, tuple[str, float]] = {}
        self.totals = {"tool": 0.0, "model": 0.0, "node": 0.0}
        self.counts = {"tool": 0, "model": 0, "node": 0}
        self.lock = threading.Lock()

    def _start(self, kind: str, run_id: UUID) -> None:
        with self.lock:
            self.started[run_id] = (kind, time.perf_counter())

    def _end(self, run_id: UUID) -> None:
        with self.lock:
            found = self.started.pop(run_id, None)
            if found is not None:
                kind, at = found
                self.totals[kind] += time.perf_counter() - at
                self.counts[kind] += 1

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, **kw: Any) -> None:
        self._start("tool", run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self._start("model", run_id)
        if self.latency:
            time.sleep(self.latency)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        metadata = kw.get("metadata") or {}
        name = kw.get("name")
        if name in NODES and metadata.get("langgraph_node") == name:
            with self.lock:
                parent = self.started.get(kw.get("parent_run_id"))  # type: ignore[arg-type]
            if parent is None or parent[0] != "node":  # the node, not its inner callable
                self._start("node", run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)  # an approval interrupt ends its node this way


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--model-latency-ms",
        type=float,
        default=400.0,
        help="Also run with this wait per model call (0: offline figures only).",
    )
    args = parser.parse_args()

    latencies = [0.0] + ([args.model_latency_ms] if args.model_latency_ms > 0 else [])
    for latency_ms in latencies:
        run_pass(args.accounts, args.seed, latency_ms)


def run_pass(n_accounts: int, seed: int, latency_ms: float) -> None:
    """Seed and score a book in a scratch workspace, then review it and print the split.

    Each pass has a book of its own, so the second review of an account never meets the
    first one's pending actions.
    """
    from sqlmodel import Session, col, select

    from keel.memory.models import Account, LifecycleStage

    label = "offline model" if latency_ms == 0 else f"offline model + {latency_ms:.0f} ms per call"
    print(f"\n--- {label}")
    with tempfile.TemporaryDirectory(prefix="keel-bench-review-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "keel-data")
        with App(settings=settings, use_vectors=False) as app:
            started = time.perf_counter()
            seed_book(app, SeedRequest(accounts=n_accounts, seed=seed))
            print(f"seeded {n_accounts} accounts in {time.perf_counter() - started:.1f}s")
            with Session(app.engine) as session:
                accounts = [
                    a
                    for a in session.exec(select(Account).order_by(col(Account.id))).all()
                    if a.lifecycle_stage != LifecycleStage.CHURNED and a.arr > 0
                ]
            started = time.perf_counter()
            score_book(app)
            scoring = time.perf_counter() - started
            print(f"scored the book and its hypotheses once in {scoring:.1f}s")

            # The first review builds the model, compiles the graph and opens the
            # checkpointer (once per process); it is not counted.
            review_account(app, accounts[0].external_id, deliver=False)
            report(app, accounts[1:], latency_ms, label)


def report(app: App, accounts: list[Any], latency_ms: float, label: str) -> None:
    """Review ``accounts`` and print how the time splits."""
    timer = Timer(latency_ms / 1000)
    paused = failed = 0
    started = time.perf_counter()
    for account in accounts:
        run = review_account(
            app,
            account.external_id,
            deliver=False,
            callbacks=[timer],
            max_concurrency=1,
        )
        paused += len(run.result.pending)
        failed += len(run.result.errors)
    wall = time.perf_counter() - started
    tool, model_s, node = timer.totals["tool"], timer.totals["model"], timer.totals["node"]
    inside = max(node - tool - model_s, 0.0)
    graph = max(wall - node, 0.0)
    n = len(accounts)
    print(
        f"reviewed {n} active accounts in {wall:.1f}s: {paused} actions wait for approval, "
        f"{failed} step(s) failed"
    )
    print(f"accounts reviewed per second ({label}): {n / wall:.2f}")
    print(
        f"time in tool calls: {tool:.1f}s ({tool / wall:.0%}, {timer.counts['tool']} calls); "
        f"model calls: {model_s:.1f}s ({model_s / wall:.0%}, {timer.counts['model']} calls)"
    )
    print(
        f"Keel's own work inside the nodes (facts, grounding, quote/content/policy checks, "
        f"approval rows, executor): {inside:.1f}s ({inside / wall:.0%}, "
        f"{1000 * inside / max(n, 1):.0f} ms per account)"
    )
    print(
        f"graph and persistence overhead (scheduling, checkpoints, the service): "
        f"{graph:.1f}s ({graph / wall:.0%}, {1000 * graph / max(n, 1):.0f} ms per account)"
    )
    other = inside + graph
    print(
        f"share of time outside tool and model calls: {other / wall:.0%} "
        f"({other:.1f}s, {1000 * other / max(n, 1):.0f} ms per account)"
    )


if __name__ == "__main__":
    main()
