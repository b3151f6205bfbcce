"""``keel nightly`` (the nightly review of the whole book) and ``keel runs list|show``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from keel.api.cli.common import console, make_app, progress
from keel.errors import KeelError

NIGHTLY_HELP = (
    "Review the whole book for one night: score every account, brief every active account, "
    "propose plays under the policy (at most the policy's daily drafts per CSM), send what "
    "the AI-led tier may send alone, and write the morning digests under "
    "KEEL_DATA_DIR/digests/<date>/. Running the same date again finishes what is missing and "
    "redoes nothing. Exits 1 when an account failed.\n\n"
    "Examples:\n\n"
    "  keel nightly\n"
    "  keel nightly --as-of 2026-10-31 --concurrency 4\n"
    "  keel nightly --workers 2 --concurrency 8\n"
    "  keel nightly --owner ben.fraser@kitewing.example --quiet\n"
)


def nightly_command(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The night's date (default: latest data).")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this CSM's accounts.")] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Accounts reviewed side by side (in each worker process with --workers).",
        ),
    ] = 1,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Worker processes reviewing accounts, each with its own connections and "
            "model client (one process's Python work tops out near one core). Accounts in "
            "flight: workers x concurrency.",
        ),
    ] = 1,
    max_calls: Annotated[
        int | None,
        typer.Option("--max-calls", min=0, help="The night's model calls (KEEL_LLM_MAX_CALLS)."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=0, help="The night's tokens (KEEL_LLM_MAX_TOKENS)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary (for cron).")
    ] = False,
    send_digests: Annotated[
        bool,
        typer.Option(
            "--send-digests",
            help="Also send each digest through the outbound adapters (KEEL_OUTBOUND_CHANNEL, "
            "internal channel): each CSM's to that CSM, after the usual recipient and "
            "content checks; once per reader and night.",
        ),
    ] = False,
    digest_leader: Annotated[
        str | None,
        typer.Option("--digest-leader", help="The CS leader's address for the leader's digest."),
    ] = None,
) -> None:
    from keel.api.services.nightly import AccountProgress, NightlyRequest, run_nightly

    day = _parse_date(as_of)
    app = make_app()
    request = NightlyRequest(
        as_of=day,
        owner=owner,
        concurrency=concurrency,
        workers=workers,
        max_calls=max_calls,
        max_tokens=max_tokens,
        send_digests=send_digests,
        digest_leader=digest_leader,
    )
    with app:
        if quiet:
            report = run_nightly(app, request)
        else:
            with progress() as bar:
                task = bar.add_task("Scoring the book", total=None)

                def on_account(p: AccountProgress) -> None:
                    failed = f", {p.failed} failed" if p.failed else ""
                    bar.update(
                        task,
                        description=f"Reviewing accounts{failed}",
                        completed=p.done + p.failed,
                        total=p.total,
                    )

                report = run_nightly(app, request, progress=on_account)
                failed = f", {report.failed} failed" if report.failed else ""
                bar.update(
                    task,
                    description=f"Accounts reviewed{failed}",
                    completed=report.done + report.failed,
                    total=report.total,
                )
        if not quiet:
            console.print(
                f"Night of {report.as_of} ({report.model_label}): {report.done} of "
                f"{report.total} accounts briefed ({report.skipped} done by an earlier run), "
                f"{report.failed} failed, {report.capped} past their CSM's daily draft cap; "
                f"{report.drafts_proposed} drafts proposed, {report.actions_sent} sent by the "
                f"AI-led tier; {report.model_calls} model calls, {report.model_tokens:,} tokens; "
                f"{report.phases.get('total', 0.0):.1f} s."
            )
            if report.digests:
                console.print(f"Digests: {escape(str(report.digests[0].parent))}")
            if report.digest_deliveries:
                tally = Counter(d.status for d in report.digest_deliveries)
                console.print(
                    "Digests sent: " + ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
                )
            if report.interventions_recorded or report.outcomes_recorded:
                console.print(
                    f"Interventions recorded: {report.interventions_recorded}; outcomes "
                    f"judged: {report.outcomes_recorded} (keel metrics)"
                )
    for refused in (d for d in report.digest_deliveries if d.status in ("refused", "failed")):
        typer.echo(f"digest for {refused.reader} {refused.status}: {refused.detail}", err=True)
    if report.failures:
        names = ", ".join(f"{f.name} ({f.external_id})" for f in report.failures[:5])
        more = f" and {len(report.failures) - 5} more" if len(report.failures) > 5 else ""
        typer.echo(
            f"{len(report.failures)} account(s) failed: {names}{more}; see keel runs show "
            f"{report.as_of}",
            err=True,
        )
        raise typer.Exit(1)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise KeelError(f"--as-of must be a date like 2026-10-31, not '{value}'") from None


def runs_list_command(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
) -> None:
    from keel.memory.runs import list_runs

    with make_app() as app:
        found = list_runs(app.engine, limit=limit)
    if not found:
        console.print("No nightly runs yet: run keel nightly.")
        return
    table = Table(
        "run",
        "as of",
        "status",
        "done",
        "failed",
        "capped",
        "drafts",
        "sent",
        "model",
        "started",
        "finished",
    )
    for run in found:
        table.add_row(
            str(run.id),
            str(run.as_of),
            run.status,
            f"{run.accounts_done}/{run.accounts_total}",
            str(run.accounts_failed),
            str(run.accounts_capped),
            str(run.drafts_proposed),
            str(run.actions_sent),
            escape(run.model_label),
            f"{run.started_at:%Y-%m-%d %H:%M}",
            f"{run.finished_at:%H:%M}" if run.finished_at else "-",
        )
    console.print(table)


def runs_show_command(
    run: Annotated[str, typer.Argument(help="A run id or its as-of date (2026-10-31).")],
) -> None:
    from keel.memory.runs import get_run, run_accounts

    with make_app() as app:
        record = (
            get_run(app.engine, run_id=int(run))
            if run.isdigit()
            else get_run(app.engine, as_of=_parse_date(run))
        )
        if record is None or record.id is None:
            raise KeelError(f"no nightly run '{run}'; see keel runs list")
        rows = run_accounts(app.engine, record.id)
    console.print(
        f"Run {record.id}, night of {record.as_of}: {record.status}; {record.accounts_done} of "
        f"{record.accounts_total} done, {record.accounts_failed} failed, "
        f"{record.accounts_skipped} skipped (done earlier), {record.accounts_capped} capped; "
        f"{record.drafts_proposed} drafts, {record.actions_sent} sent; model "
        f"{escape(record.model_label)}: {record.model_calls} calls, "
        f"{record.model_tokens:,} tokens; attempts {record.attempts}"
    )
    console.print(
        "Time per phase: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in record.phases.items())
    )
    table = Table("account", "CSM", "status", "drafts", "seconds", "reason / thread")
    for row in rows:
        note = row.reason or ("daily draft cap reached" if row.capped else "")
        table.add_row(
            row.external_id,
            escape(row.owner_csm),
            row.status,
            str(row.drafts),
            f"{row.seconds:.1f}",
            escape(note or row.thread_id),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``keel nightly`` and ``keel runs`` to ``app``."""
    app.command("nightly", help=NIGHTLY_HELP)(nightly_command)
    runs = typer.Typer(help="Nightly runs: list them, show one.", no_args_is_help=True)
    runs.command("list", help="The latest nightly runs.\n\nExample:\n\n  keel runs list")(
        runs_list_command
    )
    runs.command(
        "show",
        help="One run: counts, time per phase, each account.\n\n"
        "Example:\n\n  keel runs show 2026-10-31",
    )(runs_show_command)
    app.add_typer(runs, name="runs")
