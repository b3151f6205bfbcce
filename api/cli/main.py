"""Assembles the ``keel`` CLI from one module per capability."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from keel.errors import KeelError

if TYPE_CHECKING:
    from typer._click.core import Context


class KeelGroup(TyperGroup):
    """The ``keel`` group: before a command runs, the first-contact check of its workspace
    (:func:`check_workspace`); help and bare groups are never refused."""

    def invoke(self, ctx: Context) -> Any:
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if args and not ({"--help", "-h"} & set(args)) and not ctx.resilient_parsing:
            command = self.get_command(ctx, args[0])
            bare_group = len(args) == 1 and isinstance(command, TyperGroup)
            if command is not None and not bare_group:
                check_workspace(args[0], quiet="--json" in args)
                _warn_past_data(args)
        return super().invoke(ctx)


app = typer.Typer(
    name="keel",
    cls=KeelGroup,
    help="Keel: AI-first Customer Success. Offline by default; see README for configuration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# Commands that read an account book: on a missing or empty workspace they stop at once
# and say how to start one (instead of a traceback or an empty answer).
NEEDS_BOOK = frozenset(
    {
        "search",
        "priorities",
        "health",
        "backtest",
        "review",
        "prep",
        "show",
        "nightly",
        "chat",
        "index",
        "metrics",
    }
)
# Commands that read the queue or the runs: a missing workspace is refused the same way
# (running them must not leave an empty keel-data behind in the wrong directory).
NEEDS_WORKSPACE = NEEDS_BOOK | {"approvals", "runs"}
START_HINT = (
    "`keel demo` (a sample book, end to end), `keel seed` (a synthetic book) or "
    "`keel import PATH` (your own exports)"
)


def check_workspace(command: str, *, quiet: bool = False) -> None:
    """Refuse ``command`` on a missing or empty workspace with what to do next; say which
    workspace is used when it was found above the current directory."""
    from keel.settings import Settings

    settings = Settings()
    where = settings.data_dir.resolve()
    source = settings.data_dir_source
    if source == "found above the current directory" and not quiet:
        Console(stderr=True).print(f"[dim]workspace: {where} ({source})[/]", highlight=False)
    if settings.database_url or command not in NEEDS_WORKSPACE:
        return  # a database server: its own errors say what is wrong
    database = settings.data_dir / "keel.db"
    if not database.is_file():
        raise KeelError(
            f"no Keel workspace at {where} ({source}). Start one with {START_HINT}; or run "
            "from the folder that holds your keel-data, or set KEEL_DATA_DIR to it."
        )
    if command in NEEDS_BOOK and not _has_accounts(database):
        raise KeelError(
            f"the workspace at {where} has no accounts yet. Load a book first: {START_HINT}."
        )


def _warn_past_data(args: list[str]) -> None:
    """Any command given ``--as-of`` far past the book's latest data warns (stderr)."""
    import datetime as dt

    value = next(
        (
            nxt if arg == "--as-of" else arg.split("=", 1)[1]
            for arg, nxt in zip(args, [*args[1:], ""], strict=True)
            if arg == "--as-of" or arg.startswith("--as-of=")
        ),
        None,
    )
    try:
        as_of = dt.date.fromisoformat(value) if value else None
    except ValueError:
        return  # the command's own option parsing says what is wrong
    if as_of is None:
        return
    from keel.api.cli.common import warn_if_past_data
    from keel.memory.db import make_engine
    from keel.settings import Settings

    settings = Settings()
    if not settings.database_url and not (settings.data_dir / "keel.db").is_file():
        return
    engine = make_engine(settings.resolved_database_url)
    try:
        warn_if_past_data(engine, as_of)
    except Exception:
        return
    finally:
        engine.dispose()


def _has_accounts(database: Path) -> bool:
    import sqlite3

    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT 1 FROM account LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        # No account table (a fresh or damaged file): let the command and its store
        # checks say what is wrong.
        return True


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
    from keel.api.cli import local_model

    local_model.register(app)  # keel local-model serve


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
        # damaged file, a server down): one message too.
        known = _store_failure(exc)
        if known is not None:
            _fail(known)
        # Anything else was not expected here: its message in one line, no traceback
        # (KEEL_DEBUG=1 shows it).
        if os.environ.get("KEEL_DEBUG"):
            raise
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(exc) or type(exc).__name__)}\n"
            f"[dim]({escape(type(exc).__name__)} not handled by Keel: run again with "
            "KEEL_DEBUG=1 for the traceback; if this looks like a bug, please report it)[/]",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


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
