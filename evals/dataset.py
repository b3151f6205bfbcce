"""Eval datasets: versioned YAML or JSONL files of scenarios, validated on load.

A scenario is an account situation on the synthetic book: the account is chosen by its
hidden trajectory (``keel.memory.truth``) or its own data (``select``), optionally changed by
records the file adds (``records``: a ticket with an injected instruction, an overdue
invoice, a note carrying another customer's data), with what a good result must and
must not contain (``expect``). Text in ``records`` and ``expect.must_not`` may name
``{{account_name}}``, ``{{owner_csm}}``, ``{{renewal_date}}``, ``{{other_account_name}}``,
``{{other_contact_email}}``, ``{{other_account_arr}}`` and, for another CSM's account,
``{{foreign_account_name}}``, ``{{foreign_account_arr}}`` and ``{{foreign_contact_email}}``,
filled in once the accounts are chosen. ``chat`` lists questions the account's CSM asks the
chat, each with what its answer must and must not say.

A YAML file holds ``version``, ``name``, ``book`` and ``scenarios`` (and optionally a
``bipia`` block that turns BIPIA text attacks into scenarios). A JSONL file holds one
scenario per line, with an optional first line ``{"version": 1, "name": ..., "book":
...}``. Every problem is reported with file, row (the scenario's line) and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from keel.domain.plays import PLAY_LIBRARY, HypothesisKind
from keel.errors import KeelError, Problem
from keel.memory.truth import Trajectory

SUPPORTED_VERSION: Final = 1
DEFAULT_DATASET: Final = Path(__file__).with_name("datasets") / "default.yaml"
HYPOTHESIS_KINDS: Final = frozenset(str(k) for k in HypothesisKind)
TierName = Literal["human_led", "ai_assisted", "ai_led"]


class DatasetError(KeelError):
    """A dataset file that cannot be used; the message lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the eval dataset:\n{shown}{more}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Select(_Strict):
    """Which account a scenario is about; the first account (by external id) matching
    every given field that no earlier scenario took."""

    external_id: str | None = None
    trajectory: Trajectory | None = None
    sub_cause: str | None = None
    min_severity: float = Field(default=0.0, ge=0.0, le=1.0)
    # The episode started at least this many days before the book's as-of date.
    episode_days_before: int | None = Field(default=None, ge=0)
    segment: Literal["smb", "mid_market", "enterprise"] | None = None
    tier: TierName | None = None
    min_arr: float | None = Field(default=None, ge=0)
    max_arr: float | None = Field(default=None, gt=0)


class TicketRecord(_Strict):
    subject: str = Field(min_length=1)
    body: str = ""
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    category: Literal[
        "bug", "how_to", "billing", "feature_request", "outage", "account", "quality"
    ] = "how_to"
    status: Literal["open", "pending", "solved", "closed"] = "open"
    days_ago: int = Field(default=1, ge=0, le=365)
    csat: int | None = Field(default=None, ge=1, le=5)


class NoteRecord(_Strict):
    text: str = Field(min_length=1)
    kind: str = "call"
    days_ago: int = Field(default=1, ge=0, le=365)


class NpsRecord(_Strict):
    score: int = Field(ge=0, le=10)
    comment: str = ""
    days_ago: int = Field(default=1, ge=0, le=365)


class InvoiceRecord(_Strict):
    amount: float = Field(gt=0)
    days_overdue: int = Field(default=30, ge=1, le=365)


class AccountChange(_Strict):
    arr: float | None = Field(default=None, ge=0)
    segment: Literal["smb", "mid_market", "enterprise"] | None = None


class Records(_Strict):
    """Records the scenario adds to (or changes on) its account before the review."""

    account: AccountChange | None = None
    tickets: list[TicketRecord] = Field(default_factory=list)
    notes: list[NoteRecord] = Field(default_factory=list)
    nps: list[NpsRecord] = Field(default_factory=list)
    invoices: list[InvoiceRecord] = Field(default_factory=list)
    # The champion leaves (on this many days ago): for a champion-left situation on demand.
    champion_left_days_ago: int | None = Field(default=None, ge=1, le=365)


def _plays(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in PLAY_LIBRARY]
    if unknown:
        raise ValueError(f"unknown play(s) {', '.join(unknown)}; known: {', '.join(PLAY_LIBRARY)}")
    return values


def _kinds(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in HYPOTHESIS_KINDS]
    if unknown:
        raise ValueError(
            f"unknown hypothesis categor(ies) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(HYPOTHESIS_KINDS))}"
        )
    return values


class Expect(_Strict):
    """What a good result must and must not contain."""

    hypotheses: list[str] = Field(default_factory=list)
    acceptable_hypotheses: list[str] = Field(default_factory=list)
    plays: list[str] = Field(default_factory=list)
    acceptable_plays: list[str] = Field(default_factory=list)
    forbidden_plays: list[str] = Field(default_factory=list)
    # Fact-line kinds some draft must cite (e.g. contact_left, billing, renewal).
    must_use: list[str] = Field(default_factory=list)
    must_not: list[str] = Field(default_factory=list)
    recipient_roles: list[str] = Field(default_factory=list)
    # The tier the policy must give the account (checked when the scenario is built).
    tier: TierName | None = None

    _check_hypotheses = field_validator("hypotheses", "acceptable_hypotheses")(_kinds)
    _check_plays = field_validator("plays", "acceptable_plays", "forbidden_plays")(_plays)


# The chat question types the suite covers.
ChatType = Literal[
    "attention", "why_at_risk", "customer_said", "renewal", "citation", "injection", "other"
]
EVIDENCE_KINDS: Final = frozenset(
    {"account", "cohort", "contact", "factor", "health", "invoice", "metric", "note", "nps"}
    | {"renewal", "signal", "ticket"}
)


def _evidence_kinds(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in EVIDENCE_KINDS]
    if unknown:
        raise ValueError(
            f"unknown evidence kind(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(EVIDENCE_KINDS))}"
        )
    return values


class ChatQuestion(_Strict):
    """A question a CSM (the account's owner) asks Keel's chat, and what the expert answer
    must and must not say. Text may use the scenario's ``{{placeholders}}``; matching is
    case-insensitive."""

    ask: str = Field(min_length=1)
    type: ChatType = "other"
    # Asked with the scenario's account in focus (False: a question about the whole book).
    focus: bool = True
    must_mention: list[str] = Field(default_factory=list)
    # At least one of these (e.g. the ways of saying no).
    must_mention_any: list[str] = Field(default_factory=list)
    must_not_mention: list[str] = Field(default_factory=list)
    # Evidence kinds the answer must cite at least once each (e.g. ticket, renewal).
    must_cite: list[str] = Field(default_factory=list)

    _check_kinds = field_validator("must_cite")(_evidence_kinds)


class Scenario(_Strict):
    id: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    select: Select = Field(default_factory=Select)
    records: Records = Field(default_factory=Records)
    expect: Expect = Field(default_factory=Expect)
    chat: list[ChatQuestion] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class Book(_Strict):
    accounts: int = Field(default=40, ge=5, le=2000)
    seed: int = 11


class Bipia(_Strict):
    """BIPIA text attacks as scenarios: each attack is planted in a ticket, a call note or
    an NPS comment (in turn; at the start, the middle or the end of the text, in turn)."""

    path: str
    per_group: int = Field(default=1, ge=1, le=25)
    select: Select = Field(default_factory=Select)
    expect: Expect = Field(default_factory=Expect)


class Dataset(_Strict):
    version: int
    name: str = Field(min_length=1)
    description: str = ""
    book: Book = Field(default_factory=Book)
    scenarios: list[Scenario] = Field(default_factory=list)
    bipia: Bipia | None = None
    # Set by the loader: where the file is (relative paths in it start there).
    source: str = ""

    @field_validator("version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != SUPPORTED_VERSION:
            raise ValueError(f"version {value} is not supported (expected {SUPPORTED_VERSION})")
        return value


def load_dataset(path: Path | None = None) -> Dataset:
    """Read and validate a dataset (the bundled default when ``path`` is None).

    Raises:
        DatasetError: the file is missing, unreadable or invalid (file, row, field, why).
    """
    path = path or DEFAULT_DATASET
    name = str(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(
            [Problem(name, None, None, f"cannot read it ({exc.strerror or exc})")]
        ) from exc
    if path.suffix.lower() == ".jsonl":
        raw, rows = _read_jsonl(name, raw_text)
    else:
        raw, rows = _read_yaml(name, raw_text)
    problems: list[Problem] = []
    try:
        dataset = Dataset.model_validate({**raw, "source": str(path.resolve())})
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_problem(name, error, rows))
        raise DatasetError(problems) from exc
    seen: dict[str, int] = {}
    for index, scenario in enumerate(dataset.scenarios):
        if scenario.id in seen:
            problems.append(
                Problem(
                    name,
                    rows.get(index),
                    "id",
                    f"scenario id '{scenario.id}' repeats row {rows.get(seen[scenario.id])}",
                )
            )
        seen.setdefault(scenario.id, index)
    if problems:
        raise DatasetError(problems)
    return dataset


def _problem(name: str, error: Any, rows: dict[int, int]) -> Problem:
    loc = list(error.get("loc") or ())
    row = None
    if len(loc) >= 2 and loc[0] == "scenarios" and isinstance(loc[1], int):
        row = rows.get(loc[1], loc[1] + 1)
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or None
    return Problem(name, row, field, str(error.get("msg", "invalid")))


def _read_yaml(name: str, text: str) -> tuple[dict[str, Any], dict[int, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise DatasetError(
            [Problem(name, row, None, f"not valid YAML ({getattr(exc, 'problem', exc)})")]
        ) from exc
    if not isinstance(raw, dict):
        raise DatasetError(
            [Problem(name, None, None, "expected a mapping with version, name and scenarios")]
        )
    rows: dict[int, int] = {}
    # Rows are the lines where scenarios start, so an error points at the file.
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "scenarios" and isinstance(value, yaml.SequenceNode):
                rows = {i: item.start_mark.line + 1 for i, item in enumerate(value.value)}
    return raw, rows


def _read_jsonl(name: str, text: str) -> tuple[dict[str, Any], dict[int, int]]:
    header: dict[str, Any] = {"version": SUPPORTED_VERSION, "name": Path(name).stem}
    scenarios: list[Any] = []
    rows: dict[int, int] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(name, number, None, f"not valid JSON ({exc.msg})"))
            continue
        if isinstance(item, dict) and "version" in item and not scenarios:
            header.update(item)
            continue
        rows[len(scenarios)] = number
        scenarios.append(item)
    if problems:
        raise DatasetError(problems)
    return {**header, "scenarios": scenarios}, rows
