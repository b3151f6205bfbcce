"""CLI commands: ``keel review``, ``keel prep`` and ``keel approvals``.

``keel review ACCOUNT`` runs the review graph for one account (the analyst's briefing, the
planner's plays, a draft per play) and stops where the policy wants a human; ``keel
approvals`` lists what waits and answers it (approve, edit, respond, reject), resuming the
paused review through the checkpointer, so the approved action is sent exactly once.

Exit status: 0 when the command did what it says; 1 when a review step failed or an
approved action is not sent (yet) -- the last line says which and what to do; 2 when the
command was refused (a second decision, a bad argument).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from keel.api.cli.common import console, make_app
from keel.api.cli.outbox import print_report
from keel.api.services.reviews import SETTLE_SECONDS
from keel.errors import KeelError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keel.graphs.runner import ReviewResult
    from keel.memory.actions import Repeat
    from keel.runtime import Runtime

REVIEW_HELP = (
    "Review one account: a cited briefing, plays chosen under the policy, a draft per play; "
    "actions the policy gates wait in the approval queue (see `keel approvals`).\n\n"
    "Runs on the OpenAI-compatible model when configured (OPENAI_API_KEY / "
    "KEEL_LLM_BASE_URL), otherwise on the offline model.\n\n"
    "Examples:\n\n"
    "  keel review acc-00012\n"
    "  keel review 'Northwind Logistics' --as-of 2026-06-30\n"
)
PREP_HELP = (
    "Meeting prep for one account: a one-page brief with three talking points; with --note, "
    "also a summary of the call note with its action items.\n\n"
    "Examples:\n\n"
    "  keel prep acc-00012\n"
    "  keel prep acc-00012 --note call-2026-06-30.txt\n"
)
APPROVALS_HELP = (
    "The approval queue: list, show, approve, edit, respond (feedback: the drafter revises "
    "and asks again) or reject (with a reason); retry sends a failed action again. "
    "Decisions are recorded with your name (--user, default $USER); a second decision on the "
    "same action is refused (exit 2). Approving records the decision and tries to send at "
    "once; if the send does not finish, the command exits 1 and says why, and "
    "`keel outbox run` delivers it later.\n\n"
    "Examples:\n\n"
    "  keel approvals list\n"
    "  keel approvals show 3f2a...\n"
    "  keel approvals approve 3f2a...\n"
    "  keel approvals edit 3f2a... --subject 'Quick check-in' --file body.txt\n"
    "  keel approvals respond 3f2a... --message 'Shorter, and mention the QBR on Friday'\n"
    "  keel approvals reject 3f2a... --reason 'Already discussed on the phone'\n"
    "  keel approvals retry 3f2a...\n"
)
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Who decides (default: $USER).", show_default=False),
]
AsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Review date (default: latest data).",
        show_default=False,
    ),
]
VectorsOption = Annotated[
    bool | None,
    typer.Option(
        "--vectors/--no-vectors",
        help="Search evidence in the vector index (default: when an index exists).",
        show_default=False,
    ),
]


def default_user(user: str | None) -> str:
    if user and user.strip():
        return user.strip()
    name = os.environ.get("USER") or os.environ.get("USERNAME")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = ""
    if not name:
        raise KeelError("no reviewer name: pass --user NAME")
    return name


# ------------------------------------------------------------------------------ review


def review_command(
    account: Annotated[str, typer.Argument(help="External id, name or internal id.")],
    as_of: AsOfOption = None,
    vectors: VectorsOption = None,
) -> None:
    from keel.api.services.reviews import review_account, review_date
    from keel.tools.account_tools import resolve_account

    app = make_app(use_vectors=vectors)
    found = resolve_account(app.engine, account)
    day = review_date(app, as_of.date() if as_of else None)
    console.print(
        f"[dim]Reviewing {found.name} ({found.external_id}) as of {day} with "
        f"{app.model_label}...[/]"
    )
    run = review_account(app, found.external_id, as_of=day, worker_id="keel review")
    result = run.result
    print_review(app, result)
    print_repeats(app, run.repeats)
    print_report(run.delivery, quiet_when_idle=True)
    if result.failures:
        console.print(
            "[bold red]review finished with failures:[/] " + "; ".join(result.failures),
            highlight=False,
        )
        raise typer.Exit(1)


def print_review(runtime: Runtime, result: ReviewResult) -> None:
    """The briefing, the plan, what waits for approval and what happened."""
    for error in result.errors:
        where = f" ({error['play']})" if error.get("play") else ""
        console.print(f"[bold red]{error['step']}{where} failed:[/] {error['error']}")
    briefing = result.briefing
    if briefing is not None:
        lines = [briefing.summary, ""]
        if briefing.changes:
            lines.append("**What changed**")
            for change in briefing.changes:
                since = f" (since {change.since})" if change.since else ""
                lines.append(f"- {change.description}{since} `{', '.join(change.evidence_ids)}`")
        for title, items in (
            ("Risk hypotheses", briefing.risk_hypotheses),
            ("Expansion hypotheses", briefing.expansion_hypotheses),
        ):
            if items:
                lines.append(f"\n**{title}**")
                for h in items:
                    lines.append(
                        f"- {h.statement} ({h.confidence:.0%}; {h.category}) "
                        f"`{', '.join(h.evidence_ids)}`"
                    )
        console.print(
            Panel(
                Markdown("\n".join(lines)),
                title=f"Briefing: {briefing.account_name} as of {briefing.as_of}",
                subtitle=briefing.produced_by,
            )
        )
    plan = result.plan or {}
    if plan.get("plays") or plan.get("dropped"):
        table = Table(title="Plan", show_lines=False)
        table.add_column("play")
        table.add_column("why")
        table.add_column("answers")
        for item in plan.get("plays") or []:
            table.add_row(item["play"], item["rationale"], item.get("hypothesis_id") or "")
        for item in plan.get("dropped") or []:
            table.add_row(f"[dim]{item['play']}[/]", f"[dim]not planned: {item['reason']}[/]", "")
        console.print(table)
    elif briefing is not None:
        note = f": {plan['note']}" if plan.get("note") else "."
        console.print(f"[dim]No play planned for this account{note}[/]")
    for pending in result.pending:
        print_action(runtime, pending.action_id, waiting=True)
    for outcome in result.outcomes:
        detail = f" - {outcome['detail']}" if outcome.get("detail") else ""
        reasons = "; ".join(outcome.get("reasons") or [])
        shown = outcome.get("status") in ("blocked", "failed", "refused")
        said = reasons in str(outcome.get("detail") or "")
        extra = f"\n    [dim]{reasons}[/]" if shown and reasons and not said else ""
        console.print(f"[bold]{outcome['play']}[/]: {outcome['status']}{detail}{extra}")
    console.print(f"[dim]thread {result.thread_id}[/]")


def print_repeats(runtime: Runtime, repeats: Sequence[Repeat]) -> None:
    """What this review did not propose again, and the earlier actions still waiting."""
    if not repeats:
        return
    for repeat in repeats:
        console.print(f"[yellow]Not proposed again:[/] {repeat.reason}.", highlight=False)
    waiting = dict.fromkeys(r.earlier_id for r in repeats if r.earlier_status == "pending")
    for earlier in waiting:
        print_action(runtime, earlier, title="Already waiting for approval")
    console.print(
        f"[dim]{len(repeats)} repeated proposal(s) withdrawn; the queue holds each play once "
        "(`keel approvals list`).[/]"
    )


def print_action(
    runtime: Runtime, action_id: str, *, waiting: bool = False, title: str | None = None
) -> None:
    from keel.api.services.approvals import show

    action = show(runtime, action_id)
    header = [
        f"**Action** `{action.id}`  **status** {action.status}",
        *([f"**Not sent because** {action.not_sent_reason}"] if action.not_sent_reason else []),
        f"**Account** {action.account_name}  **play** "
        f"{action.play}  **channel** {action.channel} ({action.draft_kind})",
        f"**To** {action.recipient}",
        f"**Subject** {action.subject}",
    ]
    if action.evidence_ids:
        header.append(f"**Evidence** `{', '.join(action.evidence_ids)}`")
    if (action.produced_by or "").startswith("offline:"):
        from keel.agents.offline.text import OFFLINE_NOTICE

        # Said to the reviewer, never in the message: customer drafts carry no footer.
        header.append(f"**Note** {OFFLINE_NOTICE} It is not part of the message.")
    body = "\n".join(header) + "\n\n---\n\n" + action.body
    footer = [f"Policy: {'; '.join(action.policy_reasons)}"]
    for decision in action.decisions:
        message = f": {decision.message}" if decision.message else ""
        footer.append(
            f"{decision.at:%Y-%m-%d %H:%M} {decision.decision} by {decision.user}{message}"
        )
    if action.delivery is not None:
        footer.append(f"Delivery: {action.delivery}")
    for n, attempt in enumerate(action.attempts, start=1):
        error = f": {attempt.error}" if attempt.error else ""
        footer.append(
            f"  attempt {n} {attempt.started_at:%Y-%m-%d %H:%M:%S} by {attempt.worker} via "
            f"{attempt.transport or '-'}: {attempt.outcome or 'in progress'}{error}"
        )
    title = title or ("Waiting for approval" if waiting else "Proposed action")
    console.print(Panel(Markdown(body), title=title, subtitle=action.produced_by or None))
    console.print("[dim]" + "\n".join(footer) + "[/]")


# -------------------------------------------------------------------------------- prep


def prep_command(
    account: Annotated[str, typer.Argument(help="External id, name or internal id.")],
    note: Annotated[
        Path | None,
        typer.Option(
            "--note", exists=False, help="A call note (text file) to summarise.", show_default=False
        ),
    ] = None,
    as_of: AsOfOption = None,
    vectors: VectorsOption = None,
) -> None:
    from keel.api.services.prep import prepare
    from keel.api.services.reviews import review_date
    from keel.tools.account_tools import resolve_account

    note_text = None
    if note is not None:
        try:
            note_text = note.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeelError(f"cannot read the call note {note}: {exc}") from None
        if not note_text.strip():
            raise KeelError(f"the call note {note} is empty")
    app = make_app(use_vectors=vectors)
    found = resolve_account(app.engine, account)
    day = review_date(app, as_of.date() if as_of else None)
    console.print(f"[dim]Preparing {found.name} as of {day} with {app.model_label}...[/]")
    run = prepare(
        app,
        found.external_id,
        as_of=day,
        note=note_text,
        note_source=f"call note {note.name}" if note is not None else "call note",
    )
    prep = run.prep
    points = "\n".join(f"{i}. {p}" for i, p in enumerate(prep.talking_points, start=1))
    console.print(Panel(Markdown(prep.brief), title=prep.title, subtitle=prep.produced_by))
    console.print(Panel(Markdown(points), title="Three talking points"))
    summary = run.call_summary
    if summary is not None and note is not None:
        items = (
            "\n".join(
                f"- **{i.owner}**: {i.task}" + (f" (due {i.due})" if i.due else "")
                for i in summary.action_items
            )
            or "_No action items found._"
        )
        console.print(
            Panel(
                Markdown(summary.summary + "\n\n**Action items**\n\n" + items),
                title=f"Call summary: {note.name}",
                subtitle=summary.produced_by,
            )
        )


# --------------------------------------------------------------------------- approvals


def _decide(
    action_id: str,
    kind: str,
    *,
    user: str | None,
    message: str | None = None,
    edited: dict[str, Any] | None = None,
) -> None:
    from keel.api.services.reviews import decide, resolve_action

    app = make_app()
    reviewer = default_user(user)
    action_id = resolve_action(app, action_id)
    run = decide(
        app,
        action_id,
        kind,  # type: ignore[arg-type]
        user=reviewer,
        message=message,
        edited=edited,
        settle_s=SETTLE_SECONDS,
    )
    result = run.result
    # The same reviewer repeating an approval whose message went out (a command a crash
    # cut short, run again) is told so and exits 0; any other decision that records and
    # sends nothing is a second decision, refused (exit 2).
    retried = result.status == "sent" and kind in ("approve", "edit")
    if not result.recorded and result.delivery is None and not retried:
        raise KeelError(
            f"{kind} refused: action {action_id} is already {result.status} "
            f"({result.message}); nothing new was recorded"
        )
    if result.recorded:
        console.print(f"[green]{kind} recorded for {action_id} by {reviewer}.[/]")
    elif result.delivery is None:
        console.print(f"{kind} by {reviewer} was recorded earlier; nothing new was recorded.")
    else:
        console.print(
            f"{kind} by {reviewer} was recorded earlier; nothing new recorded "
            "(the unfinished send was tried again)."
        )
    print_decision_summary(app, action_id)
    for outcome in result.outcomes:
        # What the decision's own step said (e.g. decided without its review thread).
        if outcome.get("action_id") == action_id and outcome.get("detail"):
            console.print(f"  note: {outcome['detail']}", highlight=False)
    for error in result.errors:
        where = f" ({error['play']})" if error.get("play") else ""
        console.print(f"[bold red]{error['step']}{where} failed:[/] {error['error']}")
    # A redraft (respond) is new text: shown in full, since it is what is decided next.
    if kind == "respond":
        for redraft in _redrafts_of(app, action_id):
            print_action(app, redraft, waiting=True)
    elif len(result.pending) > 0:
        console.print(
            f"[dim]{len(result.pending)} more action(s) of this review wait: keel approvals list[/]"
        )
    print_report(run.delivery, quiet_when_idle=True)
    if not result.ok:
        console.print(f"[bold red]{action_id}: {result.message}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold]{action_id}: {result.message}[/]", highlight=False)


def _redrafts_of(runtime: Runtime, action_id: str) -> list[str]:
    from sqlmodel import Session, select

    from keel.memory.actions import ActionStatus, ProposedAction

    with Session(runtime.engine) as session:
        rows = session.exec(
            select(ProposedAction).where(
                ProposedAction.parent_action_id == action_id,
                ProposedAction.status == ActionStatus.PENDING,
            )
        ).all()
        return [row.id for row in rows]


def print_decision_summary(runtime: Runtime, action_id: str) -> None:
    """A few lines on the decided action (not its whole draft again)."""
    from keel.api.services.approvals import show

    action = show(runtime, action_id)
    console.print(
        f"  {action.account_name}: {action.play} ({action.channel}) to {action.recipient}",
        highlight=False,
    )
    if action.subject:
        console.print(f'  subject: "{action.subject}"', highlight=False)
    console.print(f"  status: {action.status}", highlight=False)
    if action.not_sent_reason:
        console.print(f"  not sent because: {action.not_sent_reason}", highlight=False)
    console.print(f"  [dim]full draft: keel approvals show {action_id[:8]}[/]", highlight=False)


def approvals_list(
    status: Annotated[
        str,
        typer.Option(
            "--status",
            help="open (default: pending, failed, and approved but not sent yet), "
            "pending, failed, sent, rejected, all ...",
        ),
    ] = "open",
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    from keel.api.services.approvals import list_inbox

    page = list_inbox(make_app(), status=status, account=account, limit=limit)
    if not page.items:
        console.print(f"[dim]No {status} actions.[/]")
        return
    table = Table(title=f"Actions ({status})")
    # The id is what a reviewer copies into the next command: never wrap or cut it.
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ("account", "play", "channel", "to", "subject", "status", "created"):
        table.add_column(column)
    styles = {"failed": "red", "delivering": "yellow", "will retry": "yellow"}
    for row in page.items:
        style = styles.get(row.shown_status)
        table.add_row(
            row.id,
            row.account_name,
            row.play,
            row.channel,
            ", ".join(row.to) or "(internal)",
            row.subject[:60],
            f"[{style}]{row.shown_status}[/]" if style else row.shown_status,
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    if page.total > len(page.items):
        console.print(f"[dim]{len(page.items)} of {page.total} shown (--limit).[/]")
    if page.attention:
        # Why each one is not delivered, in full: the reason is what the reader acts on.
        console.print(f"[bold red]Needs attention: {len(page.attention)} not delivered[/]")
        for row in page.attention:
            console.print(f"{row.id}: {row.attention}", soft_wrap=True)


def approvals_show(
    action_id: Annotated[str, typer.Argument(help="The action id (or a unique prefix).")],
) -> None:
    from keel.api.services.reviews import resolve_action

    app = make_app()
    print_action(app, resolve_action(app, action_id))


def approvals_approve(
    action_id: Annotated[str, typer.Argument(help="The action id (or a unique prefix).")],
    user: UserOption = None,
) -> None:
    _decide(action_id, "approve", user=user)


def approvals_edit(
    action_id: Annotated[str, typer.Argument(help="The action id (or a unique prefix).")],
    subject: Annotated[str | None, typer.Option("--subject", show_default=False)] = None,
    body: Annotated[str | None, typer.Option("--body", show_default=False)] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="The new body (a first 'Subject: ...' line sets the subject).",
            show_default=False,
        ),
    ] = None,
    user: UserOption = None,
) -> None:
    edited: dict[str, Any] = {}
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeelError(f"cannot read {file}: {exc}") from None
        first, _, rest = text.partition("\n")
        if first.lower().startswith("subject:"):
            edited["subject"] = first.split(":", 1)[1].strip()
            text = rest.lstrip("\n")
        edited["body"] = text
    if subject is not None:
        edited["subject"] = subject
    if body is not None:
        edited["body"] = body
    if not edited:
        raise KeelError("nothing to edit: pass --subject, --body or --file")
    _decide(action_id, "edit", user=user, edited=edited)


def approvals_respond(
    action_id: Annotated[str, typer.Argument(help="The action id (or a unique prefix).")],
    message: Annotated[str, typer.Option("--message", "-m", help="Feedback for the redraft.")],
    user: UserOption = None,
) -> None:
    _decide(action_id, "respond", user=user, message=message)


def approvals_reject(
    action_id: Annotated[str, typer.Argument(help="The action id (or a unique prefix).")],
    reason: Annotated[
        str | None, typer.Option("--reason", "--message", "-m", help="Why.", show_default=False)
    ] = None,
    user: UserOption = None,
) -> None:
    _decide(action_id, "reject", user=user, message=reason)


def approvals_retry(
    action_id: Annotated[str, typer.Argument(help="The failed action's id (or a unique prefix).")],
    user: UserOption = None,
    reason: Annotated[
        str | None, typer.Option("--message", "-m", help="Why (audited).", show_default=False)
    ] = None,
) -> None:
    from keel.api.services.approvals import retry
    from keel.api.services.reviews import resolve_action

    reviewer = default_user(user)
    app = make_app()
    action_id = resolve_action(app, action_id)
    run = retry(app, action_id, user=reviewer, reason=reason)
    console.print(f"[green]retry recorded for {action_id} by {reviewer}.[/]")
    if not run.ok:
        console.print(f"[bold red]{action_id}: {run.message}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold]{action_id}: {run.message}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("review", help=REVIEW_HELP)(review_command)
    app.command("prep", help=PREP_HELP)(prep_command)
    approvals = typer.Typer(help=APPROVALS_HELP, no_args_is_help=True)
    approvals.command(
        "list", help="List actions not finished: pending, failed, approved but not sent."
    )(approvals_list)
    approvals.command("show", help="Show one action: draft, evidence, policy, decisions.")(
        approvals_show
    )
    approvals.command("approve", help="Approve: the executor sends it once.")(approvals_approve)
    approvals.command("edit", help="Edit subject/body and approve the edited version.")(
        approvals_edit
    )
    approvals.command("respond", help="Answer with feedback: the drafter revises, asks again.")(
        approvals_respond
    )
    approvals.command("reject", help="Reject with a reason: nothing is sent.")(approvals_reject)
    approvals.command("retry", help="Send a failed action again (audited; re-checked).")(
        approvals_retry
    )
    app.add_typer(approvals, name="approvals")
