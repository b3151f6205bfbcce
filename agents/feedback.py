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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

from langgraph.store.base import BaseStore

from keel.agents.facts import INTERNAL_DRAFT_KINDS, lines_for_draft
from keel.agents.schemas import Draft
from keel.agents.step_requests import DraftRequest

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
                mentions.extend(_mentions(text))
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


# --------------------------------------------------------------------------- applying feedback
#
# A reviewer's answer ("drop the ticket ids", "shorter", "more formal", "mention the SSO
# fix", "remove the second paragraph") names what to change. :func:`parse_feedback` reads
# those asks; the offline model applies them to what it wrote (:func:`revising`, around its
# draft composer); for any model, :func:`checked_revision` then verifies by code what can
# be verified - named elements gone, a paragraph removed, a mention made, a shorter text -
# removes what is still there, and tells the reviewer what was not done. A fragment of the
# feedback is never pasted into the draft: a "mention" is made with a fact Keel holds, or
# reported as not done.

_ORDINALS: Final = {
    "first": 0,
    "1st": 0,
    "opening": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
    "final": -1,
    "closing": -1,
}
_REMOVE_VERB: Final = r"(?:drop|remove|delete|cut|lose|strip|take out|get rid of|leave out|omit)"
_PARAGRAPH_ASK: Final = re.compile(
    rf"\b{_REMOVE_VERB}\s+(?:the\s+)?(?P<which>{'|'.join(_ORDINALS)})\s+(?:paragraph|para)\b",
    re.I,
)
_IDS_ASK: Final = re.compile(
    rf"\b(?:{_REMOVE_VERB}|no|without|hide)\s+(?:all\s+)?(?:the\s+|those\s+|these\s+)?"
    r"(?P<kind>ticket|invoice|renewal|evidence|record|internal|reference|contact)?\s*"
    r"(?:ids?|numbers?|references?|refs?|citations?)\b",
    re.I,
)
_TOPIC_ASK: Final = re.compile(
    r"\b(?:(?:don't|do not|never|no need to|stop)\s+(?:mention|talk about|bring up|say anything"
    r" about|refer to)|"
    rf"{_REMOVE_VERB}\s+(?:the\s+)?(?:part|bit|line|lines|sentence|paragraph|section|mention)s?"
    r"\s+(?:about|on|mentioning|re))\s+(?P<what>[^.;,!?\n]{2,80})",
    re.I,
)
_DROP_ASK: Final = re.compile(rf"\b{_REMOVE_VERB}\s+(?P<what>[^.;,!?\n]{{2,80}})", re.I)
_FILLER: Final = frozenset(
    re.findall(
        r"\S+",
        "a an the this that these those it its our their your my his her them they we you "
        "i to of in on at by for with about and or but please also just maybe some any all "
        "more less fix fixed issue thing bit part line note mention say add include remind "
        "is was are be been will would can could should there here from as",
    )
)
# Citations and record ids a draft may carry: "[ticket:T-9]", "Ticket T-9:", "#45497".
_CITATION: Final = re.compile(r"\s*\[(?P<ids>[a-z_]+:[^\]\n]*)\]")
_TICKET_REF: Final = re.compile(r"\b[Tt]icket\s+(?:#?[A-Za-z]*-?\d[\w-]*|#\d+)\s*:?\s*")
_HASH_ID: Final = re.compile(r"\s*#\d{3,}\b")
_RECORD_ID: Final = re.compile(r"\b[a-z]{2,}-\d{3,}(?:-[a-z]+\d+)+\b")
_CONTRACTIONS: Final = (
    ("I'd", "I would"),
    ("I'm", "I am"),
    ("I'll", "I will"),
    ("I've", "I have"),
    ("we'll", "we will"),
    ("we're", "we are"),
    ("we've", "we have"),
    ("you're", "you are"),
    ("you'd", "you would"),
    ("you'll", "you will"),
    ("it's", "it is"),
    ("that's", "that is"),
    ("there's", "there is"),
    ("let's", "let us"),
    ("don't", "do not"),
    ("doesn't", "does not"),
    ("didn't", "did not"),
    ("isn't", "is not"),
    ("wasn't", "was not"),
    ("haven't", "have not"),
    ("can't", "cannot"),
    ("won't", "will not"),
)
_CASUAL_GREETING: Final = re.compile(r"^(?:Hi|Hello|Hey)\s+(?P<name>[^,\n—-]+?)\s*(?:[,—-].*)?$")
_CASUAL_CLOSING: Final = re.compile(r"^(?:Best|Thanks|Cheers|All the best|Warmly|Thank you),?$")
_SIGN_OFF: Final = re.compile(
    r"^(?:Best|Thanks|Cheers|All the best|Warmly|Kind regards|Regards|Thank you|Best regards)"
    r"[,!]?\s*(?:\n|$)"
)
_WORD: Final = re.compile(r"[A-Za-z0-9][\w'’/-]*")
MAX_BULLETS_WHEN_SHORTER: Final = 2


@dataclass(frozen=True)
class FeedbackAsks:
    """What one reviewer answer asks of the next draft, as code can apply and check it."""

    drop_ids: str | None = None  # "ticket", "invoice", ... or "any"
    drop_paragraphs: tuple[int, ...] = ()
    drop_topics: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    shorter: bool = False
    formal: bool = False
    warmer: bool = False

    def __bool__(self) -> bool:
        return any((self.drop_ids, self.drop_paragraphs, self.drop_topics, self.mentions)) or any(
            (self.shorter, self.formal, self.warmer)
        )


def parse_feedback(text: str) -> FeedbackAsks:
    """The asks in a reviewer's answer that code can apply ("drop the ticket ids",
    "remove the second paragraph", "don't mention the invoice", "mention the SSO fix",
    "shorter", "more formal")."""
    text = " ".join((text or "").split())
    ids = None
    for m in _IDS_ASK.finditer(text):
        kind = (m.group("kind") or "").lower()
        ids = kind if kind in ("ticket", "invoice", "renewal", "contact") else "any"
    paragraphs = tuple(
        dict.fromkeys(_ORDINALS[m.group("which").lower()] for m in _PARAGRAPH_ASK.finditer(text))
    )
    topics = [m.group("what").strip() for m in _TOPIC_ASK.finditer(text)]
    taken = [(m.start(), m.end()) for m in _TOPIC_ASK.finditer(text)]
    taken += [(m.start(), m.end()) for m in _IDS_ASK.finditer(text)]
    taken += [(m.start(), m.end()) for m in _PARAGRAPH_ASK.finditer(text)]
    taken += [(m.start(), m.end()) for m in _SHORTER.finditer(text)]
    for m in _DROP_ASK.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        what = re.split(r"\s+(?:and|but|then)\s+", m.group("what"), maxsplit=1)[0].strip()
        if _keywords(what):
            topics.append(what)
    mentions = _mentions(text)
    return FeedbackAsks(
        drop_ids=ids,
        drop_paragraphs=paragraphs,
        drop_topics=tuple(dict.fromkeys(t for t in topics if t)),
        mentions=tuple(dict.fromkeys(mentions)),
        shorter=bool(_SHORTER.search(text)),
        formal=bool(_FORMAL.search(text)) and not _WARMER.search(text),
        warmer=bool(_WARMER.search(text)) and not _FORMAL.search(text),
    )


def _mentions(text: str) -> list[str]:
    """What ``text`` asks to mention ("mention the SSO fix"), not what it asks to leave
    out ("don't mention the invoice")."""
    negated = [(m.start(), m.end()) for m in _TOPIC_ASK.finditer(text)]
    found = []
    for m in _MENTION.finditer(text):
        if any(a <= m.start() < b for a, b in negated):
            continue
        what = re.split(rf"\s+(?:and|but)\s+(?={_REMOVE_VERB}|make|keep)", m.group("what"))[0]
        if _keywords(what):
            found.append(what.strip())
    return found


def _keywords(text: str) -> list[str]:
    """The words of ``text`` that say what it is about ("the SSO fix" -> ["sso"])."""
    words = [w.casefold().strip("'’") for w in _WORD.findall(text or "")]
    return [w for w in words if w not in _FILLER and len(w) > 1]


def _has_keywords(text: str, keywords: Sequence[str]) -> bool:
    words = {w.casefold().strip("'’") for w in _WORD.findall(text)}
    stems = {w.rstrip("s") for w in words}
    return bool(keywords) and all(k in words or k.rstrip("s") in stems for k in keywords)


def paragraphs_of(body: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]


def _join(paragraphs: Sequence[str]) -> str:
    return "\n\n".join(paragraphs)


def _sign_off_index(paragraphs: Sequence[str]) -> int:
    """The index of the sign-off paragraph ("Best,\\nDana"), or len when there is none."""
    for i in range(len(paragraphs) - 1, 0, -1):
        if _SIGN_OFF.match(paragraphs[i].strip()):
            return i
    return len(paragraphs)


def drop_ids(text: str, kind: str) -> tuple[str, int]:
    """``text`` without record ids of ``kind`` ("any" for all); and how many went."""
    count = 0

    def citation(m: re.Match[str]) -> str:
        nonlocal count
        ids = [i.strip() for i in m.group("ids").split(",")]
        kept = [i for i in ids if kind != "any" and not i.startswith(f"{kind}:")]
        count += len(ids) - len(kept)
        return f" [{', '.join(kept)}]" if kept else ""

    text = _CITATION.sub(citation, text)
    if kind in ("ticket", "any"):
        text, n = _TICKET_REF.subn(_ticket_words, text)
        count += n
        text, n = _HASH_ID.subn("", text)
        count += n
    if kind == "any" or kind in ("invoice", "renewal", "contact", "ticket"):
        text, n = _RECORD_ID.subn("", text)
        count += n
    text = re.sub(
        r"^(\s*[-*]\s*)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text, flags=re.M
    )
    return re.sub(r"[ \t]{2,}", " ", text), count


def _ticket_words(match: re.Match[str]) -> str:
    # "Ticket T-9: high-priority bug ticket ..." -> "high-priority bug ticket ..."; a bare
    # "ticket #123" -> "the ticket ".
    return "" if match.group(0).rstrip().endswith(":") else "the ticket "


def _without_topic(paragraphs: list[str], keywords: Sequence[str]) -> tuple[list[str], int]:
    """Sentences and list lines about ``keywords`` removed (greeting and sign-off kept)."""
    removed = 0
    out: list[str] = []
    stop = _sign_off_index(paragraphs)
    for i, paragraph in enumerate(paragraphs):
        if i == 0 or i >= stop:
            out.append(paragraph)
            continue
        lines = []
        for line in paragraph.split("\n"):
            sentences = re.split(r"(?<=[.!?])\s+", line)
            kept = [s for s in sentences if not _has_keywords(s, keywords)]
            removed += len(sentences) - len(kept)
            if kept and " ".join(kept).strip():
                lines.append(" ".join(kept))
        if lines and not all(line.rstrip().endswith(":") for line in lines):
            out.append("\n".join(lines))
    return out, removed


def _formal(body: str) -> str:
    paragraphs = paragraphs_of(body)
    if paragraphs:
        greeting = _CASUAL_GREETING.match(paragraphs[0].strip())
        if greeting:
            paragraphs[0] = f"Dear {greeting.group('name').strip()},"
    stop = _sign_off_index(paragraphs)
    if stop < len(paragraphs):
        first, _, rest = paragraphs[stop].partition("\n")
        if _CASUAL_CLOSING.match(first.strip()):
            paragraphs[stop] = f"Kind regards,\n{rest}" if rest else "Kind regards,"
    text = _join(paragraphs)
    for short, full in _CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text)
        text = re.sub(rf"\b{re.escape(short.capitalize())}\b", full.capitalize(), text)
    return text.replace("!", ".")


def _shorten(body: str, previous: str) -> str:
    """Fewer words than ``previous``: list lines trimmed, then the opening paragraph."""
    limit = len(previous.split()) if previous else None
    paragraphs = paragraphs_of(body)
    out = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        bullets = [line for line in lines if line.lstrip().startswith(("-", "*"))]
        if len(bullets) > MAX_BULLETS_WHEN_SHORTER:
            extra = set(bullets[MAX_BULLETS_WHEN_SHORTER:])
            lines = [line for line in lines if line not in extra]
        out.append("\n".join(lines))
    opening = out[1] if len(out) > 3 else ""
    is_prose = opening and not any(
        line.lstrip().startswith(("-", "*")) for line in opening.split("\n")
    )
    if limit is not None and len(_join(out).split()) >= limit and is_prose:
        del out[1]  # the opening paragraph after the greeting (never the facts or the ask)
    return _join(out)


def _fact_for(mention: str, lines: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    keywords = _keywords(mention)
    best, score = None, 0
    for line in lines:
        words = {w.casefold() for w in _WORD.findall(str(line.get("text") or ""))}
        hits = sum(1 for k in keywords if k in words or k.rstrip("s") in words)
        if hits > score:
            best, score = line, hits
    return best


def apply_feedback(
    subject: str,
    body: str,
    asks: FeedbackAsks,
    *,
    previous_body: str = "",
    fact_lines: Sequence[Mapping[str, Any]] = (),
    internal: bool = False,
) -> tuple[str, str, list[str]]:
    """The offline model's revision: ``asks`` applied to the draft it wrote.

    Returns the subject, the body and what was done or could not be done (for the
    reviewer). A mention is made only with a fact line; none is pasted from the feedback.
    """
    notes: list[str] = []
    paragraphs = paragraphs_of(body)
    before = paragraphs_of(previous_body)
    for index in asks.drop_paragraphs:
        named = _nth(before, index) if before else None
        if named is not None and named in paragraphs:
            paragraphs.remove(named)
            notes.append(f"removed the paragraph the reviewer named ({_ordinal(index)})")
            continue
        if before and len(paragraphs) != len(before):
            # The new text is laid out differently (a shorter draft already left it out):
            # the paragraph the reviewer read is not there to remove.
            continue
        stop = _sign_off_index(paragraphs)
        candidates = list(range(0, stop))
        if candidates and -len(candidates) <= index < len(candidates):
            del paragraphs[candidates[index]]
            notes.append(f"removed the {_ordinal(index)} paragraph")
    for topic in asks.drop_topics:
        paragraphs, n = _without_topic(paragraphs, _keywords(topic))
        if n:
            notes.append(f"removed {n} sentence(s) about {topic!r}")
    for mention in asks.mentions:
        text = _join(paragraphs)
        if _has_keywords(text, _keywords(mention)):
            continue
        fact = _fact_for(mention, fact_lines)
        if fact is None:
            notes.append(f"no fact on record for {mention!r}: not added")
            continue
        words = str(fact.get("text") or "").rstrip(" .")
        cite = f" [{fact.get('id')}]" if internal and fact.get("id") else ""
        sentence = f"Also: {words}{cite}."
        stop = _sign_off_index(paragraphs)
        # Before the ask (the paragraph before the sign-off), or at the end.
        at = max(1, stop - 1) if stop < len(paragraphs) else len(paragraphs)
        paragraphs.insert(at, sentence)
        notes.append(f"mentioned {mention!r} from {fact.get('id')}")
    body = _join(paragraphs)
    if asks.drop_ids:
        body, n = drop_ids(body, asks.drop_ids)
        subject, m = drop_ids(subject, asks.drop_ids)
        if n + m:
            notes.append(f"removed {n + m} {_ids_name(asks.drop_ids)}")
    if asks.formal:
        body = _formal(body)
    if asks.shorter:
        body = _shorten(body, previous_body)
    return subject.strip(), body, notes


def _nth(items: Sequence[str], index: int) -> str | None:
    try:
        return items[index]
    except IndexError:
        return None


def _ordinal(index: int) -> str:
    return "last" if index < 0 else ("first", "second", "third", "fourth", "fifth")[index]


def _ids_name(kind: str) -> str:
    return "record ids" if kind == "any" else f"{kind} ids"


def checked_revision(
    subject: str, body: str, feedback: str, *, previous_body: str = ""
) -> tuple[str, str, list[str]]:
    """What any model's revision did with ``feedback``, checked by code.

    Named ids still there, a named paragraph still there word for word, or a sentence
    still about a topic to drop are removed; a fragment of the feedback pasted into the
    body is removed; a mention not made, or a text not shorter, is reported. Returns the
    subject, the body and the reasons for the reviewer (empty when all was done).
    """
    asks = parse_feedback(feedback)
    problems: list[str] = []
    if asks.drop_ids:
        body, n = drop_ids(body, asks.drop_ids)
        subject, m = drop_ids(subject, asks.drop_ids)
        if n + m:
            problems.append(
                f"the reviewer asked to drop the {_ids_name(asks.drop_ids)}: Keel removed "
                f"{n + m} the revision still had"
            )
    paragraphs = paragraphs_of(body)
    before = paragraphs_of(previous_body)
    for index in asks.drop_paragraphs:
        named = _nth(before, index)
        if named is not None and named in paragraphs:
            paragraphs.remove(named)
            problems.append(
                f"the reviewer asked to remove the {_ordinal(index)} paragraph: Keel removed it"
            )
    for topic in asks.drop_topics:
        paragraphs, n = _without_topic(paragraphs, _keywords(topic))
        if n:
            problems.append(
                f"the reviewer asked to drop {topic!r}: Keel removed {n} sentence(s) about it"
            )
    pasted = _pasted(paragraphs, feedback)
    if pasted:
        paragraphs = [p for p in paragraphs if p not in pasted]
        problems.append("words copied from the reviewer's feedback were removed from the draft")
    body = _join(paragraphs)
    for mention in asks.mentions:
        if not _has_keywords(body, _keywords(mention)):
            problems.append(
                f"the reviewer asked to mention {mention!r}: the revision does not (no fact "
                "on record for it); edit the draft to add it"
            )
    if asks.shorter and previous_body and len(body.split()) >= len(previous_body.split()):
        problems.append(
            f"the reviewer asked for a shorter draft: {len(previous_body.split())} -> "
            f"{len(body.split())} words"
        )
    return subject, body, problems


_PASTE_WORDS: Final = 4


def _pasted(paragraphs: Sequence[str], feedback: str) -> list[str]:
    """Paragraphs that repeat a run of the feedback's words (a fragment pasted in)."""
    words = [w.casefold() for w in _WORD.findall(feedback)]
    runs = {" ".join(words[i : i + _PASTE_WORDS]) for i in range(len(words) - _PASTE_WORDS + 1)}
    if not runs:
        return []
    found = []
    for paragraph in paragraphs[1:]:
        said = " ".join(w.casefold() for w in _WORD.findall(paragraph))
        if any(run in said for run in runs):
            found.append(paragraph)
    return found


def revising(compose: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The offline model's draft composer with reviewer feedback applied to what it writes.

    The composer gets the request without "mention" hints (it would paste them); each is
    made here with a fact line, or left out and reported by :func:`checked_revision`.
    """

    def compose_revision(ask: Any) -> Any:
        request = ask.facts_as(DraftRequest)
        hints = dict(request.hints or {})
        remembered = [str(m) for m in hints.get("mentions") or []]
        asks = parse_feedback(request.feedback or "")
        if not remembered and not asks:
            return compose(ask)
        hints["mentions"] = []
        inner = replace(ask, facts=request.model_copy(update={"hints": hints}))
        content = compose(inner)
        written = dict(content if isinstance(content, Mapping) else content.model_dump())
        asks = replace(asks, mentions=tuple(dict.fromkeys([*remembered, *asks.mentions])))
        previous = request.previous or {}
        subject, body, notes = apply_feedback(
            str(written.get("subject") or ""),
            str(written.get("body") or ""),
            asks,
            previous_body=str(previous.get("body") or ""),
            fact_lines=lines_for_draft(request.fact_lines, request.kind),
            internal=request.kind in INTERNAL_DRAFT_KINDS,
        )
        facts_used = [
            f for f in written.get("facts_used") or [] if not str(f).startswith("reviewer feedback")
        ]
        written.update(
            subject=subject,
            body=body,
            facts_used=facts_used + [f"reviewer feedback: {n}" for n in notes],
        )
        return written

    return compose_revision


def revision_checked(
    draft: Draft, feedback: str | None, previous: Mapping[str, Any] | None
) -> Draft:
    """``draft`` (a revision after ``feedback``) as :func:`checked_revision` leaves it; what
    was not done, or was done by code, goes to the reviewer with the content notes."""
    if not feedback:
        return draft
    subject, body, problems = checked_revision(
        draft.subject,
        draft.body,
        feedback,
        previous_body=str((previous or {}).get("body") or ""),
    )
    if not problems and subject == draft.subject and body == draft.body:
        return draft
    return draft.model_copy(
        update={
            "subject": subject or draft.subject,
            "body": body,
            "content_problems": list(dict.fromkeys([*draft.content_problems, *problems])),
        }
    )
