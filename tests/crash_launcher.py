"""Run the real ``keel`` CLI with an execution hook that stops at one durable step.

Test-only: crash tests start this module as a subprocess, wait for the marker file, and
SIGKILL the process there. Production code never looks for it; the hook goes in through
:func:`keel.api.cli.outbox.set_execution_options`, as any embedding application's would::

    python -m tests.crash_launcher --hold-at sent --marker /tmp/m --lease 2 -- \\
        approvals approve ID --user ivy

``--hold-at`` is an :class:`keel.tools.outbound.executor.ExecutionStep` (``claimed``,
``attempt_recorded``, ``sent``, ``recorded``) or ``none``. ``--pace S`` instead writes
the marker at the claim and sleeps S seconds after every step, so a kill at a random
moment after the marker lands anywhere in the send. ``--lease`` shortens the claim's
lease, so a recovery need not wait the default five minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from keel.tools.outbound.executor import (
    ExecutionHooks,
    ExecutionOptions,
    ExecutionStep,
    RetryPolicy,
    no_hooks,
)

HOLD_SECONDS = 600.0


def make_hold(target: str, marker: Path, seconds: float = HOLD_SECONDS) -> ExecutionHooks:
    """A hook that, at step ``target``, writes the action id to ``marker`` and sleeps."""

    def hook(step: ExecutionStep, action_id: str) -> None:
        if step != target:
            return
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(f"{action_id}\n{step}\n", encoding="utf-8")
        tmp.replace(marker)  # the test never reads a half-written marker
        time.sleep(seconds)

    return hook


def make_pace(marker: Path, seconds: float) -> ExecutionHooks:
    """A hook that marks the claim, then lingers ``seconds`` after every step."""

    def hook(step: ExecutionStep, action_id: str) -> None:
        if step == ExecutionStep.CLAIMED:
            marker.write_text(f"{action_id}\n{step}\n", encoding="utf-8")
        time.sleep(seconds)

    return hook


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="crash_launcher")
    parser.add_argument("--hold-at", default="none")
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--lease", type=int, default=300)
    parser.add_argument("--first-wait", type=float, default=30.0)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("keel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    keel_args = [a for a in args.keel if a != "--"]

    from keel.api.cli import main as keel_main
    from keel.api.cli.outbox import set_execution_options

    hooks = no_hooks
    if args.hold_at != "none":
        hooks = make_hold(ExecutionStep(args.hold_at), args.marker)
    elif args.pace:
        hooks = make_pace(args.marker, args.pace)
    options = ExecutionOptions(
        lease_seconds=args.lease, retry=RetryPolicy(first_wait_s=args.first_wait), hooks=hooks
    )
    set_execution_options(options)
    sys.argv = ["keel", *keel_args]
    keel_main()


if __name__ == "__main__":
    main()
