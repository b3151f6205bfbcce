"""Value types of the vector store: what a search returns, what indexing reports.

Also the naming conventions shared by the indexer and the readers: document kinds, record
ids (``f"{kind}:{source_id}:{n}"``), record units and the integer ``yyyymmdd`` date Chroma
filters on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

Kind = Literal["ticket", "note", "nps"]
KINDS: tuple[Kind, ...] = get_args(Kind)

# What a stored record is (its ``unit`` metadata): a chunk (searched) or a sentence
# (matched against risk-language prototypes). Records written before sentences existed
# have no ``unit`` and are chunks.
Unit = Literal["chunk", "sentence"]
UNITS: tuple[Unit, ...] = get_args(Unit)


def record_unit(metadata: Mapping[str, object]) -> Unit:
    """A stored record's unit: a sentence only if tagged so (untagged old records are chunks).

    The same rule as the search's Chroma filter ``{"unit": {"$ne": "sentence"}}``.
    """
    return "sentence" if metadata.get("unit") == "sentence" else "chunk"


def chunk_id(kind: str, source_id: int, n: int) -> str:
    """The deterministic Chroma id of record ``n`` (chunk or sentence) of a source record."""
    return f"{kind}:{source_id}:{n}"


def doc_key(kind: str, source_id: int) -> str:
    """The id of a whole source record (``"ticket:12"``), stored on each of its records."""
    return f"{kind}:{source_id}"


def date_to_int(day: dt.date) -> int:
    """``2024-03-05`` -> ``20240305``: Chroma's range filters only compare numbers."""
    return day.year * 10_000 + day.month * 100 + day.day


def int_to_date(value: int) -> dt.date:
    return dt.date(value // 10_000, value // 100 % 100, value % 100)


@dataclass(frozen=True)
class SearchHit:
    """The best-matching chunk of one source record, and its sentence that matches.

    ``kind`` and ``source_id`` (the internal row id) or ``external_id`` (the id in the
    customer's system) identify the record to cite; ``score`` is the chunk's cosine
    similarity. ``passage`` is the sentence that matches the query (the chunk itself for
    a one-sentence record); ``match`` says why the record ranks where it does:
    ``"phrase"`` (it holds the query word for word), ``"keyword"`` or ``"meaning"``.
    ``similar`` cites records collapsed into this hit as near-duplicates of it.
    """

    kind: str
    source_id: int
    external_id: str
    account_id: int
    date: dt.date
    text: str
    score: float
    chunk: int
    account_external_id: str = ""
    passage: str = ""
    match: str = "meaning"
    similar: tuple[str, ...] = ()


class PrototypeMatch(NamedTuple):
    """A stored record's best-matching prototype label (a tuple, so it also unpacks).

    ``snippet`` is the matched text: the sentence itself for a sentence match.
    """

    label: str
    kind: str
    source_id: int
    external_id: str
    account_id: int
    date: dt.date
    score: float
    snippet: str


@dataclass(frozen=True)
class IndexReport:
    """What one ``index_from_db`` run did. Documents are source records, not chunks.

    ``chunks_written`` and ``chunks_deleted`` count Chroma records: chunks and sentence
    units alike (a document of 3 chunks and 5 sentences writes 8).
    """

    new: int
    changed: int
    unchanged: int
    removed: int
    chunks_written: int
    chunks_deleted: int
    seconds: float
    # Documents whose records were missing from or inconsistent with Chroma (e.g. the
    # Chroma directory was deleted while the database kept its index state): re-embedded.
    repaired: int = 0
    # Distinct texts the model encoded (a text repeated across records is encoded once).
    texts_embedded: int = 0

    @property
    def embedded_documents(self) -> int:
        return self.new + self.changed + self.repaired

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0
