"""Running the ``keel`` console entry point in process, for CLI tests."""

from __future__ import annotations

import importlib
import sys

import pytest

# The module, not the package attribute: ``keel.api.cli.main`` is also a function name.
cli_main = importlib.import_module("keel.api.cli.main")


def keel(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    """Run ``keel ARGS`` through its console entry point; (exit code, stdout + stderr)."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["keel", *args])
    code = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out + captured.err
