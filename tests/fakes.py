"""Fakes for unit tests of logic. Real components are used everywhere else."""

from __future__ import annotations

# --- agents.offline: a word-hashing embedder ----------------------------------------------
# Deterministic and instant: texts sharing words get similar vectors. For logic tests of
# the offline model's tool choice; one slow test uses the real all-MiniLM-L6-v2. Imports
# are local so blocks appended by others never trip over import order.


class FakeWordEmbedder:
    """A ``keel.memory.embeddings.Embedder`` hashing words of 4+ letters (cut to 5) into buckets."""

    name = "fake-word-hash"
    dim = 256

    def __init__(self) -> None:
        self.calls = 0

    def _vector(self, text: str):  # -> np.ndarray (float32, unit norm)
        import hashlib
        import re

        import numpy as np

        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]{4,}", text.lower().replace("_", " ")):
            bucket = int.from_bytes(hashlib.sha256(word[:5].encode()).digest()[:4], "big")
            vector[bucket % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed(self, texts: list[str] | tuple[str, ...]):  # -> np.ndarray
        import numpy as np

        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_one(self, text: str):  # -> np.ndarray
        return self.embed([text])[0]


class FakePrototypeMatcher:
    """Stands in for ``VectorStore.match_prototypes`` in unit tests of the risk-language cache.

    Returns the given matches (``keel.memory.vectors.types.PrototypeMatch``) and counts calls.
    """

    def __init__(self, matches: list) -> None:  # list[PrototypeMatch]
        self.matches = list(matches)
        self.calls = 0

    def match_prototypes(self, prototypes, *, account_ids=None, until=None, min_score=0.5):  # type: ignore[no-untyped-def]
        self.calls += 1
        return [m for m in self.matches if m.score >= min_score and m.label in prototypes]


def failing_offline_model(marker: str, error: type[Exception] = RuntimeError) -> object:
    """Keel's offline model, except that any call whose messages mention ``marker`` (an
    account's external id or name) raises ``error``: one account of a nightly run fails
    (a KeelError is recorded by the analyst in the thread; anything else stops the node)."""
    from keel.agents.composers import default_composers, default_plans
    from keel.agents.offline.model import OfflineChatModel

    class FailingForOneAccount(OfflineChatModel):
        fail_marker: str = ""

        def respond(self, messages: object, **kwargs: object) -> object:  # type: ignore[override]
            for message in messages:  # type: ignore[attr-defined]
                if self.fail_marker in str(getattr(message, "content", "")):
                    raise error(f"model unavailable for {self.fail_marker}")
            return super().respond(messages, **kwargs)

    return FailingForOneAccount(
        composers=default_composers(), plans=default_plans(), fail_marker=marker
    )
