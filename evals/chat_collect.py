"""Ask a scenario's chat questions through the real chat service and gather the answers.

Each question is asked by the account's CSM (its ``owner_csm``: the book they may read) on
a new thread of :func:`keel.api.services.chat.ask`, the path ``keel chat`` and the web app
take: the chat graph on the configured model, its tools, and the citation check after the
model. What the CSM would read (the checked answer), its citations, what the check removed
or marked, and the owner of every record it cites become a :class:`ChatAnswer`, so the
chat scorers need no database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from keel.evals.collect import resolve_records
from keel.evals.outcome import ChatAnswer
from keel.evals.workspace import Placed
from keel.memory.models import Account


def ask_questions(app: Any, placed: Placed, *, as_of: dt.date | None) -> tuple[ChatAnswer, ...]:
    """Every chat question of the scenario, asked as its account's CSM, in order."""
    from keel.api.services.chat import ChatRequest, ask

    user = placed.account.owner_csm
    answers: list[ChatAnswer] = []
    for question in placed.scenario.chat:
        text = placed.fill(question.ask)
        started = time.perf_counter()
        request = ChatRequest(
            user=user,
            text=text,
            account=placed.account.external_id if question.focus else None,
            as_of=as_of,
        )
        answer_text, data, error = "", {}, ""
        for event in ask(app, request):
            if event.kind == "answer":
                answer_text, data = event.text, dict(event.data)
            elif event.kind == "error":
                error = event.text
        cited = tuple(str(i) for i in data.get("citations") or [])
        answers.append(
            ChatAnswer(
                question=text,
                type=question.type,
                focus=question.focus,
                user=user,
                text=answer_text,
                error=error,
                cited=cited,
                removed=tuple(str(i) for i in data.get("removed") or []),
                unsupported=tuple(str(s) for s in data.get("unsupported") or []),
                owners=_owners(app.engine, cited),
                must_mention=tuple(placed.fill(t) for t in question.must_mention),
                must_mention_any=tuple(placed.fill(t) for t in question.must_mention_any),
                must_not_mention=tuple(placed.fill(t) for t in question.must_not_mention),
                must_cite=tuple(question.must_cite),
                seconds=round(time.perf_counter() - started, 3),
            )
        )
    return tuple(answers)


def _owners(engine: Engine, ids: Iterable[str]) -> dict[str, str | None]:
    """The CSM owning each cited record (None: a computed id, or a record that is not
    found; :func:`keel.evals.collect.resolve_records` tells which)."""
    records = resolve_records(engine, ids, {})
    owners: dict[str, str | None] = {}
    with Session(engine) as session:
        for ident in ids:
            found = records.get(ident)
            if found is None:
                owners[ident] = None if ident.partition(":")[0] in _COMPUTED else "?"
                continue
            account = session.get(Account, found[1]) if found[1] is not None else None
            owners[ident] = account.owner_csm if account is not None else None
    return owners


# Ids the tools compute rather than read from a record (no table row behind them).
_COMPUTED = frozenset({"health", "metric", "signal", "factor", "hypothesis", "risk", "expansion"})
