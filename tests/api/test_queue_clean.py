"""A queue that stays clean (issue 19, item 5): a re-run review proposes nothing already
pending nor a play rejected on the same evidence; a second decision is refused with a
non-zero exit; ids by unique prefix; short decision output; ``show`` says why a send was
refused. Runs the ``keel`` entry point in process (``main()``: its exit codes, its errors)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from keel.memory.actions import (
    ActionStatus,
    Intervention,
    ProposedAction,
    as_utc,
    find_repeat,
    list_actions,
    propose_action,
)
from keel.memory.checkpoint import Persistence, open_persistence
from keel.memory.db import init_db, make_engine
from keel.memory.models import Account, Contact
from keel.settings import Settings
from tests.api.cli_support import keel
from tests.graphs.support import Book, compile_graph, first_review_with, retire, seed


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("queue") / "keel-data")
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    yield seed(engine, settings)
    engine.dispose()


@pytest.fixture(scope="module")
def persistence(book: Book) -> Iterator[Persistence]:
    with open_persistence(book.settings) as opened:
        yield opened


@pytest.fixture(autouse=True)
def _env(book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DATA_DIR", str(book.settings.data_dir))
    monkeypatch.setenv("USER", "queue-reviewer")
    monkeypatch.setenv("COLUMNS", "200")


def pending_of(book: Book, account_id: int) -> list[ProposedAction]:
    with Session(book.engine) as session:
        return list_actions(session, status=ActionStatus.PENDING, account_id=account_id)


@pytest.fixture(scope="module")
def account(book: Book, persistence: Persistence) -> Account:
    """An account whose review leaves a customer email waiting (found in process, then its
    queue cleared so the CLI's first review starts clean)."""
    graph = compile_graph(book, persistence)
    found, result = first_review_with(graph, book)
    retire(book.engine, result.thread_id)
    return found


def test_a_second_review_adds_nothing_already_pending_and_a_rejected_play_stays_out(
    book: Book,
    account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, first = keel(capsys, monkeypatch, "review", account.external_id, "--no-vectors")
    assert code == 0, first
    waiting = pending_of(book, account.id or 0)
    assert waiting, first

    code, second = keel(capsys, monkeypatch, "review", account.external_id, "--no-vectors")
    assert code == 0, second
    again = pending_of(book, account.id or 0)
    assert {a.id for a in again} == {a.id for a in waiting}, "nothing new is queued"
    # Said either way: the repeat is withdrawn, or the frequency caps (which count the
    # actions already waiting) stop it before it is drafted.
    assert ("Not proposed again" in second and "Already waiting for approval" in second) or (
        "frequency cap" in second
    ), second
    assert "Traceback" not in second

    # The reviewer rejects one play (by id prefix); the next review does not bring it back.
    rejected = waiting[0]
    code, out = keel(
        capsys, monkeypatch, "approvals", "reject", rejected.id[:10], "--reason", "Not now"
    )
    assert code == 0, out
    assert "reject recorded" in out
    assert len(out.strip().splitlines()) <= 12, "a decision prints a summary, not the draft"
    assert "Briefing:" not in out

    code, third = keel(capsys, monkeypatch, "review", account.external_id, "--no-vectors")
    assert code == 0, third
    assert not [a for a in pending_of(book, account.id or 0) if a.play_id == rejected.play_id]
    assert "rejected by queue-reviewer" in third and "evidence has not changed" in third


def test_a_second_decision_is_refused_with_a_non_zero_exit(
    book: Book,
    persistence: Persistence,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An account of its own, reviewed through the CLI (its thread is resumable).
    found, result = first_review_with(compile_graph(book, persistence), book)
    retire(book.engine, result.thread_id)
    code, out = keel(capsys, monkeypatch, "review", found.external_id, "--no-vectors")
    assert code == 0, out
    decided = pending_of(book, found.id or 0)[0]
    code, out = keel(capsys, monkeypatch, "approvals", "reject", decided.id, "-m", "No")
    assert code == 0 and "reject recorded" in out, out
    for verb in ("reject", "approve"):
        code, out = keel(capsys, monkeypatch, "approvals", verb, decided.id)
        assert code == 2, out
        assert "already rejected" in out and "recorded" not in out.replace(
            "nothing new was recorded", ""
        )
        assert "Traceback" not in out
    with Session(book.engine) as session:
        row = session.get(ProposedAction, decided.id)
        assert row is not None and row.status == ActionStatus.REJECTED

    # An action whose review thread is gone is decided from its row: the same reviewer's
    # second reject used to print "recorded earlier" and exit 0.
    other = book.active_accounts()[-4]
    orphan = _propose(book, other, book.contacts(other.id or 0)[0], "test:gone:1", ["x:1"])
    code, out = keel(capsys, monkeypatch, "approvals", "reject", orphan.id[:9], "-m", "No")
    assert code == 0 and "reject recorded" in out, out
    code, out = keel(capsys, monkeypatch, "approvals", "reject", orphan.id[:9], "-m", "No")
    assert code == 2, out
    assert "refused" in out and "already rejected" in out and "Traceback" not in out


def _propose(book: Book, account: Account, contact: Contact, thread: str, evidence: list[str]):
    with Session(book.engine) as session:
        action = propose_action(
            session,
            thread_id=thread,
            interrupt_id="approval:usage_drop_checkin:r0",
            account_id=account.id or 0,
            play_id="usage_drop_checkin",
            draft_kind="email",
            payload={
                "subject": "A quick check-in",
                "body": f"Hi {contact.name},\n\nCould we find 20 minutes next week?\n\nBest",
                "to": [contact.email],
                "metadata": {"evidence_ids": evidence, "hypothesis_id": "h-1"},
            },
            needs_approval=True,
            recipient_contact_id=contact.id,
        )
        session.commit()
        session.refresh(action)
        session.expunge(action)
        return action


def test_a_rejection_holds_only_while_the_evidence_is_the_same(book: Book) -> None:
    account = book.active_accounts()[-1]
    contact = book.contacts(account.id or 0)[0]
    first = _propose(book, account, contact, "test:fp:1", ["ticket:T-1", "metric:nps"])
    with Session(book.engine) as session:
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == first.id)
            .values(status=ActionStatus.REJECTED, decided_by="dana", decided_at=as_utc())
        )
        session.commit()
    same = _propose(book, account, contact, "test:fp:2", ["metric:nps", "ticket:T-1"])
    with Session(book.engine) as session:
        repeat = find_repeat(session, same)
        assert repeat is not None and repeat.earlier_id == first.id
        assert "rejected by dana" in repeat.reason
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == same.id)
            .values(status=ActionStatus.SUPERSEDED)
        )
        session.commit()
    changed = _propose(book, account, contact, "test:fp:3", ["metric:nps", "ticket:T-9"])
    with Session(book.engine) as session:
        assert find_repeat(session, changed) is None, "new evidence: a new proposal"


def test_ids_by_unique_prefix_and_an_ambiguous_prefix_lists_the_matches(
    book: Book, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = book.active_accounts()[-2]
    contact = book.contacts(account.id or 0)[0]
    ids = []
    for n, thread in enumerate(("test:pre:1", "test:pre:2")):
        action = _propose(book, account, contact, thread, [f"ticket:T-{n}"])
        new_id = f"fee{n}" + action.id[4:]
        with Session(book.engine) as session:
            session.exec(
                update(ProposedAction).where(col(ProposedAction.id) == action.id).values(id=new_id)
            )
            session.commit()
        ids.append(new_id)
    code, out = keel(capsys, monkeypatch, "approvals", "show", "fee")
    assert code == 2, out
    assert "matches several" in out and ids[0] in out and ids[1] in out
    assert "Traceback" not in out
    code, out = keel(capsys, monkeypatch, "approvals", "show", "fee1")
    assert code == 0, out
    assert ids[1] in out
    code, out = keel(capsys, monkeypatch, "approvals", "show", "zzz")
    assert code == 2 and "no action" in out


def test_show_gives_the_reason_a_send_was_refused(
    book: Book, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = book.active_accounts()[-3]
    contact = book.contacts(account.id or 0)[0]
    # A message went to this contact today, so the contact's frequency cap refuses another.
    earlier = _propose(book, account, contact, "test:cap:0", ["ticket:T-0"])
    with Session(book.engine) as session:
        session.exec(
            update(ProposedAction)
            .where(col(ProposedAction.id) == earlier.id)
            .values(status=ActionStatus.SENT, sent_at=as_utc())
        )
        session.add(
            Intervention(
                action_id=earlier.id,
                account_id=account.id or 0,
                play_id="usage_drop_checkin",
                channel="email",
                draft_kind="email",
                recipient_contact_id=contact.id,
                transport="dry_run",
                sent_at=as_utc() - dt.timedelta(hours=1),
                idempotency_key=earlier.idempotency_key,
            )
        )
        session.commit()
    action = _propose(book, account, contact, "test:cap:1", ["ticket:T-1"])
    code, out = keel(capsys, monkeypatch, "approvals", "approve", action.id[:12])
    assert code == 1, out  # approved, not sent
    assert "frequency cap" in out
    code, shown = keel(capsys, monkeypatch, "approvals", "show", action.id[:12])
    assert code == 0, shown
    assert "Not sent because" in shown and "frequency cap" in shown
