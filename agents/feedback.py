"""Reviewer feedback remembered in the LangGraph store and read back to shape later drafts.

Every edit, answer (respond) and rejection a reviewer makes is saved twice: under the
account (``("keel", "feedback", "account", <id>)``) and under the play
(``("keel", "feedback", "play", <play>)``), keyed by the action id so a node that re-runs
after a crash overwrites rather than duplicates. The drafter recalls the notes for its
account and play (the account's first, then the play's across the book) and gets them as
readable guidance lines for a model and as :class:`StyleHints` that code (and the offline
model) can apply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from langgraph.store.base import BaseStore

FeedbackKind = Literal["edit", "respond", "reject"]
ROOT: Final = ("keel", "feedback")
MAX_TEXT: Final = 4000
DEFAULT_RECALL: Final = 5

_SHORTER = re.compile(r"\b(shorter|concise|brief|too long|trim|cut it down|fewer words)\b", re.I)
_FORMAL = re.compile(r"\b(more formal|formal tone|too casual|less casual)\b", re.I)
_WARMER = re.compile(r"\b(warmer|friendlier|less formal|more casual|too formal|too stiff)\b", re.I)
# "mention the QBR on Friday", "add that we ship SSO in May", "include the renewal date".
_MENTION = re.compile(
    r"\b(?:mention|add|include|say|note|remind them)\b(?:\s+that)?\s+(?P<what>[^.;!\n]{3,160})",
    re.I,
)


@dataclass(frozen=True)
class FeedbackNote:
    """One reviewer decision worth remembering."""

    kind: FeedbackKind
    account_id: int
    play: str
    user: str
    action_id: str
    message: str | None = None
    subject_before: str = ""
    subject_after: str = ""
    body_before: str = ""
    body_after: str = ""
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_value(self) -> dict[str, Any]:
        value = asdict(self)
        for key in ("body_before", "body_after", "message"):
            if isinstance(value[key], str):
                value[key] = value[key][:MAX_TEXT]
        return value

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> FeedbackNote:
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def describe(self) -> str:
        """One guidance line for a prompt."""
        if self.kind == "respond":
            return f'Reviewer {self.user} asked for changes: "{self.message}"'
        if self.kind == "reject":
            reason = f': "{self.message}"' if self.message else ""
            return f"Reviewer {self.user} rejected a {self.play} draft{reason}"
        parts = []
        if self.subject_after and self.subject_after != self.subject_before:
            parts.append(f'subject changed to "{self.subject_after}"')
        before, after = len(self.body_before.split()), len(self.body_after.split())
        if self.body_after and self.body_after != self.body_before:
            parts.append(f"body rewritten ({before} -> {after} words)")
        return f"Reviewer {self.user} edited a {self.play} draft: " + (
            "; ".join(parts) or "minor changes"
        )


@dataclass(frozen=True)
class StyleHints:
    """What remembered feedback asks of the next draft, in a form code can apply."""

    shorter: bool = False
    formal: bool = False
    warmer: bool = False
    mentions: tuple[str, ...] = ()
    preferred_subject: str | None = None
    avoid: tuple[str, ...] = ()

    def as_facts(self) -> dict[str, Any]:
        return {
            "shorter": self.shorter,
            "formal": self.formal,
            "warmer": self.warmer,
            "mentions": list(self.mentions),
            "preferred_subject": self.preferred_subject,
            "avoid": list(self.avoid),
        }


def account_namespace(account_id: int) -> tuple[str, ...]:
    return (*ROOT, "account", str(account_id))


def play_namespace(play: str) -> tuple[str, ...]:
    return (*ROOT, "play", play)


def remember(store: BaseStore, note: FeedbackNote) -> None:
    """Save ``note`` under its account and its play (idempotent per action and kind)."""
    key = f"{note.action_id}:{note.kind}"
    value = note.to_value()
    store.put(account_namespace(note.account_id), key, value, index=False)
    store.put(play_namespace(note.play), key, value, index=False)


def recall(
    store: BaseStore, *, account_id: int, play: str, limit: int = DEFAULT_RECALL
) -> list[FeedbackNote]:
    """Notes for this account and play first, then for the play on other accounts; newest first."""
    own = [
        FeedbackNote.from_value(item.value)
        for item in store.search(account_namespace(account_id), filter={"play": play}, limit=50)
    ]
    others = [
        FeedbackNote.from_value(item.value)
        for item in store.search(play_namespace(play), limit=50)
        if item.value.get("account_id") != account_id
    ]
    own.sort(key=lambda n: n.at, reverse=True)
    others.sort(key=lambda n: n.at, reverse=True)
    return (own + others)[:limit]


def guidance_lines(notes: Iterable[FeedbackNote]) -> list[str]:
    return [note.describe() for note in notes]


def style_hints(notes: Iterable[FeedbackNote], *, account_id: int) -> StyleHints:
    """Turn remembered notes into hints; this account's notes decide the preferred subject."""
    shorter = formal = warmer = False
    mentions: list[str] = []
    avoid: list[str] = []
    subject: str | None = None
    for note in notes:
        text = note.message or ""
        if note.kind == "respond":
            shorter |= bool(_SHORTER.search(text))
            formal |= bool(_FORMAL.search(text))
            warmer |= bool(_WARMER.search(text))
            if note.account_id == account_id:
                mentions.extend(m.group("what").strip() for m in _MENTION.finditer(text))
        elif note.kind == "edit":
            if note.body_after and len(note.body_after.split()) < 0.8 * len(
                note.body_before.split()
            ):
                shorter = True
            changed = note.subject_after and note.subject_after != note.subject_before
            if subject is None and note.account_id == account_id and changed:
                subject = note.subject_after
        elif note.kind == "reject" and text:
            avoid.append(text)
    return StyleHints(
        shorter=shorter,
        formal=formal and not warmer,
        warmer=warmer and not formal,
        mentions=tuple(dict.fromkeys(mentions)),
        preferred_subject=subject,
        avoid=tuple(dict.fromkeys(avoid)),
    )


def feedback_hints(text: str) -> StyleHints:
    """Hints from one reviewer answer (a redraft request), for the drafter's revision."""
    note = FeedbackNote(kind="respond", account_id=0, play="", user="", action_id="", message=text)
    return style_hints([note], account_id=0)
