"""Sentence-aware chunking: windows of whole sentences, ~400-600 characters, small overlap.

all-MiniLM-L6-v2 reads at most 256 word pieces and was trained on much shorter texts, so a
long ticket thread embedded whole would be truncated and blurred. Windows of a few
sentences keep each vector about one thing; carrying the last short sentence into the
next window keeps a statement that spans a boundary findable from either side.

A document is stored as its chunks *and* its sentences (:func:`document_units`). Chunks
serve search: a query finds the passage that explains a problem. Sentences serve
risk-language matching: one sentence saying "their budget was cut" inside a routine
ticket is diluted by the rest of its window and almost never reaches the prototype
threshold, while its own vector does. In seeded synthetic books, 11-12% of the documents
of risk episodes matched a prototype at cosine >= 0.55 with sentence vectors, about 1%
with chunk vectors alone (see ``keel.tools.risk_language.MIN_SCORE``). The price: synthetic
documents have about 4 sentence units per chunk, so indexing embeds ~5x the records, about
2x the encoder's work (sentences are short), and the index holds ~5x the vectors.
"""

from __future__ import annotations

import re

from keel.memory.vectors.types import Unit

# Bump when the chunking changes: stored documents are re-embedded (it is in their hash).
# v2: sentence units are stored next to the chunks.
CHUNKER_VERSION = "sentences-v2"

MAX_CHARS = 600
OVERLAP_CHARS = 150
# Shorter sentences ("Thanks.", "See below:", "Hi Anna,") carry no statement to match.
MIN_SENTENCE_WORDS = 5

_PARAGRAPHS = re.compile(r"\n\s*\n|\r\n\s*\r\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_SPACES = re.compile(r"\s+")


def split_sentences(text: str) -> list[str]:
    """Split into sentences (and lines, which in tickets often end a thought without '.')."""
    units: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        for piece in _SENTENCE_END.split(paragraph):
            piece = _SPACES.sub(" ", piece).strip()
            if piece:
                units.append(piece)
    return units


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence longer than ``max_chars`` at word boundaries (hard cut inside a word)."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > max_chars:  # a URL or pasted blob without spaces
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def chunk_text(
    text: str, *, max_chars: int = MAX_CHARS, overlap_chars: int = OVERLAP_CHARS
) -> list[str]:
    """Pack whole sentences greedily into windows of at most ``max_chars`` characters.

    A window closes when the next sentence would not fit, so windows run ~400-600
    characters for ordinary prose. The next window starts with the previous window's
    trailing sentences if together they are at most ``overlap_chars`` long. Whitespace is
    normalised; an empty or blank text has no chunks.
    """
    units: list[str] = []
    for sentence in split_sentences(text):
        units.extend(_split_long(sentence, max_chars) if len(sentence) > max_chars else [sentence])
    if not units:
        return []

    chunks: list[str] = []
    current: list[str] = []
    size = 0  # length of " ".join(current)
    for unit in units:
        if current and size + 1 + len(unit) > max_chars:
            chunks.append(" ".join(current))
            carry: list[str] = []
            carried = 0
            for sentence in reversed(current):
                extra = len(sentence) + (1 if carry else 0)
                if carried + extra > overlap_chars:
                    break
                carry.insert(0, sentence)
                carried += extra
            if carry and carried + 1 + len(unit) > max_chars:
                carry, carried = [], 0
            current, size = carry, carried
        size += len(unit) + (1 if current else 0)
        current.append(unit)
    if current:  # never only overlap: every flush is followed by a new sentence
        chunks.append(" ".join(current))
    return chunks


def sentence_units(text: str, *, chunks: list[str] | None = None) -> list[str]:
    """The sentences of ``text`` worth a vector of their own, in order.

    Sentences (as :func:`split_sentences` finds them, whitespace normalised) of at least
    :data:`MIN_SENTENCE_WORDS` words; one longer than :data:`MAX_CHARS` is cut at word
    boundaries and each piece of at least that many words kept. A sentence repeated in
    the document (a quoted line, a signature) is kept once, where it first occurs. A
    sentence identical to one of the document's chunks is dropped: its vector would be
    that chunk's, which is stored already (so a one-sentence document has no sentence
    units at all).

    Args:
        chunks: the document's chunks if already computed (``chunk_text(text)``).
    """
    units: list[str] = []
    seen: set[str] = set()
    for sentence in split_sentences(text):
        pieces = _split_long(sentence, MAX_CHARS) if len(sentence) > MAX_CHARS else [sentence]
        for piece in pieces:
            if len(piece.split()) >= MIN_SENTENCE_WORDS and piece not in seen:
                seen.add(piece)
                units.append(piece)
    if not units:
        return []
    stored = set(chunk_text(text) if chunks is None else chunks)
    return [unit for unit in units if unit not in stored]


def document_units(text: str) -> list[tuple[str, Unit]]:
    """Every text stored for a document: its chunks, then its sentence units, in order.

    Record ``n`` of a document (Chroma id ``kind:source_id:n``) is item ``n`` of this list.
    """
    chunks = chunk_text(text)
    sentences = sentence_units(text, chunks=chunks)
    return [(c, "chunk") for c in chunks] + [(s, "sentence") for s in sentences]
