"""What one scenario produced, in the shape the scorers read, and what they return.

The collector (:mod:`keel.evals.collect`) fills an :class:`Outcome` from the review thread and
the database; scorers are pure functions of it (unit tests build one by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CUSTOMER = "customer"
INTERNAL = "internal"


@dataclass(frozen=True)
class Span:
    """An offending piece of an artefact: ``artefact`` names it (``draft:save_plan``,
    ``briefing``); ``start``/``end`` index its ``text`` (-1 when it is not in the text,
    e.g. something the content gate already removed)."""

    artefact: str
    text: str
    start: int
    end: int
    why: str

    def as_json(self) -> dict[str, Any]:
        return {
            "artefact": self.artefact,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "why": self.why,
        }


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one scenario: ``score`` in [0, 1], a reason a person can
    read, and the spans it objects to. ``applicable`` is False when there was nothing to
    judge (no draft, no expected hypothesis): such a score is left out of means and gates."""

    scorer: str
    score: float
    reason: str
    spans: tuple[Span, ...] = ()
    applicable: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "score": round(self.score, 4),
            "reason": self.reason,
            "applicable": self.applicable,
            "spans": [s.as_json() for s in self.spans],
        }


@dataclass(frozen=True)
class Artefact:
    """One thing a reader sees: a draft (``kind`` email, exec_brief, internal_note, slack),
    the briefing (``kind`` briefing) or the meeting-prep brief (``kind`` meeting_prep),
    with what it was given to write from.

    Attributes:
        key: ``draft:<play>``, ``briefing`` or ``meeting_prep``.
        text: What is read, subject and body joined (``Subject: ...`` first line for
            drafts): spans index this.
        audience: ``customer`` or ``internal``.
        given: The fact lines it was handed (``id``, ``text``, ``kind``).
        given_texts: Other text it was handed (hypothesis, rationale, account fields).
        cited: Evidence ids it cites, in order.
        recipients: Addresses it goes to (drafts).
        recipient_contact_id: The contact it is addressed to (customer drafts).
        recipient_name: Whom it greets.
        removed: What Keel's content gate removed from it, one reason each.
    """

    key: str
    kind: str
    text: str
    audience: str
    play: str | None = None
    given: tuple[dict[str, str], ...] = ()
    given_texts: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    recipient_contact_id: int | None = None
    recipient_name: str = ""
    removed: tuple[str, ...] = ()
    status: str = ""

    @property
    def body(self) -> str:
        """The text after the subject line."""
        head, sep, rest = self.text.partition("\n")
        return rest if sep and head.startswith("Subject: ") else self.text

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "play": self.play,
            "audience": self.audience,
            "status": self.status,
            "text": self.text,
            "recipients": list(self.recipients),
            "recipient_name": self.recipient_name,
            "cited": list(self.cited),
            "removed": list(self.removed),
        }


@dataclass(frozen=True)
class ChatAnswer:
    """One chat question the scenario's CSM asked, the checked answer they read, and what
    the expert answer must and must not say (placeholders filled in).

    Attributes:
        text: The answer after the chat's citation check ('' when it failed: ``error``).
        cited: The evidence ids it cites.
        removed: Ids the citation check took out (the model cited what it may not).
        unsupported: Sentences stating a number with no source (marked by the check).
        owners: The CSM owning each cited record; None for a computed id (a health score,
            a metric), ``"?"`` for a record id that names nothing.
    """

    question: str
    type: str
    text: str
    user: str = ""
    focus: bool = True
    error: str = ""
    cited: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    owners: dict[str, str | None] = field(default_factory=dict)
    must_mention: tuple[str, ...] = ()
    must_mention_any: tuple[str, ...] = ()
    must_not_mention: tuple[str, ...] = ()
    must_cite: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "type": self.type,
            "focus": self.focus,
            "text": self.text,
            "error": self.error,
            "cited": list(self.cited),
            "removed": list(self.removed),
            "unsupported": list(self.unsupported),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Expected:
    """What a good result must and must not contain (from the scenario file)."""

    hypotheses: tuple[str, ...] = ()
    acceptable_hypotheses: tuple[str, ...] = ()
    plays: tuple[str, ...] = ()
    acceptable_plays: tuple[str, ...] = ()
    forbidden_plays: tuple[str, ...] = ()
    must_use: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    recipient_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """Everything the scorers read about one scenario's review.

    Attributes:
        account: ``id``, ``external_id``, ``name``, ``owner_csm``, ``owner_name``.
        contacts: The account's contacts (``id``, ``name``, ``email``, ``role``,
            ``left_company``).
        facts: The analyst's facts (``keel.agents.facts.build_facts``), incl. ``fact_lines``.
        hypotheses: The briefing's hypotheses (``id``, ``kind``, ``category``, ...).
        plays: The planned plays' ids, in plan order.
        artefacts: The briefing and every draft.
        records: Text and owning account id of every record an artefact cites, by
            evidence id (``None`` account: not a record of any account).
        allowlist: Link prefixes a draft may carry.
        approved_offers: Offers each play may make, by play id.
        chat: The scenario's chat questions and their checked answers.
    """

    scenario: str
    account: dict[str, Any]
    contacts: tuple[dict[str, Any], ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    hypotheses: tuple[dict[str, Any], ...] = ()
    plays: tuple[str, ...] = ()
    artefacts: tuple[Artefact, ...] = ()
    records: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    allowlist: tuple[str, ...] = ()
    approved_offers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expected: Expected = field(default_factory=Expected)
    errors: tuple[str, ...] = ()
    chat: tuple[ChatAnswer, ...] = ()

    @property
    def drafts(self) -> list[Artefact]:
        return [a for a in self.artefacts if a.key.startswith("draft:")]

    @property
    def briefing(self) -> Artefact | None:
        return next((a for a in self.artefacts if a.kind == "briefing"), None)
