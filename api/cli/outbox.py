"""``keel outbox run``: deliver what was approved, retry what failed for a while.

Runs the delivery loop (:mod:`keel.tools.outbound.delivery`) once, for cron, or every few
seconds with ``--watch``. The approval commands, ``keel review`` and ``keel demo`` run one
pass too, so work finishes where it can; this command is what finishes the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from keel.api.cli.common import console, make_runtime

if TYPE_CHECKING:
    from keel.tools.outbound.delivery import DeliveryReport
    from keel.tools.outbound.executor import ExecutionOptions

OUTBOX_HELP = (
    "Deliver approved actions that are not sent yet: new approvals, sends a crashed process "
    "left unfinished (after their lease), and transient failures whose retry time has come "
    "(backoff 30 s, 1, 2, 4 min; failed for good after 5 attempts). A failed action is "
    "listed by `keel approvals list`; `keel approvals retry ID` sends it again.\n\n"
    "Exit status: 0 when nothing ended failed in this run, 1 when something did.\n\n"
    "Examples:\n\n"
    "  keel outbox run                      # one pass (cron: * * * * * keel outbox run)\n"
    "  keel outbox run --retry-now          # the server is back: do not wait for backoff\n"
    "  keel outbox run --watch --interval 30\n"
)

# The executor options this process's commands use. Production code never changes them;
# an application embedding the CLI, or a test launcher installing step hooks (see
# tests/crash_launcher.py), sets them before calling ``keel.api.cli.main``.
_execution_options: ExecutionOptions | None = None


def set_execution_options(options: ExecutionOptions) -> None:
    """Use ``options`` (lease, retries, step hooks) for every send of this process."""
    global _execution_options
    _execution_options = options


def installed_execution_options() -> ExecutionOptions | None:
    """The options set with :func:`set_execution_options`; None when none were."""
    return _execution_options


def execution_options() -> ExecutionOptions:
    """The options set with :func:`set_execution_options`, else the executor's defaults."""
    from keel.tools.outbound.executor import DEFAULT_OPTIONS

    return _execution_options or DEFAULT_OPTIONS


def print_report(report: DeliveryReport, *, quiet_when_idle: bool = False) -> None:
    """One line per action that did not simply go out, then the counts."""
    if quiet_when_idle and not report.results and not report.errors:
        return
    for result in report.results:
        reason = "; ".join(result.reasons)
        if result.outcome == "failed" and result.retryable:
            when = f"{result.retry_after:%H:%M:%S} UTC" if result.retry_after else "later"
            console.print(f"[yellow]{result.action_id}[/]: {reason}; will retry at {when}")
        elif result.outcome in ("failed", "refused"):
            console.print(f"[bold red]{result.action_id} failed:[/] {reason}")
    for action_id, error in report.errors:
        console.print(f"[bold red]{action_id} error:[/] {error}")
    console.print(f"[dim]outbox: {report.summary()}[/]")


def run_command(
    watch: Annotated[
        bool, typer.Option("--watch/--once", help="Keep running (default: one pass).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between passes with --watch.")
    ] = 30.0,
    retry_now: Annotated[
        bool,
        typer.Option("--retry-now", help="Also try actions waiting for a retry, now."),
    ] = False,
) -> None:
    from keel.api.services.outbox import deliver_once, deliver_watching

    app = make_runtime()
    report = deliver_once(app, worker_id="keel outbox", retry_now=retry_now)
    print_report(report)
    if watch:
        try:
            deliver_watching(
                app,
                interval_s=interval,
                on_report=lambda later: print_report(later, quiet_when_idle=True),
                worker_id="keel outbox",
            )
        except KeyboardInterrupt:
            console.print("[dim]outbox: stopped[/]")
        return
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``keel outbox`` to ``app``."""
    outbox = typer.Typer(help=OUTBOX_HELP, no_args_is_help=True)
    outbox.command("run", help=OUTBOX_HELP)(run_command)
    app.add_typer(outbox, name="outbox")
