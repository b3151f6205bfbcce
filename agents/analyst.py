"""The analyst: reads one account through read-only tools and writes a cited briefing.

One node, two model steps: a tool loop (LangChain's ``create_agent`` over the account
tools, bounded by a model-call limit) and a structured ``Briefing`` written from what the
tools returned. Core tools the model skipped are run directly, so later steps always have
the profile, health, hypotheses and renewal facts. The briefing is then checked against the
tool results: ids, names and dates come from code, and a hypothesis may only cite evidence
ids a tool actually returned.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from keel.agents.budget import budget_in_run
from keel.agents.content_gate import customer_sources
from keel.agents.context import ReviewDeps, context_in_run
from keel.agents.facts import build_facts, known_evidence_ids, tool_outputs
from keel.agents.offline import step_config, typed_prompt
from keel.agents.prompts import ANALYST_REQUEST, ANALYST_SYSTEM, BRIEFING_INSTRUCTIONS
from keel.agents.repair import invoke_structured
from keel.agents.schemas import Briefing, Change, Hypothesis
from keel.agents.state import ReviewState
from keel.agents.step_requests import ANALYST_STEP, BriefingRequest
from keel.agents.voice import in_keel_voice, sources_from_hits
from keel.domain.plays import HypothesisKind
from keel.errors import KeelError
from keel.memory.models import Account
from keel.redact import redact_secrets
from keel.tools.account_tools import CORE_TOOLS, TOOL_EVIDENCE, AccountReader, AccountScope

log = logging.getLogger(__name__)
# The tool loop keeps no checkpoints of its own: the review checkpoints after this node.
# LangGraph passes the parent's durability ("sync") down through the config, and a graph
# without a checkpointer cannot honour "sync" (it fails waiting for a checkpoint that is
# never written), so the loop runs with the default durability set in its config. Its model
# calls are named as the analyst's (what the offline model's tool plan is chosen by).
_LOOP_CONFIG: Final = {
    **step_config(ANALYST_STEP),
    "configurable": {"__pregel_durability": "async"},
}

# Model turns in the tool loop: enough to call every tool and answer, not to wander.
MAX_ANALYST_MODEL_CALLS: Final = 6
STEP: Final = ANALYST_STEP

Node = Callable[[ReviewState], dict[str, Any]]


def make_analyst(
    *, model: BaseChatModel, tools: Sequence[BaseTool], reader: AccountReader, deps: ReviewDeps
) -> Node:
    """The analyst node, with its tool loop built once (not per account)."""
    agent: Any = create_agent(
        model,
        tools=list(tools),
        system_prompt=ANALYST_SYSTEM,
        context_schema=AccountScope,
        middleware=[
            ModelCallLimitMiddleware(run_limit=MAX_ANALYST_MODEL_CALLS, exit_behavior="end")
        ],
        checkpointer=False,  # the review's checkpoint after this node is what matters
        name="analyst",
    )
    tool_names = {tool.name for tool in tools}

    def analyst(state: ReviewState) -> dict[str, Any]:
        as_of = review_as_of(state, deps)
        # The tool loop runs with its own context: the run's budget travels in it, and the
        # scored-book snapshot every tool call reads, pinned once here (the run's own when
        # it names one), so one review never mixes two scorings of the book.
        run = context_in_run()
        try:
            pinned = run.snapshot_id if run is not None else None
            if pinned is None:
                pinned = reader.intel.snapshot(as_of).id
            scope = AccountScope(
                account_id=state["account_id"],
                as_of=as_of,
                budget=budget_in_run(),
                snapshot_id=pinned,
            )
            account = _account(deps, scope.account_id)
            request = HumanMessage(
                ANALYST_REQUEST.format(
                    account_name=account.name, account_id=account.id, as_of=as_of.isoformat()
                )
            )
            result = agent.invoke({"messages": [request]}, _LOOP_CONFIG, context=scope)
            messages: list[BaseMessage] = list(result["messages"])
            results = tool_outputs(messages)
            for name in CORE_TOOLS:
                if name not in results and name in tool_names | set(CORE_TOOLS):
                    results[name] = reader.run(name, scope)
                    messages += _as_tool_exchange(name, results[name])
            facts = build_facts(results, as_of=as_of)
            ask = HumanMessage(
                BRIEFING_INSTRUCTIONS.format(
                    account_id=account.id, account_name=account.name, as_of=as_of.isoformat()
                )
            )
            asked = BriefingRequest(
                account_id=account.id or 0, account_name=account.name, as_of=as_of
            )
            briefing = invoke_structured(model, typed_prompt([*messages, ask], asked), Briefing)
            grounded = ground_briefing(
                briefing,
                facts=facts,
                account=account,
                as_of=as_of,
                label=deps.model_label,
                # The customer text the model read (search hits are cut to a length) and
                # the account's records in full, so a quote of a cut record is found too.
                sources=[
                    *sources_from_hits((results.get(TOOL_EVIDENCE) or {}).get("hits") or []),
                    *customer_sources(deps.engine, account.id or 0, as_of),
                ],
            )
        except KeelError as exc:
            # Redacted again here: step errors are logged, stored in checkpoints and printed.
            error = redact_secrets(str(exc))
            log.warning("analyst failed for account %s: %s", state["account_id"], error)
            return {"briefing": None, "errors": [{"step": STEP, "error": error}]}
        return {
            "briefing": grounded.model_dump(mode="json"),
            "facts": facts,
            "as_of": as_of.isoformat(),
        }

    return analyst


def review_as_of(state: ReviewState, deps: ReviewDeps) -> dt.date:
    """The review date: the state's, else the deps', else the latest data date."""
    raw = state.get("as_of")
    if raw:
        return dt.date.fromisoformat(raw)
    if deps.as_of is not None:
        return deps.as_of
    from keel.tools.signals import latest_data_date

    return latest_data_date(deps.engine) or dt.date.today()


def ground_briefing(
    briefing: Briefing,
    *,
    facts: dict[str, Any],
    account: Account,
    as_of: dt.date,
    label: str,
    sources: Sequence[tuple[str, str]] = (),
) -> Briefing:
    """The briefing with code-owned fields set and uncited or invented evidence removed.

    Its text is the model's, in Keel's voice only where it does not repeat customer text:
    quotations of ``sources`` (the customer text the model read) are marked, and no link,
    image or markup stays live (:func:`keel.agents.voice.in_keel_voice`).

    Raises:
        KeelError: nothing usable is left (no summary).
    """
    known = known_evidence_ids(facts)

    def keep(ids: list[str]) -> list[str]:
        return [i for i in ids if i in known]

    def voice(text: str) -> str:
        return in_keel_voice(text, sources)

    # Ids and categories are labels a reviewer reads as Keel's: code's own, or plain ones.
    code_ids = {str(h.get("id")) for h in facts.get("hypotheses") or [] if h.get("id")}

    def hypotheses(items: list[Hypothesis], kind: str) -> list[Hypothesis]:
        kept: list[Hypothesis] = []
        for item in items:
            ids = keep(item.evidence_ids)
            if ids:
                update = {
                    "id": _hypothesis_id(item.id, kind, len(kept), code_ids),
                    "kind": kind,
                    "category": item.category if item.category in _CATEGORIES else "other",
                    "statement": voice(item.statement),
                    "evidence_ids": ids,
                }
                kept.append(item.model_copy(update=update))
            else:
                log.info("dropped hypothesis %s: it cites no evidence the tools returned", item.id)
        return kept

    changes = [
        c.model_copy(
            update={"evidence_ids": keep(c.evidence_ids), "description": voice(c.description)}
        )
        for c in briefing.changes
    ]
    return Briefing(
        account_id=account.id or 0,
        account_name=account.name,
        as_of=as_of,
        summary=voice(briefing.summary),
        changes=[c for c in changes if isinstance(c, Change)],
        risk_hypotheses=hypotheses(briefing.risk_hypotheses, "risk"),
        expansion_hypotheses=hypotheses(briefing.expansion_hypotheses, "expansion"),
        produced_by=label,
    )


_CATEGORIES: Final = frozenset(str(k) for k in HypothesisKind)
_SAFE_ID: Final = re.compile(r"[a-z0-9_:.-]{1,64}")


def _hypothesis_id(raw: str, kind: str, index: int, code_ids: set[str]) -> str:
    """The model's hypothesis id when it is code's or a plain label; a numbered one else."""
    if raw in code_ids or _SAFE_ID.fullmatch(raw):
        return raw
    return f"{kind}:{index + 1}"


def _account(deps: ReviewDeps, account_id: int) -> Account:
    from sqlmodel import Session

    with Session(deps.engine) as session:
        account = session.get(Account, account_id)
    if account is None:
        raise KeelError(f"account {account_id} does not exist")
    return account


def _as_tool_exchange(name: str, data: dict[str, Any]) -> list[BaseMessage]:
    """A tool call and its result, as if the model had asked (for the briefing step)."""
    call_id = f"keel_{name}"
    return [
        AIMessage(
            content="", tool_calls=[{"name": name, "args": {}, "id": call_id, "type": "tool_call"}]
        ),
        ToolMessage(content=json.dumps(data, default=str), tool_call_id=call_id, name=name),
    ]
