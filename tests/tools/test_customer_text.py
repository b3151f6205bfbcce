"""The check in code after any model: a customer's message holds nothing internal.

Each text below is what a demo run (issue 19) actually put in a customer's e-mail, or what a
compromised model could write; the check finds it, cuts it so the rest still reads, and the
executor refuses to send a customer-facing message that still carries it. Internal notes
are exempt. Also: who a customer's e-mail is from.
"""

from __future__ import annotations

import datetime as dt
import email
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from keel.agents.content_gate import problems_in, scrubbed
from keel.agents.schemas import Draft
from keel.domain.policy import load_policy
from keel.memory.actions import decide
from keel.settings import Settings
from keel.tools.outbound.base import RenderedMessage
from keel.tools.outbound.customer_text import (
    customer_text_problems,
    find_internal,
    strip_internal,
)
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.outbound.executor import execute_action
from keel.tools.outbound.factory import adapters_from_settings
from keel.tools.outbound.guards import content_problems
from keel.tools.outbound.render import sender_identity, to_email
from tests.memory.test_actions import NOW, payload, propose, seed_account

OFFLINE_FOOTER = "--\nWritten by Keel's offline model (deterministic templates; no LLM was used)."
# What the demo's customer e-mails said (ids and numbers as they appeared).
DEMO_EMAIL = f"""Hi Sofia,

I want to be direct about where Northwind stands and what we will do about it.

Here is what I'm looking at:
- Seats used 28.46 -> 28.39 (-0%) [metric:seats_used]
- Ticket acc-00036-t0013: low-priority billing ticket opened 2026-10-02, closed \
2026-10-09. [ticket:acc-00036-t0013]
- Renewal on 2026-12-15 (45 days away), ARR 703,000. [renewal:acc-00036-r03]
- NPS (mean) 8 -> 6 (-25%) [metric:nps]
- Ticket acc-00036-t0014: normal-priority account ticket opened 2026-10-20, still open.

Omar Haddad has moved on [contact:acc-00091-c01], so I'd like to meet the new team.

Could we go through this in a 30-minute call this week?

Best,
Dana Reyes

{OFFLINE_FOOTER}"""

CLEAN_EMAIL = """Hi Sofia,

Your team's active users went from 42 to 26 between August and October. Please note: the
renewal on 2026-12-15 is 45 days away, and our 10:30 call on Tuesday still stands.
See https://help.keel.example/getting-started for tips, or write to dana.reyes@keel.example.

Could we set up a 30-minute working session next week?

Best,
Dana Reyes"""


def test_the_demo_email_s_internal_content_is_found_and_cut() -> None:
    found = find_internal(DEMO_EMAIL)
    reasons = " | ".join(p.reason for p in found)
    for kind in ("evidence id", "ARR", "NPS", "low-priority", "normal-priority", "model wrote"):
        assert kind in reasons, kind
    assert all(p.kind == "internal" and p.span in DEMO_EMAIL for p in found)

    clean = strip_internal(DEMO_EMAIL)
    assert find_internal(clean) == []
    for gone in ("[", "metric:", "ticket:", "contact:", "renewal:", "ARR", "703,000", "NPS"):
        assert gone not in clean, gone
    assert "priority" not in clean and "offline model" not in clean and "\n--" not in clean
    # What the customer may read stays, and reads.
    assert "- Seats used 28.46 -> 28.39 (-0%)\n" in clean
    assert "Omar Haddad has moved on, so I'd like to meet the new team." in clean
    assert clean.endswith("Best,\nDana Reyes")
    assert "\n\n\n" not in clean


def test_score_and_risk_words_are_cut_with_their_sentence() -> None:
    text = (
        "Thanks for the call. Your health score is 41/100 and your churn risk is 38%. "
        "You sit in the 9th percentile of our book. Could we meet on Tuesday?"
    )
    clean = strip_internal(text)
    assert clean == "Thanks for the call. Could we meet on Tuesday?"
    reasons = " | ".join(p.reason for p in find_internal(text))
    assert "a health score" in reasons and "a percentile of the book" in reasons
    assert "a churn assessment" in find_internal("Your churn risk is 38%.")[0].reason


@pytest.mark.parametrize(
    "text",
    [
        "At-risk accounts like yours get extra attention.",
        "This account is high-risk for us.",
        "Your save_plan starts now.",
        "Drafted by GPT-4o on behalf of your CSM.",
        "As an AI language model, I cannot promise that.",
        "See [hypothesis:acc-00036:risk:1:engagement] for details.",
        "We noticed acc-00036:risk:1:engagement in your usage.",
        "Your NPS responses say you are a detractor.",
        "Your annual recurring revenue with us is large.",
    ],
)
def test_each_internal_kind_is_found(text: str) -> None:
    assert find_internal(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Summit Health is using the product more widely this quarter.",
        "Our Head of Risk, Maya, will join the call.",
        "Feel free to arrange a time; the arr key is on the left.",
        "Your support ticket was closed on 2026-10-09.",
    ],
)
def test_names_and_ordinary_words_are_not_mistaken_for_scores(text: str) -> None:
    assert find_internal(text) == [], text


def test_what_a_customer_may_read_passes_untouched() -> None:
    assert find_internal(CLEAN_EMAIL) == []
    assert strip_internal(CLEAN_EMAIL) == CLEAN_EMAIL
    assert customer_text_problems(subject="Checking in on Northwind", body=CLEAN_EMAIL) == []


def test_the_subject_is_checked_too() -> None:
    problems = customer_text_problems(subject="Churn risk at Northwind", body=CLEAN_EMAIL)
    assert problems and all("(in the subject)" in p.reason for p in problems)


def _draft(kind: str, body: str) -> Draft:
    return Draft(
        kind=kind,  # type: ignore[arg-type]
        play="save_plan" if kind == "email" else "internal_escalation",
        account_id=36,
        recipient_address="sofia@northwind.example" if kind == "email" else "",
        subject="Our plan for Northwind",
        body=body,
    )


def test_the_policy_check_cuts_it_from_a_customer_draft_not_an_internal_note() -> None:
    customer = _draft("email", DEMO_EMAIL)
    problems = problems_in(
        customer, allowlist=["https://help.keel.example"], approved_offers=[], owner_csm=""
    )
    assert any(p.kind == "internal" for p in problems)
    cut = scrubbed(customer, problems)
    assert find_internal(cut.body) == [] and "[removed]" not in cut.body
    assert "Could we go through this in a 30-minute call this week?" in cut.body

    note = _draft("internal_note", DEMO_EMAIL)
    assert not [
        p
        for p in problems_in(
            note, allowlist=["https://help.keel.example"], approved_offers=[], owner_csm=""
        )
        if p.kind == "internal"
    ]


def test_the_send_guard_refuses_internal_content_on_customer_channels_only() -> None:
    common = {
        "subject": "Update",
        "body": "Usage fell [metric:active_users]. Could we meet?",
        "declared_links": [],
        "allowlist": ["https://help.keel.example"],
        "approved_offers": [],
        "addresses": ["ana@acme.example"],
    }
    assert any("evidence id" in r for r in content_problems(**common, channel="email"))
    assert content_problems(**common, channel="internal") == []


def test_the_executor_refuses_to_send_a_customer_email_carrying_internal_content(
    engine: Engine, tmp_path: Path
) -> None:
    book = seed_account(engine)
    body = "Hi Ana, your health score fell to 41. Could we meet on Tuesday?"
    action = propose(engine, book, payload=payload(body=body, links=[]))
    decide(engine, action_id=action.id, decision="approve", user="alice", now=NOW)
    dry = DryRunAdapter(tmp_path / "outbox")

    result = execute_action(
        engine,
        action_id=action.id,
        adapters={"email": dry, "slack": dry, "internal": dry},
        policy=load_policy(),
        link_allowlist=["https://help.keel.example"],
        now=NOW,
    )

    assert result.outcome == "refused"
    assert any("health score" in r for r in result.reasons)
    assert not list((tmp_path / "outbox").glob("*"))


# --------------------------------------------------------------------- sender identity


def _message(owner_csm: str) -> RenderedMessage:
    return RenderedMessage(
        action_id="a1",
        account_id=36,
        account_external_id="acc-00036",
        account_name="Northwind Labs",
        owner_csm=owner_csm,
        play_id="save_plan",
        channel="email",
        draft_kind="email",
        subject="Our plan",
        body="Hi Sofia,\n\nCould we meet?",
        to=("sofia@northwind.example",),
        cc=(),
        links=(),
        rendered_at=dt.datetime(2026, 10, 31, 9, tzinfo=dt.UTC),
    )


def test_a_customer_email_is_from_the_account_s_csm() -> None:
    mail = to_email(
        _message("dana.reyes@keel.example"), sender="keel@localhost", idempotency_key="k" * 64
    )
    assert parseaddr(mail["From"]) == ("Dana Reyes", "dana.reyes@keel.example")
    # The Message-ID stays the transport's (stable across resends).
    assert mail["Message-ID"] == f"<{'k' * 64}@localhost>"


def test_without_a_csm_address_the_configured_sender_is_used() -> None:
    fallback = "Northwind CS <success@vendor.example>"
    assert sender_identity(_message("Dana Reyes"), fallback=fallback) == fallback
    assert sender_identity(_message(""), fallback=fallback) == fallback


def test_the_outbox_file_is_from_the_csm_and_never_keel_localhost(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "keel-data", _env_file=None)  # type: ignore[call-arg]
    assert "keel@localhost" not in settings.sender_from
    adapters = adapters_from_settings(settings, engine=None)  # type: ignore[arg-type]
    receipt = adapters["email"].send(_message("dana.reyes@keel.example"), idempotency_key="k1")
    mail = email.message_from_bytes(Path(receipt.external_id).read_bytes())
    assert parseaddr(mail["From"]) == ("Dana Reyes", "dana.reyes@keel.example")

    anonymous = adapters["email"].send(_message("Dana Reyes"), idempotency_key="k2")
    sent = email.message_from_bytes(Path(anonymous.external_id).read_bytes())
    assert sent["From"] == settings.sender_from
    assert "keel@localhost" not in sent.as_string()
