"""Sentence units: which sentences of a document get a vector of their own (no model)."""

from __future__ import annotations

import datetime as dt

import pytest

from keel.memory.vectors import chunking, documents
from keel.memory.vectors.chunking import (
    MAX_CHARS,
    MIN_SENTENCE_WORDS,
    chunk_text,
    document_units,
    sentence_units,
)
from keel.memory.vectors.documents import SourceDoc


def test_sentences_shorter_than_five_words_are_left_out() -> None:
    text = (
        "Hi Anna,\n\nThanks. See below:\n"
        "Finance is cutting software spend across the whole company. "
        "Call me back soon please. OK?"
    )
    assert MIN_SENTENCE_WORDS == 5
    assert sentence_units(text) == [
        "Finance is cutting software spend across the whole company.",
        "Call me back soon please.",  # exactly five words
    ]


def test_whitespace_is_normalised() -> None:
    text = "The   dashboard\tloads very slowly today.\n\n  Reports   time out after a minute. "
    assert sentence_units(text) == [
        "The dashboard loads very slowly today.",
        "Reports time out after a minute.",
    ]


def test_a_sentence_longer_than_a_window_is_cut_at_word_boundaries() -> None:
    words = [f"word{i}" for i in range(200)]  # one sentence of ~1,490 characters
    long_sentence = " ".join(words) + "."
    text = f"Short intro sentence with six words. {long_sentence} A closing sentence of six words."
    units = sentence_units(text, chunks=[])  # as if no chunk repeated any of them
    assert units[0] == "Short intro sentence with six words."
    assert units[-1] == "A closing sentence of six words."
    pieces = units[1:-1]
    assert len(pieces) == 3
    assert all(len(p) <= MAX_CHARS for p in pieces)
    assert " ".join(pieces) == long_sentence  # cut between words, nothing lost

    # A piece that is a chunk on its own is not stored twice; the rest are sentence units.
    chunks = chunk_text(text)
    assert sentence_units(text) == [u for u in units if u not in chunks]
    assert pieces[0] in chunks and pieces[-1] in sentence_units(text)


def test_a_repeated_sentence_is_kept_once_where_it_first_occurs() -> None:
    text = (
        "Please restore the export button on the reports page. "
        "The nightly sync failed again on Tuesday night. "
        "Please   restore the export button on the reports page."
    )
    assert sentence_units(text) == [
        "Please restore the export button on the reports page.",
        "The nightly sync failed again on Tuesday night.",
    ]


def test_a_one_sentence_document_has_no_sentence_units() -> None:
    # Its only chunk is that sentence: a second vector of the same text adds nothing.
    text = "Too expensive for what we get; we are looking at other vendors."
    assert chunk_text(text) == [text]
    assert sentence_units(text) == []
    assert document_units(text) == [(text, "chunk")]
    # Whitespace differences do not matter: the chunk is normalised the same way.
    assert (
        sentence_units("  Too expensive  for what we get; we are looking at other vendors. ") == []
    )


def test_a_short_document_with_two_sentences_keeps_the_long_one() -> None:
    text = "Thanks. Their budget for next year was cut by a third."
    assert chunk_text(text) == [text]
    assert sentence_units(text) == ["Their budget for next year was cut by a third."]


@pytest.mark.parametrize("text", ["", "  \n ", "Ok thanks.", "See you Monday then."])
def test_no_sentence_units_without_a_sentence_of_five_words(text: str) -> None:
    assert sentence_units(text) == []


def test_document_units_are_the_chunks_then_the_sentences() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} in some detail." for i in range(30)]
    text = " ".join(sentences)
    units = document_units(text)
    chunks = chunk_text(text)
    assert len(chunks) > 1
    assert units == [(c, "chunk") for c in chunks] + [(s, "sentence") for s in sentences]


def test_the_chunker_version_is_in_every_content_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bumping it makes the next `keel index` re-embed every document, sentences included.
    doc = SourceDoc("note", 1, "N-1", 1, "ACME", dt.date(2024, 1, 1), "Some text here.")
    before = doc.content_hash("model")
    assert chunking.CHUNKER_VERSION == documents.CHUNKER_VERSION == "sentences-v2"
    monkeypatch.setattr(documents, "CHUNKER_VERSION", "sentences-v1")
    assert doc.content_hash("model") != before


def test_record_metadata_says_chunk_or_sentence() -> None:
    doc = SourceDoc("ticket", 7, "T-7", 3, "ACME", dt.date(2024, 3, 5), "Text.")
    assert doc.metadata(0)["unit"] == "chunk"
    meta = doc.metadata(4, "sentence")
    assert (meta["unit"], meta["chunk"], meta["doc"], meta["date"]) == (
        "sentence",
        4,
        "ticket:7",
        20240305,
    )
