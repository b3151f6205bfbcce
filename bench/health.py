"""Score 10,000 accounts as of one date, against a plain pandas read of the same rows.

    python bench/health.py                       # seed a 10k book in a temp dir, then time
    python bench/health.py --db /tmp/k/keel.db   # reuse a seeded database (seeding is slow)
    python bench/health.py --accounts 2000       # a smaller book

What is timed, in the same run and on the same database:

* **Keel scoring**: ``keel.tools.health.service.score_book`` with an already fitted model: read
  the rows the signals need (``load_book``), compute every signal for every account
  (``compute_signals``), keep the active ones, and score them (logit and probability).
* **Plain read**: ``pandas.read_sql_query`` of exactly the same SQL (the queries
  ``load_book`` runs, from ``keel.tools.signals.book.book_queries``), nothing else.

The ratio of the two is the cost of everything Keel does beyond reading the data; the
target is within 3x. Fitting the model (once, on the whole history) is timed and printed
separately: a production run reuses the stored model. Seeding a 10k book takes several
minutes on a laptop; the time is printed. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _seed(db: Path, accounts: int, months: int, seed: int) -> float:
    from keel.memory.db import init_db, make_engine
    from keel.memory.synth import seed_book

    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 15 or done == total:
            last[0] = now
            print(f"  seeded {done:,}/{total:,} accounts ({now - started:.0f}s)", flush=True)

    seed_book(engine, n_accounts=accounts, seed=seed, months=months, progress=progress)
    engine.dispose()
    return time.perf_counter() - started


def _plain_read(engine: object, as_of: object) -> tuple[float, int]:
    import pandas as pd
    from sqlalchemy import text

    from keel.tools.signals.book import book_queries

    queries, params = book_queries(engine, until=as_of, since=as_of)  # type: ignore[arg-type]
    started = time.perf_counter()
    rows = 0
    with engine.connect() as conn:  # type: ignore[attr-defined]
        for sql in queries.values():
            rows += len(pd.read_sql_query(text(sql), conn, params=params))
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=14, help="history seeded (>= 13)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="reuse (or create) this SQLite file")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each pass")
    args = parser.parse_args()

    from keel.memory.db import make_engine
    from keel.tools.health.service import fit_on_history, score_book
    from keel.tools.signals.book import latest_data_date, load_book

    tmp = None
    db = args.db
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="keel-bench-health-")
        db = Path(tmp.name) / "keel.db"
    if not db.exists():
        print(f"Seeding {args.accounts:,} accounts x {args.months} months into {db} ...")
        seconds = _seed(db, args.accounts, args.months, args.seed)
        print(f"Seeding took {seconds:.0f}s (not part of the comparison).")
    engine = make_engine(f"sqlite:///{db}")
    as_of = latest_data_date(engine)
    assert as_of is not None, "the database has no telemetry"

    started = time.perf_counter()
    model = fit_on_history(load_book(engine, until=as_of), as_of=as_of)
    print(
        f"Model fit on the whole history: {time.perf_counter() - started:.1f}s "
        f"({model.source}, {model.n_rows:,} rows, {model.n_positive} positive; done once, "
        "reused by every scoring run)"
    )

    keel: list[float] = []
    plain: list[float] = []
    scored = rows = 0
    for _ in range(args.repeat):
        # Alternate the passes so the OS page cache favours neither.
        seconds, rows = _plain_read(engine, as_of)
        plain.append(seconds)
        started = time.perf_counter()
        result = score_book(engine, as_of=as_of, model=model)
        keel.append(time.perf_counter() - started)
        scored = result.scored
    k, p = statistics.median(keel), statistics.median(plain)
    print()
    print(f"As of {as_of}: {scored:,} active accounts scored of {result.total_accounts:,}")
    print(f"Rows read per pass: {rows:,}")
    print(f"{'pass':44s} {'total':>9s} {'per account':>13s}")
    print(f"{'plain pandas read of the same rows':44s} {p:8.2f}s {p / scored * 1e3:10.3f} ms")
    print(f"{'Keel: read + signals + scores':44s} {k:8.2f}s {k / scored * 1e3:10.3f} ms")
    print(f"Ratio Keel / plain read: {k / p:.2f}x (target: within 3x; median of {args.repeat})")
    engine.dispose()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
