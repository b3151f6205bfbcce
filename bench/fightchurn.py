"""Keel on data it was not designed around: the fightchurn "socialnet7" simulation.

    python bench/fightchurn.py
    python bench/fightchurn.py --data /path/to/fightchurn-socialnet7 --keep /tmp/fc

Runs, end to end, in a temporary data directory (or ``--keep DIR``):

    keel import <data>
    keel backtest --observations <data>/observation.csv --json <dir>/backtest.json

and prints Keel's out-of-time AUC and top-decile lift beside the figures the book's own
code reaches on the same labels (logistic regression 0.731, XGBoost 0.732; lift 4.3-4.5),
and beside the book's model run here on the same data in the same run, on the book's
protocol and on Keel's (``bench/fightchurn_reference.py``): a gap can then be read as
model or as protocol.
The data lives outside the repository (``../shared/data/fightchurn-socialnet7`` from the
repo root); when it is not there the script says so and exits 0. Not a test.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fightchurn-socialnet7"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", type=Path, help="data dir to keep (default: a temp dir)")
    args = parser.parse_args()
    data: Path = args.data
    if not (data / "observation.csv").exists():
        print(
            f"fightchurn data not found at {data} (expected observation.csv and the exports "
            "beside it); nothing to run. Pass --data PATH to point at it."
        )
        return
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="keel-bench-fightchurn-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KEEL_DATA_DIR": str(workdir / "keel-data"), "HF_HUB_OFFLINE": "1"}
    env.pop("KEEL_DATABASE_URL", None)
    report_path = workdir / "backtest.json"
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
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    multi = report["metrics"]["multi_signal"]
    usage = report["metrics"]["usage_only"]
    blocks = report["blocks"]
    mean_auc = sum(b["auc"]["multi_signal"] for b in blocks) / len(blocks)
    mean_lift = sum(b["top_decile_lift"]["multi_signal"] for b in blocks) / len(blocks)
    print()
    print("fightchurn socialnet7, out of time on the book's observation.csv labels")
    print(f"  import {t_import:.0f}s, backtest {t_backtest:.0f}s")
    print(f"  {'':34s} {'AUC':>8s} {'top-decile lift':>16s}")
    rows = (
        ("Keel multi-signal (pooled blocks)", multi["auc"], multi["top_decile_lift"]),
        ("Keel multi-signal (mean of blocks)", mean_auc, mean_lift),
        ("Keel usage-only (pooled blocks)", usage["auc"], usage["top_decile_lift"]),
    )
    for label, auc, lift in rows:
        print(f"  {label:34s} {auc:8.3f} {lift:16.2f}")
    print(f"  {'the book (its own code)':34s} {BOOK['auc']:>8s}   lift {BOOK['lift']}")
    print(
        f"  {len(blocks)} scored blocks; label window {report['horizon_days']} days; "
        f"{multi['n']:,} observations scored ({multi['n_positive']} churned)"
    )
    _reference(data, report)


def _reference(data: Path, report: dict[str, Any]) -> None:
    """The book's model (scikit-learn on its 9 features), here, on both protocols."""
    import datetime as dt

    from fightchurn_reference import book_features, book_protocol, keel_protocol

    started = time.perf_counter()
    x, y, day = book_features(data)
    blocks = [
        (dt.date.fromisoformat(b["start"]), dt.date.fromisoformat(b["end"]))
        for b in report["blocks"]
    ]
    results = [
        keel_protocol(x, y, day, blocks, int(report["horizon_days"])),
        book_protocol(x, y, day),
    ]
    print()
    print(
        "The book's model run here (scikit-learn L1 logistic regression on log 28-day counts "
        f"of the 8 events + tenure; {time.perf_counter() - started:.0f}s):"
    )
    for r in results:
        print(f"  {r.label:66s} AUC {r.auc:.3f}  lift {r.lift:.2f}")
    keel = float(report["metrics"]["multi_signal"]["auc"])
    print(f"  Keel minus the book's model on Keel's protocol: {keel - results[0].auc:+.3f} AUC")


if __name__ == "__main__":
    main()
