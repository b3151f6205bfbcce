"""Recall of the priority list on the demo book's own ground truth.

    python bench/priorities.py                   # 120 accounts, seeds 7, 3 and 11
    python bench/priorities.py --seeds 7 --accounts 60

For each seed: seed a synthetic book (no vectors) in a temporary folder, score it with the
scoring job (``keel.tools.priorities.compute_priorities``, which runs
``keel.tools.health.snapshot.score_as_of``) as of the book's last day, and read the whole
priority list in order. Then, from the ground truth (``keel.memory.truth``, which the
product never reads), take the accounts that really churn or contract at a renewal within
180 days after the as-of date, and print how many of them are in the list's top 10 and top
20. For comparison, the same scores ordered by the earlier rule (ARR at risk weighted by
urgency, no floor) are printed beside it. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WINDOW_DAYS = 180
CUTS = (10, 20)


def _positives(truth_dir: Path) -> tuple[set[str], dict[str, str]]:
    """External ids that churn or contract at a renewal within WINDOW_DAYS of as-of."""
    from keel.memory.truth import load_truth, load_truth_as_of

    truth = load_truth(truth_dir)
    as_of = load_truth_as_of(truth_dir)
    assert as_of is not None
    found: dict[str, str] = {}
    for external_id, t in truth.items():
        for r in t.renewals:
            ahead = (r.renewal_date - as_of).days
            if r.outcome in ("churned", "contracted") and 0 < ahead <= WINDOW_DAYS:
                found[external_id] = f"{r.outcome} {r.renewal_date} ({t.trajectory})"
    return set(found), found


def _recall(order: list[str], positives: set[str]) -> list[int]:
    return [len(positives & set(order[:k])) for k in CUTS]


def run_seed(seed: int, accounts: int, top_shown: int) -> tuple[list[int], list[int], int]:
    from keel.memory.db import init_db, make_engine
    from keel.memory.synth import seed_book
    from keel.tools.priorities import compute_priorities

    with tempfile.TemporaryDirectory(prefix="keel-bench-priorities-") as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'keel.db'}")
        init_db(engine)
        started = time.perf_counter()
        seed_book(engine, n_accounts=accounts, seed=seed, truth_dir=folder / "truth")
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        listing = compute_priorities(engine, top=accounts)
        scored = time.perf_counter() - started
        positives, why = _positives(folder / "truth")
        engine.dispose()
    order = [item.external_id for item in listing.risks]
    old = sorted(listing.risks, key=lambda i: (-i.arr_at_risk * i.urgency, -i.probability))
    old_order = [item.external_id for item in old]
    now, before = _recall(order, positives), _recall(old_order, positives)
    attention = sum(1 for i in listing.risks if i.needs_attention)
    print(
        f"\nseed {seed}: {accounts} accounts, as of {listing.as_of}; seeded in {seeded:.0f}s, "
        f"scored in {scored:.0f}s; {attention} need attention (flagged at risk); "
        f"{len(positives)} accounts churn or contract within {WINDOW_DAYS} days"
    )
    place = {e: n for n, e in enumerate(order, start=1)}
    old_place = {e: n for n, e in enumerate(old_order, start=1)}
    by_id = {i.external_id: i for i in listing.risks}
    for e in sorted(positives, key=lambda x: place.get(x, 10**6)):
        item = by_id.get(e)
        detail = (
            f"p {item.probability:.0%}, ARR {item.arr:,.0f}, renews in {item.days_to_renewal} d"
            if item
            else "not scored"
        )
        print(
            f"  #{place.get(e, '-'):>3} (earlier rule #{old_place.get(e, '-'):>3})  {e}  "
            f"{why[e]}; {detail}"
        )
    for label, values in (("priority list", now), ("earlier rule", before)):
        shown = ", ".join(
            f"top {k}: {v}/{len(positives)}" for k, v in zip(CUTS, values, strict=True)
        )
        print(f"  recall, {label:13s} {shown}")
    if top_shown:
        print(f"  top {top_shown}:")
        for item in listing.risks[:top_shown]:
            mark = "*" if item.external_id in positives else " "
            print(
                f"   {mark}{item.rank:>3} {item.external_id} p {item.probability:4.0%} "
                f"ARR {item.arr:>9,.0f} expected loss {item.arr_at_risk:>9,.0f} "
                f"renews in {item.days_to_renewal} d"
                f"{'  needs attention' if item.needs_attention else ''}"
            )
    return now, before, len(positives)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 3, 11])
    parser.add_argument("--show", type=int, default=0, help="print the list's top N as well")
    args = parser.parse_args()
    totals_now, totals_before, total = [0] * len(CUTS), [0] * len(CUTS), 0
    for seed in args.seeds:
        now, before, n = run_seed(seed, args.accounts, args.show)
        totals_now = [a + b for a, b in zip(totals_now, now, strict=True)]
        totals_before = [a + b for a, b in zip(totals_before, before, strict=True)]
        total += n
    print(f"\nall seeds ({', '.join(map(str, args.seeds))}), {total} accounts to find:")
    for label, values in (("priority list", totals_now), ("earlier rule", totals_before)):
        shown = ", ".join(f"top {k}: {v}/{total}" for k, v in zip(CUTS, values, strict=True))
        print(f"  recall, {label:13s} {shown}")


if __name__ == "__main__":
    main()
