"""The layers point down: the import-linter contracts in pyproject.toml hold.

The contracts (``[tool.importlinter]``; the layers are described in docs/architecture.md)
are checked here so the normal test command enforces them, with no ignored imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keel"


def _lint_imports() -> Path:
    return Path(sys.executable).with_name("lint-imports")


def test_import_contracts_hold() -> None:
    """``lint-imports`` passes; on failure the message is its report (which import, where)."""
    done = subprocess.run(
        [str(_lint_imports()), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_contracts_ignore_no_import() -> None:
    """A violation is fixed by moving code down or passing it in, never by an ignore."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert contracts
    for contract in contracts:
        assert not contract.get("ignore_imports"), contract["name"]


def test_the_linter_sees_every_module() -> None:
    """Every module under keel/ (the symlinked folders too) is in the graph the contracts
    check: a folder without ``__init__.py`` would drop out of it silently."""
    graph = grimp.build_graph("keel", cache_dir=None)
    on_disk = set()
    # os.walk, not Path.rglob: rglob does not follow the symlinked folders (keel/agents, ...).
    for folder, dirs, files in os.walk(PACKAGE, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            parts = (Path(folder) / name).relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            on_disk.add(".".join(parts))
    missing = sorted(on_disk - set(graph.modules))
    assert not missing, (
        f"modules import-linter cannot see (a package without __init__.py?): {missing}"
    )
    assert {"keel.agents.state", "keel.tools.outbound.executor", "keel.domain.policy"} <= on_disk
