"""``keel show ID``: the record an evidence id names (what a chat answer or briefing cites)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from keel.api.cli.common import console, make_app

SHOW_HELP = (
    "Print the record an evidence id names: a ticket, call note, NPS response, renewal, "
    "invoice, contact or account; a health snapshot (health:ACCOUNT@DATE); a metric or "
    "signal of one account (with --account).\n\n"
    "Examples:\n\n"
    "  keel show ticket:T-000123\n"
    "  keel show health:acc-00001@2026-10-31\n"
    "  keel show metric:active_users --account acc-00001\n"
)


def show_command(
    evidence_id: Annotated[str, typer.Argument(help="The evidence id, e.g. note:N-12.")],
    account: Annotated[
        str | None, typer.Option("--account", help="The account a metric or signal is of.")
    ] = None,
) -> None:
    from keel.api.services.chat import evidence_record

    with make_app(use_vectors=False) as app:
        record = evidence_record(app, evidence_id, account=account)
    owner = f" (account {record.account})" if record.account else ""
    console.print(f"[bold]{escape(record.id)}[/]{escape(owner)}", highlight=False)
    for key, value in record.fields.items():
        console.print(f"  {escape(str(key))}: {escape(str(value))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``keel show`` to ``app``."""
    app.command("show", help=SHOW_HELP)(show_command)
