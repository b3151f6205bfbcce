"""The approval policy: tiers, approval rules, caps, quiet lists, and clear load errors."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from keel.domain.plays import PLAY_LIBRARY, get_play, plays_answering
from keel.domain.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from keel.errors import KeelError, ValidationFailed
from keel.memory.actions import Channel, Touch

TODAY = dt.date(2025, 3, 20)


@dataclass(frozen=True)
class Acct:
    external_id: str = "acme"
    segment: str = "smb"
    arr: float = 20_000.0


@dataclass(frozen=True)
class Person:
    id: int | None


def default_doc() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def write_policy(tmp_path: Path, doc: Any, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def policy_with(tmp_path: Path, **changes: Any) -> Policy:
    doc = default_doc()
    doc.update(changes)
    return load_policy(write_policy(tmp_path, doc))


def touch(days_ago: int, *, contact: int | None = 1, facing: bool = True) -> Touch:
    return Touch(
        action_id=f"a{days_ago}-{contact}",
        on=TODAY - dt.timedelta(days=days_ago),
        contact_id=contact,
        play_id="usage_drop_checkin",
        customer_facing=facing,
    )


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


# -------------------------------------------------------------------------- play library


def test_library_has_every_play_from_the_issue() -> None:
    assert set(PLAY_LIBRARY) == {
        "usage_drop_checkin",
        "champion_left_multithread",
        "exec_sponsor_briefing",
        "renewal_kickoff",
        "save_plan",
        "expansion_conversation",
        "adoption_congrats",
        "ticket_satisfaction_pulse",
        "billing_followup",
        "internal_escalation",
        "quality_regression_followup",
    }
    assert get_play("internal_escalation").channel == Channel.INTERNAL
    assert not get_play("internal_escalation").customer_facing
    assert get_play("save_plan").kind == "save"
    assert [p.id for p in plays_answering(["expansion"])] == [
        "exec_sponsor_briefing",
        "expansion_conversation",
    ]
    with pytest.raises(KeelError, match="unknown play 'nope'"):
        get_play("nope")


# ---------------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("segment", "arr", "tier"),
    [
        ("enterprise", 10_000, "human_led"),
        ("mid_market", 150_000, "human_led"),
        ("mid_market", 149_999, "ai_assisted"),
        ("smb", 29_999, "ai_led"),
        ("smb", 30_000, "ai_assisted"),  # max_arr is exclusive
        ("public_sector", 5_000, "human_led"),  # no rule matches: default tier
    ],
)
def test_tier_by_segment_and_arr(policy: Policy, segment: str, arr: float, tier: str) -> None:
    assert policy.tier_for(Acct(segment=segment, arr=arr)) == tier


def test_default_policy_has_source_and_digest(policy: Policy) -> None:
    assert policy.source.endswith("policy.default.yaml")
    assert len(policy.digest) == 64


# ------------------------------------------------------------------------------- approval


def test_ai_led_auto_sends_only_the_allowed_low_risk_plays(policy: Policy) -> None:
    auto = set()
    for play_id in PLAY_LIBRARY:
        decision = policy.evaluate(play_id=play_id, account=Acct(), today=TODAY)
        assert decision.tier == "ai_led"
        assert decision.allowed, decision.reasons
        if not decision.needs_approval:
            auto.add(play_id)
    assert auto == set(policy.auto_send_allowed)
    assert auto == {"adoption_congrats", "ticket_satisfaction_pulse", "internal_escalation"}
    assert all(PLAY_LIBRARY[p].risk == "low" for p in auto)


@pytest.mark.parametrize("segment,arr", [("mid_market", 50_000), ("enterprise", 10_000)])
def test_other_tiers_need_approval_for_everything(policy: Policy, segment: str, arr: float) -> None:
    for play_id in PLAY_LIBRARY:
        decision = policy.evaluate(
            play_id=play_id, account=Acct(segment=segment, arr=arr), today=TODAY
        )
        assert decision.needs_approval, (play_id, decision.reasons)


def test_save_plays_always_need_approval(tmp_path: Path) -> None:
    # Put every smb account in ai_led and lift the ARR threshold out of the way.
    pol = policy_with(
        tmp_path,
        tiers=[{"segments": ["smb"], "tier": "ai_led"}],
        always_approve={"plays": [], "arr_threshold": 10_000_000},
    )
    for play_id, play in PLAY_LIBRARY.items():
        decision = pol.evaluate(play_id=play_id, account=Acct(), today=TODAY)
        if play.kind == "save":
            assert decision.needs_approval
            assert "save plays always need approval" in decision.reasons


def test_outbound_above_arr_threshold_needs_approval(tmp_path: Path) -> None:
    pol = policy_with(
        tmp_path,
        tiers=[{"segments": ["smb"], "tier": "ai_led"}],
        always_approve={"plays": [], "arr_threshold": 50_000},
    )
    below = pol.evaluate(play_id="adoption_congrats", account=Acct(arr=50_000), today=TODAY)
    above = pol.evaluate(play_id="adoption_congrats", account=Acct(arr=50_001), today=TODAY)
    internal = pol.evaluate(play_id="internal_escalation", account=Acct(arr=90_000), today=TODAY)
    assert below.auto_send
    assert above.allowed and above.needs_approval
    assert any("above the approval threshold" in r for r in above.reasons)
    assert internal.auto_send  # an internal note is not an outbound message


def test_always_approve_plays_list(tmp_path: Path) -> None:
    pol = policy_with(
        tmp_path,
        auto_send_allowed=["adoption_congrats"],
        always_approve={"plays": ["ticket_satisfaction_pulse"], "arr_threshold": 50_000},
    )
    decision = pol.evaluate(play_id="ticket_satisfaction_pulse", account=Acct(), today=TODAY)
    assert decision.needs_approval
    assert any("always_approve.plays" in r for r in decision.reasons)


def test_tier_allowed_plays(policy: Policy) -> None:
    decision = policy.evaluate(
        play_id="adoption_congrats", account=Acct(segment="enterprise"), today=TODAY
    )
    assert not decision.allowed
    assert "play adoption_congrats is not allowed in the human_led tier" in decision.reasons


def test_channel_must_be_one_the_play_uses(policy: Policy) -> None:
    wrong = policy.evaluate(
        play_id="internal_escalation", account=Acct(), channel="email", today=TODAY
    )
    right = policy.evaluate(
        play_id="internal_escalation", account=Acct(), channel="slack", today=TODAY
    )
    assert not wrong.allowed and right.allowed


def test_unknown_play_is_not_allowed(policy: Policy) -> None:
    decision = policy.evaluate(play_id="free_pizza", account=Acct(), today=TODAY)
    assert not decision.allowed and decision.reasons == ["unknown play 'free_pizza'"]


# ---------------------------------------------------------------------------------- caps


def test_account_cap_counts_customer_facing_touches_in_window(policy: Policy) -> None:
    # Cap: 2 per account per 14 days.
    def ok(touches: list[Touch]) -> bool:
        return policy.evaluate(
            play_id="usage_drop_checkin",
            account=Acct(),
            recent_actions=touches,
            today=TODAY,
        ).allowed

    assert ok([touch(1, contact=2)])
    assert not ok([touch(1, contact=2), touch(13, contact=3)])
    assert ok([touch(1, contact=2), touch(14, contact=3)])  # 14 days ago is outside
    assert ok([touch(1, contact=2), touch(2, contact=3, facing=False)])  # internal notes
    blocked = policy.evaluate(
        play_id="usage_drop_checkin",
        account=Acct(),
        recent_actions=[touch(1, contact=2), touch(3, contact=3)],
        today=TODAY,
    )
    assert any(r.startswith("account frequency cap: 2 message(s)") for r in blocked.reasons)


def test_contact_cap(policy: Policy) -> None:
    # Cap: 1 per contact per 7 days.
    touches = [touch(3, contact=7)]

    def ok(contact: int) -> bool:
        return policy.evaluate(
            play_id="adoption_congrats",
            account=Acct(),
            recipient_contact=Person(contact),
            recent_actions=touches,
            today=TODAY,
        ).allowed

    assert not ok(7)
    assert ok(8)
    assert policy.evaluate(
        play_id="adoption_congrats",
        account=Acct(),
        recipient_contact=Person(7),
        recent_actions=[touch(7, contact=7)],
        today=TODAY,
    ).allowed


def test_caps_do_not_block_internal_plays(policy: Policy) -> None:
    many = [touch(d, contact=d) for d in range(5)]
    assert policy.evaluate(
        play_id="internal_escalation", account=Acct(), recent_actions=many, today=TODAY
    ).allowed


# ------------------------------------------------------------------ quiet list, top quartile


def test_never_touch(tmp_path: Path) -> None:
    pol = policy_with(tmp_path, never_touch=["acme"])
    facing = pol.evaluate(play_id="adoption_congrats", account=Acct(), today=TODAY)
    internal = pol.evaluate(play_id="internal_escalation", account=Acct(), today=TODAY)
    other = pol.evaluate(play_id="adoption_congrats", account=Acct("globex"), today=TODAY)
    assert not facing.allowed
    assert "account acme is on the never-touch list" in facing.reasons
    assert internal.allowed and internal.needs_approval
    assert other.auto_send


@pytest.mark.parametrize(
    ("play_id", "percentile", "allowed"),
    [
        ("usage_drop_checkin", 80.0, False),
        ("usage_drop_checkin", 75.0, False),
        ("usage_drop_checkin", 74.9, True),
        ("usage_drop_checkin", None, True),  # unknown health: rule not applied
        ("renewal_kickoff", 95.0, True),  # explicitly allowed for the top quartile
        ("internal_escalation", 99.0, True),  # internal: the customer is left alone anyway
    ],
)
def test_top_health_quartile_left_alone(
    policy: Policy, play_id: str, percentile: float | None, allowed: bool
) -> None:
    decision = policy.evaluate(
        play_id=play_id, account=Acct(), health_percentile=percentile, today=TODAY
    )
    assert decision.allowed is allowed, decision.reasons


def test_top_quartile_rule_can_be_switched_off(tmp_path: Path) -> None:
    pol = policy_with(tmp_path, leave_alone_top_health_quartile=False)
    assert pol.evaluate(
        play_id="usage_drop_checkin", account=Acct(), health_percentile=90, today=TODAY
    ).allowed


def test_health_percentile_out_of_range(policy: Policy) -> None:
    with pytest.raises(KeelError, match="outside 0-100"):
        policy.evaluate(play_id="save_plan", account=Acct(), health_percentile=1.5e2, today=TODAY)


def test_allowed_plays_for_the_planner(policy: Policy) -> None:
    decisions = policy.allowed_plays_for(
        account=Acct(), health_percentile=90.0, recent_actions=[], today=TODAY
    )
    assert [d.play_id for d in decisions] == [
        "exec_sponsor_briefing",
        "renewal_kickoff",
        "expansion_conversation",
        "adoption_congrats",
        "internal_escalation",
    ]
    narrowed = policy.allowed_plays_for(
        account=Acct(), today=TODAY, candidates=["save_plan", "usage_drop_checkin"]
    )
    assert [d.play_id for d in narrowed] == ["save_plan", "usage_drop_checkin"]


# ------------------------------------------------------------------------ load errors


def _mutate(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(default_doc())
    change(doc)
    return doc


BAD_POLICIES: list[tuple[str, Any, str, str]] = [
    (
        "unknown_top_key",
        _mutate(lambda d: d.update(frequency_cap={})),
        "frequency_cap",
        "unknown key",
    ),
    (
        "unknown_nested_key",
        _mutate(lambda d: d["frequency_caps"]["per_contact"].update(max=3)),
        "frequency_caps.per_contact.max",
        "unknown key",
    ),
    (
        "unknown_play_auto_send",
        _mutate(lambda d: d.update(auto_send_allowed=["adoption_congrats", "free_pizza"])),
        "auto_send_allowed[1]",
        "unknown play 'free_pizza'",
    ),
    (
        "unknown_play_tier",
        _mutate(lambda d: d["allowed_plays"].update(human_led=["save_plan", "sav_plan"])),
        "allowed_plays.human_led[1]",
        "unknown play 'sav_plan'",
    ),
    (
        "tier_typo",
        _mutate(lambda d: d["tiers"][3].update(tier="ai-led")),
        "tiers[3].tier",
        "'human_led', 'ai_assisted' or 'ai_led'",
    ),
    (
        "unknown_segment",
        _mutate(lambda d: d["tiers"][0].update(segments=["startup"])),
        "tiers[0].segments[0]",
        "'smb', 'mid_market' or 'enterprise'",
    ),
    (
        "max_below_min",
        _mutate(lambda d: d["tiers"][1].update(max_arr=100_000)),
        "tiers[1].max_arr",
        "must be above min_arr",
    ),
    (
        "save_play_auto_send",
        _mutate(lambda d: d.update(auto_send_allowed=["save_plan"])),
        "auto_send_allowed[0]",
        "save plays always need approval",
    ),
    (
        "medium_risk_auto_send",
        _mutate(lambda d: d.update(auto_send_allowed=["adoption_congrats", "billing_followup"])),
        "auto_send_allowed[1]",
        "billing_followup is medium risk",
    ),
    (
        "auto_send_not_allowed_in_tier",
        _mutate(lambda d: d["allowed_plays"].update(ai_led=["adoption_congrats"])),
        "auto_send_allowed[1]",
        "not in allowed_plays.ai_led",
    ),
    (
        "version_2",
        _mutate(lambda d: d.update(version=2)),
        "version",
        "unsupported policy version 2",
    ),
    (
        "missing_always_approve",
        _mutate(lambda d: d.pop("always_approve")),
        "always_approve",
        "required key is missing",
    ),
    (
        "zero_cap_days",
        _mutate(lambda d: d["frequency_caps"]["per_account"].update(days=0)),
        "frequency_caps.per_account.days",
        "greater than or equal to 1",
    ),
    (
        "bad_all",
        _mutate(lambda d: d["allowed_plays"].update(ai_led="everything")),
        "allowed_plays.ai_led",
        "expected 'all' or a list of play ids",
    ),
    (
        "missing_tier_plays",
        _mutate(lambda d: d["allowed_plays"].pop("ai_assisted")),
        "allowed_plays.ai_assisted",
        "every tier needs",
    ),
    (
        "negative_threshold",
        _mutate(lambda d: d["always_approve"].update(arr_threshold=-1)),
        "always_approve.arr_threshold",
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [case[1:] for case in BAD_POLICIES],
    ids=[case[0] for case in BAD_POLICIES],
)
def test_bad_policy_names_file_field_and_reason(
    tmp_path: Path, doc: Any, field: str, reason: str
) -> None:
    path = write_policy(tmp_path, doc, name="mine.yaml")
    with pytest.raises(ValidationFailed) as info:
        load_policy(path)
    matching = [p for p in info.value.problems if p.field == field]
    assert matching, [str(p) for p in info.value.problems]
    assert any(reason in p.reason for p in matching), [str(p) for p in matching]
    assert all(p.file == str(path) for p in info.value.problems)
    assert all(p.row is not None for p in matching)  # the line in the YAML file
    assert f"field '{field}'" in str(info.value)


def test_error_points_at_the_yaml_line(tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text().replace(
        "  - ticket_satisfaction_pulse\n  - internal_escalation",
        "  - ticket_satisfaction_pulse\n  - free_pizza",
    )
    path = write_policy(tmp_path, text)
    with pytest.raises(ValidationFailed) as info:
        load_policy(path)
    (problem,) = info.value.problems
    line = text.splitlines().index("  - free_pizza") + 1
    assert problem.row == line
    assert str(problem).startswith(f"{path}, row {line}, field 'auto_send_allowed[2]'")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("version: 1\ntiers: [\n", "not valid YAML"),
        ("- version: 1\n", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, reason: str) -> None:
    path = write_policy(tmp_path, text)
    with pytest.raises(ValidationFailed, match=reason) as info:
        load_policy(path)
    assert info.value.problems[0].file == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeelError, match=r"cannot read policy file .*absent\.yaml"):
        load_policy(tmp_path / "absent.yaml")


def test_the_top_quartile_reason_says_the_percentile_in_english(policy: Policy) -> None:
    # Seen in the demo's queue: "top health quartile (92th percentile)".
    for percentile, said in ((92.0, "92nd"), (91.0, "91st"), (93.0, "93rd"), (96.0, "96th")):
        decision = policy.evaluate(
            play_id="renewal_kickoff", account=Acct(), health_percentile=percentile, today=TODAY
        )
        reasons = " ".join(decision.reasons)
        assert f"({said} percentile)" in reasons, reasons
