"""Benchmark the CSM chat: time to first token, to the checked answer, and the overhead.

    python bench/chat.py [--accounts 30] [--seed 7] [--rounds 3]
                         [--delay-ms 300] [--token-delay-ms 0] [--offline-only | --server-only]

Seeds a synthetic book into a scratch workspace and scores it once, then measures one chat
turn at a time through the chat service (``keel.api.services.chat.ask``) of one
application object, on one thread per round:

- **offline**: every question type on Keel's offline model;
- **server**: the real ``ChatOpenAI`` client against a local OpenAI-compatible server
  (``tests/openai_server.py``) that answers each model call after ``--delay-ms`` (and
  ``--token-delay-ms`` between streamed words): a tool call (``account_health``), then a
  cited answer of about 40 words, each turn on a new thread. Side by side: the **raw**
  ``ChatOpenAI`` calls to the same server with the same script and delays (the tool-call
  request, then the streamed answer), with nothing of Keel around them: the floor a chat
  turn cannot go below.

For each it prints the median time to the first streamed token, to the checked answer,
the time inside model calls and inside tool calls (callbacks on every LangChain run of the
turn; the tools run concurrently, so each is the union of its calls' intervals), and the
share of the turn outside both: the graph, checkpoints, streaming, the citation check.
Drafts are left out (they run a whole review). Nothing is asserted.

Measured on the shared 2-core development machine (other sessions running; medians):

- offline, 30 accounts, 3 rounds: first token 45 ms, checked answer 54 ms over all
  questions (expansion openings the slowest, 125 ms); model 4 ms, tools 27 ms, outside
  36 % (graph steps, SQLite checkpoints, the citation check).
- server, 300 ms per model call, no per-word delay, 7 rounds: the chat turn 661-684 ms to
  the answer (first token 647-665 ms) against 642-664 ms for the raw ChatOpenAI calls:
  about 20 ms more, 5 % of the turn outside model and tool calls.
- server, 300 ms per call and 20 ms per streamed word (3 rounds): 1,670 ms against
  1,655 ms raw (first token 654 against 640 ms), 1.6 % outside.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.tracers.context import register_configure_hook  # noqa: E402

if TYPE_CHECKING:
    from keel.app import App

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
SERVER_QUESTION = "why is it at risk?"
ANSWER_WORDS = 40


class Timing(BaseCallbackHandler):
    """Wall time inside model calls and inside tool calls (every run of the turn).

    The chat's tools run concurrently, so each kind's time is the length of the union of
    its calls' intervals, and the time outside is the turn minus the union of both.
    """

    def __init__(self) -> None:
        self.started: dict[UUID, float] = {}
        self.model: list[tuple[float, float]] = []
        self.tools: list[tuple[float, float]] = []

    def reset(self) -> None:
        self.started.clear()
        self.model.clear()
        self.tools.clear()

    @property
    def model_s(self) -> float:
        return covered(self.model)

    @property
    def tool_s(self) -> float:
        return covered(self.tools)

    @property
    def inside_s(self) -> float:
        return covered([*self.model, *self.tools])

    def _end(self, run_id: UUID, into: list[tuple[float, float]]) -> None:
        if run_id in self.started:
            into.append((self.started.pop(run_id), time.perf_counter()))

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **_: Any
    ) -> None:
        self.started[run_id] = time.perf_counter()

    def on_llm_end(self, response: Any, *, run_id: UUID, **_: Any) -> None:
        self._end(run_id, self.model)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        self._end(run_id, self.model)

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, **_: Any) -> None:
        self.started[run_id] = time.perf_counter()

    def on_tool_end(self, output: Any, *, run_id: UUID, **_: Any) -> None:
        self._end(run_id, self.tools)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        self._end(run_id, self.tools)


def covered(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of ``intervals``."""
    total = 0.0
    end = float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


# Every callback manager configured while this is set gets the handler (as tracers do).
_TIMING: ContextVar[Timing | None] = ContextVar("keel_bench_chat_timing", default=None)
register_configure_hook(_TIMING, inheritable=True)


@contextmanager
def timed(handler: Timing) -> Iterator[Timing]:
    token = _TIMING.set(handler)
    try:
        yield handler
    finally:
        _TIMING.reset(token)


@dataclass(frozen=True)
class Turn:
    first_token_s: float
    total_s: float
    model_s: float
    tool_s: float
    inside_s: float

    @property
    def outside_share(self) -> float:
        return max(0.0, self.total_s - self.inside_s) / self.total_s


def chat_turn(app: App, request: Any, handler: Timing) -> tuple[Turn, str]:
    """One question through the chat service: its timings and its thread."""
    from keel.api.services.chat import ask

    handler.reset()
    thread = ""
    first_token = done = 0.0
    start = time.perf_counter()
    with timed(handler):
        for event in ask(app, request):
            now = time.perf_counter() - start
            if event.kind == "thread":
                thread = event.text
            elif event.kind == "token" and not first_token:
                first_token = now
            elif event.kind == "answer":
                done = now
            elif event.kind == "error":
                raise SystemExit(f"the chat failed: {event.text}")
    turn = Turn(first_token, done, handler.model_s, handler.tool_s, handler.inside_s)
    return turn, thread


def summarise(label: str, turns: list[Turn]) -> str:
    def median(get: Callable[[Turn], float]) -> float:
        return statistics.median(get(t) for t in turns)

    return (
        f"{label:58} {median(lambda t: t.first_token_s) * 1000:9.0f} "
        f"{median(lambda t: t.total_s) * 1000:9.0f} {median(lambda t: t.model_s) * 1000:9.0f} "
        f"{median(lambda t: t.tool_s) * 1000:8.0f} {median(lambda t: t.outside_share):8.1%}"
    )


HEADER = f"{'':58} {'token ms':>9} {'answer ms':>9} {'model ms':>9} {'tool ms':>8} {'outside':>8}"


def run_offline(app: App, account: Any, rounds: int) -> None:
    from keel.api.services.chat import ChatRequest

    handler = Timing()
    turns: dict[str, list[Turn]] = {q: [] for q in QUESTIONS}
    for _ in range(rounds):
        thread: str | None = None
        for question in QUESTIONS:
            request = ChatRequest(
                account.owner_csm,
                question,
                thread_id=thread,
                account=None if thread else account.external_id,
            )
            turn, thread = chat_turn(app, request, handler)
            turns[question].append(turn)
    print("\noffline model (median of each question over the rounds)")
    print(HEADER)
    for question, rows in turns.items():
        print(summarise(question, rows))
    print(summarise("all questions", [t for rows in turns.values() for t in rows]))


def run_server(app_for: Callable[[str], Any], account: Any, args: argparse.Namespace) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    from keel.api.services.chat import ChatRequest
    from keel.tools.signals import latest_data_date
    from tests.openai_server import OpenAIScript, Reply, serve

    delay = args.delay_ms / 1000
    pace = args.token_delay_ms / 1000
    with serve(OpenAIScript()) as server:
        with app_for(server.base_url) as app:
            day = latest_data_date(app.engine)
            cited = f"health:{account.external_id}@{day}"
            words = " ".join(["the", "health", "score"] * (ANSWER_WORDS // 3))
            text = f"Its health is in the tool result [{cited}]. {words}"

            def push() -> None:
                server.script.push(
                    Reply(tool_calls=[("account_health", {})], delay_s=delay),
                    Reply(content=text, delay_s=delay, token_delay_s=pace),
                )

            handler = Timing()
            keel_turns: list[Turn] = []
            request = ChatRequest(account.owner_csm, SERVER_QUESTION, account=account.external_id)
            push()
            chat_turn(app, request, handler)  # warm-up: graph, client, connections
            for _ in range(args.rounds):
                push()
                turn, _thread = chat_turn(app, request, handler)
                keel_turns.append(turn)

        client = ChatOpenAI(
            model="bench-model", base_url=server.base_url, api_key="not-used", max_retries=0
        )
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "account_health",
                    "description": "An account's health.",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ]
        raw_turns: list[Turn] = []
        for index in range(args.rounds + 1):
            push()
            start = time.perf_counter()
            question = [HumanMessage(SERVER_QUESTION)]
            call = client.bind_tools(tools).invoke(question)
            first_token = 0.0
            result = ToolMessage(content="{}", tool_call_id=call.tool_calls[0]["id"])
            for chunk in client.stream([*question, call, result]):
                if chunk.content and not first_token:
                    first_token = time.perf_counter() - start
            total = time.perf_counter() - start
            if index:  # the first is the warm-up
                raw_turns.append(Turn(first_token, total, total, 0.0, total))
    print(
        f"\nlocal OpenAI-compatible server, {args.delay_ms:g} ms per model call, "
        f"{args.token_delay_ms:g} ms per streamed word, {ANSWER_WORDS}-word answer "
        f"(median of {args.rounds}; 2 model calls and 1 tool call per turn)"
    )
    print(HEADER)
    print(summarise("keel chat turn (ChatOpenAI inside the chat graph)", keel_turns))
    print(summarise("raw ChatOpenAI: the same two calls, nothing around them", raw_turns))
    keel_total = statistics.median(t.total_s for t in keel_turns)
    raw_total = statistics.median(t.total_s for t in raw_turns)
    print(f"keel chat turn minus the raw calls: {(keel_total - raw_total) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=300.0, help="per model call")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="per streamed word")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--offline-only", action="store_true")
    only.add_argument("--server-only", action="store_true")
    args = parser.parse_args()

    from sqlmodel import Session, col, select

    from keel.app import App
    from keel.memory.models import Account
    from keel.memory.synth import seed_book
    from keel.settings import Settings
    from keel.tools.account_intel import AccountIntel
    from keel.tools.signals import latest_data_date

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "keel-data"
        with App(settings=Settings(data_dir=data_dir), use_vectors=False) as app:
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
            if not args.server_only:
                run_offline(app, account, args.rounds)

        def app_for(base_url: str) -> App:
            settings = Settings(
                data_dir=data_dir,
                llm_base_url=base_url,
                llm_model="bench-model",
                llm_timeout_s=30.0,
                llm_max_retries=0,
            )
            return App(settings=settings, use_vectors=False)

        if not args.offline_only:
            run_server(app_for, account, args)


if __name__ == "__main__":
    main()
