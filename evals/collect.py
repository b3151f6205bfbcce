"""Run one scenario's review through the real review graph and gather what it produced.

The briefing, the plan and every proposed action's payload (the draft exactly as it would
be sent) become an :class:`keel.evals.outcome.Outcome`, with the facts each artefact was given
and the records its citations name, so the scorers need no database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.agents.context import RunContext
from keel.agents.facts import INTERNAL_DRAFT_KINDS, lines_for_draft
from keel.agents.schemas import Briefing
from keel.domain.plays import PLAY_LIBRARY
from keel.domain.policy import Policy
from keel.errors import KeelError
from keel.evals.outcome import CUSTOMER, INTERNAL, Artefact, Expected, Outcome
from keel.evals.text import citations
from keel.evals.workspace import Placed
from keel.graphs.runner import Graph, new_thread_id, start_review, thread_config
from keel.memory.actions import ProposedAction, list_actions
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    Invoice,
    NpsResponse,
    Renewal,
    Ticket,
)

CONTENT_PREFIX = "content: "


def run_scenario(
    graph: Graph,
    engine: Engine,
    placed: Placed,
    *,
    policy: Policy,
    allowlist: Iterable[str],
    as_of: dt.date | None,
    prep_model: BaseChatModel | None = None,
    label: str = "",
    context: Callable[[str], RunContext] | None = None,
) -> tuple[Outcome, str]:
    """Review the scenario's account; return its outcome and the review's thread id.

    ``context`` gives the run's context (its own budget) for the thread id. With
    ``prep_model``, the meeting-prep brief for the account (``keel prep``) is written
    from the review's briefing and facts and scored with the rest.
    """
    account = placed.account
    thread = new_thread_id(account.external_id)
    result = start_review(
        graph,
        account_id=account.id or 0,
        thread_id=thread,
        as_of=as_of,
        context=context(thread) if context is not None else None,
    )
    values = graph.get_state(thread_config(thread)).values or {}
    facts: dict[str, Any] = dict(values.get("facts") or {})
    briefing = result.briefing.model_dump(mode="json") if result.briefing else None
    plan_items = list((result.plan or {}).get("plays") or [])
    with Session(engine) as session:
        actions = list(reversed(list_actions(session, thread_id=thread)))
        for action in actions:
            session.expunge(action)
        contacts = [
            {
                "id": c.id,
                "name": c.name,
                "email": c.email,
                "role": str(c.role),
                "left_company": c.left_company,
            }
            for c in session.exec(select(Contact).where(Contact.account_id == account.id)).all()
        ]
    fact_account = facts.get("account") or {}
    account_info = {
        "id": account.id,
        "external_id": account.external_id,
        "name": account.name,
        "owner_csm": account.owner_csm,
        "owner_name": fact_account.get("owner_name") or account.owner_csm,
    }
    artefacts: list[Artefact] = []
    if briefing:
        artefacts.append(_briefing_artefact(briefing, facts))
    prep_errors: list[str] = []
    if briefing and prep_model is not None and result.briefing is not None:
        try:
            artefacts.append(_prep_artefact(prep_model, result.briefing, facts, label))
        except KeelError as exc:
            # A prep the model could not write fails that step, as a graph node's failure
            # does: the review's briefing, drafts and the chat are still scored.
            prep_errors.append(f"meeting_prep: {exc}")
    for action in actions:
        artefacts.append(_draft_artefact(action, facts, briefing, plan_items))
    cited = {i for a in artefacts for i in a.cited} | {
        c[0] for a in artefacts for c in citations(a.text)
    }
    expect = placed.scenario.expect
    outcome = Outcome(
        scenario=placed.scenario.id,
        account=account_info,
        contacts=tuple(contacts),
        facts=facts,
        hypotheses=tuple(
            [
                *(briefing or {}).get("risk_hypotheses", []),
                *(briefing or {}).get("expansion_hypotheses", []),
            ]
        ),
        plays=tuple(str(item.get("play")) for item in plan_items),
        artefacts=tuple(artefacts),
        records=resolve_records(engine, cited, facts),
        allowlist=tuple(allowlist),
        approved_offers={p: tuple(policy.offers_for(p)) for p in PLAY_LIBRARY},
        expected=Expected(
            hypotheses=tuple(expect.hypotheses),
            acceptable_hypotheses=tuple(expect.acceptable_hypotheses),
            plays=tuple(expect.plays),
            acceptable_plays=tuple(expect.acceptable_plays),
            forbidden_plays=tuple(expect.forbidden_plays),
            must_use=tuple(expect.must_use),
            must_not=tuple(placed.fill(p) for p in expect.must_not),
            recipient_roles=tuple(expect.recipient_roles),
        ),
        errors=tuple(
            [
                f"{e['step']}{' (' + e['play'] + ')' if e.get('play') else ''}: {e['error']}"
                for e in result.errors
            ]
            + prep_errors
        ),
    )
    return outcome, thread


def _briefing_artefact(briefing: Mapping[str, Any], facts: Mapping[str, Any]) -> Artefact:
    parts = [str(briefing.get("summary") or "")]
    for change in briefing.get("changes") or []:
        since = f" (since {change['since']})" if change.get("since") else ""
        parts.append(
            f"- {change['description']}{since} [{', '.join(change.get('evidence_ids') or [])}]"
        )
    for kind in ("risk_hypotheses", "expansion_hypotheses"):
        for h in briefing.get(kind) or []:
            parts.append(f"- {h['statement']} [{', '.join(h.get('evidence_ids') or [])}]")
    cited = [
        i
        for h in briefing.get("risk_hypotheses", []) + briefing.get("expansion_hypotheses", [])
        for i in h.get("evidence_ids") or []
    ]
    cited += [i for c in briefing.get("changes") or [] for i in c.get("evidence_ids") or []]
    return Artefact(
        key="briefing",
        kind="briefing",
        text="\n".join(parts),
        audience=INTERNAL,
        given=tuple(dict(line) for line in facts.get("fact_lines") or []),
        # The analyst read every tool result: any value in them is a fact it was given.
        given_texts=tuple(_flatten(facts)),
        cited=tuple(dict.fromkeys(cited)),
        status="written",
    )


def _prep_artefact(
    model: BaseChatModel, briefing: Briefing, facts: Mapping[str, Any], label: str
) -> Artefact:
    """The meeting-prep brief, given the briefing and the analyst's facts."""
    from keel.agents.prep import write_meeting_prep

    prep = write_meeting_prep(
        model, briefing=briefing, facts=facts, as_of=briefing.as_of, label=label
    )
    points = "\n".join(f"- {point}" for point in prep.talking_points)
    told = [briefing.summary, *(c.description for c in briefing.changes)]
    told += [h.statement for h in briefing.hypotheses]
    return Artefact(
        key="meeting_prep",
        kind="meeting_prep",
        text=f"{prep.title}\n{prep.brief}\n\nTalking points:\n{points}",
        audience=INTERNAL,
        given=tuple(dict(line) for line in facts.get("fact_lines") or []),
        given_texts=(*_flatten(facts), *told),
        cited=tuple(prep.evidence_ids),
        status="written",
    )


def _draft_artefact(
    action: ProposedAction,
    facts: Mapping[str, Any],
    briefing: Mapping[str, Any] | None,
    plan_items: list[dict[str, Any]],
) -> Artefact:
    payload = action.payload or {}
    meta = payload.get("metadata") or {}
    kind = action.draft_kind
    hypothesis_id = meta.get("hypothesis_id")
    hypotheses = [
        *(briefing or {}).get("risk_hypotheses", []),
        *(briefing or {}).get("expansion_hypotheses", []),
    ]
    statement = next((str(h["statement"]) for h in hypotheses if h.get("id") == hypothesis_id), "")
    rationale = next(
        (str(i.get("rationale") or "") for i in plan_items if i.get("play") == action.play_id), ""
    )
    account = facts.get("account") or {}
    # What the drafter's request carried besides the fact lines (agents.drafter).
    given_texts = [
        statement,
        rationale,
        str(account.get("name") or ""),
        str(account.get("renewal_date") or ""),
        str(account.get("arr") or ""),
    ]
    return Artefact(
        key=f"draft:{action.play_id}",
        kind=kind,
        play=action.play_id,
        text=f"Subject: {payload.get('subject', '')}\n{payload.get('body', '')}",
        audience=INTERNAL if kind in INTERNAL_DRAFT_KINDS else CUSTOMER,
        given=tuple(lines_for_draft(facts.get("fact_lines") or [], kind)),
        given_texts=tuple(t for t in given_texts if t),
        cited=tuple(str(i) for i in meta.get("evidence_ids") or []),
        recipients=tuple(str(a) for a in [*(payload.get("to") or []), *(payload.get("cc") or [])]),
        recipient_contact_id=action.recipient_contact_id,
        recipient_name=str(meta.get("recipient_name") or ""),
        removed=tuple(
            r.removeprefix(CONTENT_PREFIX)
            for r in action.policy_reasons
            if r.startswith(CONTENT_PREFIX)
        ),
        status=str(action.status),
    )


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, float):
        yield f"{value}"
        yield f"{value:.0f}"
    elif value is not None:
        yield str(value)


def resolve_records(
    engine: Engine, ids: Iterable[str], facts: Mapping[str, Any]
) -> dict[str, tuple[str, int | None]]:
    """Text and owning account of each cited record, by evidence id.

    Computed ids (``metric:``, ``signal:``, ``factor:``, ``health:``, hypotheses) are the
    reviewed account's by construction and are left out; ``cohort:`` ids name other
    accounts.
    """
    out: dict[str, tuple[str, int | None]] = {}
    cohort = {
        str(m.get("id")): str(m.get("summary") or "") for m in facts.get("similar_churned") or []
    }
    computed = computed_support(facts)
    with Session(engine) as session:
        for ident in ids:
            prefix, _, ext = ident.partition(":")
            found = _record(session, prefix, ext, cohort.get(ident, ""))
            if found is not None:
                out[ident] = found
            elif ident in computed:
                out[ident] = (computed[ident], None)
    return out


def computed_support(facts: Mapping[str, Any]) -> dict[str, str]:
    """What the tools said about computed ids (metrics, model signals, health factors,
    the health score): the text a citation of them rests on."""
    out: dict[str, str] = {}
    for signal in facts.get("signals") or []:
        words = [signal.get("label"), signal.get("text"), signal.get("display"), signal.get("name")]
        out[str(signal.get("id"))] = " ".join(str(w).replace("_", " ") for w in words if w)
    health = facts.get("health") or {}
    if health.get("id"):
        out[str(health["id"])] = (
            f"health score {health.get('score')}/100, {health.get('percentile')} percentile, "
            f"churn risk {health.get('risk')}, {health.get('band')}. {health.get('summary') or ''}"
        )
    for factor in health.get("factors") or []:
        text = f"{factor.get('label')}: {factor.get('text')} ({factor.get('direction')})"
        for ident in factor.get("evidence_ids") or []:
            out[str(ident)] = text
    return out


def _record(
    session: Session, prefix: str, ext: str, cohort_text: str
) -> tuple[str, int | None] | None:
    if prefix == "ticket":
        t = session.exec(select(Ticket).where(Ticket.external_id == ext)).first()
        return (
            (f"{t.priority} {t.category} ticket: {t.subject}. {t.body} CSAT {t.csat}", t.account_id)
            if t
            else None
        )
    if prefix == "note":
        n = session.exec(select(CallNote).where(CallNote.external_id == ext)).first()
        return (f"{n.kind} note {n.occurred_on}: {n.text}", n.account_id) if n else None
    if prefix == "nps":
        r = session.exec(select(NpsResponse).where(NpsResponse.external_id == ext)).first()
        return (
            (f"NPS score {r.score}/10 on {r.responded_on}: {r.comment}", r.account_id)
            if r
            else None
        )
    if prefix == "contact":
        c = session.exec(select(Contact).where(Contact.external_id == ext)).first()
        left = f" left the company on {c.left_on}" if c and c.left_company else ""
        return (f"{c.name} ({c.title}, {c.role}){left}", c.account_id) if c else None
    if prefix == "invoice":
        i = session.exec(select(Invoice).where(Invoice.external_id == ext)).first()
        return (
            (f"invoice of {i.amount:,.0f} due {i.due_on}, {i.status}", i.account_id) if i else None
        )
    if prefix == "renewal":
        r2 = session.exec(select(Renewal).where(Renewal.external_id == ext)).first()
        return (
            (f"renewal on {r2.renewal_date}, {r2.outcome}, ARR {r2.arr_before:,.0f}", r2.account_id)
            if r2
            else None
        )
    if prefix in ("account", "cohort"):
        a = session.exec(select(Account).where(Account.external_id == ext)).first()
        text = cohort_text or (f"{a.name}, ARR {a.arr:,.0f}" if a else "")
        return (text, a.id) if a else None
    return None
