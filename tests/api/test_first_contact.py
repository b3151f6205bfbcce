"""Friendly first contact (issue 19, item 8): every ``keel`` command on a missing or empty
workspace exits cleanly and says what to do next, never a traceback; the workspace is found
the same way from any directory; a warning when reviewing past the data's end; no dead
links in the README; no setuptools deprecation warnings from pyproject.toml.

Commands run through the console entry point in process (``main()``: its error handling
and exit codes), enumerated from the Typer app so a new command is covered on its own."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.memory.db import init_db, make_engine
from keel.settings import Settings, find_data_dir
from tests.api.cli_support import cli_main, keel

ROOT = Path(__file__).resolve().parents[2]
HINT = ("keel demo", "keel seed", "keel import")

# Commands not run for real here, with why; their --help must still work.
HELP_ONLY = {
    "demo": "builds a whole book and embeds it (minutes); tests/api/test_demo.py runs it",
    "eval": "runs the scenarios in a workspace of its own (tens of seconds); tests/evals",
    "db revision": "writes a migration file into the source tree (for contributors)",
    "local-model serve": "loads a model and serves until stopped; tests/evals/test_local_model",
}
# Values for required arguments and options, by parameter name; anything else gets "x".
VALUES = {
    "account": "acc-00001",
    "path": "missing-export.csv",
    "query": "piloting another vendor",
    "evidence_id": "ticket:T-1",
    "action_id": "0123abcd",
    "run": "2026-10-31",
    "message": "shorter please",
}
EXTRA = {"chat": ["--user", "dana@example.com"], "seed": ["--accounts", "3"]}
# Commands that read the book: refused with what to do next on a missing or empty
# workspace. Commands that read the queue or the runs: refused on a missing one (and leave
# no empty keel-data behind in the wrong directory).
BOOK_COMMANDS = {"search", "priorities", "health", "backtest", "review", "prep", "show"}
BOOK_COMMANDS |= {"nightly", "chat", "index"}
QUEUE_COMMANDS = {"approvals", "runs"}


def _commands() -> list[tuple[list[str], list[str]]]:
    """Every leaf command of the app: (its words, the arguments it needs)."""
    import typer.main

    cli_main._register()
    found: list[tuple[list[str], list[str]]] = []

    def walk(command: object, words: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            for name, sub in sorted(subcommands.items()):
                walk(sub, [*words, name])
            return
        args: list[str] = []
        for param in getattr(command, "params", []):
            if param.param_type_name == "argument":
                args.append(VALUES.get(param.name, "x"))
            elif param.required:
                args += [param.opts[0], VALUES.get(param.name, "x")]
        found.append((words, args + EXTRA.get(" ".join(words), [])))

    walk(typer.main.get_command(cli_main.app), [])
    return found


COMMANDS = _commands()


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("USER", "first-contact")
    monkeypatch.delenv("KEEL_DEBUG", raising=False)
    yield tmp_path / "keel-data"


def test_the_app_has_the_commands_this_test_knows() -> None:
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"review", "priorities", "health", "backtest", "approvals reject", "seed"} <= names
    assert set(HELP_ONLY) <= names


@pytest.mark.parametrize("state", ["missing", "empty"])
@pytest.mark.parametrize(("words", "args"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_on_a_missing_or_empty_workspace(
    state: str,
    words: list[str],
    args: list[str],
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KEEL_DATA_DIR", str(workspace))
    if state == "empty":
        settings = Settings(data_dir=workspace)
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        engine.dispose()
    name = " ".join(words)
    if name in HELP_ONLY:
        code, out = keel(capsys, monkeypatch, *words, "--help")
        assert code == 0, out
        return
    code, out = keel(capsys, monkeypatch, *words, *args)
    assert "Traceback" not in out, out
    assert code in (0, 2), f"keel {name}: exit {code}\n{out}"
    needs = BOOK_COMMANDS if state == "empty" else BOOK_COMMANDS | QUEUE_COMMANDS
    if words[0] in needs:
        assert code == 2, out
        assert any(hint in out for hint in HINT), f"keel {name} says what to do next:\n{out}"
        assert str(workspace.resolve()) in out.replace("\n", ""), "it names the workspace"
    if state == "missing" and words[0] in BOOK_COMMANDS | QUEUE_COMMANDS:
        assert not workspace.exists(), "a refused command leaves no empty workspace behind"


def test_an_unexpected_error_is_one_line_without_a_traceback(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise ValueError("not enough history for a 180-day backtest")

    monkeypatch.setenv("KEEL_DATA_DIR", str(workspace))
    monkeypatch.setattr(cli_main, "check_workspace", boom)
    code, out = keel(capsys, monkeypatch, "version", "--help")  # help is never checked
    assert code == 0
    code, out = keel(capsys, monkeypatch, "approvals", "list")
    assert code == 1
    assert "not enough history" in out and "KEEL_DEBUG=1" in out
    assert "Traceback" not in out


def test_the_workspace_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KEEL_DATA_DIR", raising=False)
    project = tmp_path / "project"
    deep = project / "notes" / "2026"
    deep.mkdir(parents=True)
    settings = Settings(data_dir=project / "keel-data")
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    engine.dispose()

    monkeypatch.chdir(deep)
    assert find_data_dir().resolve() == (project / "keel-data").resolve()
    assert Settings().data_dir.resolve() == (project / "keel-data").resolve()
    assert Settings().data_dir_source == "found above the current directory"
    code, out = keel(capsys, monkeypatch, "approvals", "list")
    assert code == 0, out
    assert str((project / "keel-data").resolve()) in out.replace("\n", "")
    assert not (deep / "keel-data").exists(), "no second, empty workspace"

    monkeypatch.chdir(project)
    assert Settings().data_dir == Path("keel-data")
    monkeypatch.chdir(tmp_path)  # nothing here or above: ./keel-data, as before
    assert Settings().data_dir == Path("keel-data")
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().data_dir == tmp_path / "elsewhere"
    assert Settings().data_dir_source == "set by KEEL_DATA_DIR"


def test_reviewing_far_past_the_data_warns(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from keel.api.cli.common import warn_if_past_data
    from keel.memory.synth import seed_book
    from keel.tools.signals import latest_data_date

    settings = Settings(data_dir=workspace)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    seed_book(engine, n_accounts=3, seed=5)
    latest = latest_data_date(engine)
    assert latest is not None
    import datetime as dt

    assert warn_if_past_data(engine, latest + dt.timedelta(days=10)) is None
    far = latest + dt.timedelta(days=200)
    warning = warn_if_past_data(engine, far)
    assert warning is not None and "200 days after" in warning and str(latest) in warning
    engine.dispose()
    # Any command given --as-of says it too (checked before the command runs).
    monkeypatch.setenv("KEEL_DATA_DIR", str(workspace))
    code, out = keel(capsys, monkeypatch, "priorities", "--as-of", far.isoformat(), "--top", "1")
    assert code in (0, 2), out
    assert "200 days after" in out.replace("\n", " ") and "Traceback" not in out


def test_the_readme_links_nothing_outside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    assert "](../" not in readme


def test_pyproject_raises_no_setuptools_deprecation_warning() -> None:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert not [str(w.message) for w in caught]
