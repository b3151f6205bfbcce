"""The approving process SIGKILLed at each durable step of the send: never lost, recorded.

The review runs here; ``keel approvals approve`` runs in a separate process started through
:mod:`tests.crash_launcher`, which installs an execution hook that stops at one step
(``claimed``, ``attempt_recorded``, ``sent``, ``recorded``) with a two-second lease; the
test kills it there. ``keel outbox run`` (a plain process) then finishes the delivery, and
the same reviewer's second ``approve`` finishes the review thread and says the message
went out. Messages are counted by idempotency key at a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from keel.graphs.runner import pending_approvals
from keel.memory.actions import ActionStatus, Intervention, get_action, list_decisions
from keel.memory.checkpoint import Persistence
from tests.crash_trials import LEASE_S, Database, keel_env, kill_at, run_keel
from tests.graphs.support import Book, compile_graph, first_review_with, smtp_adapters

IDEMPOTENCY_HEADER = "X-Keel-Idempotency-Key"
# SMTP accepted before the kill at these steps: the recovery resends with the same key.
DELIVERED_BEFORE_KILL = {"sent": 1, "recorded": 1}


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("step", ["claimed", "attempt_recorded", "sent", "recorded"])
def test_approving_process_killed_mid_send_is_delivered_and_recorded(
    book: Book, persistence: Persistence, tmp_path: Path, step: str
) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        _, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        smtp_env = {
            "KEEL_OUTBOUND_CHANNEL": "smtp",
            "KEEL_SMTP_HOST": sink.host,
            "KEEL_SMTP_PORT": str(sink.port),
            "KEEL_SMTP_FROM": "csm@keel.example",
        }
        env = keel_env(book.settings, Database(book.engine, None), smtp_env)
        approve = ["approvals", "approve", pending.action_id, "--user", "ivy"]

        ended = kill_at(approve, env, step=step, marker=tmp_path / "marker")
        assert ended == f"killed at {step}"
        assert (tmp_path / "marker").read_text().split()[0] == pending.action_id
        assert sink.count == DELIVERED_BEFORE_KILL.get(step, 0)
        with Session(book.engine) as session:
            row = get_action(session, action_id=pending.action_id)
            assert [d.user for d in list_decisions(session, action_id=pending.action_id)] == ["ivy"]
        expected = ActionStatus.SENT if step == "recorded" else ActionStatus.SENDING
        assert row.status == expected

        time.sleep(LEASE_S + 0.5)  # the dead process's lease runs out
        recovered = run_keel(["outbox", "run"], env)
        assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr[-3000:]

        keys = [m.message[IDEMPOTENCY_HEADER] for m in sink.received]
        # Never lost; twice only in the documented window, and then with one key.
        copies = 2 if step == "sent" else 1
        assert len(keys) == copies and set(keys) == {row.idempotency_key}
        with Session(book.engine) as session:
            assert get_action(session, action_id=pending.action_id).status == ActionStatus.SENT
            done = session.exec(
                select(Intervention).where(Intervention.action_id == pending.action_id)
            ).all()
            assert len(done) == 1

        # The same reviewer again: nothing new sent or recorded, the thread is finished,
        # and the command says the message went out (exit 0).
        again = run_keel(approve, env)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "already approved by ivy and sent" in again.stdout
        assert sink.count == copies
        # This play is finished (the review's other plays may still wait for a decision).
        state = graph.get_state({"configurable": {"thread_id": pending.thread_id}})
        assert pending.action_id not in {
            p.action_id for p in pending_approvals(graph, pending.thread_id)
        }
        outcome = next(o for o in state.values["outcomes"] if o.get("action_id") == row.id)
        assert outcome["status"] == "sent"

        # Someone else deciding now is refused.
        other = run_keel(["approvals", "approve", pending.action_id, "--user", "jo"], env)
        assert other.returncode == 2 and "already sent" in other.stderr
        with Session(book.engine) as session:
            assert len(list_decisions(session, action_id=pending.action_id)) == 1
