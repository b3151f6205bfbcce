"""Crash trials for delivery: kill a real ``keel`` process mid-send, recover, count.

One trial: an approved email in a fresh database (SQLite file or a private PostgreSQL
schema), a real receiver (an aiosmtpd SMTP server or an HTTP sink, each counting what
arrives by idempotency key; or the dry-run outbox folder), a ``keel outbox run`` process
started through :mod:`tests.crash_launcher` and SIGKILLed at one durable step of the send
(or at a random moment), then a plain ``keel outbox run`` once the short lease expired.

The verdict counts what a customer and the record would see:

- ``once``: delivered exactly once, row ``sent``, one intervention;
- ``twice_same_key``: the documented window (the server accepted, the process died before
  the record): two copies with one idempotency key, recorded once;
- ``lost``: nothing arrived; ``unrecorded``: the receiver has it, the record does not
  (row not ``sent``, or not exactly one intervention); ``other`` for anything else.

Used by tests/graphs/test_delivery_crash.py and bench/delivery_crash.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.memory.actions import Intervention, ProposedAction, decide
from keel.memory.db import init_db, make_engine
from keel.settings import Settings
from tests.local_servers import SmtpSink, WebhookSink

ROOT = Path(__file__).resolve().parents[1]
KEEL = [sys.executable, "-c", "from api.cli import main; main()"]
LAUNCHER = [sys.executable, "-m", "tests.crash_launcher"]
STEPS = ("claimed", "attempt_recorded", "sent", "recorded")
TRANSPORTS = ("smtp", "webhook", "dry_run")
LEASE_S = 2
MARKER_TIMEOUT_S = 60.0
# With a random kill, each step lingers this long, so the send spans about 4 x PACE_S.
PACE_S = 0.25
SENDER = "csm@keel.example"


@dataclass(frozen=True)
class Verdict:
    transport: str
    backend: str
    step: str
    copies: int
    keys: int
    status: str
    interventions: int
    recovery_exit: int
    attempts: int
    detail: str = ""

    @property
    def kind(self) -> str:
        recorded = self.status == "sent" and self.interventions == 1
        if self.copies == 0:
            return "lost"
        if not recorded:
            return "unrecorded"
        if self.copies == 1:
            return "once"
        if self.copies == 2 and self.keys == 1:
            return "twice_same_key"
        return "other"


@dataclass
class Receiver:
    """What the transport delivered, counted by idempotency key."""

    transport: str
    outbox: Path
    smtp: SmtpSink | None = None
    hook: WebhookSink | None = None
    env: dict[str, str] = field(default_factory=dict)

    def keys(self) -> Counter[str]:
        if self.smtp is not None:
            return Counter(str(m.message["X-Keel-Idempotency-Key"]) for m in self.smtp.received)
        if self.hook is not None:
            with self.hook._lock:
                requests = list(self.hook.requests)
            return Counter(r.headers.get("Idempotency-Key", "?") for r in requests)
        found: Counter[str] = Counter()
        if self.outbox.exists():
            for path in self.outbox.glob("*.*"):
                for line in path.read_text(errors="replace").splitlines():
                    if line.startswith("X-Keel-Idempotency-Key:") or "Idempotency-Key:" in line:
                        found[line.split(":", 1)[1].strip()] += 1
                        break
        return found


@contextlib.contextmanager
def receiver(transport: str, outbox: Path) -> Iterator[Receiver]:
    if transport == "smtp":
        with SmtpSink() as sink:
            yield Receiver(
                transport,
                outbox,
                smtp=sink,
                env={
                    "KEEL_OUTBOUND_CHANNEL": "smtp",
                    "KEEL_SMTP_HOST": sink.host,
                    "KEEL_SMTP_PORT": str(sink.port),
                    "KEEL_SMTP_FROM": SENDER,
                },
            )
    elif transport == "webhook":
        with WebhookSink() as hook:
            yield Receiver(
                transport,
                outbox,
                hook=hook,
                env={"KEEL_OUTBOUND_CHANNEL": "webhook", "KEEL_WEBHOOK_URL": hook.url()},
            )
    else:
        yield Receiver(transport, outbox, env={"KEEL_OUTBOUND_CHANNEL": "dry_run"})


@dataclass
class Database:
    engine: Engine
    url: str | None  # KEEL_DATABASE_URL for the subprocesses; None: SQLite under data_dir
    drop: Any = None


@contextlib.contextmanager
def database(backend: str, settings: Settings, postgres_url: str | None) -> Iterator[Database]:
    if backend == "sqlite":
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        try:
            yield Database(engine, None)
        finally:
            engine.dispose()
        return
    assert postgres_url, "PostgreSQL trials need a server URL"
    from sqlmodel import create_engine

    from keel.memory.db import normalise_url

    schema = f"keel_crash_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(
        normalise_url(postgres_url), connect_args={"options": f"-csearch_path={schema}"}
    )
    init_db(engine)
    joiner = "&" if "?" in postgres_url else "?"
    try:
        yield Database(engine, f"{postgres_url}{joiner}options=-csearch_path%3D{schema}")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def approved_email(engine: Engine, *, channel_kind: str = "email") -> ProposedAction:
    """One approved email to Acme's champion (the account and contacts seeded here)."""
    from tests.memory.test_actions import propose, seed_account

    book = seed_account(engine)
    action = propose(engine, book, thread=f"t-{uuid.uuid4().hex[:8]}")
    return decide(engine, action_id=action.id, decision="approve", user="ivy")


def keel_env(settings: Settings, db: Database, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KEEL_") and k != "OPENAI_API_KEY"
    }
    env.update({"KEEL_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1", **extra})
    if db.url:
        env["KEEL_DATABASE_URL"] = db.url
    return env


def run_keel(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KEEL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def kill_at(
    args: list[str],
    env: dict[str, str],
    *,
    step: str | None,
    marker: Path,
    after_s: float | None = None,
    pace_s: float = PACE_S,
) -> str:
    """Start the launcher with ``keel args``; SIGKILL it at ``step``, or ``after_s`` seconds
    after the claim while every step lingers ``pace_s`` (a random point of the send).

    Returns how it ended: ``killed at STEP``, ``killed T s after the claim``, ``exited N``.
    """
    hold = ["--hold-at", step] if step else ["--pace", str(pace_s)]
    process = subprocess.Popen(
        [*LAUNCHER, *hold, "--marker", str(marker), "--lease", str(LEASE_S), "--", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + MARKER_TIMEOUT_S
    while not marker.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(
                f"the process ended before {step or 'the claim'}:\n{output[-3000:]}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the process never reached {step or 'the claim'}")
        time.sleep(0.02)
    if after_s is not None:
        time.sleep(after_s)
        if process.poll() is not None:
            return f"exited {process.returncode}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()
    return f"killed at {step}" if step else f"killed {after_s:.2f} s after the claim"


def verdict(
    engine: Engine,
    got: Receiver,
    action: ProposedAction,
    *,
    step: str,
    backend: str,
    exit_code: int,
    detail: str = "",
) -> Verdict:
    keys = got.keys()
    with Session(engine) as session:
        row = session.get(ProposedAction, action.id)
        assert row is not None
        interventions = len(
            session.exec(select(Intervention).where(Intervention.action_id == action.id)).all()
        )
    return Verdict(
        transport=got.transport,
        backend=backend,
        step=step,
        copies=sum(keys.values()),
        keys=len(keys),
        status=str(row.status),
        interventions=interventions,
        recovery_exit=exit_code,
        attempts=row.attempts,
        detail=detail,
    )


def crash_trial(
    transport: str,
    backend: str,
    step: str | None,
    workdir: Path,
    *,
    postgres_url: str | None = None,
    after_s: float | None = None,
) -> Verdict:
    """Kill ``keel outbox run`` at ``step`` (or after ``after_s``), recover, count."""
    settings = Settings(data_dir=workdir / "keel-data")
    with (
        database(backend, settings, postgres_url) as db,
        receiver(transport, settings.outbox_dir) as got,
    ):
        action = approved_email(db.engine)
        env = keel_env(settings, db, got.env)
        ended = kill_at(
            ["outbox", "run"], env, step=step, marker=workdir / "marker", after_s=after_s
        )
        time.sleep(LEASE_S + 0.5)  # the killed process's lease runs out
        recovery = run_keel(["outbox", "run"], env)
        detail = (
            ended if recovery.returncode == 0 else recovery.stdout[-2000:] + recovery.stderr[-2000:]
        )
        return verdict(
            db.engine,
            got,
            action,
            step=step or ended,
            backend=backend,
            exit_code=recovery.returncode,
            detail=detail,
        )
