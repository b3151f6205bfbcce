"""The morning digest: one per CSM and one for the CS leader, after a nightly run.

Written as Markdown and HTML under ``<data_dir>/digests/<as-of>/`` (``leader.*`` and one
``<csm>.*`` per CSM). Each says: the accounts that moved into or out of risk since the last
run and why (the two runs' scored snapshots compared: flag and band), renewals in the next
90 days with their health, expansion openings, the drafts waiting for approval, and what
the AI-led tier sent on its own. Accounts are named by name, with their external id as a
reference; action ids appear only as references a reader can pass to ``keel approvals``.

When asked (``keel nightly --send-digests``), each digest is also sent through the
outbound adapter of the internal channel (dry-run outbox, webhook, or whatever
``KEEL_OUTBOUND_CHANNEL`` configures), after the recipient and content checks every
internal message passes (:func:`send_digests`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from keel.agents.compose_text import money
from keel.api.services.approvals import ActionSummary, list_inbox
from keel.app import App
from keel.errors import KeelError
from keel.memory import runs
from keel.memory.actions import ActionStatus, ProposedAction
from keel.memory.models import Account
from keel.memory.snapshots import AccountHealthRow, BookSnapshot, health_rows
from keel.tools.priorities import health_standing

RENEWAL_WINDOW_DAYS = 90
INBOX_PAGE = 1000
LEADER = "leader"


@dataclass(frozen=True)
class Move:
    """An account that moved into or out of risk between two runs."""

    row: AccountHealthRow
    into_risk: bool
    before: str
    why: str


@dataclass
class Digest:
    """One reader's digest (a CSM's, or the leader's: ``owner`` None)."""

    as_of: dt.date
    owner: str | None
    previous: dt.date | None
    into_risk: list[Move] = field(default_factory=list)
    out_of_risk: list[Move] = field(default_factory=list)
    renewals: list[AccountHealthRow] = field(default_factory=list)
    expansions: list[AccountHealthRow] = field(default_factory=list)
    waiting: list[ActionSummary] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # account, play, ref


def build_digests(app: App, *, as_of: dt.date) -> list[Digest]:
    """The leader's digest first, then one per CSM with accounts in the snapshot."""
    current = _snapshot_rows(app, as_of)
    earlier = runs.previous_run(app.engine, before=as_of)
    before = _snapshot_rows(app, earlier.as_of) if earlier is not None else []
    before_by_id = {r.account_id: r for r in before}
    moves = [m for r in current if (m := _move(r, before_by_id.get(r.account_id))) is not None]
    renewals = sorted(
        (
            r
            for r in current
            if r.days_to_renewal is not None and 0 <= r.days_to_renewal <= RENEWAL_WINDOW_DAYS
        ),
        key=lambda r: r.days_to_renewal or 0,
    )
    expansions = sorted(
        (r for r in current if r.expansion_rank is not None), key=lambda r: r.expansion_rank or 0
    )
    owner_of = {r.account_id: r.owner_csm for r in current}
    waiting = list_inbox(app, status="pending", limit=INBOX_PAGE).items
    sent = _sent_alone(app, as_of)
    previous = earlier.as_of if earlier is not None else None

    def digest(owner: str | None) -> Digest:
        def mine(account_id: int) -> bool:
            return owner is None or owner_of.get(account_id) == owner

        return Digest(
            as_of=as_of,
            owner=owner,
            previous=previous,
            into_risk=[m for m in moves if m.into_risk and mine(m.row.account_id)],
            out_of_risk=[m for m in moves if not m.into_risk and mine(m.row.account_id)],
            renewals=[r for r in renewals if mine(r.account_id)],
            expansions=[r for r in expansions if mine(r.account_id)],
            waiting=[w for w in waiting if mine(w.account_id)],
            sent=[(name, play, ref) for account_id, name, play, ref in sent if mine(account_id)],
        )

    owners = sorted({r.owner_csm for r in current if r.owner_csm})
    return [digest(None), *(digest(o) for o in owners)]


def write_digests(
    app: App, *, as_of: dt.date, digests: Sequence[Digest] | None = None
) -> list[Path]:
    """Write every digest as Markdown and HTML; the paths written."""
    folder = app.settings.data_dir / "digests" / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for digest in digests if digests is not None else build_digests(app, as_of=as_of):
        stem = LEADER if digest.owner is None else _slug(digest.owner)
        for suffix, text in ((".md", to_markdown(digest)), (".html", to_html(digest))):
            path = folder / f"{stem}{suffix}"
            tmp = path.with_suffix(suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            written.append(path)
    return written


# ------------------------------------------------------------------------------- content


def _snapshot_rows(app: App, as_of: dt.date) -> list[AccountHealthRow]:
    with Session(app.engine) as session:
        snapshot = session.exec(
            select(BookSnapshot)
            .where(BookSnapshot.as_of == as_of)
            .order_by(col(BookSnapshot.id).desc())
        ).first()
    if snapshot is None or snapshot.id is None:
        return []
    return health_rows(app.engine, snapshot.id)


def _at_risk(row: AccountHealthRow) -> bool:
    return row.flagged


def _move(now: AccountHealthRow, then: AccountHealthRow | None) -> Move | None:
    was = then is not None and _at_risk(then)
    if _at_risk(now) == was:
        return None
    before = (
        health_standing(then.percentile, then.probability)
        if then is not None
        else "not in the last run"
    )
    if _at_risk(now):
        why = now.reason or f"{now.probability:.0%} churn risk"
    else:
        why = f"{health_standing(now.percentile, now.probability)}; {now.reason}".rstrip("; ")
    return Move(row=now, into_risk=_at_risk(now), before=before, why=why)


def _sent_alone(app: App, as_of: dt.date) -> list[tuple[int, str, str, str]]:
    """What went out tonight without a human's approval (the AI-led tier), in any of the
    night's generations."""
    prefix = f"nightly:{as_of.isoformat()}:"
    with Session(app.engine) as session:
        found = session.exec(
            select(ProposedAction, Account.name)
            .join(Account, col(Account.id) == col(ProposedAction.account_id))
            .where(
                col(ProposedAction.thread_id).startswith(prefix),
                ProposedAction.status == ActionStatus.SENT,
                col(ProposedAction.needs_approval).is_(False),
            )
        ).all()
    return [(a.account_id, name, a.play_id, a.id) for a, name in found]


def _slug(owner: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", owner.casefold()).strip("-") or "unassigned"


def _account(row: AccountHealthRow) -> str:
    return f"{row.name} ({row.external_id})"


def _sections(d: Digest) -> list[tuple[str, list[str]]]:
    since = f"since {d.previous}" if d.previous else "(first run: no earlier run to compare)"
    return [
        (
            f"Moved into risk {since}",
            [f"{_account(m.row)}: was {m.before}; now {m.why}" for m in d.into_risk],
        ),
        (
            f"Moved out of risk {since}",
            [f"{_account(m.row)}: was {m.before}; {m.why}" for m in d.out_of_risk],
        ),
        (
            f"Renewals in the next {RENEWAL_WINDOW_DAYS} days",
            [
                f"{_account(r)}: renews {r.renewal_date} (in {r.days_to_renewal} days), "
                f"{health_standing(r.percentile, r.probability)}, ARR {money(r.arr)}"
                for r in d.renewals
            ],
        ),
        (
            "Expansion openings",
            [f"{_account(r)}: {r.expansion_reason or 'expansion signal'}" for r in d.expansions],
        ),
        (
            "Drafts waiting for approval",
            [
                f"{w.account_name}: {w.play} by {w.channel}"
                + (f', "{w.subject}"' if w.subject else "")
                + f" (ref {w.id})"
                for w in d.waiting
            ],
        ),
        (
            "Sent by the AI-led tier on its own",
            [f"{name}: {play} (ref {ref})" for name, play, ref in d.sent],
        ),
    ]


def _title(d: Digest) -> str:
    reader = "CS leader" if d.owner is None else d.owner
    return f"Keel morning digest for {reader}, {d.as_of}"


def to_markdown(d: Digest) -> str:
    lines = [f"# {_title(d)}", ""]
    for heading, items in _sections(d):
        lines += [f"## {heading} ({len(items)})", ""]
        lines += [f"- {item}" for item in items] or ["- none"]
        lines.append("")
    return "\n".join(lines)


def to_html(d: Digest) -> str:
    parts = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(_title(d))}</title></head><body>",
        f"<h1>{html.escape(_title(d))}</h1>",
    ]
    for heading, items in _sections(d):
        parts.append(f"<h2>{html.escape(heading)} ({len(items)})</h2>")
        body: Sequence[str] = items or ["none"]
        parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in body) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------- sending

DIGEST_PLAY = "morning_digest"
SENT_LEDGER = "sent.json"


@dataclass(frozen=True)
class DigestDelivery:
    """What happened to one reader's digest: ``sent``, ``already_sent``, ``refused`` (a
    guard said no: ``detail`` says why) or ``failed`` (the transport failed)."""

    reader: str
    status: str
    transport: str = ""
    detail: str = ""


def digest_key(as_of: dt.date, generation: str, reader: str) -> str:
    """One key per reader and night: a night run again never sends its digest twice."""
    from keel.memory.actions import canonical_json

    material = canonical_json(["digest", as_of.isoformat(), generation, reader])
    return hashlib.sha256(material.encode()).hexdigest()


def send_digests(
    app: App,
    digests: Sequence[Digest],
    *,
    generation: str = "",
    leader: str | None = None,
) -> list[DigestDelivery]:
    """Send each digest through the outbound adapter of the internal channel.

    Each CSM's digest goes to that CSM only; the leader's to ``leader`` (or, when None, to
    the channel itself, addressed to nobody). The checks the executor makes on any
    internal message are made first (recipients: the owner only; content: links on the
    allow-list, no markup, no offer, no address but the recipient's); a digest they refuse
    is not sent and says why. A digest goes once per reader and night: the adapter gets a
    key per (night, reader), and a ledger beside the digest files remembers what went (a
    crash between a send and its ledger line may repeat that one send on a transport that
    cannot dedupe by key).
    """
    from keel.memory.actions import Channel, DraftKind
    from keel.tools.outbound.base import RenderedMessage
    from keel.tools.outbound.guards import content_problems, recipient_problems

    if not digests:
        return []
    adapter = app.outbound[str(Channel.INTERNAL)]
    folder = app.settings.data_dir / "digests" / digests[0].as_of.isoformat()
    ledger_path = folder / SENT_LEDGER
    ledger: dict[str, dict[str, str]] = (
        json.loads(ledger_path.read_text(encoding="utf-8")) if ledger_path.exists() else {}
    )
    results: list[DigestDelivery] = []
    for digest in digests:
        reader = LEADER if digest.owner is None else digest.owner
        address = leader if digest.owner is None else digest.owner
        key = digest_key(digest.as_of, generation, reader)
        if ledger.get(reader, {}).get("key") == key:
            results.append(DigestDelivery(reader, "already_sent", ledger[reader]["transport"]))
            continue
        if adapter.name == "crm":
            results.append(
                DigestDelivery(reader, "refused", adapter.name, "a digest is not a CRM task")
            )
            continue
        to = [address] if address else []
        subject, body = _title(digest), to_markdown(digest)
        problems = recipient_problems(
            channel=Channel.INTERNAL,
            to=to,
            cc=[],
            recipient_contact_id=None,
            account_id=0,
            owner_csm=address or "",
            contacts=[],
        ) + content_problems(
            subject=subject,
            body=body,
            declared_links=[],
            allowlist=app.settings.link_allowlist,
            approved_offers=[],
            addresses=to,
        )
        if problems:
            results.append(DigestDelivery(reader, "refused", adapter.name, "; ".join(problems)))
            continue
        message = RenderedMessage(
            action_id=f"digest-{key[:16]}",
            account_id=0,
            account_external_id="digest",
            account_name=f"Morning digest {digest.as_of}",
            owner_csm=address or "",
            play_id=DIGEST_PLAY,
            channel=Channel.INTERNAL,
            draft_kind=DraftKind.INTERNAL_NOTE,
            subject=subject,
            body=body,
            to=tuple(to),
            cc=(),
            links=(),
            rendered_at=dt.datetime.now(dt.UTC),
            metadata={"digest": reader, "as_of": digest.as_of.isoformat()},
        )
        try:
            receipt = adapter.send(message, idempotency_key=key)
        except KeelError as exc:  # the transport failed: the next run of the night retries
            results.append(DigestDelivery(reader, "failed", adapter.name, str(exc)))
            continue
        ledger[reader] = {"key": key, "transport": receipt.transport, "id": receipt.external_id}
        _write_json(ledger_path, ledger)
        status = "already_sent" if receipt.duplicate else "sent"
        results.append(DigestDelivery(reader, status, receipt.transport, receipt.detail))
    return results


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
