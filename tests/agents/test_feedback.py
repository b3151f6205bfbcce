"""Reviewer feedback in the LangGraph store: saved per account and per play, read back."""

from __future__ import annotations

from langgraph.store.memory import InMemoryStore

from keel.agents.feedback import (
    FeedbackNote,
    account_namespace,
    feedback_hints,
    guidance_lines,
    play_namespace,
    recall,
    remember,
    style_hints,
)


def _note(**kw: object) -> FeedbackNote:
    base: dict[str, object] = {
        "kind": "respond",
        "account_id": 1,
        "play": "usage_drop_checkin",
        "user": "dana",
        "action_id": "a1",
    }
    base.update(kw)
    return FeedbackNote(**base)  # type: ignore[arg-type]


def test_notes_are_kept_per_account_and_per_play_and_replays_do_not_duplicate() -> None:
    store = InMemoryStore()
    note = _note(message="Mention the QBR on Friday", at="2026-06-01T10:00:00+00:00")
    remember(store, note)
    remember(store, note)  # a node re-run after a crash
    assert len(store.search(account_namespace(1))) == 1
    assert len(store.search(play_namespace("usage_drop_checkin"))) == 1
    other = _note(account_id=2, action_id="b1", message="Too long", at="2026-06-02T10:00:00+00:00")
    remember(store, other)
    remember(store, _note(play="save_plan", action_id="c1", message="Different play"))
    notes = recall(store, account_id=1, play="usage_drop_checkin")
    assert [n.action_id for n in notes] == ["a1", "b1"]  # own account first, then the play's
    assert recall(store, account_id=3, play="billing_followup") == []


def test_style_hints_from_answers_and_edits() -> None:
    notes = [
        _note(message="Please keep it shorter and mention the new SSO rollout in May"),
        _note(
            kind="edit",
            action_id="e1",
            subject_before="Checking in",
            subject_after="A quick question",
            body_before="one two three four five six seven eight nine ten",
            body_after="one two three",
        ),
        _note(kind="reject", action_id="r1", message="Never email during their freeze"),
        _note(account_id=9, action_id="x", kind="edit", subject_after="Other account subject"),
    ]
    hints = style_hints(notes, account_id=1)
    assert hints.shorter
    assert hints.mentions == ("the new SSO rollout in May",)
    assert hints.preferred_subject == "A quick question"
    assert hints.avoid == ("Never email during their freeze",)
    lines = guidance_lines(notes)
    assert lines[0].startswith('Reviewer dana asked for changes: "Please keep it shorter')
    assert 'subject changed to "A quick question"' in lines[1]
    assert feedback_hints("Make it more formal").formal
    assert feedback_hints("friendlier please").warmer
