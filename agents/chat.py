"""The chat agent: a CSM's questions answered from the analyst's read-only tools, cited.

Two nodes of the chat graph live here (the graph itself is wired in
:mod:`keel.graphs.chat`):

- **agent**: LangChain's ``create_agent`` over the chat tools
  (:func:`keel.tools.book_tools.make_chat_tools`), with the per-turn context (who asks,
  the date, the account in focus) added to the system prompt by middleware and a bound
  on model calls. The conversation so far is its input, so follow-ups ("and their NPS?")
  are answered in context.
- **cite**: the citation check after the model, in code: every id cited in square brackets
  must be one a tool returned in this conversation; others are removed and counted, and a
  sentence that states a number without any valid citation is marked. Proposals the
  tools returned (``propose_draft``) are collected for the caller, which sends them down
  the review's approval path; nothing here writes or sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, NotRequired, TypedDict

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware, ModelRequest, dynamic_prompt
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from keel.agents.offline import step_config
from keel.agents.prompts import CHAT_CONTEXT, CHAT_FOCUS, CHAT_NO_FOCUS, CHAT_SYSTEM
from keel.tools.book_tools import TOOL_PROPOSE, BookScope

CHAT_STEP: Final = "chat"
# Model turns per question: the tools (in one or two rounds), a proposal, the answer.
MAX_CHAT_MODEL_CALLS: Final = 6
# The evidence kinds an answer may cite (what the tools' ids start with).
EVIDENCE_KINDS: Final = (
    "account",
    "cohort",
    "contact",
    "factor",
    "health",
    "invoice",
    "metric",
    "note",
    "nps",
    "renewal",
    "signal",
    "ticket",
)
_ID = re.compile(rf"^(?:{'|'.join(EVIDENCE_KINDS)}):[^\s,\[\]]+$")
_BRACKET = re.compile(r"\[([^\[\]\n]{1,400})\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*-])|\n+")
# A number a sentence states (not the digits inside an id such as ``acc-00001``).
_NUMBER = re.compile(r"(?<![\w-])\d")
UNSUPPORTED_MARK: Final = " [no source]"
NOTICE_PREFIXES: Final = ("_", "--", "(")


@dataclass(frozen=True)
class ChatContext(BookScope):
    """One chat turn's run context (LangGraph ``context=``): the CSM, the date, the account
    in focus, the run's budget, and the thread.

    Attributes:
        thread_id: The conversation's LangGraph thread.
        account_label: The focus account as the prompt names it ("Acme (A-1)").
    """

    thread_id: str | None = None
    account_label: str | None = None


class ChatState(TypedDict):
    """A conversation: its messages, the account in focus, and the last checked answer."""

    messages: Annotated[list[AnyMessage], add_messages]
    account_id: NotRequired[int | None]
    answer: NotRequired[dict[str, Any] | None]


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer after the citation check.

    Attributes:
        text: The answer with unknown citations removed and unsupported numbers marked.
        citations: The evidence ids it cites, in order, each one a tool returned.
        removed: Cited ids no tool returned (taken out of the text).
        unsupported: Sentences that state a number and cite nothing valid (marked).
        proposals: Actions the tools proposed this turn, for the approval path.
    """

    text: str
    citations: list[str]
    removed: list[str]
    unsupported: list[str]
    proposals: list[dict[str, Any]]

    def as_state(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": self.citations,
            "removed": self.removed,
            "unsupported": self.unsupported,
            "proposals": self.proposals,
        }


# --------------------------------------------------------------------------- the agent


def context_line(context: ChatContext) -> str:
    """The per-turn context added to the system prompt."""
    focus = (
        CHAT_FOCUS.format(
            account_name=context.account_label or context.account_id,
            external_id=context.account_label or context.account_id,
        )
        if context.account_id is not None
        else CHAT_NO_FOCUS
    )
    return CHAT_CONTEXT.format(user=context.user, as_of=context.as_of.isoformat(), focus=focus)


@dynamic_prompt
def _chat_prompt(request: ModelRequest) -> str:
    context = request.runtime.context
    if isinstance(context, ChatContext):
        return f"{CHAT_SYSTEM}\n\n{context_line(context)}"
    return CHAT_SYSTEM


def make_chat_agent(
    *, model: BaseChatModel, tools: Sequence[BaseTool]
) -> Callable[[ChatState, RunnableConfig, Runtime[ChatContext]], dict[str, Any]]:
    """The agent node: one question answered through the tool loop (built once)."""
    middleware: list[Any] = [
        _chat_prompt,
        ModelCallLimitMiddleware(run_limit=MAX_CHAT_MODEL_CALLS, exit_behavior="end"),
    ]
    agent: Any = create_agent(
        model,
        tools=list(tools),
        context_schema=ChatContext,
        middleware=middleware,
        # The chat graph checkpoints after this node; the loop keeps none of its own.
        checkpointer=False,
        name="chat_agent",
    )
    loop_config: RunnableConfig = {
        **step_config(CHAT_STEP),
        "configurable": {"__pregel_durability": "async"},
    }

    def chat_agent(
        state: ChatState, config: RunnableConfig, runtime: Runtime[ChatContext]
    ) -> dict[str, Any]:
        history = list(state["messages"])
        merged: RunnableConfig = {
            **config,
            "metadata": {**(config.get("metadata") or {}), **loop_config["metadata"]},
        }
        merged["configurable"] = {
            **(config.get("configurable") or {}),
            **loop_config["configurable"],
        }
        result = agent.invoke({"messages": history}, merged, context=runtime.context)
        known = {m.id for m in history if m.id}
        new = [m for m in result["messages"] if not m.id or m.id not in known]
        return {"messages": new}

    return chat_agent


# --------------------------------------------------------------------------- the check


def cite(state: ChatState) -> dict[str, Any]:
    """The cite node: the last answer checked against the conversation's tool results."""
    messages = list(state["messages"])
    answer = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    if answer is None or answer.tool_calls:
        text = "I could not finish an answer within this turn's limits; please ask again."
        checked = CheckedAnswer(text, [], [], [], [])
        return {"answer": checked.as_state()}
    checked = check_answer(
        message_text(answer),
        known=evidence_ids(messages),
        proposals=proposals_this_turn(messages),
    )
    update: dict[str, Any] = {"answer": checked.as_state()}
    if checked.text != message_text(answer):
        # Same id: the checked text replaces the model's in the thread's history.
        update["messages"] = [AIMessage(content=checked.text, id=answer.id)]
    return update


def check_answer(
    text: str, *, known: set[str], proposals: Sequence[dict[str, Any]] = ()
) -> CheckedAnswer:
    """``text`` with citations no tool returned removed and uncited numbers marked."""
    cited: list[str] = []
    removed: list[str] = []

    def keep(match: re.Match[str]) -> str:
        parts = [p.strip() for p in match.group(1).split(",")]
        if not any(_ID.match(p) or ":" in p for p in parts):
            return match.group(0)  # not a citation (a link label, a note)
        good = [p for p in parts if p in known]
        removed.extend(p for p in parts if p not in known)
        cited.extend(good)
        return f"[{', '.join(good)}]" if good else ""

    cleaned = _BRACKET.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    unsupported: list[str] = []
    lines = []
    for line in cleaned.split("\n"):
        lines.append(_mark_line(line, unsupported))
    return CheckedAnswer(
        text="\n".join(lines).strip(),
        citations=list(dict.fromkeys(cited)),
        removed=list(dict.fromkeys(removed)),
        unsupported=unsupported,
        proposals=list(proposals),
    )


def _mark_line(line: str, unsupported: list[str]) -> str:
    stripped = line.strip()
    # Headings and the lines that introduce a list state no fact of their own.
    if (
        not stripped
        or stripped.startswith(NOTICE_PREFIXES)
        or stripped.startswith("#")
        or stripped.endswith(":")
    ):
        return line
    # A list item is one claim (a quotation in it may hold several sentences).
    units = [line] if stripped.startswith(("- ", "* ")) else _SENTENCE.split(line)
    out = []
    for sentence in units:
        body = _BRACKET.sub("", sentence)
        if _NUMBER.search(body) and not _BRACKET.search(sentence):
            unsupported.append(sentence.strip())
            sentence = sentence.rstrip() + UNSUPPORTED_MARK
        out.append(sentence)
    return " ".join(out)


def evidence_ids(messages: Iterable[BaseMessage]) -> set[str]:
    """Every evidence id any tool returned in the conversation (what an answer may cite)."""
    found: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            _collect(_decode(message_text(message)), found)
    return found


def proposals_this_turn(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The proposals ``propose_draft`` returned since the last question."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    found = []
    for message in messages[start + 1 :]:
        if isinstance(message, ToolMessage) and message.name == TOOL_PROPOSE:
            data = _decode(message_text(message))
            if isinstance(data, dict) and data.get("proposed") and data.get("proposal"):
                found.append(dict(data["proposal"]))
    return found


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if _ID.match(value):
            found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)
