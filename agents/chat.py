"""The chat agent: a CSM's questions answered from the analyst's read-only tools, cited.

Two nodes of the chat graph live here (the graph itself is wired in
:mod:`keel.graphs.chat`):

- **agent**: LangChain's ``create_agent`` over the chat tools
  (:func:`keel.tools.book_tools.make_chat_tools`), with the per-turn context (who asks,
  the date, the account in focus) added to the system prompt by middleware and a bound
  on model calls. The conversation so far is its input, so follow-ups ("and their NPS?")
  are answered in context.
- **cite**: the citation check after the model, in code: every id cited in square brackets
  must be one a tool returned in this conversation, name a record of the asking CSM's book,
  and support its sentence (each number the sentence states is in a cited record, its key
  terms overlap theirs, customer-written text counts only for a quotation). Ids that fail
  are removed with the reason; a sentence left with no valid source is dropped; a sentence
  that states a number and cites nothing is marked. Proposals the
  tools returned (``propose_draft``) are collected for the caller, which sends them down
  the review's approval path; nothing here writes or sends.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, NotRequired, TypedDict

import openai
from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentState,
    ModelCallLimitMiddleware,
    ModelRequest,
    after_model,
    dynamic_prompt,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from keel.agents.offline import step_config
from keel.agents.prompts import CHAT_CONTEXT, CHAT_FOCUS, CHAT_NO_FOCUS, CHAT_SYSTEM
from keel.tools.book_tools import TOOL_PROPOSE, BookScope
from keel.tools.outbound.content import markup_spans

logger = logging.getLogger(__name__)

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
# What the CSM reads when a turn ends without an answer (the thread stays usable).
NO_ANSWER: Final = (
    "I could not finish an answer to this question: {why}. Nothing was changed; ask again, "
    "or ask it another way."
)
# What ModelCallLimitMiddleware writes when the turn's model calls run out.
_LIMIT_PREFIX: Final = "Model call limits exceeded"
NOTICE_PREFIXES: Final = ("_", "--", "(")
DROPPED_NOTICE: Final = (
    "_({count} sentence(s) removed: the records they cited do not say what they said.)_"
)
# A sentence's key terms the records it cites must share, at least (and at least one).
MIN_TERM_SHARE: Final = 0.25
# A number as a sentence states it: a date, or digits with thousands commas, decimals, %.
_STATED_NUMBER = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})|(?P<num>\d[\d,]*(?:\.\d+)?)(?P<pct>\s?%)?"
)
_RECORD_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Customer-written text in a tool result (JSON-escaped, lowercased); quotation marks.
_CUSTOMER_TEXT = re.compile(r"<customer_content[^>]*>.*?</customer_content>", re.DOTALL)
_QUOTE_MARKS = re.compile(r"[\u201c\u201d\u00ab\u00bb\"]")
_WORDS = re.compile(r"[a-z][a-z']{2,}")
_STEM: Final = 5
_STOPWORD_TEXT: Final = """the and for with that this these those their they them its it's was were
has have had are been being from into over not but all any our your you his her who whom what
when which where why how than then also there here one two some more most less very just only
about after before since while per via out off can could would should will may might does did
doing done said says say tell told"""
_STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())
# Words of the answer's frame, not of its claim: they prove nothing about a record.
_FRAMING_TEXT: Final = """account accounts customer customers record records tool tools result
results source sources data evidence cited"""
_FRAMING: Final = frozenset(w[:_STEM] for w in _FRAMING_TEXT.split())


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
        removed: Cited ids taken out of the text: no tool returned them, the asking CSM may
            not cite them, or they do not support their sentence (``why`` says which).
        unsupported: Sentences that state a number and cite nothing (marked).
        proposals: Actions the tools proposed this turn, for the approval path.
        dropped: Sentences taken out: every source they cited was removed.
        why: Why each removed id was removed.
    """

    text: str
    citations: list[str]
    removed: list[str]
    unsupported: list[str]
    proposals: list[dict[str, Any]]
    dropped: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)

    def as_state(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": self.citations,
            "removed": self.removed,
            "unsupported": self.unsupported,
            "proposals": self.proposals,
            "dropped": self.dropped,
            "why": self.why,
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


@after_model(can_jump_to=["model"])
def _retry_malformed_calls(state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
    """A tool call the model wrote with arguments that are not a JSON object (LangChain's
    ``invalid_tool_calls``) gets an error result saying so, in the thread; when it was the
    model's only call, the model is asked again (the model-call limit bounds the retries)
    instead of the turn ending on an empty answer."""
    del runtime
    last = state["messages"][-1] if state["messages"] else None
    if not isinstance(last, AIMessage) or not last.invalid_tool_calls:
        return None
    errors = [
        ToolMessage(
            content=(
                f"Error: the call to {call.get('name') or 'a tool'} could not be run: its "
                "arguments are not a JSON object matching the tool's parameters. Call it "
                "again with valid arguments, or answer from the results you have."
            ),
            name=call.get("name") or "unknown",
            tool_call_id=call["id"],
            status="error",
        )
        for call in last.invalid_tool_calls
        if call.get("id")
    ]
    if last.tool_calls:
        return {"messages": errors}  # the valid calls run; the model sees both results
    return {"messages": errors, "jump_to": "model"}


def make_chat_agent(
    *, model: BaseChatModel, tools: Sequence[BaseTool]
) -> Callable[[ChatState, RunnableConfig, Runtime[ChatContext]], dict[str, Any]]:
    """The agent node: one question answered through the tool loop (built once)."""
    middleware: list[Any] = [
        _chat_prompt,
        _retry_malformed_calls,
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
        try:
            result = agent.invoke({"messages": history}, merged, context=runtime.context)
        except (ValueError, openai.APIError) as exc:
            # A reply the client could not read (a malformed body or stream): the turn ends
            # with a plain answer saying so, and the thread goes on from there.
            logger.warning("chat model reply could not be read: %s", exc)
            why = "the model's reply was malformed and could not be read"
            return {"messages": [AIMessage(content=NO_ANSWER.format(why=why))]}
        known = {m.id for m in history if m.id}
        new = [m for m in result["messages"] if not m.id or m.id not in known]
        return {"messages": new}

    return chat_agent


# --------------------------------------------------------------------------- the check

# Who may cite what: the reason ``user`` may not cite ``evidence_id`` (it names no record,
# or a record of another CSM's account), or None when they may.
ScopeCheck = Callable[[str, str], str | None]


@dataclass(frozen=True)
class Evidence:
    """What the tools said about one evidence id: the records that carried it.

    Customer-written text (inside ``<customer_content>`` blocks) supports a sentence only
    as a quotation: a claim in the analyst's own voice needs the records' own fields.

    Attributes:
        text: The records (JSON), lowercased.
        numbers: Every number in them (absolute values).
        terms: Their words, stemmed (field names included: they say what a value is).
        own_numbers: The numbers outside customer-written text.
        own_terms: The words outside customer-written text.
    """

    text: str
    numbers: tuple[float, ...]
    terms: frozenset[str]
    own_numbers: tuple[float, ...]
    own_terms: frozenset[str]

    @classmethod
    def of(cls, records: Iterable[str]) -> Evidence:
        text = "\n".join(dict.fromkeys(records)).lower()
        own = _CUSTOMER_TEXT.sub(" ", text)
        return cls(
            text=text,
            numbers=_record_numbers(text),
            terms=frozenset(_stems(text)),
            own_numbers=_record_numbers(own),
            own_terms=frozenset(_stems(own)),
        )

    def said(self, *, quoted: bool) -> tuple[tuple[float, ...], frozenset[str]]:
        """The numbers and terms that may support a sentence (quoting customer text or not)."""
        return (self.numbers, self.terms) if quoted else (self.own_numbers, self.own_terms)


def _record_numbers(text: str) -> tuple[float, ...]:
    return tuple(abs(float(m.replace(",", ""))) for m in _RECORD_NUMBER.findall(text))


# Evidence the citation check knows: ids alone (existence only) or ids with their records.
Known = set[str] | Mapping[str, Evidence | None]


def make_cite(scope: ScopeCheck | None = None) -> Callable[..., dict[str, Any]]:
    """The cite node: the last answer checked against the conversation's tool results and,
    with ``scope``, against what the asking CSM may read."""

    def cite_node(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
        context = runtime.context
        user = context.user if isinstance(context, ChatContext) else None
        check = (lambda ident: scope(ident, user)) if scope and user else None
        return cite(state, scope=check)

    return cite_node


def cite(state: ChatState, *, scope: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """The last answer checked against the conversation's tool results."""
    messages = list(state["messages"])
    answer = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    why = _no_answer(answer, messages)
    if why is not None:
        text = NO_ANSWER.format(why=why)
        checked = CheckedAnswer(text, [], [], [], [])
        update: dict[str, Any] = {"answer": checked.as_state()}
        if answer is not None and not answer.tool_calls:
            # The thread keeps the plain answer in place of an empty or limit message.
            update["messages"] = [AIMessage(content=text, id=answer.id)]
        return update
    assert answer is not None  # _no_answer said there is one
    checked = check_answer(
        message_text(answer),
        known=evidence_records(messages),
        proposals=proposals_this_turn(messages),
        scope=scope,
    )
    update = {"answer": checked.as_state()}
    if checked.text != message_text(answer):
        # Same id: the checked text replaces the model's in the thread's history.
        update["messages"] = [AIMessage(content=checked.text, id=answer.id)]
    return update


def _no_answer(answer: AIMessage | None, messages: Sequence[BaseMessage]) -> str | None:
    """Why the turn ended without an answer to check, or None when it has one."""
    if answer is not None and message_text(answer).startswith(NO_ANSWER.split(":", 1)[0]):
        return None  # the agent node's own plain answer
    text = message_text(answer).strip() if answer is not None else ""
    if answer is not None and text and not answer.tool_calls and not text.startswith(_LIMIT_PREFIX):
        return None
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    failed = [
        f"{m.name or 'a tool'}: {_tool_error(message_text(m))}"
        for m in messages[start + 1 :]
        if isinstance(m, ToolMessage) and m.status == "error"
    ]
    if failed:
        shown = "; ".join(dict.fromkeys(failed[-3:]))
        return f"the model's tool calls failed ({shown})"
    if text.startswith(_LIMIT_PREFIX) or (answer is not None and answer.tool_calls):
        return "the model did not finish within this turn's limit of model calls"
    return "the model returned an empty answer"


def _tool_error(text: str) -> str:
    if "not a valid tool" in text:
        return "no such tool"
    if "not a JSON object" in text or "malformed" in text:
        return "malformed arguments"
    return "arguments of the wrong type"


def check_answer(
    text: str,
    *,
    known: Known,
    proposals: Sequence[dict[str, Any]] = (),
    scope: Callable[[str], str | None] | None = None,
) -> CheckedAnswer:
    """``text`` after the citation check.

    A cited id no tool returned, or one ``scope`` rules out, is removed. When ``known``
    carries the records behind each id, every sentence that cites must also be supported
    by what it cites: each number it states appears in a cited record (a percentage may
    be a cited fraction, a count may be the number of ids it cites) and its key terms
    overlap theirs. A sentence whose citations all fail is dropped from the answer (it
    claimed a source and has none); a cited id that supports nothing in its sentence is
    removed. A sentence that states a number and cites nothing is marked.
    """
    check = _Check(known, scope)
    # No image, HTML or markdown link stays live in what the CSM's chat renders: a ticket's
    # tracking pixel quoted in an answer would otherwise load (the eval's NPS-image case).
    text = _inert_markup(text)
    lines = [check.line(line) for line in text.split("\n")]
    kept = "\n".join(line for line in lines if line is not None)
    kept = re.sub(r"[ \t]+([.,;:])", r"\1", kept).strip()
    if check.dropped:
        kept = (kept + "\n" if kept else "") + DROPPED_NOTICE.format(count=len(check.dropped))
    return CheckedAnswer(
        text=kept,
        citations=list(dict.fromkeys(check.cited)),
        removed=list(check.why),
        unsupported=check.unsupported,
        proposals=list(proposals),
        dropped=check.dropped,
        why=dict(check.why),
    )


def _inert_markup(text: str) -> str:
    """``text`` with HTML, markdown images and links replaced as the outbound content
    check replaces them (``[image removed]``, ``[html removed]``, a link's text)."""
    spans = sorted(markup_spans(text), key=lambda m: (m.start, -(m.end - m.start)))
    out: list[str] = []
    pos = 0
    for span in spans:
        if span.start < pos:
            continue  # inside one already replaced
        out += [text[pos : span.start], span.replacement]
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


class _Check:
    """One answer's check: what it kept, removed, dropped and marked."""

    def __init__(self, known: Known, scope: Callable[[str], str | None] | None) -> None:
        self.known = known
        self.scope = scope
        self.cited: list[str] = []
        self.why: dict[str, str] = {}
        self.dropped: list[str] = []
        self.unsupported: list[str] = []
        self._scoped: dict[str, str | None] = {}

    def line(self, line: str) -> str | None:
        stripped = line.strip()
        # Headings, notices and the lines that introduce a list state no number of their own.
        framing = (
            not stripped
            or stripped.startswith(NOTICE_PREFIXES)
            or stripped.startswith("#")
            or stripped.endswith(":")
        )
        # A list item is one claim (a quotation in it may hold several sentences).
        units = [line] if stripped.startswith(("- ", "* ")) else _sentences(line)
        out = [u for u in (self.unit(u, framing=framing) for u in units) if u is not None]
        if units and not out:
            return None
        return " ".join(out)

    def unit(self, sentence: str, *, framing: bool) -> str | None:
        claimed: list[str] = []
        for match in _BRACKET.finditer(sentence):
            parts = _citation_parts(match.group(1))
            if parts is not None:
                claimed.extend(parts)
        if not claimed:
            body = _BRACKET.sub("", sentence)
            if not framing and _NUMBER.search(body):
                self.unsupported.append(sentence.strip())
                return sentence.rstrip() + UNSUPPORTED_MARK
            return sentence
        valid = [c for c in dict.fromkeys(claimed) if self._admit(c)]
        body = _BRACKET.sub(lambda m: "" if _citation_parts(m.group(1)) else m.group(0), sentence)
        useful, failure = self._support(body, valid)
        if failure is not None:
            self.dropped.append(sentence.strip())
            for ident in valid:
                self.why.setdefault(ident, f"does not support its sentence: {failure}")
            return None
        for ident in valid:
            if ident not in useful:
                self.why.setdefault(ident, "says nothing its sentence states")
        self.cited.extend(useful)

        def rebuild(match: re.Match[str]) -> str:
            parts = _citation_parts(match.group(1))
            if parts is None:
                return match.group(0)
            good = [p for p in parts if p in useful]
            return f"[{', '.join(good)}]" if good else ""

        return _BRACKET.sub(rebuild, sentence)

    def _admit(self, ident: str) -> bool:
        if ident not in self.known:
            self.why.setdefault(ident, "no tool returned it in this conversation")
            return False
        if self.scope is not None:
            if ident not in self._scoped:
                self._scoped[ident] = self.scope(ident)
            reason = self._scoped[ident]
            if reason:
                self.why.setdefault(ident, reason)
                return False
        return True

    def _support(self, body: str, cited: list[str]) -> tuple[list[str], str | None]:
        """The cited ids that support ``body``, and why ``body`` is unsupported (or None)."""
        if not cited:
            return [], "none of its citations is a source the tools returned"
        if not isinstance(self.known, Mapping):
            return list(cited), None  # ids only: existence is all there is to check
        records = {c: self.known.get(c) for c in cited}
        if any(r is None for r in records.values()):
            return list(cited), None
        numbers = _numbers(body)
        terms = set(_stems(body.lower())) - _FRAMING
        quoted = bool(_QUOTE_MARKS.search(body))
        useful: list[str] = []
        covered: set[int] = set()
        seen_terms: set[str] = set()
        for ident, record in records.items():
            assert record is not None
            values, words = record.said(quoted=quoted)
            hits = {i for i, n in enumerate(numbers) if n.found_in(values, record.text)}
            overlap = terms & words
            if hits or overlap:
                useful.append(ident)
                covered |= hits
                seen_terms |= overlap
        for index, number in enumerate(numbers):
            if index not in covered and not number.counts(len(cited)):
                return useful, f"{number.text} is in none of the records it cites"
        if terms and len(seen_terms) < max(1.0, MIN_TERM_SHARE * len(terms)):
            return useful, "the records it cites do not say what it says"
        if not useful and not numbers:
            return useful, "the records it cites do not say what it says"
        return useful, None


def _sentences(line: str) -> list[str]:
    """The sentences of a line; a quotation stays whole (its sentences are one claim)."""
    units: list[str] = []
    for part in _SENTENCE.split(line):
        if units and units[-1].count("\u201c") > units[-1].count("\u201d"):
            units[-1] = f"{units[-1]} {part}"
        else:
            units.append(part)
    return units


def _citation_parts(inside: str) -> list[str] | None:
    """The ids in a bracket, or None when the bracket is not a citation (a link label)."""
    parts = [p.strip() for p in inside.split(",")]
    if not any(_ID.match(p) or ":" in p for p in parts):
        return None
    return [p for p in parts if p]


@dataclass(frozen=True)
class _Number:
    """A number a sentence states, as written."""

    text: str
    value: float
    decimals: int
    percent: bool
    date: bool

    def found_in(self, values: Sequence[float], text: str) -> bool:
        if self.date:
            return self.text in text
        tolerance = 0.5 * 10.0 ** (-self.decimals) + 1e-9
        scales = (1.0, 100.0) if self.percent else (1.0,)
        return any(
            abs(round(value * scale, self.decimals) - self.value) <= tolerance
            for value in values
            for scale in scales
        )

    def counts(self, cited: int) -> bool:
        """A count of what the sentence cites ("3 accounts resemble it [a, b, c]")."""
        return not self.percent and not self.date and self.decimals == 0 and self.value == cited


def _numbers(body: str) -> list[_Number]:
    found: list[_Number] = []
    for match in _STATED_NUMBER.finditer(body):
        start = match.start()
        before = body[start - 1] if start else ""
        if before and (before.isalnum() or before in "._"):
            continue  # inside a word or an id
        if before == "-" and start >= 2 and (body[start - 2].isalnum() or body[start - 2] == "_"):
            continue  # part of an id or a range ("acc-00001", "91-180")
        text = match.group(0).rstrip(",")
        if before == "/":
            continue  # a scale ("95.4/100"): the score before it is the claim
        if match.group("date"):
            found.append(_Number(text, 0.0, 0, False, True))
            continue
        digits = match.group("num").rstrip(",")
        value = float(digits.replace(",", ""))
        decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
        found.append(_Number(text, value, decimals, bool(match.group("pct")), False))
    return found


def _stems(text: str) -> list[str]:
    return [w[:_STEM] for w in _WORDS.findall(text) if w not in _STOPWORDS]


def evidence_ids(messages: Iterable[BaseMessage]) -> set[str]:
    """Every evidence id any tool returned in the conversation (what an answer may cite)."""
    return set(evidence_records(messages))


def evidence_records(messages: Iterable[BaseMessage]) -> dict[str, Evidence | None]:
    """Every evidence id the conversation's tools returned, with the records that carried it
    (the innermost JSON object holding the id: a ticket hit, a signal, a health result)."""
    found: dict[str, list[str]] = {}
    for message in messages:
        if isinstance(message, ToolMessage):
            _collect(_decode(message_text(message)), None, found)
    return {ident: Evidence.of(records) for ident, records in found.items()}


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


def _collect(value: Any, holder: str | None, found: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        if _ID.match(value):
            found.setdefault(value, []).append(holder or value)
    elif isinstance(value, dict):
        record = json.dumps(value, ensure_ascii=False, default=str)
        for item in value.values():
            _collect(item, record, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, holder, found)
