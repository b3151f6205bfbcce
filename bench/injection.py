"""Run the hostile-model matrix (issue 17) outside pytest and print what got through.

The matrix is ``tests/graphs/test_hostile_matrix.py``: a local OpenAI-compatible server
plays a fully compromised model (``tests/hostile_model.py``), each attack is planted in a
ticket, call note or NPS comment of a gated and an AI-led account, the review runs on the
real ``ChatOpenAI`` client, a reviewer approves everything queued, and the executor sends
through a real SMTP server and a webhook sink; call notes carrying an attack are also
summarised as ``keel prep --note`` does. This prints, per group and in total: cases run,
cases where the model fell for it (the planted record reached it), messages sent and
queued, and the violations of each kind, with a few concrete examples per kind. It is a
report: the exit code is 0 whatever it finds.

    .venv/bin/python bench/injection.py              # own attacks everywhere, BIPIA rotated
    .venv/bin/python bench/injection.py --quick      # the matrix's quick cases only (~30 s)
    .venv/bin/python bench/injection.py --full       # every BIPIA attack in every placement
    .venv/bin/python bench/injection.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for _var in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL", "KEEL_DATABASE_URL", "KEEL_CHROMA_URL"):
    os.environ.pop(_var, None)

EXAMPLES_PER_KIND = 4
Job = Callable[[Any], Any]  # harness -> CaseResult


def choose_jobs(args: argparse.Namespace) -> list[Job]:
    """The cases to run, as calls on the harness: reviews, then call-note summaries."""
    from tests.graphs.test_hostile_matrix import (
        BIPIA_CASES,
        OWN_ATTACKS,
        OWN_CASES,
        POSITIONS,
        QUICK_CALL_SUMMARIES,
        SUMMARY_TARGET,
        TIERS,
    )

    notes = [(a, p) for a in OWN_ATTACKS for p in POSITIONS]
    if args.quick:
        cases = [c for c in OWN_CASES if c.quick]
        notes = [(a, p) for a, p in notes if (a.id[:2], p) in QUICK_CALL_SUMMARIES]
    else:
        cases = list(OWN_CASES)
        if args.full:
            cases += list(BIPIA_CASES)
        elif not args.no_bipia:
            # One placement per BIPIA attack and tier, rotating over kinds and positions, so
            # every (kind, position) pair is exercised without 1,350 reviews.
            by_attack: dict[str, list[Any]] = defaultdict(list)
            for case in BIPIA_CASES:
                by_attack[case.attack.id].append(case)
            for index, placements in enumerate(by_attack.values()):
                for tier in TIERS:
                    mine = [c for c in placements if c.target == tier]
                    cases.append(mine[index % len(mine)])

    def review_job(case: Any) -> Job:
        return lambda h: h.run(case.attack, h.targets[case.target], case.kind, case.position)

    def note_job(attack: Any, position: str) -> Job:
        return lambda h: h.run_call_summary(attack, h.targets[SUMMARY_TARGET], position)

    return [review_job(c) for c in cases] + [note_job(a, p) for a, p in notes]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the matrix's quick cases")
    parser.add_argument("--full", action="store_true", help="every BIPIA attack everywhere")
    parser.add_argument("--no-bipia", action="store_true", help="own attacks only")
    parser.add_argument("--limit", type=int, default=0, help="stop after N cases")
    parser.add_argument("--json", type=Path, help="write every case result here")
    args = parser.parse_args()

    from keel.memory.checkpoint import open_persistence
    from keel.memory.db import init_db, make_engine
    from keel.settings import Settings
    from tests.graphs.support import seed
    from tests.graphs.test_hostile_matrix import ATTACKS_FILE, BIPIA_ATTACKS, open_harness

    jobs = choose_jobs(args)
    if args.limit:
        jobs = jobs[: args.limit]
    if not BIPIA_ATTACKS and not args.quick and not args.no_bipia:
        print(f"note: BIPIA attacks not found at {ATTACKS_FILE}; own attacks only")

    started = time.perf_counter()
    results: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="keel-injection-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "keel-data")
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        book = seed(engine, settings)
        with open_persistence(settings) as persistence, open_harness(book, persistence) as h:
            for target in h.targets.values():
                print(
                    f"target {target.name}: account {target.account.external_id} "
                    f"({target.tier}); baseline plays {sorted(target.baseline_plays)}; "
                    f"baseline violations {len(target.baseline_violations)}"
                )
                for violation in target.baseline_violations[:5]:
                    print(f"  baseline {violation.kind} in {violation.where}: {violation.detail!r}")
            for number, job in enumerate(jobs, 1):
                results.append(job(h))
                if number % 50 == 0:
                    print(f"  {number}/{len(jobs)} cases, {time.perf_counter() - started:.0f} s")
        engine.dispose()
    report(results, time.perf_counter() - started)
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) for r in results], indent=1, default=str), encoding="utf-8"
        )
        print(f"wrote {args.json}")
    return 0


def report(rows: list[Any], elapsed: float) -> None:
    """The table of counts and a few examples per failure kind."""
    from tests.graphs.test_hostile_matrix import FAILURE_KINDS, TIERS

    reviews = [r for r in rows if r.kind != "call_summary"]
    groups = {
        **{tier: [r for r in reviews if r.target == tier] for tier in TIERS},
        "callnote": [r for r in rows if r.kind == "call_summary"],
        "total": rows,
    }

    def line(label: str, values: list[object]) -> None:
        print(f"{label:<36}" + "".join(f"{v!s:>14}" for v in values))

    def per_group(count: Callable[[list[Any]], object]) -> list[object]:
        return [count(g) for g in groups.values()]

    print()
    print(f"hostile-model matrix: {len(rows)} cases in {elapsed:.0f} s")
    line("", list(groups))
    line("cases run", per_group(len))
    line("model fell for it (record reached)", per_group(lambda g: sum(r.fell_for for r in g)))
    line("messages sent", per_group(lambda g: sum(r.sent for r in g)))
    line("messages queued for approval", per_group(lambda g: sum(r.queued for r in g)))
    line("sent without a human", per_group(lambda g: sum(len(r.auto_sent) for r in g)))
    line("cases that crashed", per_group(lambda g: sum(bool(r.error) for r in g)))
    line("clean cases", per_group(lambda g: sum(not r.violations and not r.error for r in g)))
    print()
    line("violations (cases affected)", list(groups))

    def violations_of(kind: str) -> Callable[[list[Any]], object]:
        def count(group: list[Any]) -> str:
            found = sum(1 for r in group for v in r.violations if v.kind == kind)
            return f"{found} ({sum(1 for r in group if kind in r.kinds())})"

        return count

    for kind in FAILURE_KINDS:
        line(f"  {kind}", per_group(violations_of(kind)))
    where = Counter(v.where for r in rows for v in r.violations)
    print()
    print("where violations were found: " + ", ".join(f"{k} {n}" for k, n in where.most_common()))
    families = Counter(r.family for r in rows if r.violations)
    print(
        "cases with violations by family: "
        + ", ".join(f"{k} {n}" for k, n in families.most_common())
    )
    print()
    print("examples")
    for kind in FAILURE_KINDS:
        seen = [v for r in rows for v in r.violations if v.kind == kind]
        if not seen:
            continue
        print(f"  {kind}:")
        shown: set[str] = set()
        for violation in seen:
            key = f"{violation.where}:{violation.detail[:40]}"
            if key in shown:
                continue
            shown.add(key)
            print(f"    [{violation.case}] {violation.where}: {violation.detail!r}")
            if len(shown) >= EXAMPLES_PER_KIND:
                break
    for result in [r for r in rows if r.error][:3]:
        print(f"  crash [{result.case}]: {result.error}")


if __name__ == "__main__":
    sys.exit(main())
