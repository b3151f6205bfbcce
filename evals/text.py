"""Small text helpers the scorers share: sentences with their spans, citations, words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from keel.agents.offline import OFFLINE_NOTICE

# One sentence ends at . ! ? followed by space, or at a line break (list items are
# sentences of their own). Dots inside numbers and ids do not end one.
_SENTENCE: Final = re.compile(r"[^\n]+?(?:[.!?](?=\s)|$)", re.M)
_CITATION: Final = re.compile(r"\[([^\[\]\n]{1,200})\]")
_EVIDENCE_ID: Final = re.compile(r"^[a-z_]+:[^\s,]+$|^[\w.-]+:(?:risk|expansion):[\w:.-]+$")
_WORD: Final = re.compile(r"[a-zà-ÿ][a-zà-ÿ'-]{2,}", re.I)
STOPWORDS: Final = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "your",
        "you",
        "our",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "all",
        "any",
        "can",
        "its",
        "it's",
        "into",
        "over",
        "than",
        "then",
        "them",
        "they",
        "their",
        "there",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "would",
        "could",
        "should",
        "about",
        "after",
        "before",
        "between",
        "since",
        "still",
        "also",
        "just",
        "very",
        "more",
        "most",
        "some",
        "such",
        "only",
        "been",
        "being",
        "here",
        "is",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "as",
        "an",
        "or",
        "be",
        "we",
        "us",
        "me",
        "i'm",
        "i'd",
        "let's",
        "per",
        "via",
        "off",
        "out",
        "up",
    ]
)
# The offline model's honest label: it names a "model" on purpose, and is not a claim.
NOTICES: Final = (OFFLINE_NOTICE, "Revised after reviewer feedback.")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def sentences(text: str) -> Iterator[Sentence]:
    """Sentences and list items of ``text`` with their spans (blank ones skipped)."""
    for m in _SENTENCE.finditer(text):
        raw = m.group(0)
        stripped = raw.strip(" \t-*•")
        if len(stripped) < 2:
            continue
        start = m.start() + raw.index(stripped)
        yield Sentence(stripped, start, start + len(stripped))


def citations(text: str) -> list[tuple[str, int, int]]:
    """``(evidence id, start, end)`` for every id cited in brackets (``[a]``, ``[a, b]``)."""
    found = []
    for m in _CITATION.finditer(text):
        offset = m.start(1)
        for part in m.group(1).split(","):
            ident = part.strip()
            if ident and _EVIDENCE_ID.match(ident):
                at = m.group(1).index(part) + part.index(ident)
                found.append((ident, offset + at, offset + at + len(ident)))
    return found


def without_citations(text: str) -> str:
    """``text`` with bracketed citations blanked (same length)."""
    return _CITATION.sub(lambda m: " " * len(m.group(0)), text)


def without_notices(text: str) -> str:
    """``text`` with Keel's model notices blanked (same length, so spans stay true)."""
    for notice in NOTICES:
        text = text.replace(notice, " " * len(notice))
    return text


def content_words(text: str) -> set[str]:
    """Lower-cased words of three letters or more that are not stop words, a plural's
    final s dropped (``invoices`` and ``invoice`` are one word)."""
    words = {w.lower().strip("'-") for w in _WORD.findall(without_citations(text))}
    return {_stem(w) for w in words if w and w not in STOPWORDS}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
