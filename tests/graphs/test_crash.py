"""A process killed (SIGKILL) after approval and before the send sends exactly once on resume.

The review runs here; the approval runs in a separate ``keel approvals approve`` process
that holds just before the executor sends (``KEEL_TEST_HOLD_BEFORE_SEND``) and is killed
there. A new process then finishes the thread from its SQLite checkpoint. Messages are
counted at a real SMTP server (aiosmtpd) on loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session

from agents.gatekeeper import HOLD_BEFORE_SEND_ENV
from memory.actions import ActionStatus, get_action, list_decisions
from memory.checkpoint import Persistence
from tests.graphs.support import Book, compile_graph, first_review_with, smtp_adapters

ROOT = Path(__file__).resolve().parents[2]
KEEL = [sys.executable, "-c", "from api.cli import main; main()"]
HOLD_TIMEOUT_S = 90.0


def _env(book: Book, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KEEL_") and k not in ("OPENAI_API_KEY", HOLD_BEFORE_SEND_ENV)
    }
    env.update(
        {
            "KEEL_DATA_DIR": str(book.settings.data_dir),
            "KEEL_OUTBOUND_CHANNEL": "smtp",
            "KEEL_SMTP_HOST": "127.0.0.1",
            "KEEL_SMTP_PORT": str(port),
            "KEEL_SMTP_FROM": "csm@keel.example",
            "HF_HUB_OFFLINE": "1",
            **extra,
        }
    )
    return env


def _approve(action_id: str) -> list[str]:
    return [*KEEL, "approvals", "approve", action_id, "--user", "ivy"]


@pytest.mark.slow
@pytest.mark.service
def test_killed_between_approval_and_send_resumes_and_sends_exactly_once(
    book: Book, persistence: Persistence, tmp_path: Path
) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        _, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        marker = tmp_path / "holding"

        held = subprocess.Popen(
            _approve(pending.action_id),
            cwd=ROOT,
            env=_env(book, sink.port, **{HOLD_BEFORE_SEND_ENV: str(marker)}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while not marker.exists():
            if held.poll() is not None or time.monotonic() > deadline:
                output = held.stdout.read().decode() if held.stdout else ""
                held.kill()
                pytest.fail(f"the approving process never reached the send:\n{output[-3000:]}")
            time.sleep(0.05)
        assert marker.read_text() == pending.action_id
        os.kill(held.pid, signal.SIGKILL)
        held.wait(timeout=30)
        assert held.returncode == -signal.SIGKILL

        # Approved and recorded, not sent.
        assert sink.count == 0
        with Session(book.engine) as session:
            assert get_action(session, action_id=pending.action_id).status == ActionStatus.APPROVED
            assert [d.user for d in list_decisions(session, action_id=pending.action_id)] == ["ivy"]

        resumed = subprocess.run(
            _approve(pending.action_id),
            cwd=ROOT,
            env=_env(book, sink.port),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        assert sink.count == 1
        (mail,) = sink.received
        assert mail.rcpt_tos == pending.args["to"]
        assert mail.message["Subject"] == pending.args["subject"]

        # A third attempt changes nothing: the action is sent, the decision is not repeated.
        again = subprocess.run(
            _approve(pending.action_id),
            cwd=ROOT,
            env=_env(book, sink.port),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert again.returncode == 2, again.stdout[-2000:] + again.stderr[-2000:]
        assert "already sent" in again.stderr
        assert sink.count == 1
        with Session(book.engine) as session:
            assert get_action(session, action_id=pending.action_id).status == ActionStatus.SENT
            assert len(list_decisions(session, action_id=pending.action_id)) == 1
