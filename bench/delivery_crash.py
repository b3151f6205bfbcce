"""Crash matrix for delivery: kill ``keel outbox run`` mid-send, recover, count.

For each transport (SMTP via aiosmtpd, webhook via an HTTP sink, dry-run outbox), each
backend (SQLite; PostgreSQL when ``KEEL_TEST_POSTGRES_URL`` is set) and each durable step
of a send (claimed, attempt_recorded, sent, recorded), plus ``--random N`` kills at a
random moment of the send per transport and backend (each step lingers a quarter second
so the moment can fall anywhere in it): one approved email, a process SIGKILLed there,
a recovery pass, then what the receiver and the record hold. Prints the counts:

    trials, delivered exactly once, delivered twice with the same key (the documented
    window: SMTP/webhook accepted, process killed before the record), lost, unrecorded

Usage::

    .venv/bin/python bench/delivery_crash.py                 # full matrix + 3 random kills
    .venv/bin/python bench/delivery_crash.py --random 10 --transports smtp
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.crash_trials import PACE_S, STEPS, TRANSPORTS, Verdict, crash_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transports", nargs="*", default=list(TRANSPORTS))
    parser.add_argument("--steps", nargs="*", default=list(STEPS))
    parser.add_argument("--random", type=int, default=4, help="random-time kills per cell")
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pg = os.environ.get("KEEL_TEST_POSTGRES_URL")
    backends = ["sqlite", *(["postgres"] if pg else [])]
    rng = random.Random(args.seed)
    verdicts: list[Verdict] = []
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="keel-crash-"))
    try:
        for backend in backends:
            for transport in args.transports:
                plan: list[tuple[str | None, float | None]] = [(s, None) for s in args.steps]
                # Each step lingers PACE_S: a kill up to 5 x PACE_S after the claim lands
                # anywhere from before the attempt to after the record.
                plan += [(None, rng.uniform(0.0, 5 * PACE_S)) for _ in range(args.random)]
                for step, after in plan:
                    work = root / f"t{len(verdicts)}"
                    work.mkdir()
                    verdict = crash_trial(
                        transport, backend, step, work, postgres_url=pg, after_s=after
                    )
                    verdicts.append(verdict)
                    shutil.rmtree(work, ignore_errors=True)
                    print(
                        f"{backend:8} {transport:8} {verdict.step:26} -> {verdict.kind:15} "
                        f"copies={verdict.copies} status={verdict.status} "
                        f"interventions={verdict.interventions} attempts={verdict.attempts}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts = Counter(v.kind for v in verdicts)
    print()
    print(f"backends: {', '.join(backends)}; transports: {', '.join(args.transports)}")
    print(f"trials                                   {len(verdicts)}")
    print(f"delivered exactly once, recorded         {counts['once']}")
    print(f"delivered twice, same key (the window)   {counts['twice_same_key']}")
    print(f"lost                                     {counts['lost']}")
    print(f"unrecorded                               {counts['unrecorded']}")
    if counts["other"]:
        print(f"other                                    {counts['other']}")
    window = [v for v in verdicts if v.kind == "twice_same_key"]
    outside = [v for v in window if v.transport not in ("smtp", "webhook")]
    print(f"twice outside SMTP/webhook               {len(outside)}")
    print(f"wall time                                {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
