"""Regenerate a ChurnSim B2B book ("crm6") with the simulator's own code, outside the repo.

    python bench/churnsim_book.py                       # -> ~/.cache/keel/churnsim-crm6
    python bench/churnsim_book.py --out DIR --customers 1000 --seed 2027

ChurnSim is the subscription simulator that accompanies *Fighting Churn with Data*
(Carl Gold, repository carl24k/fight-churn, MIT licence, Copyright 2020 Carl Gold). Its
``crm6`` model is a B2B CRM: 25 event types, multi-user accounts, plans with seat limits,
monthly/six-monthly/annual billing, add-ons, utility-driven churn. Nothing of the simulator
is kept in this repository: its package ``fightchurn/churnsim`` is copied at run time from
a git mirror of the repository (``--repo``, ``KEEL_FIGHTCHURN_GIT``, or a clone made into
``~/.cache/keel/fight-churn.git``) into a temporary directory and run there, unchanged,
with the ``crm6`` configuration and only its size, dates and seed set here. The
simulator writes to PostgreSQL (``--db``, default the local test server; a schema of our
own, ``keel_churnsim_crm6``, dropped afterwards); the book is then read back and written in
the shapes of ``../shared/data/fightchurn-socialnet7``:

    account.csv, subscription.csv, event_type.csv, event_daily.csv.gz,
    account_churn.csv, observation.csv (+ README.md with the run's parameters)

Everything is cut at the end date (the simulator writes events for live accounts up to
their next monthly anniversary, which would leak the label). Observations follow the
socialnet7 listing: one per account per month, 5 days before each monthly anniversary of
its start, from 39 days after the simulation starts to 22 days before it ends;
``is_churn`` = the account churns within the month after the observation.

Only small shims stand in for what the simulator imports but this run does not use
(``hydra``'s entry point, the cloud upload module) and, when they are not installed, for
``omegaconf`` (a dict with attribute access), ``postgres`` and ``psycopg2`` (over psycopg 3).
Not a test; the output directory is the input of ``bench/fightchurn.py --churnsim``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import yaml

REPO_URL = "https://github.com/carl24k/fight-churn"
DEFAULT_MIRRORS = (
    Path("/work/.mirror/carl24k+fight-churn/repo"),
    Path.home() / ".cache" / "keel" / "fight-churn.git",
)
DEFAULT_OUT = Path(os.environ.get("KEEL_CHURNSIM_DIR", Path.home() / ".cache/keel/churnsim-crm6"))
DEFAULT_DB = os.environ.get("KEEL_CHURNSIM_DB", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "keel_churnsim_crm6"
MODEL = "crm6"
# The socialnet7 listing's observation window: first observation 39 days after the
# simulation starts, last 22 days before it ends (so every label window has closed).
OBS_FIRST_DAYS = 39
OBS_LAST_DAYS = 22
LEAD_DAYS = 5


# ----------------------------------------------------------------------------- sources


def _mirror(explicit: Path | None) -> Path:
    """A git directory holding carl24k/fight-churn (cloned into the cache if none)."""
    env = os.environ.get("KEEL_FIGHTCHURN_GIT")
    for candidate in (explicit, Path(env) if env else None, *DEFAULT_MIRRORS):
        if candidate is not None and (candidate / "HEAD").exists():
            return candidate
    target = DEFAULT_MIRRORS[-1]
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"cloning {REPO_URL} into {target}", flush=True)
    subprocess.run(["git", "clone", "--bare", "--quiet", REPO_URL, str(target)], check=True)
    return target


def _copy_simulator(git_dir: Path, into: Path) -> str:
    """Copy fightchurn/churnsim (code, conf, schema) from the mirror's HEAD; return the commit."""
    commit = subprocess.run(
        ["git", "--git-dir", str(git_dir), "rev-parse", "--short", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "HEAD", "fightchurn/churnsim", "LICENSE.md"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "fightchurn" / "__init__.py").touch()
    return commit


# ----------------------------------------------------------------------------- shims


class _Conf(dict[str, Any]):
    """The part of omegaconf's DictConfig the simulator uses: a dict read by attribute."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _conf(value: Any) -> Any:
    if isinstance(value, dict):
        return _Conf({str(k): _conf(v) for k, v in value.items()})
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _install_shims() -> None:
    hydra = types.ModuleType("hydra")
    hydra.main = lambda *a, **k: lambda fn: fn  # type: ignore[attr-defined]
    sys.modules.setdefault("hydra", hydra)
    cloud = types.ModuleType("fightchurn.churnsim.churncloud")
    for name in (
        "convert_csvs_to_parquet",
        "upload_files_to_cloud_storage",
        "download_cloud_file_if_exists",
    ):
        setattr(cloud, name, lambda *a, **k: None)
    sys.modules["fightchurn.churnsim.churncloud"] = cloud
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        mod = types.ModuleType("omegaconf")

        class OmegaConf:
            @staticmethod
            def to_container(cfg: Any) -> Any:
                return _plain(cfg)

            @staticmethod
            def to_yaml(cfg: Any) -> str:
                return str(yaml.safe_dump(_plain(cfg), sort_keys=False))

            @staticmethod
            def save(cfg: Any, path: str) -> None:
                Path(path).write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")

        mod.OmegaConf = OmegaConf  # type: ignore[attr-defined]
        mod.DictConfig = _Conf  # type: ignore[attr-defined]
        sys.modules["omegaconf"] = mod
    try:
        import postgres  # noqa: F401
    except ImportError:
        sys.modules["postgres"] = _postgres_shim()
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        sys.modules["psycopg2"] = _psycopg2_shim()


def _postgres_shim() -> types.ModuleType:
    mod = types.ModuleType("postgres")

    class Postgres:
        def __init__(self, url: str) -> None:
            self.url = url

        def run(self, sql: str) -> None:
            with psycopg.connect(self.url, autocommit=True) as con:
                con.execute(sql)

        def one(self, sql: str) -> Any:
            with psycopg.connect(self.url, autocommit=True) as con:
                row = con.execute(sql).fetchone()
            return None if row is None else (row[0] if len(row) == 1 else row)

        def all(self, sql: str) -> list[Any]:
            with psycopg.connect(self.url, autocommit=True) as con:
                return list(con.execute(sql).fetchall())

    mod.Postgres = Postgres  # type: ignore[attr-defined]
    return mod


def _psycopg2_shim() -> types.ModuleType:
    mod = types.ModuleType("psycopg2")

    class _Cursor:
        def __init__(self, con: psycopg.Connection[Any]) -> None:
            self.con = con

        def copy_expert(self, sql: str, f: Any) -> None:
            with self.con.cursor() as cur, cur.copy(sql) as copy:
                copy.write(f.read())

    class _Con:
        def __init__(self, **kw: Any) -> None:
            kw["dbname"] = kw.pop("database")
            if not kw.get("password"):
                kw.pop("password", None)
            self.con = psycopg.connect(**kw)

        def cursor(self) -> _Cursor:
            return _Cursor(self.con)

        def commit(self) -> None:
            self.con.commit()

        def close(self) -> None:
            self.con.close()

    mod.connect = lambda **kw: _Con(**kw)  # type: ignore[attr-defined]
    return mod


# ----------------------------------------------------------------------------- run


def _config(src: Path, customers: int, start: dt.date, end: dt.date, seed: int) -> _Conf:
    conf_dir = src / "fightchurn" / "churnsim" / "conf"
    merged: dict[str, Any] = {}
    for name in ("default", MODEL):  # crm6.yaml: defaults [default, _self_]
        data = yaml.safe_load((conf_dir / f"{name}.yaml").read_text(encoding="utf-8"))
        data.pop("defaults", None)
        data.pop("hydra", None)
        merged.update(data)
    merged.update(
        init_customers=customers,
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        random_seed=seed,
        n_parallel=1,
        force=True,
        dev=False,
        live_sim=None,
    )
    return _conf(merged)


def _simulate(src: Path, cfg: _Conf, db_url: str, work: Path) -> None:
    sys.path.insert(0, str(src))
    _install_shims()
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    os.environ.update(
        CHURN_DB=str(info.get("dbname", "postgres")),
        CHURN_DB_USER=str(info.get("user", "postgres")),
        CHURN_DB_PASS=str(info.get("password", "")),
        CHURN_DB_HOST=str(info.get("host", "localhost")),
        CHURN_OUT_DIR=str(work / "out"),
        # One commit per simulated customer: no need to wait for each to reach the disk.
        PGOPTIONS="-c synchronous_commit=off",
    )
    from fightchurn.churnsim import churnsim as sim
    from fightchurn.churnsim.customer import Customer

    # The simulator keeps its id counter and temp files in the system temp dir; keep ours apart.
    Customer.ID_FILE = str(work / "customer_id.txt")
    Customer.ID_LOCK_FILE = str(work / "customer_id.lock")
    tempfile.tempdir = str(work)

    class BookSimulation(sim.ChurnSimulation):
        def con_string(self) -> str:
            return db_url

        def first_sim_setup(self, force: bool) -> None:
            super().first_sim_setup(force)
            # Storage only, not simulation: the export reads the event table once, so its five
            # indexes and its write-ahead log are pure cost while millions of rows go in.
            with psycopg.connect(db_url, autocommit=True) as con:
                names = con.execute(
                    "SELECT indexname FROM pg_indexes "
                    "WHERE schemaname = %s AND tablename = 'event'",
                    (self.model_name,),
                ).fetchall()
                for (name,) in names:
                    con.execute(f"DROP INDEX {self.model_name}.{name}")
                con.execute(f"ALTER TABLE {self.model_name}.event SET UNLOGGED")

        def sim_rate_debug_query(self) -> None:  # a console summary; not needed here
            return None

    # The simulator asks at the console before replacing an old run's schema (its own
    # ``force`` flag does not reach that question): a previous, interrupted run's goes first.
    with psycopg.connect(db_url, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    random.seed(cfg.random_seed)
    np.random.seed(cfg.random_seed)
    run = BookSimulation(cfg)
    run.model_name = SCHEMA  # the simulator's schema is its model name; use our own
    run.run_simulation(force=True)


def _rows(con: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return list(con.execute(sql).fetchall())


def _write_csv(path: Path, header: str, rows: Iterator[tuple[Any, ...]] | list[Any]) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(",".join("" if v is None else _fmt(v) for v in row) + "\n")
            n += 1
    return n


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _add_months(day: dt.date, months: int) -> dt.date:
    from dateutil.relativedelta import relativedelta

    return day + relativedelta(months=months)


def _export(db_url: str, out: Path, start: dt.date, end: dt.date) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    s = SCHEMA
    counts: dict[str, int] = {}
    with psycopg.connect(db_url, autocommit=True) as con:
        counts["account.csv"] = _write_csv(
            out / "account.csv",
            "account_id,channel,date_of_birth,country",
            _rows(con, f"SELECT id, channel, date_of_birth, country FROM {s}.account ORDER BY id"),
        )
        subs = _rows(
            con,
            f"SELECT account_id, product, start_date, end_date, mrr, quantity, units, "
            f"bill_period_months, discount FROM {s}.subscription WHERE start_date < %s "
            f"ORDER BY account_id, start_date, product".replace("%s", f"'{end}'"),
        )
        counts["subscription.csv"] = _write_csv(
            out / "subscription.csv",
            "account_id,product,start_date,end_date,mrr,quantity,units,bill_period_months,discount",
            subs,
        )
        counts["event_type.csv"] = _write_csv(
            out / "event_type.csv",
            "event_type_id,event_type_name",
            _rows(  # the model also lists "users" and action values, which are not events
                con,
                f"SELECT event_type_id, event_type_name FROM {s}.event_type t WHERE EXISTS "
                f"(SELECT 1 FROM {s}.event e WHERE e.event_type_id = t.event_type_id) ORDER BY 1",
            ),
        )
        rows = con.cursor().stream(  # streamed: millions of rows
            f"SELECT e.account_id, e.event_time::date AS d, t.event_type_name, count(*), "
            f"count(DISTINCT e.user_id), sum(e.event_value) "
            f"FROM {s}.event e JOIN {s}.event_type t USING (event_type_id) "
            f"WHERE e.event_time < '{end}' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        counts["event_daily.csv.gz"] = _write_csv(
            out / "event_daily.csv.gz",
            "account_id,event_date,event_type_name,n_events,n_users,value_sum",
            ((a, d, n, c, u, None if v is None else float(v)) for a, d, n, c, u, v in rows),
        )
        accounts = {
            int(r[0]): (r[1], r[2])
            for r in _rows(con, f"SELECT id, channel, country FROM {s}.account")
        }
    # One active period per account (the simulator has no win-backs): first start, last end.
    first: dict[int, dt.date] = {}
    last: dict[int, dt.date] = {}
    for row in subs:
        acc, begin, stop = int(row[0]), row[2], row[3]
        first[acc] = min(first.get(acc, begin), begin)
        last[acc] = max(last.get(acc, stop), stop)
    churn = {a: last[a] for a in last if last[a] <= end - dt.timedelta(days=1)}
    counts["account_churn.csv"] = _write_csv(
        out / "account_churn.csv",
        "account_id,channel,country,start_date,churn_date,churned",
        (
            (a, accounts[a][0], accounts[a][1], first[a], churn.get(a), int(a in churn))
            for a in sorted(first)
        ),
    )
    lo = start + dt.timedelta(days=OBS_FIRST_DAYS)
    hi = end - dt.timedelta(days=OBS_LAST_DAYS)
    obs: list[tuple[int, dt.date, int]] = []
    for a in sorted(first):
        k = 1
        while True:
            renewal = _add_months(first[a], k)
            day = renewal - dt.timedelta(days=LEAD_DAYS)
            if day > hi or (a in churn and day >= churn[a]):
                break
            if day >= lo:
                gone = a in churn and day < churn[a] <= _add_months(day, 1)
                obs.append((a, day, int(gone)))
            k += 1
    obs.sort(key=lambda r: (r[1], r[0]))
    counts["observation.csv"] = _write_csv(
        out / "observation.csv", "account_id,observation_date,is_churn", obs
    )
    counts["churned"] = len(churn)
    counts["obs_churn"] = sum(r[2] for r in obs)
    return counts


def _readme(out: Path, commit: str, cfg: _Conf, counts: dict[str, int], secs: float) -> None:
    lines = [
        f'# ChurnSim "{MODEL}" book, generated by bench/churnsim_book.py',
        "",
        f"Output of ChurnSim (carl24k/fight-churn at commit {commit}, MIT licence, Copyright",
        f"2020 Carl Gold), its `{MODEL}` model run unchanged with",
        f"init_customers={cfg.init_customers}, start_date={cfg.start_date}, "
        f"end_date={cfg.end_date}, random_seed={cfg.random_seed}",
        f"({secs:.0f}s). Everything is cut at the end date. Observations: one per account per",
        "month, 5 days before each monthly anniversary of its start; is_churn = churns",
        "within the month after.",
        "",
        "| file | rows |",
        "| --- | --- |",
        *(f"| `{k}` | {v:,} |" for k, v in counts.items() if k.endswith((".csv", ".gz"))),
        "",
        f"{counts['churned']:,} accounts churned; {counts['obs_churn']:,} of "
        f"{counts['observation.csv']:,} observations are followed by a churn within a month.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--repo", type=Path, help="git dir of carl24k/fight-churn")
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL (a schema is made)")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 1, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2023, 1, 1))
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--keep-schema", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="keel-churnsim-") as tmp:
        work = Path(tmp)
        commit = _copy_simulator(_mirror(args.repo), work / "src")
        cfg = _config(work / "src", args.customers, args.start, args.end, args.seed)
        try:
            _simulate(work / "src", cfg, args.db, work)
            print(f"simulated in {time.perf_counter() - started:.0f}s; exporting", flush=True)
            counts = _export(args.db, args.out, args.start, args.end)
        finally:
            if not args.keep_schema:
                with psycopg.connect(args.db, autocommit=True) as con:
                    con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        shutil.copy(work / "src" / "LICENSE.md", args.out / "LICENSE-churnsim.md")
    secs = time.perf_counter() - started
    _readme(args.out, commit, cfg, counts, secs)
    print(f"wrote {args.out} in {secs:.0f}s")
    for k, v in counts.items():
        print(f"  {k:22s} {v:>12,}")


if __name__ == "__main__":
    main()
