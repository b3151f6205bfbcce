"""The CSM chat: ask a question on a thread and stream the answer; read a thread back.

:func:`ask` runs one question through the chat graph (:mod:`keel.graphs.chat`) on the
application's checkpointer and yields :class:`ChatEvent` values as they happen: the
model's tokens (LangGraph's ``messages`` stream mode), each tool as it starts (``custom``),
the checked, cited answer (``updates`` of the cite node), then one ``action`` event per
draft the CSM asked for, once it waits in the approval queue. A web app relays the same
events as server-sent events; ``keel chat`` prints them.

The chat never sends or changes data: a proposal goes down the review's path
(:func:`keel.graphs.chat.propose_play`), ending in the approval queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from sqlmodel import Session

from keel.agents.budget import RunBudget
from keel.agents.chat import ChatContext, message_text
from keel.api.services.reviews import review_date, run_context
from keel.app import App
from keel.errors import KeelError
from keel.graphs.chat import Graph, new_chat_thread_id, propose_play
from keel.graphs.runner import new_thread_id
from keel.memory.models import Account
from keel.tools.account_tools import AccountNotFound, resolve_account

EventKind = Literal["thread", "token", "tool", "answer", "action", "error"]


@dataclass(frozen=True)
class ChatRequest:
    """One question.

    Attributes:
        user: The CSM asking (their ``owner_csm`` value: the book they may read).
        text: The question.
        thread_id: The conversation to continue; a new one when None.
        account: The account to talk about (external id, name or id); the thread's
            current one when None.
        as_of: The date to read as of; the latest data date when None.
    """

    user: str
    text: str
    thread_id: str | None = None
    account: str | None = None
    as_of: dt.date | None = None


@dataclass(frozen=True)
class ChatEvent:
    """Something that happened while answering.

    ``thread``: the thread id (first event). ``token``: a piece of the model's answer as
    written, before the citation check. ``tool``: a tool started (``text`` is its name).
    ``answer``: the checked answer (``text``; ``data`` has ``citations``, ``removed``,
    ``unsupported``, ``proposals``). ``action``: a proposal waiting for approval
    (``data``: ``action_id``, ``play``, ``account``, ``review_thread``) or refused by the
    policy (``data['reason']``). ``error``: the question could not be answered.
    """

    kind: EventKind
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatMessage:
    """One message of a thread as the CSM saw it."""

    role: Literal["user", "assistant"]
    text: str


def chat_graph(app: App) -> Graph:
    """The chat graph of ``app`` (compiled once per application object)."""
    return app.chat_graph


def _config(thread_id: str, user: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "user_id": user}}


def ask(app: App, request: ChatRequest) -> Iterator[ChatEvent]:
    """Answer ``request`` on its thread, yielding events as they happen.

    Raises nothing for a question it cannot serve: that is an ``error`` or a refusal in
    the answer.
    """
    graph = chat_graph(app)
    thread = request.thread_id or new_chat_thread_id(request.user)
    config = _config(thread, request.user)
    yield ChatEvent("thread", thread)
    previous = graph.get_state(config).values or {}
    try:
        account = _focus(app, request.account, previous.get("account_id"))
    except AccountNotFound as exc:
        yield ChatEvent("error", str(exc))
        return
    as_of = request.as_of or review_date(app)
    context = ChatContext(
        user=request.user,
        as_of=as_of,
        account_id=account.id if account else None,
        budget=RunBudget.from_settings(app.settings),
        thread_id=thread,
        account_label=f"{account.name} ({account.external_id})" if account else None,
    )
    state = {
        "messages": [HumanMessage(request.text)],
        "account_id": context.account_id,
        "answer": None,
    }
    answer: dict[str, Any] | None = None
    try:
        for _namespace, mode, data in graph.stream(
            state,
            config,
            context=context,
            stream_mode=["messages", "updates", "custom"],
            subgraphs=True,
        ):
            if mode == "messages":
                token = _token(data)
                if token:
                    yield ChatEvent("token", token)
            elif mode == "custom" and isinstance(data, dict) and data.get("tool"):
                yield ChatEvent("tool", str(data["tool"]), dict(data))
            elif mode == "updates" and isinstance(data, dict):
                checked = (data.get("cite") or {}).get("answer")
                if checked:
                    answer = checked
    except KeelError as exc:
        yield ChatEvent("error", str(exc))
        return
    if answer is None:
        yield ChatEvent("error", "the chat ended without an answer")
        return
    yield ChatEvent("answer", str(answer.get("text") or ""), dict(answer))
    for proposal in answer.get("proposals") or []:
        yield _propose(app, proposal, user=request.user, as_of=as_of)


def _token(data: Any) -> str:
    """The text of a model message chunk from the agent's model node (not tool output or
    the checked answer the cite node writes back)."""
    if not isinstance(data, tuple) or len(data) != 2:
        return ""
    message, metadata = data
    if not isinstance(message, AIMessage | AIMessageChunk) or message.tool_calls:
        return ""
    if (metadata or {}).get("langgraph_node") != "model":
        return ""
    return message_text(message)


def _focus(app: App, ref: str | None, current: int | None) -> Account | None:
    if ref:
        return resolve_account(app.engine, ref)
    if current is None:
        return None
    with Session(app.engine) as session:
        return session.get(Account, current)


def _propose(app: App, proposal: dict[str, Any], *, user: str, as_of: dt.date) -> ChatEvent:
    """Send one proposal down the review's path; report where it ended."""
    thread = new_thread_id(str(proposal["external_id"])) + ":chat"
    context = run_context(
        app, as_of=as_of, user=user, thread_id=thread, account_id=int(proposal["account_id"])
    )
    base = {"play": proposal["play"], "account": proposal["external_id"], "review_thread": thread}
    try:
        result = propose_play(
            app.review_graph, app.review_deps, proposal=proposal, context=context, thread_id=thread
        )
    except KeelError as exc:
        return ChatEvent("action", f"not proposed: {exc}", base | {"reason": str(exc)})
    if result.pending:
        pending = result.pending[0]
        return ChatEvent(
            "action",
            f"{proposal['play_title']} for {proposal['account_name']} waits for approval "
            f"(keel approvals show {pending.action_id})",
            base | {"action_id": pending.action_id, "status": "pending"},
        )
    dropped = (result.plan or {}).get("dropped") or []
    reason = "; ".join(str(d.get("reason")) for d in dropped) or "; ".join(
        str(e.get("error")) for e in result.errors
    )
    return ChatEvent(
        "action",
        f"not proposed: {reason or 'the review ended without a proposal'}",
        base | {"reason": reason},
    )


def history(app: App, thread_id: str) -> list[ChatMessage]:
    """The thread's questions and checked answers, oldest first (tool traffic left out)."""
    values = chat_graph(app).get_state({"configurable": {"thread_id": thread_id}}).values or {}
    out: list[ChatMessage] = []
    messages: list[BaseMessage] = list(values.get("messages") or [])
    for message in messages:
        if isinstance(message, HumanMessage):
            out.append(ChatMessage("user", message_text(message)))
        elif isinstance(message, AIMessage) and not message.tool_calls and message.content:
            out.append(ChatMessage("assistant", message_text(message)))
    return out


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class EvidenceRecord:
    """The record an evidence id names (what ``keel show ID`` prints)."""

    id: str
    kind: str
    account: str | None
    fields: dict[str, Any]


def evidence_record(app: App, evidence_id: str, *, account: str | None = None) -> EvidenceRecord:
    """The record behind ``evidence_id`` (``ticket:T-1``, ``note:N-1``, ``nps:P-1``,
    ``renewal:R-1``, ``invoice:I-1``, ``contact:C-1``, ``account:A-1``,
    ``health:A-1@2024-05-01``, or ``metric:NAME`` / ``signal:NAME`` with ``account``).

    Raises:
        KeelError: the id is malformed, or names nothing.
    """
    from sqlmodel import select

    from keel.memory.models import CallNote, Contact, Invoice, NpsResponse, Renewal, Ticket
    from keel.tools.account_intel import AccountIntel

    kind, _, key = evidence_id.partition(":")
    if not key:
        raise KeelError(f"'{evidence_id}' is not an evidence id (kind:id, e.g. ticket:T-1)")
    tables: dict[str, Any] = {
        "ticket": Ticket,
        "note": CallNote,
        "nps": NpsResponse,
        "renewal": Renewal,
        "invoice": Invoice,
        "contact": Contact,
        "account": Account,
    }
    intel = AccountIntel(app.engine)
    if kind in tables:
        with Session(app.engine) as session:
            row = session.exec(select(tables[kind]).where(tables[kind].external_id == key)).first()
            if row is None:
                raise KeelError(f"no {kind} with id {key}")
            owner = session.get(Account, getattr(row, "account_id", None) or row.id)
        fields = row.model_dump(mode="json")
        return EvidenceRecord(evidence_id, kind, owner.external_id if owner else None, fields)
    if kind == "health":
        ref, _, day = key.partition("@")
        found = resolve_account(app.engine, ref)
        when = dt.date.fromisoformat(day) if day else review_date(app)
        return EvidenceRecord(
            evidence_id, kind, found.external_id, intel.health(found.id or 0, when)
        )
    if kind in ("metric", "signal"):
        if not account:
            raise KeelError(f"{evidence_id} is the same metric for every account: add --account")
        found = resolve_account(app.engine, account)
        signals = intel.signals(found.id or 0, review_date(app))["signals"]
        match = next((s for s in signals if s["id"] == evidence_id), None)
        if match is None:
            raise KeelError(f"{found.external_id} has no {evidence_id} as of {review_date(app)}")
        return EvidenceRecord(evidence_id, kind, found.external_id, match)
    raise KeelError(
        f"unknown evidence kind '{kind}': ticket, note, nps, renewal, invoice, contact, "
        "account, health, metric, signal"
    )
