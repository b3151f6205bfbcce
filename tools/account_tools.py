"""The analyst's read-only tools: everything it may learn about one account, and nothing else.

Each tool reads; none writes. The account under review comes from the run's context
(:class:`AccountScope`, injected through LangGraph's ``ToolRuntime``), never from the
model's arguments, so a model (or an instruction hidden in a ticket) cannot point the
analyst at another account. Every result is JSON and every record in it carries an
evidence id (``ticket:T-1``, ``signal:engagement_change``, ``invoice:INV-9``) that
briefings cite. Customer-written text only appears inside ``<customer_content>`` blocks.

The tool logic lives in :class:`AccountReader` (plain methods, testable without a graph);
:func:`make_account_tools` wraps it as LangChain tools.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.errors import KeelError, StoreDamaged
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    Invoice,
    NpsResponse,
    Renewal,
    Ticket,
)
from keel.memory.vectors.lock import IndexBusy
from keel.tools import account_intel
from keel.tools.signals.billing import status_as_of
from keel.tools.ticket_words import request_topic

if TYPE_CHECKING:
    from keel.memory.vectors import VectorStore

EVIDENCE_KINDS: Final = ("ticket", "note", "nps")
MAX_TEXT_CHARS: Final = 600
DEFAULT_HITS: Final = 6
# The customer's open tickets in the profile: what they are waiting on, whatever a search finds.
MAX_OPEN_REQUESTS: Final = 3
EVIDENCE_LOOKBACK_DAYS: Final = 180
DEFAULT_EVIDENCE_QUERY: Final = (
    "problems, complaints, cancellation or budget risk, outages, quality issues, "
    "praise, growth plans and new teams"
)

TOOL_PROFILE: Final = "account_profile"
TOOL_SIGNALS: Final = "account_signals"
TOOL_HEALTH: Final = "account_health"
TOOL_HYPOTHESES: Final = "candidate_hypotheses"
TOOL_EVIDENCE: Final = "search_evidence"
TOOL_COHORT: Final = "similar_churned_accounts"
TOOL_RENEWAL: Final = "renewal_and_billing"
# Tools whose results later steps depend on: the analyst node calls them itself if the
# model did not.
CORE_TOOLS: Final = (TOOL_PROFILE, TOOL_HEALTH, TOOL_HYPOTHESES, TOOL_RENEWAL)

# Customer-written text reaches a model only inside this block (``source`` names its
# record, e.g. ``ticket T-1``); the prompts' UNTRUSTED_CONTENT_RULE says what it means.
# Defined here, beside the code that fences the text, so the tools need no prompt module.
CUSTOMER_CONTENT: Final = '<customer_content source="{source}">\n{text}\n</customer_content>'
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAG = re.compile(r"</?\s*customer_content", re.IGNORECASE)


class AccountNotFound(KeelError):
    """No account matches the given id, external id or name."""


@dataclass(frozen=True)
class AccountScope:
    """The account a run may read, and the date it reads as of (the tools' context)."""

    account_id: int
    as_of: dt.date
    # The run's model budget (keel.agents.budget.RunBudget), carried because this scope
    # replaces the run's context inside the analyst's tool loop; the tools never read it.
    budget: object | None = None
    # The scored-book snapshot the run reads (pinned once per run: every tool call of the
    # run sees the same scores); None: the fresh snapshot of ``as_of`` at each call.
    snapshot_id: int | None = None


def wrap_customer_text(source: str, text: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Customer text as a labelled, fenced data block a prompt can carry safely.

    The text cannot close the block early: any ``customer_content`` tag inside it is
    defused, control characters are dropped, and it is cut to ``limit`` characters.
    """
    cleaned = _CONTROL.sub("", text).strip()
    cleaned = _TAG.sub(lambda m: m.group(0).replace("<", "&lt;"), cleaned)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    safe_source = re.sub(r"[^\w .:-]", "", source)[:80]
    return CUSTOMER_CONTENT.format(source=safe_source, text=cleaned)


def evidence_id(kind: str, external_id: str) -> str:
    return f"{kind}:{external_id}"


def resolve_account(engine: Engine, ref: str | int) -> Account:
    """The account with this internal id, external id or (case-insensitive) name."""
    with Session(engine) as session:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            found = session.get(Account, int(ref))
            if found is not None:
                return found
        text = str(ref).strip()
        found = session.exec(select(Account).where(Account.external_id == text)).first()
        if found is None:
            matches = session.exec(select(Account).where(col(Account.name).ilike(text))).all()
            if len(matches) > 1:
                ids = ", ".join(m.external_id for m in matches)
                raise AccountNotFound(
                    f"'{text}' names several accounts ({ids}); use an external id"
                )
            found = matches[0] if matches else None
        if found is None:
            raise AccountNotFound(f"no account with id, external id or name '{text}'")
        return found


def contact_facts(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "evidence_id": evidence_id("contact", contact.external_id),
        "name": contact.name,
        "email": contact.email,
        "title": contact.title,
        "role": str(contact.role),
        "left_company": contact.left_company,
        "left_on": contact.left_on.isoformat() if contact.left_on else None,
        "last_engagement": contact.last_engagement.isoformat() if contact.last_engagement else None,
    }


class AccountReader:
    """Read-only queries behind the analyst's tools.

    Args:
        engine: The telemetry database.
        vector_store: Semantic evidence search; the most recent records are returned
            instead when it is None.
        intel: Signals, health, hypotheses and cohort matches (``keel.tools.account_intel``).
        hits: Evidence records returned per search.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        vector_store: VectorStore | None = None,
        intel: account_intel.AccountIntel | None = None,
        hits: int = DEFAULT_HITS,
    ) -> None:
        self.engine = engine
        self.vector_store = vector_store
        self.hits = hits
        self.intel = intel or account_intel.AccountIntel(engine, vector_store=vector_store)

    # --- profile -------------------------------------------------------------------------

    def profile(self, scope: AccountScope) -> dict[str, Any]:
        with Session(self.engine) as session:
            account = session.get(Account, scope.account_id)
            if account is None:
                raise AccountNotFound(f"account {scope.account_id} does not exist")
            contacts = session.exec(
                select(Contact)
                .where(Contact.account_id == scope.account_id)
                .order_by(col(Contact.id))
            ).all()
            visible = [c for c in contacts if c.added_on is None or c.added_on <= scope.as_of]
            open_requests = self._open_requests(session, scope)
        renewal = account.renewal_date
        return {
            "account": {
                "id": account.id,
                "evidence_id": evidence_id("account", account.external_id),
                "external_id": account.external_id,
                "name": account.name,
                "industry": account.industry,
                "segment": str(account.segment),
                "arr": account.arr,
                "plan": account.plan,
                "pricing_model": str(account.pricing_model),
                "owner_csm": account.owner_csm,
                "lifecycle_stage": str(account.lifecycle_stage),
                "region": account.region,
                "seats_purchased": account.seats_purchased,
                "renewal_date": renewal.isoformat() if renewal else None,
                "days_to_renewal": (renewal - scope.as_of).days if renewal else None,
                "customer_since": account.contract_start.isoformat()
                if account.contract_start
                else None,
            },
            "contacts": [
                contact_facts(c) | {"left_company": _left_by(c, scope.as_of)} for c in visible
            ],
            "open_requests": open_requests,
        }

    def _open_requests(self, session: Session, scope: AccountScope) -> list[dict[str, Any]]:
        """The account's tickets still open at the as-of date, most recent first, each with
        its topic in Keel's fixed words ("SSO outage") and no customer text."""
        since = scope.as_of - dt.timedelta(days=EVIDENCE_LOOKBACK_DAYS)
        start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
        until = dt.datetime.combine(scope.as_of, dt.time.max, tzinfo=dt.UTC)
        tickets = session.exec(
            select(Ticket)
            .where(
                Ticket.account_id == scope.account_id,
                col(Ticket.opened_at) >= start,
                col(Ticket.opened_at) <= until,
            )
            .order_by(col(Ticket.opened_at).desc())
        ).all()
        out = []
        for ticket in tickets:
            record = _ticket_record(ticket, scope.as_of)
            if record["status"] != "open":
                continue
            topic = request_topic(f"{ticket.subject}\n{ticket.body}")
            del record["content"]
            out.append(record | ({"topic": topic} if topic else {}))
        return out[:MAX_OPEN_REQUESTS]

    # --- renewal and billing ---------------------------------------------------------------

    def renewal_and_billing(self, scope: AccountScope) -> dict[str, Any]:
        with Session(self.engine) as session:
            renewals = session.exec(
                select(Renewal)
                .where(Renewal.account_id == scope.account_id)
                .order_by(col(Renewal.renewal_date))
            ).all()
            invoices = session.exec(
                select(Invoice)
                .where(Invoice.account_id == scope.account_id, Invoice.issued_on <= scope.as_of)
                .order_by(col(Invoice.issued_on).desc())
                .limit(12)
            ).all()
        past, upcoming = [], None
        for renewal in renewals:
            known = renewal.decided_on is not None and renewal.decided_on <= scope.as_of
            if known:
                past.append(
                    {
                        "id": evidence_id("renewal", renewal.external_id),
                        "renewal_date": renewal.renewal_date.isoformat(),
                        "outcome": str(renewal.outcome),
                        "arr_before": renewal.arr_before,
                        "arr_after": renewal.arr_after,
                    }
                )
            elif upcoming is None and renewal.renewal_date >= scope.as_of:
                upcoming = {
                    "id": evidence_id("renewal", renewal.external_id),
                    "renewal_date": renewal.renewal_date.isoformat(),
                    "days_to_renewal": (renewal.renewal_date - scope.as_of).days,
                    "arr": renewal.arr_before,
                }
        billing = []
        for invoice in invoices:
            status = _invoice_status(invoice, scope.as_of)
            billing.append(
                {
                    "id": evidence_id("invoice", invoice.external_id),
                    "issued_on": invoice.issued_on.isoformat(),
                    "due_on": invoice.due_on.isoformat(),
                    "amount": invoice.amount,
                    "status": status,
                    "days_overdue": max((scope.as_of - invoice.due_on).days, 0)
                    if status in ("late", "failed", "open") and invoice.due_on < scope.as_of
                    else 0,
                }
            )
        problems = [b for b in billing if b["status"] in ("late", "failed")]
        return {
            "upcoming_renewal": upcoming,
            "past_renewals": past[-3:],
            "invoices": billing[:6],
            "billing_issues": problems,
        }

    # --- evidence --------------------------------------------------------------------------

    def search_evidence(
        self, scope: AccountScope, query: str | None = None, *, k: int | None = None
    ) -> dict[str, Any]:
        """Tickets, call notes and NPS comments most relevant to ``query`` (recent first
        without a vector store). Text is wrapped as customer content."""
        k = k or self.hits
        since = scope.as_of - dt.timedelta(days=EVIDENCE_LOOKBACK_DAYS)
        ids: list[str] | None = None
        note: str | None = None
        if self.vector_store is not None:
            try:
                ids = self.intel.search_ids(
                    query or DEFAULT_EVIDENCE_QUERY,
                    account_id=scope.account_id,
                    since=since,
                    until=scope.as_of,
                    k=k,
                )
            except (IndexBusy, StoreDamaged) as exc:
                # A review must not fail because an index run is under way, or because the
                # index is damaged (the message says how to repair it): the most recent
                # records are still evidence.
                note = f"{exc}; showing the most recent records instead of a search"
        records = self._evidence_records(scope, since=since, ids=ids, k=k)
        result: dict[str, Any] = {"query": query or DEFAULT_EVIDENCE_QUERY, "hits": records}
        if note:
            result["note"] = note
        return result

    def _evidence_records(
        self, scope: AccountScope, *, since: dt.date, ids: Sequence[str] | None, k: int
    ) -> list[dict[str, Any]]:
        # Datetime columns hold aware UTC values; compare with aware bounds.
        until = dt.datetime.combine(scope.as_of, dt.time.max, tzinfo=dt.UTC)
        start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
        with Session(self.engine) as session:
            tickets = session.exec(
                select(Ticket)
                .where(
                    Ticket.account_id == scope.account_id,
                    col(Ticket.opened_at) >= start,
                    col(Ticket.opened_at) <= until,
                )
                .order_by(col(Ticket.opened_at).desc())
            ).all()
            notes = session.exec(
                select(CallNote)
                .where(
                    CallNote.account_id == scope.account_id,
                    col(CallNote.occurred_on) >= since,
                    col(CallNote.occurred_on) <= scope.as_of,
                )
                .order_by(col(CallNote.occurred_on).desc())
            ).all()
            nps = session.exec(
                select(NpsResponse)
                .where(
                    NpsResponse.account_id == scope.account_id,
                    col(NpsResponse.responded_on) >= since,
                    col(NpsResponse.responded_on) <= scope.as_of,
                )
                .order_by(col(NpsResponse.responded_on).desc())
            ).all()
        records = [_ticket_record(t, scope.as_of) for t in tickets]
        records += [_note_record(n) for n in notes]
        records += [_nps_record(r) for r in nps if r.comment.strip()]
        if ids is not None:
            rank = {eid: i for i, eid in enumerate(ids)}
            chosen = [r for r in records if r["id"] in rank]
            chosen.sort(key=lambda r: rank[r["id"]])
            return chosen[:k]
        records.sort(key=lambda r: r["date"], reverse=True)
        return records[:k]

    # --- intelligence ----------------------------------------------------------------------

    def signals(self, scope: AccountScope) -> dict[str, Any]:
        return self.intel.signals(scope.account_id, scope.as_of, scope.snapshot_id)

    def health(self, scope: AccountScope) -> dict[str, Any]:
        return self.intel.health(scope.account_id, scope.as_of, scope.snapshot_id)

    def hypotheses(self, scope: AccountScope) -> dict[str, Any]:
        return self.intel.hypotheses(scope.account_id, scope.as_of, scope.snapshot_id)

    def similar_churned(self, scope: AccountScope) -> dict[str, Any]:
        return self.intel.similar_churned(scope.account_id, scope.as_of, scope.snapshot_id)

    # --- dispatch --------------------------------------------------------------------------

    def run(self, name: str, scope: AccountScope, **kwargs: Any) -> dict[str, Any]:
        """Run the tool called ``name`` directly (what the analyst node does for core tools)."""
        functions: dict[str, Callable[..., dict[str, Any]]] = {
            TOOL_PROFILE: self.profile,
            TOOL_SIGNALS: self.signals,
            TOOL_HEALTH: self.health,
            TOOL_HYPOTHESES: self.hypotheses,
            TOOL_EVIDENCE: self.search_evidence,
            TOOL_COHORT: self.similar_churned,
            TOOL_RENEWAL: self.renewal_and_billing,
        }
        return functions[name](scope, **kwargs)


def _left_by(contact: Contact, as_of: dt.date) -> bool:
    if not contact.left_company:
        return False
    return contact.left_on is None or contact.left_on <= as_of


def _invoice_status(invoice: Invoice, as_of: dt.date) -> str:
    """The status as it was on ``as_of`` (a later payment is not known yet; one marked
    paid without a date was paid on time; a void invoice is not owed)."""
    return status_as_of(str(invoice.status), invoice.due_on, invoice.paid_on, as_of)


def _ticket_record(ticket: Ticket, as_of: dt.date) -> dict[str, Any]:
    closed = ticket.closed_at is not None and ticket.closed_at.date() <= as_of
    source = f"ticket {ticket.external_id}"
    text = f"{ticket.subject}\n{ticket.body}".strip()
    return {
        "id": evidence_id("ticket", ticket.external_id),
        "kind": "ticket",
        "date": ticket.opened_at.date().isoformat(),
        "category": str(ticket.category),
        "priority": str(ticket.priority),
        "status": "closed" if closed else "open",
        "closed_on": ticket.closed_at.date().isoformat() if closed and ticket.closed_at else None,
        "csat": ticket.csat if closed else None,
        "content": wrap_customer_text(source, text),
    }


def _note_record(note: CallNote) -> dict[str, Any]:
    return {
        "id": evidence_id("note", note.external_id),
        "kind": "note",
        "date": note.occurred_on.isoformat(),
        "note_kind": note.kind,
        "author": note.author,
        "content": wrap_customer_text(f"{note.kind} note {note.external_id}", note.text),
    }


def _nps_record(response: NpsResponse) -> dict[str, Any]:
    return {
        "id": evidence_id("nps", response.external_id),
        "kind": "nps",
        "date": response.responded_on.isoformat(),
        "score": response.score,
        "content": wrap_customer_text(f"nps {response.external_id}", response.comment),
    }


# --------------------------------------------------------------------------- the tools


def _scope(runtime: ToolRuntime[AccountScope, Any]) -> AccountScope:
    scope = runtime.context
    if not isinstance(scope, AccountScope):
        raise KeelError("account tools need an AccountScope context (the account under review)")
    return scope


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str, ensure_ascii=False)


def make_account_tools(reader: AccountReader) -> list[BaseTool]:
    """The analyst's tools over ``reader``; the account comes from the run's context."""

    def account_profile(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Profile of the account under review: segment, ARR, plan, owner CSM, renewal date,
        and its contacts (role, title, whether they left)."""
        return _dump(reader.profile(_scope(runtime)))

    def account_signals(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Usage, outcome, adoption, support, NPS and billing signals as of the review
        date, each with its value, its change and since when."""
        return _dump(reader.signals(_scope(runtime)))

    def account_health(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Calibrated health (churn risk), its percentile in the book, and the explanation:
        which factors raise or lower the risk and by how much."""
        return _dump(reader.health(_scope(runtime)))

    def candidate_hypotheses(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Deterministic risk and expansion hypotheses for the account, each with the ids
        of the evidence behind it."""
        return _dump(reader.hypotheses(_scope(runtime)))

    def search_evidence(query: str, runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Search the account's recent tickets, call notes and NPS comments for evidence
        about a topic (e.g. 'outage complaints', 'new teams onboarding')."""
        return _dump(reader.search_evidence(_scope(runtime), query))

    def similar_churned_accounts(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Accounts that churned after a pattern similar to this account's, and what
        they had in common."""
        return _dump(reader.similar_churned(_scope(runtime)))

    def renewal_and_billing(runtime: ToolRuntime[AccountScope, Any]) -> str:
        """Upcoming renewal (date, days left, ARR), past renewal outcomes, recent invoices
        and any late or failed payment."""
        return _dump(reader.renewal_and_billing(_scope(runtime)))

    functions = (
        account_profile,
        account_signals,
        account_health,
        candidate_hypotheses,
        search_evidence,
        similar_churned_accounts,
        renewal_and_billing,
    )
    return [StructuredTool.from_function(fn) for fn in functions]
