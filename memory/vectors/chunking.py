"""Sentence-aware chunking: windows of whole sentences, ~400-600 characters, small overlap.

all-MiniLM-L6-v2 reads at most 256 word pieces and was trained on much shorter texts, so a
long ticket thread embedded whole would be truncated and blurred. Windows of a few
sentences keep each vector about one thing; carrying the last short sentence into the
next window keeps a statement that spans a boundary findable from either side.
"""

from __future__ import annotations

import re

# Bump when the chunking changes: stored documents are re-embedded (it is in their hash).
CHUNKER_VERSION = "sentences-v1"

MAX_CHARS = 600
OVERLAP_CHARS = 150

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
