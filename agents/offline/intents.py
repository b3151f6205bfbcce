"""Which tools the offline model calls for a request.

Three sources, unioned: the calling step's fixed plan (tool names or globs the model was
built with for that step, e.g. every tool for the analyst; the step is named by the caller,
see :mod:`keel.agents.offline.request`), explicit intent rules (a request pattern mapped to
tool names or globs), and semantic matching of the request against each tool's name and
description with the local embedding model (word overlap when no embedder is available).
The system prompt's wording plays no part. Everything is deterministic.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.agents.offline.text import humanise
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.memory.embeddings import Embedder

logger = logging.getLogger(__name__)

# Words that carry no intent; dropped before word-overlap matching.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "get",
        "give",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "show",
        "tell",
        "that",
        "the",
        "their",
        "them",
        "this",
        "to",
        "us",
        "was",
        "we",
        "what",
        "when",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class ToolSpec:
    """A bound tool as the model sees it (from its OpenAI-format definition)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_openai(cls, tool: Mapping[str, Any]) -> ToolSpec:
        function = tool.get("function", tool)
        return cls(
            name=str(function.get("name", "")),
            description=str(function.get("description") or ""),
            parameters=function.get("parameters") or {},
        )

    @property
    def text(self) -> str:
        """What the request is matched against."""
        return f"{humanise(self.name)}: {self.description}".strip(": ")


@dataclass(frozen=True)
class IntentRule:
    """When ``pattern`` matches the latest request, call ``tools`` (names or ``fnmatch`` globs)."""

    pattern: str
    tools: tuple[str, ...]

    def matches(self, request: str) -> bool:
        return re.search(self.pattern, request, re.IGNORECASE) is not None

    def pick(self, names: Sequence[str]) -> list[str]:
        return pick(self.tools, names)


def pick(globs: Sequence[str], names: Sequence[str]) -> list[str]:
    """``names`` matching any of ``globs`` (exact names or ``fnmatch`` globs), in order."""
    return [n for n in names if any(fnmatch.fnmatchcase(n, glob) for glob in globs)]


class IntentTable:
    """An ordered, thread-safe list of :class:`IntentRule`."""

    def __init__(self, rules: Sequence[IntentRule] = ()) -> None:
        self._rules = list(rules)
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[IntentRule]:
        with self._lock:
            return list(self._rules)

    def add(self, rule: IntentRule) -> IntentRule:
        with self._lock:
            if rule not in self._rules:
                self._rules.append(rule)
        return rule

    def tools_for(self, request: str, names: Sequence[str]) -> list[str]:
        """Bound tool names any matching rule asks for, in ``names`` order."""
        wanted: set[str] = set()
        for rule in self.rules:
            if rule.matches(request):
                wanted.update(rule.pick(names))
        return [n for n in names if n in wanted]


# Customer-success requests and the kinds of tool that answer them. Globs, because tool
# names belong to the tools package; a rule whose globs match no bound tool does nothing.
DEFAULT_INTENTS = IntentTable(
    [
        IntentRule(r"\b(risk|churn|health|why|declin|drop|worr)", ("*health*", "*signal*")),
        IntentRule(r"\b(prep|prepare|call|meeting|qbr|brief)", ("*profile*", "*health*")),
        IntentRule(r"\b(prep|prepare|call|meeting|qbr)", ("*evidence*", "*note*")),
        IntentRule(r"\b(draft|email|write|outreach|reach out|note to)", ("*contact*",)),
        IntentRule(r"\b(renewal|renew|contract)", ("*renewal*",)),
        IntentRule(r"\b(invoice|billing|payment|late)", ("*invoice*", "*billing*")),
        IntentRule(r"\b(ticket|support|incident|bug|outage)", ("*ticket*", "*evidence*")),
        IntentRule(r"\b(expan|upsell|grow|seat|usage|adoption)", ("*usage*", "*adoption*")),
        IntentRule(r"\b(similar|cohort|churned accounts|pattern)", ("*cohort*", "*similar*")),
    ]
)


def _words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", humanise(text))
    return {w.rstrip("s") for w in words if len(w) > 2 and w not in STOP_WORDS}


class ToolSelector:
    """Scores tools against a request and picks the ones worth calling.

    Args:
        embedder: Local sentence embedder; without one, word overlap is used.
        embedder_factory: Loads an embedder on first use (so building a model is cheap).
        min_similarity: Cosine similarity a tool needs to be picked semantically.
        margin: Only tools within this distance of the best score are picked.
        max_tools: Semantic picks at most this many tools per request.
    """

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        embedder_factory: Callable[[], Embedder] | None = None,
        min_similarity: float = 0.3,
        margin: float = 0.1,
        max_tools: int = 3,
    ) -> None:
        self._embedder = embedder
        self._factory = embedder_factory
        self.min_similarity = min_similarity
        self.margin = margin
        self.max_tools = max_tools
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _get_embedder(self) -> Embedder | None:
        with self._lock:
            if self._embedder is None and self._factory is not None:
                factory, self._factory = self._factory, None
                try:
                    self._embedder = factory()
                except (KeelError, ImportError, OSError) as exc:
                    # Still usable offline: rules and word overlap choose the tools.
                    logger.warning("Offline tool choice without embeddings: %s", exc)
            return self._embedder

    def scores(self, request: str, tools: Sequence[ToolSpec]) -> list[float]:
        """Similarity of ``request`` to each tool, in ``[-1, 1]``."""
        if not tools:
            return []
        embedder = self._get_embedder()
        if embedder is None:
            asked = _words(request)
            return [_overlap(asked, _words(tool.text)) for tool in tools]
        vectors = self._vectors(embedder, [request, *(tool.text for tool in tools)])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def _vectors(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            embedded = embedder.embed(missing)
            with self._lock:
                self._cache.update(zip(missing, embedded, strict=True))
        with self._lock:
            return np.stack([self._cache[t] for t in texts])

    def select(
        self,
        request: str,
        tools: Sequence[ToolSpec],
        intents: IntentTable,
        plan: Sequence[str] = (),
    ) -> list[str]:
        """Tools to call for ``request``: the step's plan, rule matches and close
        semantic matches."""
        names = [tool.name for tool in tools]
        wanted = set(pick(plan, names)) | set(intents.tools_for(request, names))
        if request.strip():
            scored = sorted(
                zip(self.scores(request, tools), names, strict=True), key=lambda p: (-p[0], p[1])
            )
            best = scored[0][0] if scored else 0.0
            close = [
                name
                for score, name in scored
                if score >= self.min_similarity and score >= best - self.margin
            ]
            wanted.update(close[: self.max_tools])
        return [n for n in names if n in wanted]

    def best(self, request: str, tools: Sequence[ToolSpec]) -> str:
        """The single closest tool (for when a call is required but nothing matched)."""
        scored = zip(self.scores(request, tools), [t.name for t in tools], strict=True)
        return min(scored, key=lambda p: (-p[0], p[1]))[1]


def _overlap(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))
