"""The chat's read-only tools: one CSM's book, and any one account in it.

A CSM chatting with the analyst may ask about one account (the account tools of
:mod:`keel.tools.account_tools`, here with an optional ``account`` argument) or about their
whole book (renewals in a window, expansion openings, accounts gone quiet, what the last
scoring changed). Every tool reads the scored book or the telemetry tables; none writes.

Who asks, and which account the conversation is about, come from the run's context
(:class:`BookScope`), never from the model's arguments alone: an account the model names is
resolved and served only when the asking CSM owns it; otherwise the tool returns a refusal
that says why, which the agent relays. The one tool that is about action,
``propose_draft``, writes nothing either: it returns a proposal record, and the caller
sends it down the review's own path (policy check, approval interrupt, executor).

Every record carries an evidence id (``renewal:R-1``, ``health:A-1@2024-05-01``,
``note:N-3``) that answers cite.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.domain.plays import PLAY_LIBRARY
from keel.errors import KeelError
from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    Invoice,
    NpsResponse,
    Renewal,
    Ticket,
)
from keel.memory.snapshots import AccountHealthRow, BookSnapshot, health_rows
from keel.tools.account_intel import AccountIntel
from keel.tools.account_tools import (
    TOOL_COHORT,
    TOOL_EVIDENCE,
    TOOL_HEALTH,
    TOOL_HYPOTHESES,
    TOOL_PROFILE,
    TOOL_RENEWAL,
    TOOL_SIGNALS,
    AccountNotFound,
    AccountReader,
    AccountScope,
    resolve_account,
)

TOOL_RENEWALS: Final = "book_renewals"
TOOL_EXPANSION: Final = "book_expansion_openings"
TOOL_QUIET: Final = "book_quiet_accounts"
TOOL_CHANGES: Final = "book_scoring_changes"
TOOL_PROPOSE: Final = "propose_draft"
ACCOUNT_TOOLS: Final = (
    TOOL_PROFILE,
    TOOL_SIGNALS,
    TOOL_HEALTH,
    TOOL_HYPOTHESES,
    TOOL_EVIDENCE,
    TOOL_COHORT,
    TOOL_RENEWAL,
)
BOOK_TOOLS: Final = (TOOL_RENEWALS, TOOL_EXPANSION, TOOL_QUIET, TOOL_CHANGES)
READ_TOOLS: Final = (*ACCOUNT_TOOLS, *BOOK_TOOLS)

# Evidence kinds that name one record of one account, and its table.
_RECORD_TABLES: Final[dict[str, Any]] = {
    "ticket": Ticket,
    "note": CallNote,
    "nps": NpsResponse,
    "renewal": Renewal,
    "invoice": Invoice,
    "contact": Contact,
    "account": Account,
}

DEFAULT_WINDOW_DAYS: Final = 90
DEFAULT_QUIET_DAYS: Final = 45
# A risk move smaller than this between two scorings is noise, not a change worth telling.
MIN_RISK_CHANGE: Final = 0.05
MAX_ROWS: Final = 12


@dataclass(frozen=True)
class BookScope:
    """Whose book a chat run reads, the account it is about (if any) and the date.

    Attributes:
        user: The CSM asking (as stored in ``Account.owner_csm``).
        account_id: The account the conversation is about, when it is about one.
        as_of: The date everything is read as of.
        budget: The run's model budget, carried because this scope is the chat agent's
            context (:func:`keel.agents.budget.budget_in_run` reads it); tools never do.
    """

    user: str
    as_of: dt.date
    account_id: int | None = None
    budget: object | None = None


class Refused(KeelError):
    """The asking CSM may not read this (another CSM's account, or no account named)."""


def owns(account: Account, user: str) -> bool:
    """Whether ``user`` is the account's owner CSM (case-insensitive)."""
    return (account.owner_csm or "").strip().lower() == user.strip().lower()


# Draft requests in words, and the library play that answers each (first match wins). The
# play is the model's to name; this is for a request given only in words.
_PLAY_WORDS: Final = (
    (r"renew", "renewal_kickoff"),
    (r"left|leaving|new champion|multi-?thread|introduc", "champion_left_multithread"),
    (r"exec|sponsor", "exec_sponsor_briefing"),
    (r"save|rescue|turn ?around", "save_plan"),
    (r"expan|upsell|grow|seats", "expansion_conversation"),
    (r"invoice|billing|payment", "billing_followup"),
    (r"ticket|support", "ticket_satisfaction_pulse"),
    (r"quality", "quality_regression_followup"),
    (r"escalat|internal", "internal_escalation"),
    (r"congrat|adoption", "adoption_congrats"),
    (r"check[- ]?in|usage", "usage_drop_checkin"),
)


# A proposal in words must ask for a draft (a question that mentions a renewal is not one).
DRAFT_ASK: Final = re.compile(r"\b(draft|write|prepare|compose)\b", re.IGNORECASE)


def play_for_request(request: str) -> str | None:
    """The library play a draft request in words asks for, or None."""
    lowered = request.lower()
    for pattern, play in _PLAY_WORDS:
        if re.search(pattern, lowered):
            return play
    return None


class BookReader:
    """Read-only queries over one CSM's book, and their accounts through ``accounts``.

    Args:
        engine: The telemetry database.
        accounts: The analyst's account queries (the same tools the review uses).
        intel: The scored book; ``accounts``' when None.
    """

    def __init__(
        self, engine: Engine, *, accounts: AccountReader, intel: AccountIntel | None = None
    ) -> None:
        self.engine = engine
        self.accounts = accounts
        self.intel = intel or accounts.intel

    # --- scoping ---------------------------------------------------------------------------

    def account_scope(self, scope: BookScope, account: str | None = None) -> AccountScope:
        """The account scope a tool reads: the named account, else the conversation's.

        Raises:
            Refused: no account is named or in focus, it does not exist, or another CSM
                owns it.
        """
        if account and account.strip():
            try:
                found = resolve_account(self.engine, account.strip())
            except AccountNotFound as exc:
                raise Refused(str(exc)) from exc
        elif scope.account_id is not None:
            with Session(self.engine) as session:
                found_or_none = session.get(Account, scope.account_id)
            if found_or_none is None:
                raise Refused(f"account {scope.account_id} does not exist")
            found = found_or_none
        else:
            raise Refused(
                "no account is in focus: name one (its external id or name) or choose one "
                "with /account"
            )
        if not owns(found, scope.user):
            raise Refused(
                f"{found.external_id} is not in {scope.user}'s book (its owner is another "
                "CSM); I can only read the accounts you own"
            )
        return AccountScope(account_id=found.id or 0, as_of=scope.as_of)

    def citation_scope(self, evidence_id: str, user: str) -> str | None:
        """Why ``user`` may not cite ``evidence_id``, or None when they may: a record id
        (ticket, note, NPS response, renewal, invoice, contact, account, health) must name
        a record of an account in their book. Metric, signal, factor and cohort ids name
        no record of one account (a cohort is other, churned accounts, shown by design)."""
        kind, _, key = evidence_id.partition(":")
        table = _RECORD_TABLES.get(kind)
        if kind == "health":
            table, key = Account, key.partition("@")[0]
        if table is None:
            return None
        with Session(self.engine) as session:
            row = session.exec(select(table).where(table.external_id == key)).first()
            if row is None:
                return f"{evidence_id} names no record"
            owner = row if isinstance(row, Account) else session.get(Account, row.account_id)
        if owner is None or not owns(owner, user):
            ref = owner.external_id if owner else "its account"
            return f"{evidence_id} belongs to {ref}, which is not in {user}'s book"
        return None

    def _mine(self, snapshot: BookSnapshot, user: str) -> list[AccountHealthRow]:
        assert snapshot.id is not None
        wanted = user.strip().lower()
        return [r for r in health_rows(self.engine, snapshot.id) if r.owner_csm.lower() == wanted]

    # --- the book --------------------------------------------------------------------------

    def renewals(
        self, scope: BookScope, *, within_days: int = DEFAULT_WINDOW_DAYS, at_risk: bool = False
    ) -> dict[str, Any]:
        """The CSM's accounts renewing within ``within_days``, soonest first, with health."""
        snapshot = self.intel.snapshot(scope.as_of)
        until = scope.as_of + dt.timedelta(days=within_days)
        rows = [
            r
            for r in self._mine(snapshot, scope.user)
            if r.next_renewal_date is not None and scope.as_of <= r.next_renewal_date <= until
        ]
        if at_risk:
            rows = [r for r in rows if r.flagged or r.band == "at risk"]
        rows.sort(key=lambda r: (r.next_renewal_date or dt.date.max, r.external_id))
        return {
            "as_of": scope.as_of.isoformat(),
            "window_days": within_days,
            "only_at_risk": at_risk,
            "renewals": [
                _health_item(r, scope.as_of)
                | {
                    "renewal_id": f"renewal:{r.next_renewal_external_id}",
                    "renewal_date": r.next_renewal_date.isoformat()
                    if r.next_renewal_date
                    else None,
                    "days_to_renewal": (r.next_renewal_date - scope.as_of).days
                    if r.next_renewal_date
                    else None,
                    "arr_at_risk": round(r.arr_at_risk, 2),
                }
                for r in rows[:MAX_ROWS]
            ],
        }

    def expansion(self, scope: BookScope) -> dict[str, Any]:
        """The CSM's accounts with expansion hypotheses, best opening first."""
        snapshot = self.intel.snapshot(scope.as_of)
        rows = [r for r in self._mine(snapshot, scope.user) if r.expansion_rank]
        rows.sort(key=lambda r: (r.expansion_rank or 0, r.external_id))
        openings = []
        for row in rows[:MAX_ROWS]:
            found = self.intel.hypotheses(row.account_id, scope.as_of)
            ideas = [h for h in found["hypotheses"] if h["kind"] == "expansion"]
            if not ideas:
                continue
            openings.append(
                _health_item(row, scope.as_of)
                | {
                    "expansion_reason": row.expansion_reason,
                    "hypotheses": [
                        {
                            "id": h["id"],
                            "statement": h["statement"],
                            "evidence_ids": h["evidence_ids"],
                        }
                        for h in ideas[:3]
                    ],
                }
            )
        return {"as_of": scope.as_of.isoformat(), "openings": openings}

    def quiet(self, scope: BookScope, *, days: int = DEFAULT_QUIET_DAYS) -> dict[str, Any]:
        """The CSM's accounts with no call note, ticket, NPS response or contact engagement
        in ``days`` days, quietest first, with their last touch."""
        snapshot = self.intel.snapshot(scope.as_of)
        rows = self._mine(snapshot, scope.user)
        cutoff = scope.as_of - dt.timedelta(days=days)
        quiet = []
        for row in rows:
            last = self._last_touch(row.account_id, scope.as_of)
            if last is None or last[0] < cutoff:
                item = _health_item(row, scope.as_of)
                if last is not None:
                    item |= {
                        "last_touch_on": last[0].isoformat(),
                        "last_touch_id": last[1],
                        "days_quiet": (scope.as_of - last[0]).days,
                    }
                else:
                    item |= {"last_touch_on": None, "last_touch_id": None, "days_quiet": None}
                quiet.append(item)
        quiet.sort(key=lambda q: (q["last_touch_on"] or "", q["external_id"]))
        return {"as_of": scope.as_of.isoformat(), "quiet_days": days, "quiet": quiet[:MAX_ROWS]}

    def _last_touch(self, account_id: int, as_of: dt.date) -> tuple[dt.date, str] | None:
        until = dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.UTC)
        found: list[tuple[dt.date, str]] = []
        with Session(self.engine) as session:
            note = session.exec(
                select(CallNote)
                .where(CallNote.account_id == account_id, col(CallNote.occurred_on) <= as_of)
                .order_by(col(CallNote.occurred_on).desc())
                .limit(1)
            ).first()
            if note is not None:
                found.append((note.occurred_on, f"note:{note.external_id}"))
            ticket = session.exec(
                select(Ticket)
                .where(Ticket.account_id == account_id, col(Ticket.opened_at) <= until)
                .order_by(col(Ticket.opened_at).desc())
                .limit(1)
            ).first()
            if ticket is not None:
                found.append((ticket.opened_at.date(), f"ticket:{ticket.external_id}"))
            nps = session.exec(
                select(NpsResponse)
                .where(NpsResponse.account_id == account_id, col(NpsResponse.responded_on) <= as_of)
                .order_by(col(NpsResponse.responded_on).desc())
                .limit(1)
            ).first()
            if nps is not None:
                found.append((nps.responded_on, f"nps:{nps.external_id}"))
            contact = session.exec(
                select(Contact)
                .where(Contact.account_id == account_id, col(Contact.last_engagement) <= as_of)
                .order_by(col(Contact.last_engagement).desc())
                .limit(1)
            ).first()
            if contact is not None and contact.last_engagement is not None:
                found.append((contact.last_engagement, f"contact:{contact.external_id}"))
        return max(found) if found else None

    def scoring_changes(self, scope: BookScope) -> dict[str, Any]:
        """What the latest scoring changed in the CSM's book against the one before it:
        band moves, new or cleared flags, and risk moves of at least 5 points."""
        current = self.intel.snapshot(scope.as_of)
        with Session(self.engine) as session:
            previous = session.exec(
                select(BookSnapshot)
                .where(
                    col(BookSnapshot.as_of) < current.as_of,
                    BookSnapshot.horizon_days == current.horizon_days,
                    BookSnapshot.model_kind == current.model_kind,
                )
                .order_by(col(BookSnapshot.as_of).desc())
                .limit(1)
            ).first()
            scored = session.exec(select(func.count()).select_from(BookSnapshot)).one()
        result: dict[str, Any] = {
            "as_of": current.as_of.isoformat(),
            "scored_at": current.scored_at.isoformat(timespec="seconds"),
            "snapshots_in_store": int(scored),
            "previous_as_of": previous.as_of.isoformat() if previous else None,
            "changes": [],
        }
        if previous is None:
            result["note"] = "no earlier scoring of the book to compare with"
            return result
        before = {r.account_id: r for r in self._mine(previous, scope.user)}
        changes = []
        for row in self._mine(current, scope.user):
            old = before.get(row.account_id)
            if old is None:
                changes.append(_change(row, None, current.as_of, previous.as_of, "newly scored"))
                continue
            what = []
            if old.band != row.band:
                what.append(f"band {old.band} -> {row.band}")
            if old.flagged != row.flagged:
                what.append("newly flagged at risk" if row.flagged else "no longer flagged")
            if abs(row.probability - old.probability) >= MIN_RISK_CHANGE:
                what.append(f"risk {old.probability:.0%} -> {row.probability:.0%}")
            if what:
                changes.append(_change(row, old, current.as_of, previous.as_of, "; ".join(what)))
        changes.sort(key=lambda c: (-abs(c["risk_change"]), c["external_id"]))
        result["changes"] = changes[:MAX_ROWS]
        return result

    # --- actions, proposed only ------------------------------------------------------------

    def propose(
        self, scope: BookScope, *, request: str, play: str | None = None, account: str | None = None
    ) -> dict[str, Any]:
        """A proposal to draft ``play`` (or the play ``request`` asks for) for an account of
        the CSM. Nothing is drafted or sent here: the caller starts the review's path."""
        target = self.account_scope(scope, account)
        chosen = (play or "").strip()
        if not chosen:
            if not DRAFT_ASK.search(request):
                return {"proposed": False, "reason": "the request does not ask for a draft"}
            chosen = play_for_request(request) or ""
        if chosen is None or chosen not in PLAY_LIBRARY:
            return {
                "proposed": False,
                "reason": f"no play named '{chosen}'" if chosen else "no play matches the request",
                "plays": sorted(PLAY_LIBRARY),
            }
        with Session(self.engine) as session:
            found = session.get(Account, target.account_id)
        assert found is not None
        return {
            "proposed": True,
            "proposal": {
                "account_id": target.account_id,
                "external_id": found.external_id,
                "account_name": found.name,
                "play": chosen,
                "play_title": PLAY_LIBRARY[chosen].title,
                "asked": request[:500],
            },
            "status": "to be drafted and checked against the policy; it waits in the approval "
            "queue and nothing is sent before a person approves it",
        }


def _health_item(row: AccountHealthRow, as_of: dt.date) -> dict[str, Any]:
    return {
        "account": row.name,
        "external_id": row.external_id,
        "health_id": f"health:{row.external_id}@{as_of.isoformat()}",
        "score": round(100.0 * (1.0 - row.probability), 1),
        "risk": round(row.probability, 4),
        "band": row.band,
        "flagged": row.flagged,
        "arr": round(row.arr, 2),
    }


def _change(
    row: AccountHealthRow,
    old: AccountHealthRow | None,
    as_of: dt.date,
    before: dt.date,
    what: str,
) -> dict[str, Any]:
    return {
        "account": row.name,
        "external_id": row.external_id,
        "what": what,
        "risk_before": round(old.probability, 4) if old else None,
        "risk_after": round(row.probability, 4),
        "risk_change": round(row.probability - (old.probability if old else row.probability), 4),
        "band_before": old.band if old else None,
        "band_after": row.band,
        "evidence_ids": [
            f"health:{row.external_id}@{as_of.isoformat()}",
            *([f"health:{row.external_id}@{before.isoformat()}"] if old else []),
        ],
    }


# --------------------------------------------------------------------------- the tools


def _scope(runtime: ToolRuntime[Any, Any]) -> BookScope:
    scope = runtime.context
    if not isinstance(scope, BookScope):
        raise KeelError("the chat's tools need a BookScope context (who asks, about what)")
    return scope


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str, ensure_ascii=False)


def _guarded(name: str, read: Callable[[], dict[str, Any]]) -> str:
    """A tool's result, or its refusal as a result the agent relays (never an exception)."""
    _progress(name)
    try:
        return _dump(read())
    except Refused as exc:
        return _dump({"refused": True, "reason": str(exc)})
    except KeelError as exc:
        return _dump({"error": str(exc)})


def _progress(name: str) -> None:
    """Tell a streaming caller which tool runs now (LangGraph's ``custom`` stream mode)."""
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()({"tool": name, "status": "running"})
    except (RuntimeError, KeyError):  # not inside a streamed graph run
        return


def make_chat_tools(reader: BookReader) -> list[BaseTool]:
    """The chat's tools over ``reader``: the analyst's account tools (any account of the
    asking CSM, the conversation's by default), the book tools and ``propose_draft``."""
    accounts = reader.accounts

    def on_account(read: Callable[[AccountScope], dict[str, Any]]) -> Callable[..., str]:
        def run(runtime: ToolRuntime[Any, Any], account: str | None, name: str) -> str:
            scope = _scope(runtime)
            return _guarded(name, lambda: read(reader.account_scope(scope, account)))

        return run

    profile = on_account(accounts.profile)
    signals = on_account(accounts.signals)
    health = on_account(accounts.health)
    hypotheses = on_account(accounts.hypotheses)
    cohort = on_account(accounts.similar_churned)
    renewal = on_account(accounts.renewal_and_billing)

    def account_profile(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """Profile of an account (the conversation's unless `account_ref` names one by
        external id or name): segment, ARR, plan, owner, renewal date, and its contacts (role,
        title, last engagement, whether they left)."""
        return profile(runtime, account_ref, TOOL_PROFILE)

    def account_signals(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """Usage, adoption, outcome, support, NPS and billing signals of an account, each
        with its value, its change and since when (metric ids)."""
        return signals(runtime, account_ref, TOOL_SIGNALS)

    def account_health(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """An account's calibrated health (churn risk), its percentile in the book, and
        which factors raise or lower the risk."""
        return health(runtime, account_ref, TOOL_HEALTH)

    def candidate_hypotheses(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """An account's risk and expansion hypotheses, each with its evidence ids."""
        return hypotheses(runtime, account_ref, TOOL_HYPOTHESES)

    def search_evidence(query: str, runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """Search an account's recent tickets, call notes and NPS comments about a topic
        (e.g. 'complaints', 'champion'); customer text comes fenced as data."""
        scope = _scope(runtime)
        return _guarded(
            TOOL_EVIDENCE,
            lambda: accounts.search_evidence(reader.account_scope(scope, account_ref), query),
        )

    def similar_churned_accounts(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """Churned accounts whose path resembled this account's, and what they shared."""
        return cohort(runtime, account_ref, TOOL_COHORT)

    def renewal_and_billing(runtime: ToolRuntime[Any, Any], account_ref: str = "") -> str:
        """An account's upcoming renewal (date, days left, ARR), past renewals, invoices and
        late or failed payments."""
        return renewal(runtime, account_ref, TOOL_RENEWAL)

    def book_renewals(
        runtime: ToolRuntime[Any, Any],
        within_days: int = DEFAULT_WINDOW_DAYS,
        at_risk_only: bool = False,
    ) -> str:
        """Your accounts renewing in the next `within_days` days (90: next quarter), with
        their health; `at_risk_only` keeps the flagged ones."""
        scope = _scope(runtime)
        return _guarded(
            TOOL_RENEWALS,
            lambda: reader.renewals(scope, within_days=within_days, at_risk=at_risk_only),
        )

    def book_expansion_openings(runtime: ToolRuntime[Any, Any]) -> str:
        """Your accounts with expansion openings (seat growth, adoption, healthy renewals),
        best first, with the hypotheses' evidence ids."""
        scope = _scope(runtime)
        return _guarded(TOOL_EXPANSION, lambda: reader.expansion(scope))

    def book_quiet_accounts(runtime: ToolRuntime[Any, Any], days: int = DEFAULT_QUIET_DAYS) -> str:
        """Your accounts gone quiet: no call note, ticket, NPS response or contact
        engagement in `days` days, with their last touch."""
        scope = _scope(runtime)
        return _guarded(TOOL_QUIET, lambda: reader.quiet(scope, days=days))

    def book_scoring_changes(runtime: ToolRuntime[Any, Any]) -> str:
        """What the last scoring of the book (the nightly run) changed in your accounts
        against the scoring before it: band moves, flags, risk moves."""
        scope = _scope(runtime)
        return _guarded(TOOL_CHANGES, lambda: reader.scoring_changes(scope))

    def propose_draft(
        request: str,
        runtime: ToolRuntime[Any, Any],
        play: str = "",
        account_ref: str = "",
    ) -> str:
        """Propose that Keel prepare an outreach message (an email or note to a contact) for
        human approval; `play` is a play-library id (e.g. renewal_kickoff), else one is
        chosen from `request`. Nothing is sent: it waits in the approval queue."""
        scope = _scope(runtime)
        return _guarded(
            TOOL_PROPOSE,
            lambda: reader.propose(scope, request=request, play=play, account=account_ref),
        )

    functions = (
        account_profile,
        account_signals,
        account_health,
        candidate_hypotheses,
        search_evidence,
        similar_churned_accounts,
        renewal_and_billing,
        book_renewals,
        book_expansion_openings,
        book_quiet_accounts,
        book_scoring_changes,
        propose_draft,
    )
    return [StructuredTool.from_function(fn) for fn in functions]
