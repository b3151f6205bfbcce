"""Measure how deeply a JSON text nests, without recursion, before ``json`` parses it.

Python's ``json`` recurses once per level and a file nested 100,000 deep ends in a
``RecursionError``; import records are flat objects, so anything much deeper than a few
levels is refused with a message instead. The scan runs in C (regular expressions and
numpy): strings are blanked out, the brackets left are summed as +1/-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# An array of records (1), a record (2), a value holding a list or object (3+): 64 is
# far beyond any export and far below Python's recursion limit.
MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")
# Brackets summed per numpy pass, so a file of brackets only does not need 8 bytes each.
_CHUNK = 1 << 22


@dataclass(frozen=True)
class TooDeep:
    """Where nesting first goes deeper than ``MAX_DEPTH``.

    Attributes:
        line: The 1-based line of the bracket that goes too deep.
        record: The 1-based index of the record it is in when the text is an array of
            records, else ``None``.
    """

    line: int
    record: int | None

    def reason(self) -> str:
        return (
            f"nested more than {MAX_DEPTH} levels deep (at line {self.line}); "
            "records must be flat objects of fields"
        )


def too_deep(text: str) -> TooDeep | None:
    """``None`` when ``text`` nests at most ``MAX_DEPTH`` levels, else where it goes deeper."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if _max_depth(brackets) <= MAX_DEPTH:
        return None
    return _locate(text)


def _max_depth(brackets: str) -> int:
    deepest, depth = 0, 0
    for start in range(0, len(brackets), _CHUNK):
        codes = np.frombuffer(brackets[start : start + _CHUNK].encode("ascii"), dtype=np.uint8)
        steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int64)
        levels = np.cumsum(steps) + depth
        deepest = max(deepest, int(levels.max()))
        depth = int(levels[-1])
    return deepest


def _locate(text: str) -> TooDeep:
    """Walk the brackets (strings skipped) to the first one past ``MAX_DEPTH``.

    Only called once the text is known to be too deep, so a Python loop is fine here.
    """
    is_array = text.lstrip().startswith("[")
    depth, record = 0, 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in _OPEN:
            depth += 1
            if depth == 2:
                record += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                return TooDeep(line, record if is_array else None)
        elif token in _CLOSE:
            depth -= 1
    return TooDeep(1, None)
