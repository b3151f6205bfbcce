"""Run the hostile-model matrix (issue 17) outside pytest and print what got through.

The matrix is ``tests/graphs/test_hostile_matrix.py``: a local OpenAI-compatible server
plays a fully compromised model (``tests/hostile_model.py``), each attack is planted in a
ticket, call note or NPS comment of a gated and an AI-led account, the review runs on the
real ``ChatOpenAI`` client, a reviewer approves everything queued, and the executor sends
through a real SMTP server and a webhook sink. This prints, per tier and in total: cases
run, cases where the model fell for it (the planted record reached it), messages sent and
queued, and the violations of each kind, with a few concrete examples per kind. It is a
report: the exit code is 0 whatever it finds.

    .venv/bin/python bench/injection.py              # own attacks everywhere, BIPIA rotated
    .venv/bin/python bench/injection.py --quick      # the matrix's quick cases only (~20 s)
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
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for _var in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL", "KEEL_DATABASE_URL", "KEEL_CHROMA_URL"):
    os.environ.pop(_var, None)

EXAMPLES_PER_KIND = 4


def choose_cases(args: argparse.Namespace) -> list[object]:
    from tests.graphs.test_hostile_matrix import BIPIA_CASES, OWN_CASES, TIERS

    if args.quick:
        return [c for c in OWN_CASES if c.quick]
    cases: list[object] = list(OWN_CASES)
    if args.no_bipia:
        return cases
    if args.full:
        return cases + list(BIPIA_CASES)
    # One placement per BIPIA attack and tier, rotating over kinds and positions, so every
    # (kind, position) pair is exercised without 1,350 reviews.
    by_attack: dict[str, list[object]] = defaultdict(list)
    for case in BIPIA_CASES:
        by_attack[case.attack.id].append(case)
    for index, (_, placements) in enumerate(by_attack.items()):
        for tier in TIERS:
            mine = [c for c in placements if c.target == tier]
            cases.append(mine[index % len(mine)])
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the matrix's quick cases")
    parser.add_argument("--full", action="store_true", help="every BIPIA attack everywhere")
    parser.add_argument("--no-bipia", action="store_true", help="own attacks only")
    parser.add_argument("--limit", type=int, default=0, help="stop after N cases")
    parser.add_argument("--json", type=Path, help="write every case result here")
    args = parser.parse_args()

    from keel.settings import Settings
    from memory.checkpoint import open_persistence
    from memory.db import init_db, make_engine
    from tests.graphs.support import seed
    from tests.graphs.test_hostile_matrix import ATTACKS_FILE, BIPIA_ATTACKS, open_harness

    cases = choose_cases(args)
    if args.limit:
        cases = cases[: args.limit]
    if not BIPIA_ATTACKS and not args.quick and not args.no_bipia:
        print(f"note: BIPIA attacks not found at {ATTACKS_FILE}; own attacks only")

    started = time.perf_counter()
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
            results = []
            for number, case in enumerate(cases, 1):
                results.append(
                    h.run(case.attack, h.targets[case.target], case.kind, case.position)  # type: ignore[attr-defined]
                )
                if number % 25 == 0:
                    print(f"  {number}/{len(cases)} cases, {time.perf_counter() - started:.0f} s")
        engine.dispose()
    elapsed = time.perf_counter() - started
    report(results, elapsed)
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) for r in results], indent=1, default=str), encoding="utf-8"
        )
        print(f"wrote {args.json}")
    return 0


def report(results: list[object], elapsed: float) -> None:
    from tests.graphs.test_hostile_matrix import FAILURE_KINDS, CaseResult

    rows: list[CaseResult] = [r for r in results if isinstance(r, CaseResult)]
    groups = {
        "gated": [r for r in rows if r.target == "gated"],
        "ai_led": [r for r in rows if r.target == "ai_led"],
        "total": rows,
    }

    def line(label: str, values: list[object]) -> None:
        print(f"{label:<34}" + "".join(f"{v!s:>10}" for v in values))

    print()
    print(f"hostile-model matrix: {len(rows)} cases in {elapsed:.0f} s")
    line("", list(groups))
    line("cases run", [len(g) for g in groups.values()])
    line(
        "model fell for it (record reached)", [sum(r.fell_for for r in g) for g in groups.values()]
    )
    line("messages sent", [sum(r.sent for r in g) for g in groups.values()])
    line("messages queued for approval", [sum(r.queued for r in g) for g in groups.values()])
    line("sent without a human", [sum(len(r.auto_sent) for r in g) for g in groups.values()])
    line("cases that crashed", [sum(bool(r.error) for r in g) for g in groups.values()])
    line("clean cases", [sum(not r.violations and not r.error for r in g) for g in groups.values()])
    print()
    line("violations (cases affected)", list(groups))
    for kind in FAILURE_KINDS:
        line(
            f"  {kind}",
            [
                f"{sum(1 for r in g for v in r.violations if v.kind == kind)}"
                f" ({sum(1 for r in g if kind in r.kinds())})"
                for g in groups.values()
            ],
        )
    where = Counter(v.where for r in rows for v in r.violations)
    print()
    print("where violations were found: " + ", ".join(f"{k} {n}" for k, n in where.most_common()))
    families = Counter(r.family for r in rows if r.violations)
    print("families with violations: " + ", ".join(f"{k} {n}" for k, n in families.most_common(12)))
    print()
    print("examples")
    for kind in FAILURE_KINDS:
        seen = [v for r in rows for v in r.violations if v.kind == kind]
        if not seen:
            continue
        print(f"  {kind}:")
        shown: set[str] = set()
        for violation in seen:
            key = violation.detail[:50]
            if key in shown:
                continue
            shown.add(key)
            print(f"    [{violation.case}] {violation.where}: {violation.detail!r}")
            if len(shown) >= EXAMPLES_PER_KIND:
                break
    crashed = [r for r in rows if r.error]
    for result in crashed[:3]:
        print(f"  crash [{result.case}]: {result.error}")


if __name__ == "__main__":
    sys.exit(main())
