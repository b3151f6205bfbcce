"""Keel on data it was not designed around: two ChurnSim books, socialnet7 and crm6.

    python bench/fightchurn.py
    python bench/fightchurn.py --data /path/to/fightchurn-socialnet7 --keep /tmp/fc
    python bench/fightchurn.py --churnsim ~/.cache/keel/churnsim-crm6   # (the default)
    python bench/fightchurn.py --only crm6 --churnsim DIR1 DIR2         # several seeds

For each book, runs end to end in a temporary data directory (or ``--keep DIR``):

    keel import <data>
    keel backtest --observations <data>/observation.csv --json <dir>/backtest.json

and prints Keel's out-of-time AUC and top-decile lift beside a plain logistic regression
(scikit-learn, no Keel code: every event's 28-day count, tenure, MRR and renewal timing)
fitted and scored on the same rows with the same out-of-time blocks
(``bench/fightchurn_reference.py``). The books:

* **socialnet7**, the published book (``../shared/data/fightchurn-socialnet7`` from the
  repo root): a consumer social network, 8 event types, one $10 plan. Also printed: the
  figures the book's own code reaches (logistic regression 0.731, XGBoost 0.732; lift
  4.3-4.5) and the book's model (L1 on the 8 counts + tenure) run here on the book's
  protocol and on Keel's, so that a gap can be read as model or as protocol.
* **crm6**, a B2B CRM book generated with the simulator's own code by
  ``bench/churnsim_book.py`` (``--churnsim``, default ``$KEEL_CHURNSIM_DIR`` or
  ``~/.cache/keel/churnsim-crm6``): 25 event types, multi-user accounts, plans with seat
  limits, monthly to annual terms, add-ons.

A book whose data is not there is skipped with a note (exit 0). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fightchurn-socialnet7"
DEFAULT_CHURNSIM = Path(
    os.environ.get("KEEL_CHURNSIM_DIR", Path.home() / ".cache" / "keel" / "churnsim-crm6")
)
BOOK = {"auc": "0.731 (logistic regression), 0.732 (XGBoost)", "lift": "4.3-4.5"}


def _keel() -> list[str]:
    exe = Path(sys.executable).parent / "keel"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "keel.api.cli"]


def _run(args: list[str], env: dict[str, str]) -> float:
    print("$ keel " + " ".join(args[len(_keel()) :]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=ROOT, text=True, capture_output=True)
    print(done.stdout[-6000:])
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"command failed with exit code {done.returncode}")
    return time.perf_counter() - started


@dataclass(frozen=True)
class BookResult:
    name: str
    keel_auc: float
    keel_lift: float
    plain_auc: float
    plain_lift: float
    n: int
    n_positive: int
    n_plain: int
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="socialnet7 book")
    parser.add_argument(
        "--churnsim",
        type=Path,
        nargs="+",
        default=[DEFAULT_CHURNSIM],
        help="crm6 book(s), e.g. one per seed",
    )
    parser.add_argument("--keep", type=Path, help="data dir to keep (default: a temp dir)")
    parser.add_argument("--only", choices=("socialnet7", "crm6"), help="run one book")
    args = parser.parse_args()
    results: list[BookResult] = []
    books = [("socialnet7", args.data)] + [
        ("crm6" if len(args.churnsim) == 1 else f"crm6 {d.name}", d) for d in args.churnsim
    ]
    for name, data in books:
        if args.only and not name.startswith(args.only):
            continue
        if not (data / "observation.csv").exists():
            hint = " (python bench/churnsim_book.py makes it)" if name.startswith("crm6") else ""
            print(f"{name}: no book at {data} (expected observation.csv){hint}; skipped.")
            continue
        keep = args.keep / name.replace(" ", "-") if args.keep else None
        results.append(_book(name, data, keep))
    if not results:
        return
    print()
    print("Keel vs a plain logistic regression (all event counts, tenure, MRR, renewal")
    print("timing), same rows, same out-of-time blocks:")
    print(
        f"  {'book':24s} {'Keel AUC':>9s} {'LR AUC':>8s} {'diff':>7s}   "
        f"{'Keel lift':>9s} {'LR lift':>8s}   {'rows':>7s} {'churned':>8s}"
    )
    for r in results:
        print(
            f"  {r.name:24s} {r.keel_auc:9.3f} {r.plain_auc:8.3f} {r.keel_auc - r.plain_auc:+7.3f}"
            f"   {r.keel_lift:9.2f} {r.plain_lift:8.2f}   {r.n:7,d} {r.n_positive:8,d}"
            + ("" if r.n_plain == r.n else f"  (LR scored {r.n_plain:,} rows)")
        )


def _book(name: str, data: Path, keep: Path | None) -> BookResult:
    workdir = keep or Path(tempfile.mkdtemp(prefix=f"keel-bench-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KEEL_DATA_DIR": str(workdir / "keel-data"), "HF_HUB_OFFLINE": "1"}
    env.pop("KEEL_DATABASE_URL", None)
    report_path = workdir / "backtest.json"
    print(f"\n=== {name}: {data}")
    started = time.perf_counter()
    try:
        t_import = _run([*_keel(), "import", str(data)], env)
        t_backtest = _run(
            [
                *_keel(),
                "backtest",
                "--observations",
                str(data / "observation.csv"),
                "--json",
                str(report_path),
            ],
            env,
        )
        report = json.loads(report_path.read_text(encoding="utf-8"))
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    multi = report["metrics"]["multi_signal"]
    usage = report["metrics"]["usage_only"]
    blocks = report["blocks"]
    mean_auc = sum(b["auc"]["multi_signal"] for b in blocks) / len(blocks)
    mean_lift = sum(b["top_decile_lift"]["multi_signal"] for b in blocks) / len(blocks)
    print()
    print(f"{name}, out of time on the book's observation.csv labels")
    print(f"  import {t_import:.0f}s, backtest {t_backtest:.0f}s")
    print(f"  {'':34s} {'AUC':>8s} {'top-decile lift':>16s}")
    rows = (
        ("Keel multi-signal (pooled blocks)", multi["auc"], multi["top_decile_lift"]),
        ("Keel multi-signal (mean of blocks)", mean_auc, mean_lift),
        ("Keel usage-only (pooled blocks)", usage["auc"], usage["top_decile_lift"]),
    )
    for label, auc, lift in rows:
        print(f"  {label:34s} {auc:8.3f} {lift:16.2f}")
    if name == "socialnet7":
        print(f"  {'the book (its own code)':34s} {BOOK['auc']:>8s}   lift {BOOK['lift']}")
    print(
        f"  {len(blocks)} scored blocks; label window {report['horizon_days']} days; "
        f"{multi['n']:,} observations scored ({multi['n_positive']} churned)"
    )
    plain = _reference(name, data, report)
    return BookResult(
        name=name,
        keel_auc=float(multi["auc"]),
        keel_lift=float(multi["top_decile_lift"]),
        plain_auc=plain.auc,
        plain_lift=plain.lift,
        n=int(multi["n"]),
        n_positive=int(multi["n_positive"]),
        n_plain=plain.n,
        seconds=time.perf_counter() - started,
    )


def _reference(name: str, data: Path, report: dict[str, Any]) -> Any:
    """The plain baseline (and, on socialnet7, the book's model), on Keel's blocks."""
    import datetime as dt

    from fightchurn_reference import book_features, book_protocol, keel_protocol, plain_features

    started = time.perf_counter()
    blocks = [
        (dt.date.fromisoformat(b["start"]), dt.date.fromisoformat(b["end"]))
        for b in report["blocks"]
    ]
    horizon = int(report["horizon_days"])
    x, y, day = plain_features(data)
    plain = keel_protocol(
        x, y, day, blocks, horizon, label="plain LR: all event counts + tenure, MRR, renewal"
    )
    keel = float(report["metrics"]["multi_signal"]["auc"])
    print()
    print(f"Reference models run here on Keel's blocks ({len(x.columns)} plain features):")
    print(f"  {plain.label:66s} AUC {plain.auc:.3f}  lift {plain.lift:.2f}")
    if name == "socialnet7":
        xb, yb, dayb = book_features(data)
        for r in (keel_protocol(xb, yb, dayb, blocks, horizon), book_protocol(xb, yb, dayb)):
            print(f"  book's model, {r.label:52s} AUC {r.auc:.3f}  lift {r.lift:.2f}")
    print(
        f"  Keel minus the plain LR: {keel - plain.auc:+.3f} AUC "
        f"({time.perf_counter() - started:.0f}s)"
    )
    return plain


if __name__ == "__main__":
    main()
