"""Keyword scoring over stored chunks: BM25 and exact phrases, for hybrid search.

Vector search finds text that means the same thing in other words, but it ranks a record
that says the query word for word no higher than a loose paraphrase, and a phrase inside a
long note is diluted in the note's vector. Search therefore fuses the vector rank with a
keyword rank (see :meth:`keel.memory.vectors.store.VectorStore.search`): BM25 over the
words of each chunk, and an exact-phrase test (the query's words, in order, with nothing
between them) that puts records saying the phrase first.

Words are lower-cased runs of letters and digits (``"vendor's"`` -> ``vendor``, ``s``);
no stemming, so "piloting" does not match "pilot" here (the vector side does that).
The index is built once per snapshot of the collection, from the chunks' texts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"\d+")
# Words too common to say what a query is about. They still count inside a phrase.
_STOPWORDS_TEXT = """a an and are as at be been but by can could did do does for from had has
have how i if in into is it its me my no not of on or our so that the their them then there
these they this to was we were what when where which who will with would you your"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
# BM25's usual constants.
K1 = 1.2
B = 0.75


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """The distinct words of ``text`` that are not stopwords or single letters (the ``t``
    of "can't"), in order of first use."""
    return list(dict.fromkeys(w for w in words(text) if len(w) > 1 and w not in STOPWORDS))


def phrase_key(text: str) -> str:
    """``text`` as its words joined by single spaces, padded: a phrase test is ``in``."""
    return f" {' '.join(words(text))} "


class KeywordIndex:
    """BM25 postings and phrase keys of some rows of a snapshot (the chunks).

    Args:
        texts: the text of every row of the snapshot (``""`` for rows not indexed).
        rows: the rows to index.
    """

    def __init__(self, texts: Sequence[str], rows: Sequence[int]) -> None:
        self.size = len(texts)
        self.length = np.zeros(self.size, dtype=np.float32)
        self.keys: dict[int, str] = {}
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for row in rows:
            found = words(texts[row])
            self.length[row] = len(found)
            self.keys[row] = f" {' '.join(found)} "
            for word, tf in Counter(found).items():
                ids, tfs = postings.setdefault(word, ([], []))
                ids.append(row)
                tfs.append(tf)
        self.n_docs = max(1, len(self.keys))
        indexed = self.length[list(self.keys)] if self.keys else np.zeros(1, np.float32)
        self.avg_length = float(indexed.mean()) or 1.0
        self.postings = {
            word: (np.asarray(ids, np.int64), np.asarray(tfs, np.float32))
            for word, (ids, tfs) in postings.items()
        }

    def scores(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every row for ``terms``, and how many of the terms each row contains."""
        total = np.zeros(self.size, dtype=np.float32)
        matched = np.zeros(self.size, dtype=np.int32)
        for term in dict.fromkeys(terms):
            posting = self.postings.get(term)
            if posting is None:
                continue
            ids, tf = posting
            idf = math.log(1.0 + (self.n_docs - ids.size + 0.5) / (ids.size + 0.5))
            norm = K1 * (1.0 - B + B * self.length[ids] / self.avg_length)
            total[ids] += idf * tf * (K1 + 1.0) / (tf + norm)
            matched[ids] += 1
        return total, matched

    def phrase_rows(self, phrase: str, rows: Sequence[int] | None = None) -> set[int]:
        """The indexed rows (of ``rows``, if given) whose text holds ``phrase`` word for word."""
        key = phrase_key(phrase)
        if key.strip() == "":
            return set()
        candidates = self.keys.keys() if rows is None else (r for r in rows if r in self.keys)
        return {row for row in candidates if key in self.keys[row]}


def near_duplicate_key(text: str) -> str:
    """A key equal for texts that differ only in case, punctuation, spacing or numbers."""
    return _DIGITS.sub("0", " ".join(words(text)))


__all__ = [
    "STOPWORDS",
    "KeywordIndex",
    "content_words",
    "near_duplicate_key",
    "phrase_key",
    "words",
]
