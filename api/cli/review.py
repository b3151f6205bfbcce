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

from keel.api.cli.common import console, make_runtime
from keel.api.cli.outbox import execution_options, print_report
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.graphs.runner import ReviewResult
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
# How long an approval waits for another process that is sending the same action.
SETTLE_SECONDS = 10.0

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
    from keel.graphs.runner import delivery_deps, new_thread_id, open_review_session, start_review
    from keel.tools.account_tools import resolve_account
    from keel.tools.outbound.delivery import deliver_due

    runtime = make_runtime()
    found = resolve_account(runtime.engine, account)
    day = as_of.date() if as_of else None
    with open_review_session(
        runtime, use_vectors=vectors, as_of=day, execution=execution_options()
    ) as session:
        console.print(
            f"[dim]Reviewing {found.name} ({found.external_id}) as of "
            f"{session.deps.review_date()} with {session.deps.model_label}...[/]"
        )
        result = start_review(
            session.graph,
            account_id=found.id or 0,
            thread_id=new_thread_id(found.external_id),
            as_of=session.deps.review_date(),
        )
        report = deliver_due(delivery_deps(session.deps, worker_id="keel review"))
    print_review(runtime, result)
    print_report(report, quiet_when_idle=True)
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
        extra = f"\n    [dim]{reasons}[/]" if outcome.get("status") == "blocked" and reasons else ""
        console.print(f"[bold]{outcome['play']}[/]: {outcome['status']}{detail}{extra}")
    console.print(f"[dim]thread {result.thread_id}[/]")


def print_action(runtime: Runtime, action_id: str, *, waiting: bool = False) -> None:
    from sqlmodel import Session

    from keel.memory.actions import get_action, list_attempts, list_decisions
    from keel.memory.models import Account, Contact
    from keel.tools.outbound.delivery import describe_delivery

    with Session(runtime.engine) as session:
        action = get_action(session, action_id=action_id)
        account = session.get(Account, action.account_id)
        contact = (
            session.get(Contact, action.recipient_contact_id)
            if action.recipient_contact_id is not None
            else None
        )
        trail = list_decisions(session, action_id=action_id)
        attempts = list_attempts(session, action_id=action_id)
    payload: dict[str, Any] = action.payload
    to = ", ".join(payload.get("to") or []) or (account.owner_csm if account else "") or "(team)"
    who = f"{contact.name} <{to}>" if contact else to
    meta = payload.get("metadata") or {}
    header = [
        f"**Action** `{action.id}`  **status** {action.status}",
        f"**Account** {account.name if account else action.account_id}  **play** "
        f"{action.play_id}  **channel** {action.channel} ({action.draft_kind})",
        f"**To** {who}",
        f"**Subject** {payload.get('subject', '')}",
    ]
    if meta.get("evidence_ids"):
        header.append(f"**Evidence** `{', '.join(meta['evidence_ids'])}`")
    body = "\n".join(header) + "\n\n---\n\n" + str(payload.get("body", ""))
    footer = [f"Policy: {'; '.join(action.policy_reasons)}"]
    for decision in trail:
        message = f": {decision.message}" if decision.message else ""
        footer.append(
            f"{decision.at:%Y-%m-%d %H:%M} {decision.decision} by {decision.user}{message}"
        )
    if trail and action.status not in ("pending", "rejected", "responded", "superseded"):
        footer.append(f"Delivery: {describe_delivery(action).text}")
    for n, attempt in enumerate(attempts, start=1):
        error = f": {attempt.error}" if attempt.error else ""
        footer.append(
            f"  attempt {n} {attempt.started_at:%Y-%m-%d %H:%M:%S} by {attempt.worker} via "
            f"{attempt.transport or '-'}: {attempt.outcome or 'in progress'}{error}"
        )
    title = "Waiting for approval" if waiting else "Proposed action"
    console.print(
        Panel(
            Markdown(body),
            title=title,
            subtitle=action.produced_by_model or None,
        )
    )
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
    from keel.agents.analyst import make_analyst
    from keel.agents.composers import register_composers
    from keel.agents.context import ReviewDeps
    from keel.agents.llm import model_label
    from keel.agents.prep import summarise_call, write_meeting_prep
    from keel.agents.schemas import Briefing
    from keel.domain.policy import policy_from_settings
    from keel.graphs.runner import review_model
    from keel.tools.account_tools import AccountReader, make_account_tools, resolve_account
    from keel.tools.signals import latest_data_date

    note_text = None
    if note is not None:
        try:
            note_text = note.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeelError(f"cannot read the call note {note}: {exc}") from None
        if not note_text.strip():
            raise KeelError(f"the call note {note} is empty")
    runtime = make_runtime()
    settings = runtime.settings
    found = resolve_account(runtime.engine, account)
    use_vectors = vectors if vectors is not None else settings.chroma_path.exists()
    register_composers()
    model = review_model(runtime, use_vectors=use_vectors)
    day = as_of.date() if as_of else latest_data_date(runtime.engine) or dt.date.today()
    deps = ReviewDeps(
        engine=runtime.engine,
        settings=settings,
        policy=policy_from_settings(settings),
        model_label=model_label(model),
        vector_store=runtime.vector_store if use_vectors else None,
        as_of=day,
    )
    reader = AccountReader(runtime.engine, vector_store=deps.vector_store)
    analyst = make_analyst(model=model, tools=make_account_tools(reader), reader=reader, deps=deps)
    console.print(f"[dim]Preparing {found.name} as of {day} with {deps.model_label}...[/]")
    out = analyst(
        {"account_id": found.id or 0, "as_of": day.isoformat(), "outcomes": [], "errors": []}
    )
    if not out.get("briefing"):
        errors = "; ".join(e["error"] for e in out.get("errors", []))
        raise KeelError(f"the analyst could not brief {found.name}: {errors}")
    briefing = Briefing.model_validate(out["briefing"])
    facts = out["facts"]
    prep = write_meeting_prep(
        model, briefing=briefing, facts=facts, as_of=day, label=deps.model_label
    )
    points = "\n".join(f"{i}. {p}" for i, p in enumerate(prep.talking_points, start=1))
    console.print(Panel(Markdown(prep.brief), title=prep.title, subtitle=prep.produced_by))
    console.print(Panel(Markdown(points), title="Three talking points"))
    if note_text is not None and note is not None:
        summary = summarise_call(
            model,
            note=note_text,
            facts=facts,
            source=f"call note {note.name}",
            label=deps.model_label,
        )
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
    from keel.graphs.runner import decide_action, delivery_deps, open_review_session
    from keel.tools.outbound.delivery import deliver_due

    runtime = make_runtime()
    reviewer = default_user(user)
    with open_review_session(runtime, execution=execution_options()) as session:
        delivery = delivery_deps(session.deps, worker_id=f"keel approvals ({reviewer})")
        result = decide_action(
            session.graph,
            runtime.engine,
            action_id=action_id,
            kind=kind,  # type: ignore[arg-type]
            user=reviewer,
            message=message,
            edited_args=edited,
            delivery=delivery,
            settle_s=SETTLE_SECONDS,
        )
        rest = deliver_due(delivery)
    if result.recorded:
        console.print(f"[green]{kind} recorded for {action_id} by {reviewer}.[/]")
    else:
        console.print(f"{kind} by {reviewer} was recorded earlier; nothing new recorded.")
    print_review(runtime, result)
    print_report(rest, quiet_when_idle=True)
    if not result.ok:
        console.print(f"[bold red]{action_id}: {result.message}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold]{action_id}: {result.message}[/]", highlight=False)


# What the default list shows: everything that is not finished -- waiting for a decision,
# failed (needs a human: `keel approvals retry`), approved but not sent yet.
OPEN_STATUSES = ("pending", "failed", "approved", "edited", "auto_approved", "sending")


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
    from sqlmodel import Session, select

    from keel.memory.actions import ActionStatus, list_actions
    from keel.memory.models import Account
    from keel.tools.account_tools import resolve_account
    from keel.tools.outbound.delivery import describe_delivery

    runtime = make_runtime()
    wanted: str | list[str] | None = None if status == "all" else status
    if status == "open":
        wanted = list(OPEN_STATUSES)
    elif wanted is not None and wanted not in {s.value for s in ActionStatus}:
        known = ", ".join(s.value for s in ActionStatus)
        raise KeelError(f"--status must be 'open', 'all' or one of: {known}")
    account_id = resolve_account(runtime.engine, account).id if account else None
    with Session(runtime.engine) as session:
        rows = list_actions(session, status=wanted, account_id=account_id, limit=limit)
        names = {a.id: a.name for a in session.exec(select(Account)).all()}
    if not rows:
        console.print(f"[dim]No {status} actions.[/]")
        return
    table = Table(title=f"Actions ({status})")
    # The id is what a reviewer copies into the next command: never wrap or cut it.
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ("account", "play", "channel", "to", "subject", "status", "created"):
        table.add_column(column)
    attention = []
    for row in rows:
        state = row.status
        if row.status == "failed":
            attention.append(row)
            state = "[red]failed[/]"
        elif row.status == "sending":
            attention.append(row)
            state = "[yellow]delivering[/]" if row.claim_token else "[yellow]will retry[/]"
        table.add_row(
            row.id,
            names.get(row.account_id, str(row.account_id)),
            row.play_id,
            row.channel,
            ", ".join(row.payload.get("to") or []) or "(internal)",
            str(row.payload.get("subject", ""))[:60],
            state,
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    if attention:
        # Why each one is not delivered, in full: the reason is what the reader acts on.
        console.print(f"[bold red]Needs attention: {len(attention)} not delivered[/]")
        for row in attention:
            console.print(f"{row.id}: {describe_delivery(row).text}", soft_wrap=True)


def approvals_show(action_id: Annotated[str, typer.Argument(help="The action id.")]) -> None:
    print_action(make_runtime(), action_id)


def approvals_approve(
    action_id: Annotated[str, typer.Argument(help="The action id.")], user: UserOption = None
) -> None:
    _decide(action_id, "approve", user=user)


def approvals_edit(
    action_id: Annotated[str, typer.Argument(help="The action id.")],
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
    action_id: Annotated[str, typer.Argument(help="The action id.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Feedback for the redraft.")],
    user: UserOption = None,
) -> None:
    _decide(action_id, "respond", user=user, message=message)


def approvals_reject(
    action_id: Annotated[str, typer.Argument(help="The action id.")],
    reason: Annotated[
        str | None, typer.Option("--reason", "--message", "-m", help="Why.", show_default=False)
    ] = None,
    user: UserOption = None,
) -> None:
    _decide(action_id, "reject", user=user, message=reason)


def approvals_retry(
    action_id: Annotated[str, typer.Argument(help="The failed action's id.")],
    user: UserOption = None,
    reason: Annotated[
        str | None, typer.Option("--message", "-m", help="Why (audited).", show_default=False)
    ] = None,
) -> None:
    from sqlmodel import Session

    from keel.memory.actions import get_action
    from keel.tools.outbound.delivery import describe_delivery, open_delivery, retry_failed

    runtime = make_runtime()
    reviewer = default_user(user)
    deps = open_delivery(
        runtime, options=execution_options(), worker_id=f"keel approvals retry ({reviewer})"
    )
    retry_failed(deps, action_id=action_id, user=reviewer, message=reason)
    with Session(runtime.engine) as session:
        row = get_action(session, action_id=action_id)
        state = describe_delivery(row)
    console.print(f"[green]retry recorded for {action_id} by {reviewer}.[/]")
    if not state.ok:
        console.print(f"[bold red]{action_id}: {state.text}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold]{action_id}: {state.text}[/]", highlight=False)


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
