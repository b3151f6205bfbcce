"""Running review threads: start a review, list what waits for approval, answer it.

The client side of :mod:`graphs.review`, shared by the CLI, the API and the nightly run.
Every call runs the graph with ``durability="sync"``. A reviewer's decision is recorded in
the approvals table *before* the thread is resumed: of two reviewers deciding one action at
once, exactly one is recorded and resumes the thread, the other gets ``ConflictError``
(HTTP 409) and resumes nothing. The approval node recognises the recorded decision when it
runs again and does not record it twice.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain.agents.middleware.human_in_the_loop import DecisionType, HITLRequest
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlmodel import Session

from agents.composers import register_composers
from agents.context import ReviewDeps
from agents.schemas import Briefing
from graphs.approval import (
    ReviewDecision,
    action_name,
    make_response,
    record_decision,
    to_decision,
    validate_response,
)
from graphs.review import RECURSION_LIMIT, build_review_graph
from graphs.state import ActionOutcome, StepError
from keel.errors import ConflictError, KeelError
from memory.actions import ActionStatus, ProposedAction, get_action, list_decisions
from memory.checkpoint import GRAPH_DURABILITY, Persistence, open_persistence

if TYPE_CHECKING:
    from keel.runtime import Runtime

Graph = CompiledStateGraph[Any, Any, Any, Any]

# One resume at a time per thread in this process: two reviewers answering two actions of
# the same review at once would otherwise both continue from the same checkpoint.
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(thread_id: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(thread_id, threading.Lock())


@dataclass(frozen=True)
class PendingApproval:
    """One interrupt waiting for a reviewer: the HITL request and the action it is about."""

    thread_id: str
    interrupt_id: str
    action_id: str
    request: HITLRequest

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.request["action_requests"][0]["args"])

    @property
    def description(self) -> str:
        return str(self.request["action_requests"][0].get("description", ""))


@dataclass(frozen=True)
class ReviewResult:
    """Where one review thread stands."""

    thread_id: str
    account_id: int
    briefing: Briefing | None
    plan: dict[str, Any] | None
    outcomes: list[ActionOutcome]
    errors: list[StepError]
    pending: list[PendingApproval] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.pending


@dataclass
class ReviewSession:
    """A compiled review graph with its persistence and dependencies."""

    graph: Graph
    deps: ReviewDeps
    persistence: Persistence


def thread_config(thread_id: str, *, user: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if user:
        configurable["user_id"] = user
    return {"configurable": configurable, "recursion_limit": RECURSION_LIMIT}


def new_thread_id(account_external_id: str) -> str:
    return f"review:{account_external_id}:{uuid.uuid4().hex[:12]}"


def compile_review_graph(
    *, model: BaseChatModel, deps: ReviewDeps, persistence: Persistence
) -> Graph:
    register_composers()
    builder = build_review_graph(model=model, deps=deps)
    return builder.compile(checkpointer=persistence.checkpointer, store=persistence.store)


@contextmanager
def open_review_session(
    runtime: Runtime,
    *,
    model: BaseChatModel | None = None,
    use_vectors: bool | None = None,
    adapters: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    checkpoint_url: str | None = None,
) -> Iterator[ReviewSession]:
    """Build everything a review needs from a runtime (the composition root).

    Args:
        runtime: Settings, engine, vector store (loaded only if used).
        model: The chat model; :func:`review_model` when None.
        use_vectors: Search evidence in the vector store; by default when an index exists.
        adapters: Outbound adapters; from settings when None.
        as_of: Review date; the latest data date when None.
        checkpoint_url: Where checkpoints live; from settings when None.
    """
    from agents.llm import model_label
    from agents.policy import policy_from_settings
    from tools.outbound.factory import adapters_from_settings
    from tools.signals import latest_data_date

    settings = runtime.settings
    engine = runtime.engine
    if use_vectors is None:
        use_vectors = settings.chroma_url is not None or settings.chroma_path.exists()
    if model is None:
        model = review_model(runtime, use_vectors=use_vectors)
    deps = ReviewDeps(
        engine=engine,
        settings=settings,
        policy=policy_from_settings(settings),
        model_label=model_label(model),
        vector_store=runtime.vector_store if use_vectors else None,
        adapters=dict(adapters)
        if adapters is not None
        else adapters_from_settings(settings, engine),
        as_of=as_of or latest_data_date(engine),
    )
    with ExitStack() as stack:
        persistence = stack.enter_context(open_persistence(settings, url=checkpoint_url))
        graph = compile_review_graph(model=model, deps=deps, persistence=persistence)
        yield ReviewSession(graph=graph, deps=deps, persistence=persistence)


def review_model(runtime: Runtime, *, use_vectors: bool) -> BaseChatModel:
    """The configured OpenAI-compatible model, else the offline model.

    Offline, the embedding model is handed over only when it is loaded anyway (the vector
    store is in use): the analyst calls every tool it has, so a review needs no semantic
    tool choice, and loading the model for it would cost seconds per command.
    """
    from agents.llm import make_chat_model
    from agents.offline import OfflineChatModel

    if runtime.settings.llm_configured:
        return make_chat_model(runtime.settings)
    return OfflineChatModel(embedder=runtime.embedder) if use_vectors else OfflineChatModel()


# ------------------------------------------------------------------------------ running


def start_review(
    graph: Graph, *, account_id: int, thread_id: str, as_of: dt.date | None = None
) -> ReviewResult:
    """Run a review until it finishes or pauses for approval."""
    state: dict[str, Any] = {"account_id": account_id}
    if as_of is not None:
        state["as_of"] = as_of.isoformat()
    graph.invoke(state, thread_config(thread_id), durability=GRAPH_DURABILITY)
    return review_result(graph, thread_id)


def continue_review(graph: Graph, thread_id: str) -> ReviewResult:
    """Finish work a crashed process left in a thread (e.g. an approved action not sent)."""
    with _thread_lock(thread_id):
        graph.invoke(None, thread_config(thread_id), durability=GRAPH_DURABILITY)
    return review_result(graph, thread_id)


def review_result(graph: Graph, thread_id: str) -> ReviewResult:
    snapshot = graph.get_state(thread_config(thread_id))
    values = snapshot.values or {}
    if not values:
        raise KeelError(f"no review thread '{thread_id}'")
    briefing = values.get("briefing")
    return ReviewResult(
        thread_id=thread_id,
        account_id=int(values.get("account_id") or 0),
        briefing=Briefing.model_validate(briefing) if briefing else None,
        plan=values.get("plan"),
        outcomes=list(values.get("outcomes") or []),
        errors=list(values.get("errors") or []),
        pending=pending_approvals(graph, thread_id),
    )


def pending_approvals(graph: Graph, thread_id: str) -> list[PendingApproval]:
    """Interrupts of the thread waiting for a decision, one per proposed action."""
    snapshot = graph.get_state(thread_config(thread_id))
    found: list[PendingApproval] = []
    for item in snapshot.interrupts:
        value = item.value
        if not isinstance(value, dict) or "action_requests" not in value:
            continue
        request = cast(HITLRequest, value)
        args = request["action_requests"][0]["args"]
        found.append(
            PendingApproval(
                thread_id=thread_id,
                interrupt_id=item.id,
                action_id=str(args.get("action_id")),
                request=request,
            )
        )
    return found


def decide_action(
    graph: Graph,
    engine: Any,
    *,
    action_id: str,
    kind: DecisionType,
    user: str,
    message: str | None = None,
    edited_args: Mapping[str, Any] | None = None,
) -> ReviewResult:
    """Record a reviewer's decision on one action, then resume its thread.

    Raises:
        ValidationFailed: the decision is malformed (nothing recorded).
        ConflictError: the action was already decided by someone else (nothing resumed).
        KeelError: the action's review is not waiting for it.
    """
    with Session(engine) as session:
        action = get_action(session, action_id=action_id)
        session.expunge(action)
    response = make_response(
        kind, user=user, message=message, edited_args=edited_args, name=action_name(action.channel)
    )
    validated = validate_response(response, action=action)
    decision = to_decision(validated, default_user=user)
    pending = next(
        (p for p in pending_approvals(graph, action.thread_id) if p.action_id == action_id), None
    )
    # --- store failures (issue 24): a thread whose checkpoint is gone cannot be resumed;
    # decide from the action row alone. See graphs/orphans.py.
    from graphs.orphans import decide_orphan, thread_is_gone

    if pending is None and thread_is_gone(graph, action.thread_id):
        return decide_orphan(engine, action, decision).review
    # --- end of the issue 24 hook
    if pending is None:
        return _resume_unfinished(graph, engine, action, decision)
    # Recorded before resuming: a concurrent second decision fails here and resumes nothing.
    record_decision(engine, action, decision)
    with _thread_lock(action.thread_id):
        graph.invoke(
            Command(resume={pending.interrupt_id: validated}),
            thread_config(action.thread_id, user=user),
            durability=GRAPH_DURABILITY,
        )
    return review_result(graph, action.thread_id)


def _resume_unfinished(
    graph: Graph, engine: Any, action: ProposedAction, decision: ReviewDecision
) -> ReviewResult:
    """The action is not waiting: it was decided already. If this reviewer made the same
    decision and its thread has unfinished work (a crash before the send), finish it."""
    with Session(engine) as session:
        current = get_action(session, action_id=action.id)
        trail = list_decisions(session, action_id=action.id)
        status = current.status
    last = trail[-1] if trail else None
    same = last is not None and last.decision == decision.type and last.user == decision.user
    unfinished = bool(graph.get_state(thread_config(action.thread_id)).next)
    if same and unfinished and status != ActionStatus.SENT:
        return continue_review(graph, action.thread_id)
    if last is not None:
        raise ConflictError(
            f"action {action.id} is already {status} by {last.user} ({last.decision})"
        )
    raise KeelError(f"action {action.id} is {status} and its review is not waiting for a decision")
