"""A new user's first run, timed: fresh clone -> README command 1 -> demo finished.

    python bench/first_run.py [--repo /work/main] [--reuse-venv PATH] [--accounts N]
                              [--keep] [--timeout SECONDS]

1. ``git clone REPO`` into a temporary folder (what a new user gets: committed files only).
2. README command 1: the first line of the README's first ```bash block, run in the clone
   with ``bash -c`` as written (it creates ``.venv``, installs Keel and runs ``keel demo``).
   With ``--reuse-venv PATH`` the venv-creating and installing steps are skipped and
   ``.venv`` in the clone is a symlink to ``PATH`` (an existing venv with Keel's
   dependencies), so the demo can be timed again without minutes of installing; the
   package is then installed into nothing: ``PATH`` must have Keel installed editable from
   some checkout, and ``PYTHONPATH`` points at the clone so the clone's code runs.
3. The demo's output is read line by line as it arrives (stdout redirected to a pipe, as
   in CI), and each phase is timed from the first line of its section heading to the next:
   install, seed, index, score, nightly, then the priority list and drafts (report).

Prints a table of phase times and the total, and the demo's embedding figures (documents,
records written, distinct texts embedded). ``--accounts`` is passed to ``keel demo`` (the
README's command uses the demo's default size). Nothing is asserted; the exit code is the
command's. Load averages are printed: on a shared machine the wall time says little
without them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The demo's section headings (keel.api.cli.demo) and the phase each one starts.
PHASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"1\. A realistic book"), "seed"),
    (re.compile(r"2\. Tickets, call notes"), "index"),
    (re.compile(r"3\. Every account scored"), "score"),
    (re.compile(r"4\. The nightly review"), "nightly"),
    (re.compile(r"Today's priority list"), "report"),
]


def readme_command(readme: Path) -> str:
    """The first command line of the README's first ```bash block."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    if match is None:
        raise SystemExit(f"{readme}: no ```bash block")
    lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{readme}: the first ```bash block is empty")
    return lines[0]


def split_install(command: str) -> tuple[list[str], str]:
    """The ``&&`` steps before ``keel demo``, and the demo step itself."""
    steps = [step.strip() for step in command.split("&&")]
    demo = [i for i, step in enumerate(steps) if re.search(r"\bkeel demo\b", step)]
    if not demo:
        raise SystemExit(f"README command 1 does not run keel demo: {command}")
    return steps[: demo[0]], " && ".join(steps[demo[0] :])


@dataclass
class Timeline:
    started: float
    marks: list[tuple[str, float]] = field(default_factory=list)

    def mark(self, phase: str) -> None:
        self.marks.append((phase, time.perf_counter()))

    def durations(self, end: float) -> list[tuple[str, float]]:
        out = []
        for (phase, at), nxt in zip(self.marks, [*self.marks[1:], ("end", end)], strict=True):
            out.append((phase, nxt[1] - at))
        return out


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone")
    parser.add_argument("--reuse-venv", type=Path, help="an existing venv to use as .venv")
    parser.add_argument("--accounts", type=int, help="passed to keel demo as --accounts")
    parser.add_argument("--keep", action="store_true", help="keep the clone (path printed)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="keel-first-run-"))
    clone = workdir / "keel"
    print(f"load averages at start: {os.getloadavg()}; cores: {os.cpu_count()}", flush=True)
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", args.repo, str(clone)], check=True)
    cloned = time.perf_counter()
    command = readme_command(clone / "README.md")
    install, demo = split_install(command)
    if args.accounts is not None:
        demo = demo.replace("keel demo", f"keel demo --accounts {args.accounts}", 1)
    print(f"README command 1: {command}", flush=True)

    env = dict(os.environ)
    env["KEEL_DATA_DIR"] = str(clone / "keel-data")
    env.pop("KEEL_DATABASE_URL", None)
    env.pop("KEEL_CHROMA_URL", None)
    env["HF_HUB_OFFLINE"] = "1"
    if args.reuse_venv is not None:
        venv = args.reuse_venv.resolve()
        if not (venv / "bin" / "python").exists():
            raise SystemExit(f"--reuse-venv {venv}: no bin/python there")
        (clone / ".venv").symlink_to(venv)
        env["PYTHONPATH"] = str(clone)  # the clone's code, not the venv's editable checkout
        print(f"reusing {venv}: skipped {' && '.join(install)}", flush=True)
        script = demo
    else:
        script = command

    timeline = Timeline(started)
    timeline.mark("install" if args.reuse_venv is None else "start")
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    embedding: list[str] = []
    assert proc.stdout is not None
    deadline = time.perf_counter() + args.timeout
    for line in proc.stdout:
        stamp = time.perf_counter() - started
        sys.stdout.write(f"[{stamp:7.1f}s] {line}")
        sys.stdout.flush()
        for pattern, phase in PHASES:
            if pattern.search(line) and phase not in {p for p, _ in timeline.marks}:
                timeline.mark(phase)
        if re.search(r"documents|records|texts embedded", line):
            embedding.append(line.rstrip())
        if time.perf_counter() > deadline:
            proc.kill()
            print(f"timed out after {args.timeout:.0f} s", flush=True)
            break
    code = proc.wait()
    end = time.perf_counter()

    print("\nfirst run: fresh clone -> README command 1 -> demo finished", flush=True)
    print(f"  {'clone':<10} {cloned - started:8.1f} s")
    for phase, seconds in timeline.durations(end):
        print(f"  {phase:<10} {seconds:8.1f} s")
    print(f"  {'total':<10} {end - started:8.1f} s  (exit code {code})")
    print(f"load averages at end: {os.getloadavg()}")
    tail = [line for line in embedding if "│" in line or "|" in line]
    if tail:
        print("embedding:")
        for line in tail[-10:]:
            print(f"  {line.strip()}")
    if args.keep:
        print(f"clone kept at {clone}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
