"""Assembles the ``keel`` CLI from one module per capability."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

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
    from api.cli import demo, importer, index, intel, review, seed

    for module in (seed, importer, index, intel, review, demo):
        module.register(app)


def main() -> None:
    """Console entry point: user errors print one clear message and exit 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except KeelError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
