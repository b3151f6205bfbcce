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
from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from agents.context import ReviewDeps
from agents.facts import build_facts, known_evidence_ids, tool_outputs
from agents.prompts import ANALYST_REQUEST, ANALYST_SYSTEM, BRIEFING_INSTRUCTIONS
from agents.repair import invoke_structured
from agents.schemas import Briefing, Change, Hypothesis
from graphs.state import ReviewState
from keel.errors import KeelError
from keel.redact import redact_secrets
from memory.models import Account
from tools.account_tools import CORE_TOOLS, AccountReader, AccountScope

log = logging.getLogger(__name__)
# The tool loop keeps no checkpoints of its own: the review checkpoints after this node.
# LangGraph passes the parent's durability ("sync") down through the config, and a graph
# without a checkpointer cannot honour "sync" (it fails waiting for a checkpoint that is
# never written), so the loop runs with the default durability set in its config.
_NO_CHECKPOINT_CONFIG: Final = {"configurable": {"__pregel_durability": "async"}}

# Model turns in the tool loop: enough to call every tool and answer, not to wander.
MAX_ANALYST_MODEL_CALLS: Final = 6
STEP: Final = "analyst"

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
        scope = AccountScope(account_id=state["account_id"], as_of=as_of)
        try:
            account = _account(deps, scope.account_id)
            request = HumanMessage(
                ANALYST_REQUEST.format(
                    account_name=account.name, account_id=account.id, as_of=as_of.isoformat()
                )
            )
            result = agent.invoke({"messages": [request]}, _NO_CHECKPOINT_CONFIG, context=scope)
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
            briefing = invoke_structured(model, [*messages, ask], Briefing)
            grounded = ground_briefing(
                briefing, facts=facts, account=account, as_of=as_of, label=deps.model_label
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
    from tools.signals import latest_data_date

    return latest_data_date(deps.engine) or dt.date.today()


def ground_briefing(
    briefing: Briefing,
    *,
    facts: dict[str, Any],
    account: Account,
    as_of: dt.date,
    label: str,
) -> Briefing:
    """The briefing with code-owned fields set and uncited or invented evidence removed.

    Raises:
        KeelError: nothing usable is left (no summary).
    """
    known = known_evidence_ids(facts)

    def keep(ids: list[str]) -> list[str]:
        return [i for i in ids if i in known]

    def hypotheses(items: list[Hypothesis], kind: str) -> list[Hypothesis]:
        kept = []
        for item in items:
            ids = keep(item.evidence_ids)
            if ids:
                kept.append(item.model_copy(update={"evidence_ids": ids, "kind": kind}))
            else:
                log.info("dropped hypothesis %s: it cites no evidence the tools returned", item.id)
        return kept

    changes = [
        c.model_copy(update={"evidence_ids": keep(c.evidence_ids)}) for c in briefing.changes
    ]
    return Briefing(
        account_id=account.id or 0,
        account_name=account.name,
        as_of=as_of,
        summary=briefing.summary,
        changes=[c for c in changes if isinstance(c, Change)],
        risk_hypotheses=hypotheses(briefing.risk_hypotheses, "risk"),
        expansion_hypotheses=hypotheses(briefing.expansion_hypotheses, "expansion"),
        produced_by=label,
    )


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
