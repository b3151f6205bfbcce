"""The content policy as a review applies it: disarmed links, scrubbing, auto-send blockers."""

from __future__ import annotations

from keel.agents.content_gate import auto_send_blockers, disarmed_links, draft_problems, scrub

ALLOW = ["https://help.keel.example"]


def test_a_disarmed_link_is_still_refused_in_a_message() -> None:
    text = "Log in at hxxps://evil-def[.]example/x or evil[.]de today; see v2.3 [1]."
    spans = [p.span for p in disarmed_links(text)]
    assert spans == ["hxxps://evil-def[.]example/x", "evil[.]de"]
    problems = draft_problems(
        subject="Hi", body=text, allowlist=ALLOW, approved_offers=(), addresses=()
    )
    cleaned = scrub(text, problems)
    assert "evil" not in cleaned and cleaned.count("[link removed]") == 2


def test_scrub_removes_every_refused_span_and_keeps_allowed_links() -> None:
    body = (
        "Enjoy a 100% discount! <img src=x onerror=alert(1)> See //evil.example/p and "
        "https://help.keel.example/getting-started. Write to boss@evil.example."
    )
    problems = draft_problems(
        subject="Free of charge upgrade",
        body=body,
        allowlist=ALLOW,
        approved_offers=(),
        addresses={"jane@acme.example"},
    )
    kinds = {p.kind for p in problems}
    assert {"offer", "markup", "link", "address"} <= kinds
    cleaned = scrub(body, problems)
    for bad in ("100% discount", "<img", "//evil.example", "boss@evil.example"):
        assert bad not in cleaned
    assert "https://help.keel.example/getting-started" in cleaned


def test_an_offer_the_policy_approved_for_the_play_passes() -> None:
    body = "As agreed, a 10% discount on a two-year prepay."
    problems = draft_problems(
        subject="Renewal",
        body=body,
        allowlist=ALLOW,
        approved_offers=["10% discount on a two-year prepay"],
        addresses=(),
    )
    assert problems == []


def test_what_keeps_a_play_from_going_out_alone() -> None:
    clean = {"play": "adoption_congrats", "code_selected": True}
    assert auto_send_blockers(clean, problems=[], quoted=[]) == []
    swapped = {"play": "adoption_congrats", "code_selected": False}
    assert "the model chose this play" in auto_send_blockers(swapped, problems=[], quoted=[])[0]
    assert auto_send_blockers(clean, problems=["link removed"], quoted=[])
    assert "ticket:T-1" in auto_send_blockers(clean, problems=[], quoted=["ticket:T-1"])[0]


def test_a_host_spelled_with_dot_is_a_link_but_prose_is_not() -> None:
    assert [p.span for p in disarmed_links("type evil-def dot example/login")] == [
        "evil-def dot example"
    ]
    assert disarmed_links("a red dot on the chart") == []
