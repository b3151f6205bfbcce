"""Benchmark the CSM chat on the offline model: time to first token and to the answer.

    python bench/chat.py [--accounts 30] [--seed 7] [--rounds 3]

Seeds a synthetic book into a scratch workspace, scores it once, then asks each question
type of the chat (account, book and call-prep questions) on one thread per round through
the chat service (``keel.api.services.chat.ask``) of one application object, and prints,
per question, the median time to the first streamed token, to the first tool, and to the
checked answer. Drafts are left out (they run a whole review). Nothing is asserted.

Not measured yet: the same on a local OpenAI-compatible server with a per-token delay, and
the share of the time outside model and tool calls.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

QUESTIONS = (
    "why is it at risk?",
    "what changed since last month?",
    "who is the champion and when did we last talk?",
    "what did they complain about?",
    "when is the renewal and what is it worth?",
    "and what about their NPS?",
    "prep me for my call with them",
    "which of my accounts renew next quarter and are at risk?",
    "where are my expansion openings?",
    "which accounts have gone quiet?",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sqlmodel import Session, col, select

    from keel.api.services.chat import ChatRequest, ask
    from keel.app import App
    from keel.memory.models import Account
    from keel.memory.synth import seed_book
    from keel.settings import Settings
    from keel.tools.account_intel import AccountIntel
    from keel.tools.signals import latest_data_date

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch) / "keel-data")
        with App(settings=settings, use_vectors=False) as app:
            started = time.perf_counter()
            seed_book(app.engine, n_accounts=args.accounts, seed=args.seed)
            day = latest_data_date(app.engine)
            assert day is not None
            AccountIntel(app.engine).snapshot(day)
            took = time.perf_counter() - started
            print(f"seeded and scored {args.accounts} accounts in {took:.1f} s")
            with Session(app.engine) as session:
                account = next(
                    a
                    for a in session.exec(select(Account).order_by(col(Account.id))).all()
                    if a.arr > 0
                )
            timings: dict[str, list[tuple[float, float, float]]] = {q: [] for q in QUESTIONS}
            for _ in range(args.rounds):
                thread: str | None = None
                for question in QUESTIONS:
                    start = time.perf_counter()
                    first_token = first_tool = done = 0.0
                    request = ChatRequest(
                        account.owner_csm,
                        question,
                        thread_id=thread,
                        account=None if thread else account.external_id,
                    )
                    for event in ask(app, request):
                        now = time.perf_counter() - start
                        if event.kind == "thread":
                            thread = event.text
                        elif event.kind == "tool" and not first_tool:
                            first_tool = now
                        elif event.kind == "token" and not first_token:
                            first_token = now
                        elif event.kind == "answer":
                            done = now
                    timings[question].append((first_tool, first_token, done))
    print(f"{'question':58} {'tool ms':>8} {'token ms':>9} {'answer ms':>10}")
    for question, rows in timings.items():
        tool, token, answer = (statistics.median(r[i] for r in rows) * 1000 for i in range(3))
        print(f"{question:58} {tool:8.0f} {token:9.0f} {answer:10.0f}")


if __name__ == "__main__":
    main()
