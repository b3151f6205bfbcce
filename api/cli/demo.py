"""``keel demo``: the main job on the embedded default, end to end, with no key or server.

It seeds a realistic book, indexes its text, scores every account, runs the nightly review
of the whole book on the configured model (the offline model by default; see
:mod:`keel.api.services.nightly`) and ends with the priority list and the drafts of the
accounts that need attention most, waiting for approval.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from keel.api.cli.common import console, make_runtime, progress
from keel.errors import KeelError
from keel.runtime import Runtime

if TYPE_CHECKING:
    from keel.api.services.nightly import NightlyReport

DEMO_HELP = (
    "Run Keel end to end on a generated book: seed, index, score every account, run the "
    "nightly review of the whole book and show what waits for approval. Needs no API key "
    "and no server.\n\n"
    "The demo owns its workspace (KEEL_DATA_DIR, default ./keel-data): it replaces an earlier "
    "demo's data, and refuses to touch data you imported unless you pass --force.\n\n"
    "Examples:\n\n"
    "  keel demo\n"
    "  keel demo --accounts 120 --seed 3 --reviews 5\n"
    "  KEEL_DATA_DIR=/tmp/keel-demo keel demo\n"
)


# The demo's default book: 60 accounts is ~3,900 texts to embed (120 was 7,818, the bulk
# of a first run's time; measured by bench/first_run.py), and still a book where the
# priority list, hypotheses and the nightly review have every kind of account to show.
DEFAULT_ACCOUNTS = 60


def _prepare_workspace(runtime: Runtime, *, force: bool) -> None:
    """Start from an empty workspace, unless it holds data that is not a demo's."""
    from keel.memory.reset import DEMO_MARKER, account_count, delete_all_rows

    settings = runtime.settings
    marker = settings.data_dir / DEMO_MARKER
    if account_count(runtime.engine) and not marker.exists() and not force:
        raise KeelError(
            f"{settings.resolved_database_url} already holds accounts that keel demo did not "
            "create; the demo would replace them. Use another KEEL_DATA_DIR / "
            "KEEL_DATABASE_URL, or pass --force."
        )
    delete_all_rows(runtime.engine)
    for sub in ("checkpoints.sqlite", "outbox", "truth"):
        path = settings.data_dir / sub
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("This workspace was created by `keel demo`.\n", encoding="utf-8")


def _nightly(runtime: Runtime) -> NightlyReport:
    """The nightly run over the whole book, with a progress bar."""
    from keel.api.cli.index import LineProgress
    from keel.api.services.nightly import AccountProgress, NightlyRequest, run_nightly

    lines = None if sys.stdout.isatty() else LineProgress("Reviewing", "accounts")
    with progress() as bar:
        task = bar.add_task("Reviewing accounts", total=None)

        def on_account(p: AccountProgress) -> None:
            bar.update(task, completed=p.done + p.failed, total=p.total)
            if lines is not None:  # redirected output: plain lines instead of the bar
                lines(p.done + p.failed, p.total)

        return run_nightly(runtime, NightlyRequest(concurrency=2), progress=on_account)


def _pending_for(
    runtime: Runtime, as_of: dt.date, external_ids: list[str], generation: str = ""
) -> list[str]:
    """The actions waiting for approval in these accounts' nightly threads, in their order."""
    from sqlmodel import Session, col, select

    from keel.api.services.nightly import nightly_thread_id
    from keel.memory.actions import ActionStatus, ProposedAction

    threads = [nightly_thread_id(as_of, e, generation) for e in external_ids]
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(ProposedAction)
            .where(
                col(ProposedAction.thread_id).in_(threads),
                ProposedAction.status == ActionStatus.PENDING,
            )
            .order_by(col(ProposedAction.created_at))
        ).all()
    order = {thread: index for index, thread in enumerate(threads)}
    return [row.id for row in sorted(rows, key=lambda r: order[r.thread_id])]


def demo_command(
    accounts: Annotated[
        int,
        typer.Option(
            "--accounts",
            "-n",
            min=10,
            help="Book size; the default runs in minutes (embedding is the slow part).",
        ),
    ] = DEFAULT_ACCOUNTS,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same book.")] = 7,
    reviews: Annotated[
        int,
        typer.Option(
            "--reviews",
            min=0,
            help="Show the drafts of this many top accounts (0: skip the nightly review).",
        ),
    ] = 3,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the priority list.")] = 10,
    force: Annotated[
        bool, typer.Option("--force", help="Replace data the demo did not create.")
    ] = False,
) -> None:
    from keel.api.cli.index import embedding_progress, report_table
    from keel.api.cli.intel import print_priorities
    from keel.api.cli.outbox import print_report
    from keel.api.cli.review import print_action
    from keel.api.cli.seed import print_book_summary, seed_with_progress
    from keel.api.services.indexing import index_documents
    from keel.api.services.outbox import deliver_once
    from keel.api.services.portfolio import PriorityQuery, priority_list

    runtime = make_runtime(use_vectors=True)
    settings = runtime.settings
    _prepare_workspace(runtime, force=force)

    console.rule("[bold]1. A realistic book")
    summary = seed_with_progress(runtime, accounts=accounts, seed=seed)
    print_book_summary(summary)

    console.rule("[bold]2. Tickets, call notes and NPS comments, indexed by meaning")
    with embedding_progress() as on_progress:
        report = index_documents(runtime, progress=on_progress)
    console.print(report_table(report))

    console.rule("[bold]3. Every account scored")
    priorities = priority_list(runtime, PriorityQuery(top=top))

    pending: list[str] = []
    if reviews:
        console.rule("[bold]4. The nightly review: every account briefed, plays proposed")
        night = _nightly(runtime)
        # The drafts of the top accounts are shown in full; the rest wait in the inbox.
        top_ids = [item.external_id for item in priorities.risks[:reviews]]
        pending = _pending_for(runtime, night.as_of, top_ids, night.generation)
        print_report(deliver_once(runtime, worker_id="keel demo"))
        others = len(night.pending_action_ids) - len(pending)
        console.print(
            f"{night.done} of {night.total} accounts briefed with {runtime.model_label}, "
            f"{night.failed} failed; {night.drafts_proposed} drafts proposed "
            f"({night.capped} accounts past their CSM's daily draft cap), "
            f"{night.actions_sent} sent by the AI-led tier. Below: the drafts for the top "
            f"{reviews} accounts; {max(others, 0)} more wait in keel approvals list. "
            f"Morning digests: {night.digests[0].parent if night.digests else '-'}"
        )
        for failure in night.failures:
            console.print(
                f"[red]  {escape(failure.name)} ({failure.external_id}) failed:[/] "
                f"{escape(failure.reason)}"
            )

    console.rule("[bold]Today's priority list")
    print_priorities(priorities)
    console.rule(f"[bold]Waiting for approval ({len(pending)})")
    for action_id in pending:
        print_action(runtime, action_id, waiting=True)
    if pending:
        console.print(
            "Next: [bold]keel approvals list[/], then approve, edit, respond or reject, e.g. "
            f"[bold]keel approvals approve {pending[0]}[/] (dry-run outbox: "
            f"{settings.outbox_dir})."
        )


def register(app: typer.Typer) -> None:
    """Add ``keel demo`` to ``app``."""
    app.command("demo", help=DEMO_HELP)(demo_command)
