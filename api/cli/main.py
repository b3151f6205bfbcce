"""Assembles the ``keel`` CLI from one module per capability."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from keel.errors import KeelError

app = typer.Typer(
    name="keel",
    help="Keel: AI-first Customer Success. Offline by default; see README for configuration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print Keel's version."""
    from keel import __version__

    typer.echo(__version__)


def _register() -> None:
    if any(c.name == "seed" for c in app.registered_commands):
        return  # once per process (tests call main() more than once)
    from keel.api.cli import db, demo, importer, index, intel, outbox, review, seed
    from keel.api.cli import eval as eval_cli

    for module in (seed, importer, index, intel, review, outbox, eval_cli, demo, db):
        module.register(app)
    from keel.api.cli import nightly

    nightly.register(app)  # keel nightly, keel runs
    from keel.api.cli import metrics

    metrics.register(app)  # keel metrics
    from keel.api.cli import chat, show

    chat.register(app)  # keel chat
    show.register(app)  # keel show


def main() -> None:
    """Console entry point: user errors print one clear message and exit 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except KeelError as exc:
        _fail(exc)
    except Exception as exc:
        # A store's own exception that no factory translated (a lock, a full disk, a
        # damaged file, a server down): one message too. Anything else is a bug and keeps
        # its traceback.
        known = _store_failure(exc)
        if known is None:
            raise
        _fail(known)


def _fail(exc: KeelError) -> NoReturn:
    # soft_wrap: one line however long, for logs and scripts; escape: paths and command
    # lines are not markup.
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
    )
    sys.exit(2)


def _store_failure(exc: Exception) -> KeelError | None:
    from keel.memory.failures import is_store_exception, translate_any

    if not is_store_exception(exc):
        return None
    from keel.settings import Settings

    settings = Settings()
    return translate_any(
        exc, data_dir=settings.data_dir, database_url=settings.resolved_database_url
    )
