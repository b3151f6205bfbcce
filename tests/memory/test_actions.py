"""The approval record: proposals, audited decisions, 409 on a second decision, touches."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.errors import ConflictError, ValidationFailed
from keel.memory.actions import (
    ActionDecision,
    ActionNotFound,
    ActionStatus,
    Intervention,
    ProposedAction,
    decide,
    get_action,
    idempotency_key,
    list_actions,
    list_decisions,
    payload_hash,
    propose_action,
    recent_touches,
)
from keel.memory.models import Account, Contact, ContactRole, Segment

NOW = dt.datetime(2025, 3, 20, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Book:
    """One account with its contacts, as the tests need them."""

    account_id: int
    champion_id: int
    admin_id: int
    former_id: int
    other_account_contact_id: int


def seed_account(engine: Engine, *, segment: Segment = Segment.SMB, arr: float = 20_000.0) -> Book:
    """Acme (with a champion, an admin and a contact who left) and Globex (one contact)."""
    with Session(engine) as session:
        acme = Account(
            external_id="acme",
            name="Acme Corp",
            segment=segment,
            arr=arr,
            owner_csm="csm@keel.example",
        )
        globex = Account(external_id="globex", name="Globex", segment=Segment.SMB, arr=9_000)
        session.add_all([acme, globex])
        session.flush()
        assert acme.id is not None and globex.id is not None
        people = [
            Contact(
                external_id="c-ana",
                account_id=acme.id,
                name="Ana",
                email="ana@acme.example",
                role=ContactRole.CHAMPION,
            ),
            Contact(
                external_id="c-bo",
                account_id=acme.id,
                name="Bo",
                email="bo@acme.example",
                role=ContactRole.ADMIN,
            ),
            Contact(
                external_id="c-cy",
                account_id=acme.id,
                name="Cy",
                email="cy@acme.example",
                role=ContactRole.USER,
                left_company=True,
            ),
            Contact(
                external_id="c-gil",
                account_id=globex.id,
                name="Gil",
                email="gil@globex.example",
            ),
        ]
        session.add_all(people)
        session.commit()
        ids = [p.id for p in people]
        assert all(i is not None for i in ids)
        return Book(acme.id, *ids)  # type: ignore[arg-type]


def payload(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subject": "Nice work on dashboards",
        "body": "Hi Ana, your team adopted dashboards this week. Tips: https://help.keel.example/dashboards",
        "to": ["ana@acme.example"],
        "links": ["https://help.keel.example/dashboards"],
    }
    base.update(changes)
    return base


def propose(
    engine: Engine,
    book: Book,
    *,
    thread: str = "t1",
    interrupt: str = "i1",
    needs_approval: bool = True,
    **kwargs: Any,
) -> ProposedAction:
    data = kwargs.pop("payload", None) or payload()
    with Session(engine) as session:
        action = propose_action(
            session,
            thread_id=thread,
            interrupt_id=interrupt,
            account_id=book.account_id,
            play_id=kwargs.pop("play_id", "adoption_congrats"),
            draft_kind=kwargs.pop("draft_kind", "email"),
            payload=data,
            needs_approval=needs_approval,
            recipient_contact_id=kwargs.pop("recipient_contact_id", book.champion_id),
            produced_by_model="offline",
            policy_reasons=["tier ai_led"],
            now=kwargs.pop("now", NOW),
            **kwargs,
        )
        session.commit()
        session.refresh(action)
        session.expunge(action)
        return action


@pytest.fixture()
def book(engine: Engine) -> Book:
    return seed_account(engine)


# ------------------------------------------------------------------------------- propose


def test_propose_records_hash_and_key(engine: Engine, book: Book) -> None:
    action = propose(engine, book)
    assert action.status == ActionStatus.PENDING
    assert action.channel == "email" and action.draft_kind == "email"
    assert action.payload_hash == payload_hash(payload())
    assert action.idempotency_key == idempotency_key(
        thread_id="t1", interrupt_id="i1", payload_hash=action.payload_hash
    )
    assert action.revision == 1 and action.policy_reasons == ["tier ai_led"]


def test_propose_is_idempotent_per_thread_interrupt_payload(engine: Engine, book: Book) -> None:
    first = propose(engine, book)
    again = propose(engine, book)
    other_interrupt = propose(engine, book, interrupt="i2")
    other_payload = propose(engine, book, payload=payload(subject="Another"))
    assert again.id == first.id
    assert len({first.id, other_interrupt.id, other_payload.id}) == 3
    assert len({first.idempotency_key, other_interrupt.idempotency_key}) == 2


def test_hash_is_canonical(book: Book) -> None:
    reordered = dict(reversed(list(payload().items())))
    assert payload_hash(reordered) == payload_hash(payload())
    assert payload_hash(payload(cc=[])) == payload_hash(payload())  # defaults filled in
    assert payload_hash(payload(body="x")) != payload_hash(payload())


def test_auto_approved_proposal_is_audited(engine: Engine, book: Book) -> None:
    action = propose(engine, book, needs_approval=False)
    assert action.status == ActionStatus.AUTO_APPROVED
    with Session(engine) as session:
        (row,) = list_decisions(session, action_id=action.id)
    assert (row.decision, row.user, row.payload_hash) == ("auto", "policy", action.payload_hash)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (payload(body=""), "body"),
        (payload(subject="Hi\r\nBcc: all@evil.example"), "subject"),
        (payload(to=["ana@acme.example, eve@evil.example"]), "to.0"),
        (payload(bcc=["eve@evil.example"]), "bcc"),
    ],
)
def test_bad_payload_is_refused(engine: Engine, book: Book, bad: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        propose(engine, book, payload=bad)
    assert field in [p.field for p in info.value.problems]
    with Session(engine) as session:
        assert list_actions(session) == []


def test_redraft_supersedes_pending_parent(engine: Engine, book: Book) -> None:
    parent = propose(engine, book)
    child = propose(
        engine, book, interrupt="i2", payload=payload(body="Shorter."), parent_action_id=parent.id
    )
    with Session(engine) as session:
        assert get_action(session, action_id=parent.id).status == ActionStatus.SUPERSEDED
    assert child.revision == 2 and child.parent_action_id == parent.id


# -------------------------------------------------------------------------------- decide


def test_approve_then_second_decision_conflicts(engine: Engine, book: Book) -> None:
    action = propose(engine, book)
    decided = decide(engine, action_id=action.id, decision="approve", user="alice", now=NOW)
    assert decided.status == ActionStatus.APPROVED
    assert decided.decided_by == "alice" and decided.payload_hash == action.payload_hash
    with pytest.raises(ConflictError, match="already approved by alice"):
        decide(engine, action_id=action.id, decision="reject", user="bob")
    with Session(engine) as session:
        trail = list_decisions(session, action_id=action.id)
        assert [(d.decision, d.user) for d in trail] == [("approve", "alice")]
        assert get_action(session, action_id=action.id).status == ActionStatus.APPROVED


def test_edit_replaces_payload_hash_and_key(engine: Engine, book: Book) -> None:
    action = propose(engine, book)
    edited = payload(subject="Great work on dashboards", to=["bo@acme.example"])
    decided = decide(
        engine, action_id=action.id, decision="edit", user="alice", edited_payload=edited
    )
    assert decided.status == ActionStatus.EDITED
    assert decided.payload["subject"] == "Great work on dashboards"
    assert decided.payload_hash == payload_hash(edited) != action.payload_hash
    assert decided.idempotency_key != action.idempotency_key
    assert decided.proposed_payload_hash == action.payload_hash
    with Session(engine) as session:
        (row,) = list_decisions(session, action_id=action.id)
    assert row.payload_hash_before == action.payload_hash
    assert row.payload_hash == decided.payload_hash
    assert row.edited_payload is not None and row.edited_payload["to"] == ["bo@acme.example"]
    # The proposing node re-running finds its row by the proposed hash, not a duplicate.
    assert propose(engine, book).id == action.id


def test_invalid_edit_changes_nothing(engine: Engine, book: Book) -> None:
    action = propose(engine, book)
    with pytest.raises(ValidationFailed, match="body"):
        decide(
            engine,
            action_id=action.id,
            decision="edit",
            user="alice",
            edited_payload=payload(body=""),
        )
    with Session(engine) as session:
        assert get_action(session, action_id=action.id).status == ActionStatus.PENDING
        assert list_decisions(session, action_id=action.id) == []


def test_respond_and_reject(engine: Engine, book: Book) -> None:
    first = propose(engine, book)
    second = propose(engine, book, interrupt="i2")
    responded = decide(
        engine, action_id=first.id, decision="respond", user="alice", message="Mention the QBR."
    )
    rejected = decide(
        engine, action_id=second.id, decision="reject", user="bob", message="Not now."
    )
    assert responded.status == ActionStatus.RESPONDED
    assert rejected.status == ActionStatus.REJECTED
    with Session(engine) as session:
        assert list_decisions(session, action_id=first.id)[0].message == "Mention the QBR."
        assert list_decisions(session, action_id=second.id)[0].user == "bob"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"decision": "maybe", "user": "alice"}, "decision"),
        ({"decision": "auto", "user": "alice"}, "decision"),  # only the policy auto-approves
        ({"decision": "approve", "user": " "}, "user"),
        ({"decision": "edit", "user": "alice"}, "edited_payload"),
        (
            {"decision": "approve", "user": "alice", "edited_payload": {"body": "x"}},
            "edited_payload",
        ),
        ({"decision": "respond", "user": "alice"}, "message"),
    ],
)
def test_malformed_decisions(engine: Engine, book: Book, kwargs: dict, field: str) -> None:
    action = propose(engine, book)
    with pytest.raises(ValidationFailed) as info:
        decide(engine, action_id=action.id, **kwargs)
    assert field in [p.field for p in info.value.problems]


def test_unknown_action(engine: Engine) -> None:
    with pytest.raises(ActionNotFound):
        decide(engine, action_id="nope", decision="approve", user="alice")


def test_list_actions_filters(engine: Engine, book: Book) -> None:
    a = propose(engine, book)
    b = propose(engine, book, interrupt="i2", now=NOW + dt.timedelta(minutes=1))
    decide(engine, action_id=a.id, decision="approve", user="alice")
    with Session(engine) as session:
        assert [x.id for x in list_actions(session)] == [b.id, a.id]
        assert [x.id for x in list_actions(session, status="pending")] == [b.id]
        assert {x.id for x in list_actions(session, status=["pending", "approved"])} == {
            a.id,
            b.id,
        }
        assert list_actions(session, account_id=book.account_id + 1) == []


def test_recent_touches(engine: Engine, book: Book) -> None:
    sent = propose(engine, book, needs_approval=False)
    pending = propose(engine, book, interrupt="i2")
    old = propose(engine, book, interrupt="i3", now=NOW - dt.timedelta(days=30))
    with Session(engine) as session:
        session.add(
            Intervention(
                action_id=sent.id,
                account_id=book.account_id,
                play_id=sent.play_id,
                channel="email",
                draft_kind="email",
                recipient_contact_id=book.champion_id,
                transport="dry_run",
                sent_at=NOW,
                idempotency_key=sent.idempotency_key,
            )
        )
        session.commit()
        since = NOW.date() - dt.timedelta(days=14)
        sent_only = recent_touches(session, account_id=book.account_id, since=since)
        planning = recent_touches(
            session, account_id=book.account_id, since=since, include_in_flight=True
        )
        excluding = recent_touches(
            session, account_id=book.account_id, since=since, exclude_action_id=sent.id
        )
    assert [t.action_id for t in sent_only] == [sent.id]
    assert sent_only[0].customer_facing and sent_only[0].contact_id == book.champion_id
    # The auto-approved row is both sent (intervention) and still in flight in the table.
    assert Counter(t.action_id for t in planning) == Counter({sent.id: 2, pending.id: 1})
    assert old.id not in {t.action_id for t in planning}
    assert excluding == []


def test_a_review_of_a_past_date_counts_its_queue_against_the_caps(
    engine: Engine, book: Book
) -> None:
    """An action queued today (wall clock) by a review of a past date is a touch of that
    date: the policy counts touches on or before its review date, so dated by the clock it
    was never counted and the caps let duplicates through."""
    from keel.domain.policy import load_policy

    pending = propose(engine, book)
    as_of = NOW.date() - dt.timedelta(days=40)
    since = as_of - dt.timedelta(days=30)
    with Session(engine) as session:
        touches = recent_touches(
            session, account_id=book.account_id, since=since, include_in_flight=True, as_of=as_of
        )
        account = session.get(Account, book.account_id)
        contact = session.get(Contact, book.champion_id)
    assert [(t.action_id, t.on) for t in touches] == [(pending.id, as_of)]
    assert account is not None and contact is not None
    decision = load_policy().evaluate(
        play_id="adoption_congrats",
        account=account,
        channel="email",
        recipient_contact=contact,
        health_percentile=90.0,
        recent_actions=touches,
        today=as_of,
    )
    assert not decision.allowed and "frequency cap" in " ".join(decision.reasons)


# ------------------------------------------------------------------ concurrent decisions


def _race(engine: Engine, action_ids: list[str]) -> Counter[str]:
    """Two reviewers decide every action at the same moment; count what happened."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def reviewer(user: str, decision: str) -> None:
        for action_id in action_ids:
            barrier.wait()
            try:
                decide(engine, action_id=action_id, decision=decision, user=user)
                result = "won"
            except ConflictError:
                result = "conflict"
            with lock:
                outcomes[result] += 1

    threads = [
        threading.Thread(target=reviewer, args=("alice", "approve")),
        threading.Thread(target=reviewer, args=("bob", "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _assert_one_winner_each(engine: Engine, book: Book) -> None:
    ids = [propose(engine, book, interrupt=f"race-{n}").id for n in range(12)]
    outcomes = _race(engine, ids)
    assert outcomes == Counter(won=len(ids), conflict=len(ids))
    with Session(engine) as session:
        decisions = session.exec(select(ActionDecision)).all()
        per_action = Counter(d.action_id for d in decisions)
        assert per_action == Counter(dict.fromkeys(ids, 1))
        for d in decisions:
            row = get_action(session, action_id=d.action_id)
            expected = "approved" if d.decision == "approve" else "rejected"
            assert row.status == expected and row.decided_by == d.user


def test_concurrent_decisions_one_wins_sqlite(engine: Engine, book: Book) -> None:
    _assert_one_winner_each(engine, book)


@pytest.mark.postgres
def test_concurrent_decisions_one_wins_postgres(pg_engine: Engine) -> None:
    _assert_one_winner_each(pg_engine, seed_account(pg_engine))
