"""Is an embedded Chroma folder intact, and how to empty it for a rebuild.

Chroma keeps an embedded index in one folder: ``chroma.sqlite3`` (records, metadata, the
write-ahead log) and one sub-folder per vector segment holding hnswlib's binary files
(``header.bin``, ``data_level0.bin``, ``length.bin``, ``link_lists.bin``). Damage to
``chroma.sqlite3`` shows as soon as Chroma opens it. Damage to the HNSW files may not: a
small collection is answered from the log and the files are read only once they hold
vectors, when Chroma fails deep in its Rust code ("Error loading hnsw index") or, worse,
reads garbage. So :func:`check_folder` reads each segment's header the way hnswlib
writes it and checks that it is self-consistent and matches the files beside it, and
that the database file starts as a SQLite database. It reads a few hundred bytes per
segment: cheap enough for every open.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Final

from keel.errors import StoreDamaged
from keel.memory.vectors.lock import LOCK_FILE

CHROMA_DB_FILE: Final = "chroma.sqlite3"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
# Chroma's persisted header: a 4-byte format version, then hnswlib's own header.
_HEADER = struct.Struct("<I QQQQQQ iI QQQ d Q")
_HEADER_FILE: Final = "header.bin"
_DATA_FILE: Final = "data_level0.bin"
_LENGTH_FILE: Final = "length.bin"
_LINKS_FILE: Final = "link_lists.bin"
# Level-0 elements whose links are checked on open (reading each costs one seek).
_SAMPLED_ELEMENTS: Final = 256
_LABEL_BYTES: Final = 8
_FIX: Final = "run `keel index --rebuild` to re-create the index from the database"


def _damaged(path: Path, why: str) -> StoreDamaged:
    return StoreDamaged(f"the vector store file {path} is damaged ({why}); {_FIX}")


def check_folder(directory: Path, *, dim: int | None = None) -> None:
    """Raise :class:`~keel.errors.StoreDamaged` naming the first damaged file found.

    Args:
        directory: The embedded Chroma folder (``settings.chroma_path``).
        dim: The embedding dimension the vectors must have, when known.
    """
    database = directory / CHROMA_DB_FILE
    if database.exists():
        with database.open("rb") as handle:
            start = handle.read(len(_SQLITE_MAGIC))
        # An empty file is what SQLite creates before its first write; anything else
        # must carry SQLite's header.
        if start and start != _SQLITE_MAGIC:
            raise _damaged(database, "it is not a SQLite database")
    for header in sorted(directory.glob(f"*/{_HEADER_FILE}")):
        problem = _segment_problem(header.parent, dim)
        if problem is not None:
            raise _damaged(problem[0], problem[1])


def _segment_problem(segment: Path, dim: int | None) -> tuple[Path, str] | None:
    header = segment / _HEADER_FILE
    raw = header.read_bytes()
    if len(raw) != _HEADER.size:
        return header, f"HNSW header is {len(raw)} bytes, expected {_HEADER.size}"
    (
        _version,
        offset_level0,
        max_elements,
        count,
        size_per_element,
        label_offset,
        offset_data,
        max_level,
        entry_point,
        max_m,
        max_m0,
        m,
        _mult,
        _ef_construction,
    ) = _HEADER.unpack(raw)
    vector_bytes = label_offset - offset_data
    consistent = (
        offset_level0 == 0
        and 0 <= count <= max_elements
        and max_m0 == 2 * m
        and max_m == m
        and offset_data == 4 + 4 * max_m0
        and size_per_element == label_offset + _LABEL_BYTES
        and vector_bytes > 0
        and vector_bytes % 4 == 0
        and max_level >= -1
        and (count == 0 or entry_point < count)
    )
    if not consistent:
        return header, "the HNSW header is not self-consistent"
    if dim is not None and vector_bytes // 4 != dim:
        return header, f"HNSW vectors have {vector_bytes // 4} dimensions, expected {dim}"
    expected = {
        _DATA_FILE: {count * size_per_element, max_elements * size_per_element},
        _LENGTH_FILE: {count * 4, max_elements * 4},
    }
    for name, sizes in expected.items():
        path = segment / name
        if not path.exists():
            return path, "the file is missing"
        if path.stat().st_size not in sizes:
            return path, f"{path.stat().st_size} bytes do not match the HNSW header"
    return _links_problem(segment, count, size_per_element, max_m0, max_m)


def _links_problem(
    segment: Path, count: int, size_per_element: int, max_m0: int, max_m: int
) -> tuple[Path, str] | None:
    """Garbage inside the graph files, which Chroma does not check before following it
    (measured: random bytes in ``data_level0.bin`` under a valid header kill the process).

    Level 0 is sampled (up to :data:`_SAMPLED_ELEMENTS` elements, evenly spread): each
    element's neighbour count must fit ``maxM0`` and its neighbours must exist. The upper
    levels (``link_lists.bin``: each element's size, then its lists) are walked whole:
    every size must be whole levels and they must add up to the file.
    """
    data = segment / _DATA_FILE
    step = max(1, count // _SAMPLED_ELEMENTS)
    with data.open("rb") as handle:
        for element in range(0, count, step):
            handle.seek(element * size_per_element)
            head = handle.read(4 + 4 * max_m0)
            links = int.from_bytes(head[:2], "little")
            if links > max_m0:
                return data, f"element {element} claims {links} neighbours (at most {max_m0})"
            neighbours = struct.unpack_from(f"<{links}I", head, 4)
            if any(n >= count for n in neighbours):
                return data, f"element {element} links to an element that does not exist"
    # link_lists.bin: per element, its upper levels' link-list size (uint32), then them.
    links_path = segment / _LINKS_FILE
    raw = links_path.read_bytes() if links_path.exists() else b""
    per_level = 4 + 4 * max_m
    offset = 0
    for element in range(count):
        if offset + 4 > len(raw):
            return links_path, f"it ends before element {element}'s links"
        size = int.from_bytes(raw[offset : offset + 4], "little")
        if size % per_level:
            return links_path, f"element {element}'s link-list size is not whole HNSW levels"
        offset += 4 + size
    if count and offset != len(raw):
        return links_path, f"{len(raw)} bytes, but its link lists account for {offset}"
    return None


def empty_folder(directory: Path) -> None:
    """Delete everything in an embedded Chroma folder except the index lock's files.

    The caller holds the writer lock (:class:`keel.memory.vectors.lock.IndexLock`): removing the
    lock file it holds would let a second writer lock a new file of the same name.
    """
    keep = {LOCK_FILE, LOCK_FILE + ".pid"}
    if not directory.exists():
        return
    for entry in directory.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
