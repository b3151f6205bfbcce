"""Find where a text written by a model repeats customer-written text.

A model that read a ticket, a call note or an NPS comment can copy its words into a
briefing, a rationale or a draft: after an injection, those words are the attacker's. Code
cannot tell a good quotation from a planted instruction, so it never lets one pass as
Keel's own voice: a span that repeats customer text is shown only as a marked quotation
(:func:`mark_quotes`), and a draft that quotes customer text never goes out without a
human.

A quotation is a run of at least ``min_words`` consecutive words (case and punctuation
ignored) that also occurs in one of the sources. Short phrases ("the SSO login") are
ordinary vocabulary, not quotations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

MIN_QUOTE_WORDS: Final = 8
# A whole sentence of the source this long or longer counts too ("Explain the theory of
# relativity."): an instruction is often one short sentence.
MIN_SENTENCE_WORDS: Final = 4
_SENTENCE_END = re.compile(r"[.!?\n]+")
# Field-like names (``needs_approval``, ``sendNow``): ordinary prose has none, so one copied
# from customer text is a quotation however short (a planted "needs_approval: false").
_IDENTIFIER = re.compile(r"\b[A-Za-z]+(?:_[A-Za-z0-9]+)+\b|\b[a-z]+(?:[A-Z][a-z0-9]+)+\b")
# Letters and digits, Unicode-aware; an apostrophe inside a word stays in it.
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


@dataclass(frozen=True)
class Quote:
    """A span of the text, ``text[start:end]``, that repeats the source ``source_id``."""

    start: int
    end: int
    source_id: str


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0).casefold(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _plain_words(text: str) -> list[str]:
    """The words of ``text`` without their positions (what an index of sources needs)."""
    return [w.casefold() for w in _WORD.findall(text)]


@dataclass(frozen=True)
class _SourceIndex:
    # Runs of ``min_words``, and whole short sentences, keyed by their length.
    grams: dict[int, dict[tuple[str, ...], str]]
    # Each source's words, space-joined and padded: a short sentence of the text that a
    # source says word for word (an instruction glued onto the customer's own sentence)
    # is found in it.
    said_by: dict[str, str]
    identifiers: dict[str, str]
    # Every ``said_by`` key in one string (NUL between them, which no needle holds), so a
    # sentence no source says is ruled out with one search instead of one per source.
    said_all: str = ""


# One index per source list, kept for the next few calls: the same account's sources are
# checked against every field of a briefing and every draft of a review, and building the
# index is most of the cost. A pure function of its arguments, so sharing it is safe.
@lru_cache(maxsize=8)
def _source_index(sources: tuple[tuple[str, str], ...], min_words: int) -> _SourceIndex:
    grams: dict[int, dict[tuple[str, ...], str]] = {}
    said_by: dict[str, str] = {}
    identifiers: dict[str, str] = {}
    runs = grams.setdefault(min_words, {})
    for source_id, source in sources:
        # Words never span a sentence end, so the source's words are its sentences' words.
        sentences = [_plain_words(s) for s in _SENTENCE_END.split(source or "")]
        words = [w for said in sentences for w in said]
        for i in range(len(words) - min_words + 1):
            runs.setdefault(tuple(words[i : i + min_words]), source_id)
        for said in sentences:
            if MIN_SENTENCE_WORDS <= len(said) < min_words:
                grams.setdefault(len(said), {}).setdefault(tuple(said), source_id)
        said_by.setdefault(" " + " ".join(words) + " ", source_id)
        for m in _IDENTIFIER.finditer(source or ""):
            identifiers[m.group(0).casefold()] = source_id  # the last source names it
    return _SourceIndex(
        grams=grams, said_by=said_by, identifiers=identifiers, said_all="\0".join(said_by)
    )


@lru_cache(maxsize=8)
def _trusted_index(trusted: tuple[str, ...]) -> list[str]:
    """Keel's own statements as padded word strings (see :func:`_said_in`)."""
    return [" " + " ".join(_plain_words(t)) + " " for t in trusted]


def find_quotes(
    text: str,
    sources: Iterable[tuple[str, str]],
    *,
    min_words: int = MIN_QUOTE_WORDS,
    trusted: Iterable[str] = (),
) -> list[Quote]:
    """Maximal spans of ``text`` that repeat ``min_words`` or more words of a source.

    Args:
        text: What a model wrote.
        sources: ``(source_id, customer_text)`` pairs.
        min_words: The shortest run of shared words that counts as a quotation.
        trusted: Keel's own statements (fact lines): words they say are not a quotation
            even where a customer wrote them too (a signature "Helen Ortega, Head of
            Customer Experience" and the fact that she left).

    Returns:
        Non-overlapping quotes in text order (overlapping runs are merged; the merged span
        keeps the first source's id).
    """
    index = _source_index(tuple(sources), min_words)
    grams, said_by, identifiers = index.grams, index.said_by, index.identifiers
    if not any(grams.values()) and not identifiers and not said_by:
        return []
    tokens = _words(text)
    hits: list[Quote] = [
        Quote(m.start(), m.end(), identifiers[m.group(0).casefold()])
        for m in _IDENTIFIER.finditer(text)
        if m.group(0).casefold() in identifiers
    ]
    for size, table in grams.items():
        for i in range(len(tokens) - size + 1):
            found = table.get(tuple(w for w, _, _ in tokens[i : i + size]))
            if found is not None:
                hits.append(Quote(tokens[i][1], tokens[i + size - 1][2], found))
    begin = 0
    for cut in [*(m.start() for m in _SENTENCE_END.finditer(text)), len(text)]:
        sentence = _words(text[begin:cut])
        if MIN_SENTENCE_WORDS <= len(sentence) < min_words:
            needle = " " + " ".join(w for w, _, _ in sentence) + " "
            owner = (
                next((sid for hay, sid in said_by.items() if needle in hay), None)
                if needle in index.said_all
                else None
            )
            if owner is not None:
                hits.append(Quote(begin + sentence[0][1], begin + sentence[-1][2], owner))
        begin = cut + 1
    known = _trusted_index(tuple(trusted))
    if known:
        hits = [h for h in hits if not _said_in(text[h.start : h.end], known)]
    spans: list[Quote] = []
    for hit in sorted(hits, key=lambda q: (q.start, -q.end)):
        start, end, found = hit.start, hit.end, hit.source_id
        if spans and start <= spans[-1].end:
            last = spans[-1]
            spans[-1] = Quote(last.start, max(last.end, end), last.source_id)
        else:
            spans.append(Quote(start, end, found))
    return spans


def mark_quotes(
    text: str,
    sources: Iterable[tuple[str, str]],
    *,
    neutralise: Callable[[str], str],
    label: Callable[[str], str] = lambda source_id: f"customer text, {source_id}",
    min_words: int = MIN_QUOTE_WORDS,
    trusted: Iterable[str] = (),
) -> str:
    """``text`` with every quotation of customer text marked and made inert.

    Each quoted span becomes ``“<span, neutralised>” [<label>]``: a reader sees where
    Keel's words end and the customer's begin, and no link, image or markup in the quote
    stays live.
    """
    quotes = _whole_tokens(text, find_quotes(text, sources, min_words=min_words, trusted=trusted))
    if not quotes:
        return text
    out: list[str] = []
    cursor = 0
    for quote in quotes:
        out.append(text[cursor : quote.start])
        inner = neutralise(text[quote.start : quote.end]).replace("“", '"').replace("”", '"')
        out.append(f"“{inner}” [{label(quote.source_id)}]")
        cursor = quote.end
    out.append(text[cursor:])
    return "".join(out)


def _said_in(span: str, known: Iterable[str]) -> bool:
    needle = " " + " ".join(w for w, _, _ in _words(span)) + " "
    return any(needle in haystack for haystack in known)


def _whole_tokens(text: str, quotes: list[Quote]) -> list[Quote]:
    """Quotes widened to whitespace on both sides: a quote that ended inside a link
    (``//evil-js`` of ``//evil-js.example/x``) would leave the rest of it live outside."""
    widened: list[Quote] = []
    for quote in quotes:
        start, end = quote.start, quote.end
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if widened and start <= widened[-1].end:
            last = widened[-1]
            widened[-1] = Quote(last.start, max(last.end, end), last.source_id)
        else:
            widened.append(Quote(start, end, quote.source_id))
    return widened
