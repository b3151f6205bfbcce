"""The review graph end to end on the offline model, with a real SQLite checkpointer.

invoke -> interrupt (HITL request) -> decision through the runner (``Command(resume=...)``)
-> assert what was recorded, remembered and sent (counted at a real SMTP server).
"""

from __future__ import annotations

import threading

import pytest
from langgraph.runtime import Runtime
from sqlmodel import Session

from keel.agents.composers import offline_model
from keel.agents.drafter import make_drafter
from keel.agents.feedback import account_namespace, recall
from keel.agents.offline import OFFLINE_NOTICE
from keel.domain.policy import AUTO_SEND_TIER
from keel.errors import ConflictError, ValidationFailed
from keel.graphs.runner import decide_action, pending_approvals, review_result
from keel.memory.actions import ActionStatus, get_action, list_decisions
from keel.memory.checkpoint import Persistence
from keel.memory.models import Contact
from tests.graphs.support import (
    Book,
    actions_of,
    assert_readable_draft,
    compile_graph,
    first_review_with,
    outbox_files,
    review,
    smtp_adapters,
)

MIN_TIER_REVIEWS = 12


def _contact(book: Book, contact_id: int | None) -> Contact | None:
    if contact_id is None:
        return None
    with Session(book.engine) as session:
        return session.get(Contact, contact_id)


def test_review_pauses_with_hitl_requests_and_readable_cited_drafts(
    book: Book, persistence: Persistence
) -> None:
    graph = compile_graph(book, persistence)
    account, result = first_review_with(graph, book)

    assert result.briefing is not None
    assert OFFLINE_NOTICE in result.briefing.summary
    assert account.name in result.briefing.summary
    facts = graph.get_state({"configurable": {"thread_id": result.thread_id}}).values["facts"]
    known = {line["id"] for line in facts["fact_lines"]} | {
        i for h in facts["hypotheses"] for i in h["evidence_ids"]
    }
    for hypothesis in result.briefing.hypotheses:
        assert hypothesis.evidence_ids and set(hypothesis.evidence_ids) <= known | {
            f"factor:{f['factor']}" for f in facts["health"].get("factors", [])
        }
    contacts = {c.id: c for c in book.contacts(account.id or 0)}
    for pending in result.pending:
        request = pending.request
        assert set(request) == {"action_requests", "review_configs"}
        (action_request,) = request["action_requests"]
        assert action_request["name"] in {
            "send_email",
            "create_internal_note",
            "post_slack_message",
        }
        assert "Policy:" in action_request["description"]
        (config,) = request["review_configs"]
        assert config["action_name"] == action_request["name"]
        assert set(config["allowed_decisions"]) == {"approve", "edit", "respond", "reject"}
        args = pending.args
        assert args["produced_by"] == "offline:keel-offline-1"
        if args["channel"] == "email":
            contact = contacts[args["recipient_contact_id"]]
            assert args["to"] == [contact.email]
            assert_readable_draft(args, account=account, contact=contact)
            # Citations sit beside the draft, in the reviewer's view, not in the email.
            assert not [i for i in known if i in args["body"]]
            assert "Evidence: " in action_request["description"]
    # Nothing left the building before the interrupt.
    assert outbox_files(book.settings) == [] or all(
        a.status != ActionStatus.SENT or not a.needs_approval
        for a in actions_of(book.engine, result.thread_id)
    )


def test_approve_sends_once_and_a_second_decision_is_refused(
    book: Book, persistence: Persistence
) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        _, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        after = decide_action(
            graph, book.engine, action_id=pending.action_id, kind="approve", user="alice"
        )
        assert sink.count == 1
        (mail,) = sink.received
        assert mail.rcpt_tos == pending.args["to"]
        assert mail.message["Subject"] == pending.args["subject"]
        assert pending.action_id not in {p.action_id for p in after.pending}
        outcome = next(o for o in after.outcomes if o.get("action_id") == pending.action_id)
        assert outcome["status"] == "sent" and outcome["decided_by"] == "alice"
        with pytest.raises(ConflictError):
            decide_action(
                graph, book.engine, action_id=pending.action_id, kind="approve", user="bob"
            )
        assert sink.count == 1
        with Session(book.engine) as session:
            assert get_action(session, action_id=pending.action_id).status == ActionStatus.SENT


def test_edit_sends_the_edited_payload_and_is_remembered_for_later_drafts(
    book: Book, persistence: Persistence
) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        account, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        new_subject = f"A quick note for the {account.name} team"
        new_body = pending.args["body"].replace(
            pending.args["body"].splitlines()[0], "Hello again,"
        )
        decide_action(
            graph,
            book.engine,
            action_id=pending.action_id,
            kind="edit",
            user="carol",
            edited_args={"subject": new_subject, "body": new_body},
        )
        assert sink.count == 1
        sent = sink.received[0].message
        assert sent["Subject"] == new_subject
        assert "Hello again," in sent.get_payload(decode=True).decode()
        with Session(book.engine) as session:
            trail = list_decisions(session, action_id=pending.action_id)
        assert [d.decision for d in trail] == ["edit"] and trail[0].user == "carol"

        notes = recall(persistence.store, account_id=account.id or 0, play=pending.args["play"])
        assert notes and notes[0].kind == "edit" and notes[0].subject_after == new_subject
        assert notes[0].subject_before == pending.args["subject"]

        # The next draft of this play for this account takes the reviewer's subject.
        values = graph.get_state({"configurable": {"thread_id": result.thread_id}}).values
        item = next(i for i in values["plan"]["plays"] if i["play"] == pending.args["play"])
        drafter = make_drafter(model=offline_model(), deps=book.deps())
        state = {
            "review_account_id": account.id,
            "review_as_of": book.as_of.isoformat(),
            "item": item,
            "briefing": values["briefing"],
            "facts": values["facts"],
            "outcomes": [],
            "errors": [],
        }
        later = drafter(state, Runtime(store=persistence.store))  # type: ignore[arg-type]
        assert later["draft"]["subject"] == new_subject
        without_memory = drafter(state, Runtime(store=None))  # type: ignore[arg-type]
        assert without_memory["draft"]["subject"] == pending.args["subject"]
        assert persistence.store.search(account_namespace(account.id or 0))


def test_respond_redrafts_with_the_feedback_and_asks_again(
    book: Book, persistence: Persistence
) -> None:
    graph = compile_graph(book, persistence)
    account, result = first_review_with(graph, book)
    pending = next(p for p in result.pending if p.args["channel"] == "email")
    feedback = "Keep it shorter and mention the quarterly business review on Friday"
    after = decide_action(
        graph,
        book.engine,
        action_id=pending.action_id,
        kind="respond",
        user="dave",
        message=feedback,
    )
    revised = [p for p in after.pending if p.args["play"] == pending.args["play"]]
    assert len(revised) == 1, "a new interrupt for the same play"
    new = revised[0]
    assert new.action_id != pending.action_id and new.interrupt_id != pending.interrupt_id
    # No fact on record for the review: never pasted from the feedback; the reviewer is
    # told what was not done beside the draft.
    assert "quarterly business review" not in new.args["body"]
    assert "mention 'the quarterly business review on Friday'" in new.description
    assert len(new.args["body"].split()) < len(pending.args["body"].split())
    assert new.args["to"] == pending.args["to"]
    with Session(book.engine) as session:
        old = get_action(session, action_id=pending.action_id)
        fresh = get_action(session, action_id=new.action_id)
    assert old.status == ActionStatus.RESPONDED
    assert fresh.status == ActionStatus.PENDING and fresh.parent_action_id == old.id
    assert fresh.revision == old.revision + 1
    notes = recall(persistence.store, account_id=account.id or 0, play=pending.args["play"])
    assert any(n.kind == "respond" and n.message == feedback for n in notes)


def test_reject_sends_nothing_and_records_the_reason(book: Book, persistence: Persistence) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        _, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        after = decide_action(
            graph,
            book.engine,
            action_id=pending.action_id,
            kind="reject",
            user="erin",
            message="We discussed this on the phone yesterday",
        )
        assert sink.count == 0
        outcome = next(o for o in after.outcomes if o.get("action_id") == pending.action_id)
        assert outcome["status"] == "rejected"
        with Session(book.engine) as session:
            (decision,) = list_decisions(session, action_id=pending.action_id)
        assert decision.decision == "reject"
        assert decision.message == "We discussed this on the phone yesterday"


def test_malformed_decisions_are_refused_and_the_interrupt_still_waits(
    book: Book, persistence: Persistence
) -> None:
    graph = compile_graph(book, persistence)
    _, result = first_review_with(graph, book)
    pending = next(p for p in result.pending if p.args["channel"] == "email")
    with pytest.raises(ValidationFailed, match="message"):
        decide_action(graph, book.engine, action_id=pending.action_id, kind="respond", user="f")
    with pytest.raises(ValidationFailed, match="cannot be edited"):
        decide_action(
            graph,
            book.engine,
            action_id=pending.action_id,
            kind="edit",
            user="f",
            edited_args={"play": "save_plan"},
        )
    with pytest.raises(ValidationFailed, match="to"):
        decide_action(
            graph,
            book.engine,
            action_id=pending.action_id,
            kind="edit",
            user="f",
            edited_args={"to": ["a@b.example", "c@d.example;e@f.example"]},
        )
    still = {p.action_id for p in pending_approvals(graph, result.thread_id)}
    assert pending.action_id in still
    with Session(book.engine) as session:
        assert get_action(session, action_id=pending.action_id).status == ActionStatus.PENDING


def test_two_concurrent_approvals_one_wins_the_other_is_refused(
    book: Book, persistence: Persistence
) -> None:
    with smtp_adapters(book.settings) as (sink, adapters):
        graph = compile_graph(book, persistence, adapters=adapters)
        _, result = first_review_with(graph, book)
        pending = next(p for p in result.pending if p.args["channel"] == "email")
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def approve(user: str) -> None:
            barrier.wait()
            try:
                decide_action(
                    graph, book.engine, action_id=pending.action_id, kind="approve", user=user
                )
                outcomes[user] = "won"
            except ConflictError:
                outcomes[user] = "refused"

        threads = [threading.Thread(target=approve, args=(u,)) for u in ("gina", "hank")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes.values()) == ["refused", "won"]
        assert sink.count == 1
        with Session(book.engine) as session:
            trail = list_decisions(session, action_id=pending.action_id)
        assert len(trail) == 1 and outcomes[trail[0].user] == "won"
        final = review_result(graph, result.thread_id)
        assert pending.action_id not in {p.action_id for p in final.pending}


def test_ai_led_tier_sends_without_approval_only_what_the_policy_allows(
    book: Book, persistence: Persistence
) -> None:
    policy = book.policy
    graph = compile_graph(book, persistence)
    auto_sent = reviewed = 0
    tiers: set[str] = set()
    for account in book.active_accounts():
        if account.id in book.handed_out:
            continue
        if auto_sent and reviewed >= MIN_TIER_REVIEWS and len(tiers) > 1:
            break
        reviewed += 1
        result = review(graph, book, account)
        tier = policy.tier_for(account)
        tiers.add(tier)
        for action in actions_of(book.engine, result.thread_id):
            if action.needs_approval:
                assert action.status in (ActionStatus.PENDING,), action.status
                continue
            # Sent without a human: only in the AI-led tier, only an allowed low-risk play.
            assert tier == AUTO_SEND_TIER, (account.external_id, action.play_id)
            assert action.play_id in policy.auto_send_allowed
            assert action.status == ActionStatus.SENT
            auto_sent += 1
        for pending in result.pending:
            assert pending.args["play"] not in policy.auto_send_allowed or tier != AUTO_SEND_TIER
    assert auto_sent >= 1, "the book has AI-led accounts with an auto-send play"
