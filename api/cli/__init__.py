"""The ``keel`` command line."""

from keel.api.cli.main import app, main

__all__ = ["app", "main"]
