"""Per-account random streams: account ``i`` is the same whatever the size of the book.

Each account gets ``SeedSequence(seed, spawn_key=(i,))`` (exactly what
``SeedSequence(seed).spawn(n)[i]`` yields, for any ``n >= i + 1``), and each channel of that
account gets its own child stream, so changing how tickets are written never shifts the
usage numbers.
"""

from __future__ import annotations

import random

import numpy as np

STREAMS: tuple[str, ...] = (
    "plan",
    "contacts",
    "usage",
    "features",
    "tickets",
    "notes",
    "nps",
    "invoices",
)


class Streams:
    """Named numpy and stdlib generators for one account."""

    def __init__(self, seed: int, index: int) -> None:
        root = np.random.SeedSequence(seed, spawn_key=(index,))
        children = root.spawn(len(STREAMS))
        self._np = {
            name: np.random.default_rng(ss) for name, ss in zip(STREAMS, children, strict=True)
        }
        self._py = {
            name: random.Random(int.from_bytes(ss.generate_state(4).tobytes(), "little"))
            for name, ss in zip(STREAMS, children, strict=True)
        }

    def np(self, name: str) -> np.random.Generator:
        return self._np[name]

    def py(self, name: str) -> random.Random:
        return self._py[name]
