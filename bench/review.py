"""Benchmark the account review on the offline model: throughput and graph overhead.

    python bench/review.py [--accounts 100] [--seed 7]

1. Seeds a synthetic book (``keel.memory.synth.seed_book``) into a scratch SQLite database and
   scores it once (the health model, hypotheses and cohort matches for every account, as
   the nightly review does before it fans out); that one-off cost is printed apart.
2. Reviews every active account with the review graph on the offline model, compiled with
   the SQLite checkpointer and store and run with ``durability="sync"``: analyst (tool
   loop and briefing), planner, a draft per play, policy check, approval queue (the run
   stops at each interrupt), the executor for what the AI-led tier may send unapproved
   (dry-run outbox).
3. Prints accounts reviewed per second, and how the time splits between tool calls, model
   calls and everything else: graph scheduling, checkpoint and store writes, approval
   rows, policy checks and the executor (the graph and persistence overhead). Plays run
   one at a time here (``max_concurrency=1``) so the three shares add up to wall time.

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

from keel.agents.composers import offline_model  # noqa: E402
from keel.agents.context import ReviewDeps  # noqa: E402
from keel.agents.llm import model_label  # noqa: E402
from keel.domain.policy import load_policy  # noqa: E402
from keel.graphs.review import RECURSION_LIMIT, build_review_graph  # noqa: E402
from keel.graphs.runner import new_thread_id  # noqa: E402
from keel.memory.checkpoint import GRAPH_DURABILITY, open_persistence  # noqa: E402
from keel.memory.db import init_db, make_engine  # noqa: E402
from keel.memory.models import Account, LifecycleStage  # noqa: E402
from keel.settings import Settings  # noqa: E402
from keel.tools.account_intel import AccountIntel  # noqa: E402
from keel.tools.account_tools import AccountReader  # noqa: E402
from keel.tools.outbound.factory import adapters_from_settings  # noqa: E402
from keel.tools.signals import latest_data_date  # noqa: E402


class Timer(BaseCallbackHandler):
    """Sums the wall time of tool calls and chat-model calls, from LangChain callbacks."""

    def __init__(self) -> None:
        self.started: dict[UUID, tuple[str, float]] = {}
        self.totals = {"tool": 0.0, "model": 0.0}
        self.counts = {"tool": 0, "model": 0}
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

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._end(run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from sqlmodel import Session, col, select

    from keel.memory.synth import seed_book

    with tempfile.TemporaryDirectory(prefix="keel-bench-review-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "keel-data")
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        started = time.perf_counter()
        seed_book(engine, n_accounts=args.accounts, seed=args.seed)
        print(f"seeded {args.accounts} accounts in {time.perf_counter() - started:.1f}s")
        as_of = latest_data_date(engine)
        assert as_of is not None
        with Session(engine) as session:
            accounts = [
                a
                for a in session.exec(select(Account).order_by(col(Account.id))).all()
                if a.lifecycle_stage != LifecycleStage.CHURNED and a.arr > 0
            ]

        intel = AccountIntel(engine)
        started = time.perf_counter()
        intel.prefetch([a.id or 0 for a in accounts], as_of)
        scoring = time.perf_counter() - started
        print(f"scored the book and its hypotheses once in {scoring:.1f}s")

        model = offline_model()
        deps = ReviewDeps(
            engine=engine,
            settings=settings,
            policy=load_policy(),
            model_label=model_label(model),
            adapters=adapters_from_settings(settings, engine),
            as_of=as_of,
        )
        reader = AccountReader(engine, intel=intel)
        timer = Timer()
        with open_persistence(settings) as persistence:
            graph = build_review_graph(model=model, deps=deps, reader=reader).compile(
                checkpointer=persistence.checkpointer, store=persistence.store
            )
            paused = failed = 0
            started = time.perf_counter()
            for account in accounts:
                config: Any = {
                    "configurable": {"thread_id": new_thread_id(account.external_id)},
                    "recursion_limit": RECURSION_LIMIT,
                    "max_concurrency": 1,
                    "callbacks": [timer],
                }
                graph.invoke(
                    {"account_id": account.id, "as_of": as_of.isoformat()},
                    config,
                    durability=GRAPH_DURABILITY,
                )
                state = graph.get_state(config)
                paused += len(state.interrupts)
                failed += len(state.values.get("errors") or [])
            wall = time.perf_counter() - started

    tool, model_s = timer.totals["tool"], timer.totals["model"]
    other = max(wall - tool - model_s, 0.0)
    n = len(accounts)
    print(
        f"reviewed {n} active accounts in {wall:.1f}s: {paused} actions wait for approval, "
        f"{failed} step(s) failed"
    )
    print(f"accounts reviewed per second (offline model): {n / wall:.2f}")
    print(
        f"time in tool calls: {tool:.1f}s ({tool / wall:.0%}, {timer.counts['tool']} calls); "
        f"model calls: {model_s:.1f}s ({model_s / wall:.0%}, {timer.counts['model']} calls)"
    )
    print(
        f"share of time outside tool and model calls (graph and persistence overhead): "
        f"{other / wall:.0%} ({other:.1f}s, {1000 * other / max(n, 1):.0f} ms per account)"
    )


if __name__ == "__main__":
    main()
