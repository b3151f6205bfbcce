"""CLI command ``keel seed``: write a realistic synthetic book into the telemetry store."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.api.cli.common import console, make_runtime, progress
from keel.api.services.seeding import BookSummary, SeedRequest, seed_book
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.runtime import Runtime

SEED_HELP = (
    "Generate a synthetic book: accounts, contacts, daily usage, feature adoption, tickets, "
    "call notes, invoices, NPS and renewals.\n\n"
    "Each account follows a hidden trajectory that shapes all its signals and texts with "
    "noise; some accounts churn, contract, renew or expand during history. The database gets "
    "only what a CS team would see. The trajectories and real outcomes (also those after "
    "--end) go to <data_dir>/truth/book.json, for evaluations only."
)
SEED_EPILOG = (
    "Examples:\n\n"
    "  keel seed                                 (300 accounts, seed 7)\n\n"
    "  keel seed --accounts 10000 --seed 42      (a large book, minutes)\n\n"
    "  keel seed -n 50 --end 2026-06-30 --months 18"
)


def _parse_end(value: str | None) -> dt.date:
    from keel.memory.synth import DEFAULT_END

    if value is None:
        return DEFAULT_END
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise KeelError(f"--end: '{value}' is not a date in the form YYYY-MM-DD") from None


def _money(x: float) -> str:
    return f"${x:,.0f}"


def print_book_summary(summary: BookSummary) -> None:
    """Print what a seeding wrote: accounts and ARR by segment, row counts, renewals."""
    table = Table(title=f"Synthetic book (seed {summary.seed}, as of {summary.as_of.isoformat()})")
    table.add_column("segment")
    table.add_column("accounts", justify="right")
    table.add_column("ARR (current)", justify="right")
    for seg in ("smb", "mid_market", "enterprise"):
        n = summary.accounts_by_segment.get(seg, 0)
        table.add_row(seg, str(n), _money(summary.arr_by_segment.get(seg, 0.0)))
    table.add_row("total", str(summary.n_accounts), _money(summary.arr_total), style="bold")
    console.print(table)
    c = summary.counts
    console.print(
        f"rows: {c.get('usage', 0):,} usage days, {c.get('tickets', 0):,} tickets, "
        f"{c.get('notes', 0):,} notes, {c.get('invoices', 0):,} invoices, "
        f"{c.get('nps', 0):,} NPS responses, {c.get('features', 0):,} feature adoptions, "
        f"{c.get('contacts', 0):,} contacts"
    )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.renewals_by_outcome.items()))
    console.print(f"renewals: {outcomes}")
    stages = ", ".join(f"{k} {v}" for k, v in sorted(summary.lifecycle.items()))
    console.print(f"lifecycle: {stages}")
    console.print(
        f"written to {summary.dialect} in {summary.seconds:.1f}s; ground truth (evals only): "
        f"{summary.truth_path}"
    )


def seed_with_progress(
    runtime: Runtime,
    *,
    accounts: int,
    seed: int,
    end: dt.date | None = None,
    months: int | None = None,
    reset: bool = True,
) -> BookSummary:
    """Seed the runtime's database with a progress bar; ground truth goes to data_dir/truth."""
    # Built first: an unsupported size is refused before the progress bar starts.
    request = SeedRequest(accounts=accounts, seed=seed, end=end, months=months, reset=reset)
    with progress() as bar:
        task = bar.add_task("Seeding accounts", total=accounts)
        return seed_book(
            runtime, request, progress=lambda done, total: bar.update(task, completed=done)
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(name="seed", help=SEED_HELP, epilog=SEED_EPILOG)
    def seed(
        accounts: int = typer.Option(300, "--accounts", "-n", help="How many accounts."),
        seed: int = typer.Option(7, "--seed", help="Random seed: same seed, same book."),
        end: str | None = typer.Option(
            None, "--end", help="Last day of history (as_of), YYYY-MM-DD. Default 2026-10-31."
        ),
        months: int | None = typer.Option(
            None, "--months", help="Months of history before --end. Default 30."
        ),
        keep: bool = typer.Option(
            False, "--keep", help="Keep existing telemetry rows instead of replacing them."
        ),
    ) -> None:
        summary = seed_with_progress(
            make_runtime(),
            accounts=accounts,
            seed=seed,
            end=_parse_end(end),
            months=months,
            reset=not keep,
        )
        print_book_summary(summary)
