"""The approval policy: a versioned YAML file, validated on load, evaluated in code.

The planner asks :meth:`Policy.allowed_plays` what it may propose and
:meth:`Policy.evaluate` whether a concrete action needs approval; the executor calls
:meth:`Policy.evaluate` again just before sending, so a policy change (or a tampered row)
between proposal and send cannot widen what goes out.

Inputs are small protocols (``AccountLike``, ``ContactLike``, ``RecentTouch``) so the
SQLModel rows fit and tests can pass plain objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from keel.domain.plays import PLAY_LIBRARY, Play
from keel.errors import KeelError, Problem, ValidationFailed
from keel.memory.actions import is_customer_facing
from keel.memory.models import Segment
from keel.text import ordinal

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.default.yaml")
SUPPORTED_VERSION = 1
TOP_QUARTILE_PERCENTILE = 75.0

TierName = Literal["human_led", "ai_assisted", "ai_led"]
TIERS: tuple[TierName, ...] = ("human_led", "ai_assisted", "ai_led")
AUTO_SEND_TIER: TierName = "ai_led"


class AccountLike(Protocol):
    @property
    def external_id(self) -> str: ...
    @property
    def segment(self) -> str: ...
    @property
    def arr(self) -> float: ...


class ContactLike(Protocol):
    @property
    def id(self) -> int | None: ...


class RecentTouch(Protocol):
    """A message to the account (``keel.memory.actions.Touch`` fits)."""

    @property
    def on(self) -> dt.date: ...
    @property
    def contact_id(self) -> int | None: ...
    @property
    def customer_facing(self) -> bool: ...


@dataclass(frozen=True)
class PolicyDecision:
    """The policy's answer for one play on one account; ``reasons`` lists every rule that fired."""

    play_id: str
    tier: TierName
    allowed: bool
    needs_approval: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def auto_send(self) -> bool:
        return self.allowed and not self.needs_approval


# ---------------------------------------------------------------------- YAML schema


def _known_play(play_id: str) -> str:
    if play_id not in PLAY_LIBRARY:
        raise ValueError(f"unknown play '{play_id}'; known plays: {', '.join(PLAY_LIBRARY)}")
    return play_id


def _all_or_list(value: Any) -> Any:
    if isinstance(value, str):
        if value != "all":
            raise ValueError("expected 'all' or a list of play ids")
        return list(PLAY_LIBRARY)
    return value


PlayId = Annotated[str, AfterValidator(_known_play)]
PlaySelection = Annotated[list[PlayId], BeforeValidator(_all_or_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierRule(_Strict):
    segments: list[Segment] = Field(min_length=1)
    min_arr: float = Field(default=0.0, ge=0)
    max_arr: float | None = Field(default=None, gt=0)
    tier: TierName

    def matches(self, account: AccountLike) -> bool:
        upper_ok = self.max_arr is None or account.arr < self.max_arr
        return str(account.segment) in {str(s) for s in self.segments} and (
            self.min_arr <= account.arr and upper_ok
        )

    def describe(self) -> str:
        bounds = f"ARR >= {self.min_arr:,.0f}" if self.min_arr else ""
        if self.max_arr is not None:
            bounds = (bounds + " and " if bounds else "") + f"ARR < {self.max_arr:,.0f}"
        segs = "/".join(str(s) for s in self.segments)
        return f"segment {segs}" + (f", {bounds}" if bounds else "")


class Cap(_Strict):
    max_touches: int = Field(ge=1)
    days: int = Field(ge=1)


class FrequencyCaps(_Strict):
    per_account: Cap | None = None
    per_contact: Cap | None = None


class DailyCaps(_Strict):
    """Limits on one day's work across the book (the nightly review holds them)."""

    # Plays drafted per CSM in one night, over all of their accounts (None: no limit);
    # accounts past it are still briefed, without drafts.
    daily_drafts_per_csm: int | None = Field(default=None, ge=0)


class EscalationTarget(_Strict):
    """Who an internal escalation goes to: someone who can help beyond the account's own
    CSM (who owns the account already), e.g. the CS leader or an escalation desk."""

    name: str = Field(min_length=1)
    # An e-mail address or a channel; empty: the CS team's configured channel.
    address: str = ""

    def is_owner(self, owner_csm: str) -> bool:
        """Whether this target is the account's own CSM (by address or name)."""
        owner = owner_csm.strip().lower()
        if not owner:
            return False
        return owner in {self.address.strip().lower(), self.name.strip().lower()}


# Where an escalation goes when the configured target is the account's own CSM.
TEAM_CHANNEL = EscalationTarget(name="the CS team channel", address="")


class AlwaysApprove(_Strict):
    plays: list[PlayId] = Field(default_factory=list)
    arr_threshold: float = Field(ge=0)


class Policy(_Strict):
    """A loaded, validated policy. Build it with :func:`load_policy`."""

    version: int
    default_tier: TierName
    tiers: list[TierRule]
    allowed_plays: dict[TierName, PlaySelection]
    auto_send_allowed: list[PlayId] = Field(default_factory=list)
    always_approve: AlwaysApprove
    frequency_caps: FrequencyCaps = Field(default_factory=FrequencyCaps)
    caps: DailyCaps = Field(default_factory=DailyCaps)
    never_touch: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    leave_alone_top_health_quartile: bool = True
    allowed_for_top_quartile: list[PlayId] = Field(default_factory=list)
    # Internal escalations go here, never to the account's own CSM.
    escalation: EscalationTarget = Field(
        default_factory=lambda: EscalationTarget(name="CS leadership")
    )
    # The only commercial offers (discounts, credits, waivers, SLA or legal terms) a play's
    # message may carry, in words a reviewer signed off; none by default. Checked by code
    # on the draft and again before sending, whatever the model wrote.
    approved_offers: dict[PlayId, list[Annotated[str, Field(min_length=1)]]] = Field(
        default_factory=dict
    )

    _source: str = PrivateAttr(default="<memory>")
    _digest: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """Where the policy was read from."""
        return self._source

    @property
    def digest(self) -> str:
        """sha256 of the policy file's bytes: which policy revision decided."""
        return self._digest

    def escalation_for(self, owner_csm: str) -> EscalationTarget:
        """Who an escalation about an account owned by ``owner_csm`` goes to: the
        configured target, or the CS team channel when that target is the owner."""
        if self.escalation.is_owner(owner_csm):
            return TEAM_CHANNEL
        return self.escalation

    def offers_for(self, play_id: str) -> list[str]:
        """The offers ``play_id``'s messages may make (usually none)."""
        return list(self.approved_offers.get(play_id, []))

    # ------------------------------------------------------------------ evaluation

    def tier_for(self, account: AccountLike) -> TierName:
        return self._match_tier(account)[0]

    def _match_tier(self, account: AccountLike) -> tuple[TierName, str]:
        for index, rule in enumerate(self.tiers):
            if rule.matches(account):
                return rule.tier, f"tier {rule.tier} (rule {index + 1}: {rule.describe()})"
        return self.default_tier, f"tier {self.default_tier} (no tier rule matched: default)"

    def evaluate(
        self,
        *,
        play_id: str,
        account: AccountLike,
        channel: str | None = None,
        recipient_contact: ContactLike | None = None,
        health_percentile: float | None = None,
        recent_actions: Sequence[RecentTouch] = (),
        today: dt.date,
    ) -> PolicyDecision:
        """Whether ``play_id`` may be done for ``account`` now, and whether a human approves.

        Args:
            play_id: A play from the library.
            account: The account (segment, ARR, external id).
            channel: The delivery channel; the play's default when None.
            recipient_contact: The contact addressed, for the per-contact cap.
            health_percentile: The account's health percentile in the book, 0-100 (100 =
                healthiest); None when unknown, and then the top-quartile rule is skipped.
            recent_actions: Messages to this account (sent, and for planning in flight).
            today: The day the action would go out; caps count the ``days`` before it.
        """
        tier, tier_reason = self._match_tier(account)
        play = PLAY_LIBRARY.get(play_id)
        if play is None:
            return PolicyDecision(play_id, tier, False, True, [f"unknown play '{play_id}'"])
        if health_percentile is not None and not 0 <= health_percentile <= 100:
            raise KeelError(f"health percentile {health_percentile} is outside 0-100")
        channel = channel or play.channel
        facing = is_customer_facing(channel)
        reasons = [tier_reason]
        blocked = False

        if channel not in play.channels:
            blocked = True
            allowed = ", ".join(play.channels)
            reasons.append(f"play {play_id} does not go out by {channel} (only {allowed})")
        never = account.external_id in self.never_touch
        if never and facing:
            blocked = True
            reasons.append(f"account {account.external_id} is on the never-touch list")
        elif never:
            reasons.append(
                f"account {account.external_id} is on the never-touch list: internal only, "
                "with approval"
            )
        if play_id not in self.allowed_plays.get(tier, []):
            blocked = True
            reasons.append(f"play {play_id} is not allowed in the {tier} tier")
        if (
            facing
            and self.leave_alone_top_health_quartile
            and health_percentile is not None
            and health_percentile >= TOP_QUARTILE_PERCENTILE
        ):
            if play_id in self.allowed_for_top_quartile:
                reasons.append(
                    f"top health quartile ({ordinal(health_percentile)} percentile): "
                    f"{play_id} is allowed there"
                )
            else:
                blocked = True
                reasons.append(
                    f"top health quartile ({ordinal(health_percentile)} percentile) is left alone "
                    f"and {play_id} is not allowed there"
                )
        if facing:
            blocked |= self._caps(recipient_contact, recent_actions, today, reasons)

        needs_approval = self._needs_approval(play, tier, facing, never, account, reasons)
        return PolicyDecision(play_id, tier, not blocked, needs_approval, reasons)

    def _caps(
        self,
        contact: ContactLike | None,
        touches: Sequence[RecentTouch],
        today: dt.date,
        reasons: list[str],
    ) -> bool:
        blocked = False
        caps = self.frequency_caps
        facing = [t for t in touches if t.customer_facing and t.on <= today]
        if caps.per_account is not None:
            since = today - dt.timedelta(days=caps.per_account.days)
            count = sum(1 for t in facing if t.on > since)
            if count >= caps.per_account.max_touches:
                blocked = True
                reasons.append(
                    f"account frequency cap: {count} message(s) in the last "
                    f"{caps.per_account.days} days (max {caps.per_account.max_touches})"
                )
        if caps.per_contact is not None and contact is not None and contact.id is not None:
            since = today - dt.timedelta(days=caps.per_contact.days)
            count = sum(1 for t in facing if t.on > since and t.contact_id == contact.id)
            if count >= caps.per_contact.max_touches:
                blocked = True
                reasons.append(
                    f"contact frequency cap: {count} message(s) to contact {contact.id} in the "
                    f"last {caps.per_contact.days} days (max {caps.per_contact.max_touches})"
                )
        return blocked

    def _needs_approval(
        self,
        play: Play,
        tier: TierName,
        facing: bool,
        never: bool,
        account: AccountLike,
        reasons: list[str],
    ) -> bool:
        needs = True
        if tier == AUTO_SEND_TIER and play.id in self.auto_send_allowed:
            needs = False
            reasons.append(f"{tier} tier may send {play.id} without approval")
        else:
            reasons.append(f"{tier} tier: {play.id} needs a human's approval")
        if play.kind == "save":
            needs = True
            reasons.append("save plays always need approval")
        if play.id in self.always_approve.plays:
            needs = True
            reasons.append(f"{play.id} is listed under always_approve.plays")
        if facing and account.arr > self.always_approve.arr_threshold:
            needs = True
            reasons.append(
                f"ARR {account.arr:,.0f} is above the approval threshold "
                f"{self.always_approve.arr_threshold:,.0f}"
            )
        if never:
            needs = True
        return needs

    def allowed_plays_for(
        self,
        *,
        account: AccountLike,
        health_percentile: float | None = None,
        recent_actions: Sequence[RecentTouch] = (),
        today: dt.date,
        candidates: Iterable[str] | None = None,
    ) -> list[PolicyDecision]:
        """The plays (default channel, any recipient) the planner may propose.

        ``candidates`` narrows the plays considered (e.g. those answering the hypotheses)
        and sets their order; library order otherwise.
        Per-contact caps are checked again once a recipient is chosen.
        """
        ids = list(PLAY_LIBRARY) if candidates is None else [p for p in candidates]
        decisions = [
            self.evaluate(
                play_id=play_id,
                account=account,
                health_percentile=health_percentile,
                recent_actions=recent_actions,
                today=today,
            )
            for play_id in ids
        ]
        return [d for d in decisions if d.allowed]


# ------------------------------------------------------------------------- loading


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file; the bundled default when ``path`` is None.

    Raises:
        KeelError: the file cannot be read.
        ValidationFailed: the YAML is malformed or breaks a rule; every problem names the
            file, the line, the field path and the reason.
    """
    path = path or DEFAULT_POLICY_PATH
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeelError(f"cannot read policy file {name}: {exc.strerror or exc}") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationFailed([Problem(name, line, None, f"not valid YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            [Problem(name, None, None, "the policy must be a YAML mapping (key: value lines)")]
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_problems_from(exc, name, root)) from None
    problems = _semantic_problems(policy, name, root)
    if problems:
        raise ValidationFailed(problems)
    policy._source = name
    policy._digest = hashlib.sha256(raw).hexdigest()
    return policy


def policy_from_settings(settings: Any) -> Policy:
    """The policy at ``settings.policy_path``, or the bundled default."""
    return load_policy(settings.policy_path)


def _field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += ("." if out else "") + part
    return out


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = key if part == loc[-1] else value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _reason(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _problems_from(exc: ValidationError, name: str, root: yaml.Node | None) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if p != "[key]"]
        problems.append(Problem(name, _line_of(root, loc), _field_path(loc) or None, _reason(err)))
    return problems


def _semantic_problems(policy: Policy, name: str, root: yaml.Node | None) -> list[Problem]:
    """Rules a schema cannot say: version, bounds, and what may be sent unapproved."""
    problems: list[Problem] = []

    def add(loc: list[int | str], reason: str) -> None:
        problems.append(Problem(name, _line_of(root, loc), _field_path(loc), reason))

    if policy.version != SUPPORTED_VERSION:
        add(["version"], f"unsupported policy version {policy.version}; Keel reads version 1")
    for index, rule in enumerate(policy.tiers):
        if rule.max_arr is not None and rule.max_arr <= rule.min_arr:
            add(
                ["tiers", index, "max_arr"],
                f"max_arr ({rule.max_arr:,.0f}) must be above min_arr ({rule.min_arr:,.0f})",
            )
    for tier in TIERS:
        if tier not in policy.allowed_plays:
            add(["allowed_plays", tier], "missing: every tier needs 'all' or a list of play ids")
    ai_led = set(policy.allowed_plays.get(AUTO_SEND_TIER, []))
    for index, play_id in enumerate(policy.auto_send_allowed):
        play = PLAY_LIBRARY[play_id]
        loc: list[int | str] = ["auto_send_allowed", index]
        if play.kind == "save":
            add(loc, f"{play_id} is a save play; save plays always need approval")
        elif play.risk != "low":
            add(loc, f"{play_id} is {play.risk} risk; only low-risk plays may go out unapproved")
        if play_id in policy.always_approve.plays:
            add(loc, f"{play_id} is also listed under always_approve.plays")
        if play_id not in ai_led:
            add(loc, f"{play_id} is not in allowed_plays.{AUTO_SEND_TIER}")
    return problems
