"""The team's labelled risk and expansion language, and how a matcher is scored on it.

``tools/data/language_labels.yaml`` holds sentences a CSM would flag (positives per kind)
and sentences that only look like it (hard negatives per kind, and routine ones). This
module reads it (a broken file is a :class:`~keel.errors.ValidationFailed` naming the
entry), splits it into a "dev" part (thresholds are fitted on it) and a "test" part (only
scored) by a hash of each sentence, and scores predictions per kind. The matcher itself
(prototypes, per-kind thresholds, the best-prototype rule the vector store applies) is
``keel.tools.risk_language``; ``bench/risk_language.py`` prints the figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from keel.errors import KeelError, Problem, ValidationFailed

Split = Literal["dev", "test"]
# Share of the sentences held out from fitting (by a hash of the text, so it is stable).
TEST_SHARE_PERCENT = 30
DEFAULT_FILE = "language_labels.yaml"


@dataclass(frozen=True)
class LabelledSentence:
    """One sentence of the set: its kind (None for a negative) and, for a hard negative,
    the kind it resembles."""

    text: str
    kind: str | None
    near: str | None
    split: Split
    where: str  # its place in the file, e.g. "kinds.reorg.positive[3]"


@dataclass(frozen=True)
class LabelledSet:
    version: int
    kinds: tuple[str, ...]
    sentences: tuple[LabelledSentence, ...]
    source: str

    def part(self, split: Split | None) -> list[LabelledSentence]:
        """The sentences of one split (all of them for None)."""
        return [s for s in self.sentences if split is None or s.split == split]


@dataclass(frozen=True)
class KindScore:
    kind: str
    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0

    @property
    def support(self) -> int:
        return self.true_positive + self.false_negative


def split_of(text: str) -> Split:
    """Which part a sentence belongs to: stable, decided by its text alone."""
    digest = hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()
    return "test" if int(digest[:8], 16) % 100 < TEST_SHARE_PERCENT else "dev"


def default_path() -> Path:
    """The labelled set shipped with Keel (package data)."""
    return Path(str(resources.files("keel.tools.data").joinpath(DEFAULT_FILE)))


def load_labelled_set(path: Path | None = None) -> LabelledSet:
    """Read and check the labelled set.

    Raises:
        KeelError: the file is missing or is not YAML.
        ValidationFailed: entries are malformed; every problem names its place in the file.
    """
    path = path or default_path()
    name = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeelError(f"{path}: cannot read the labelled language set ({exc})") from exc
    except yaml.YAMLError as exc:
        raise KeelError(f"{path}: not valid YAML ({exc})") from exc
    problems: list[Problem] = []

    def bad(field: str, reason: str) -> None:
        problems.append(Problem(name, None, field, reason))

    if not isinstance(raw, dict):
        raise ValidationFailed([Problem(name, None, None, "expected a mapping at the top")])
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        bad("version", f"expected an integer, got {version!r}")
        version = 0
    kinds_raw = raw.get("kinds")
    if not isinstance(kinds_raw, dict) or not kinds_raw:
        raise ValidationFailed(
            [*problems, Problem(name, None, "kinds", "expected a mapping of kind -> sentences")]
        )
    sentences: list[LabelledSentence] = []
    seen: dict[str, str] = {}

    def add(value: object, where: str, kind: str | None, near: str | None) -> None:
        if not isinstance(value, str) or not value.strip():
            bad(where, f"expected a sentence (non-empty text), got {value!r}")
            return
        text = " ".join(value.split())
        key = text.lower()
        if key in seen:
            bad(where, f"repeats {seen[key]}: {text!r}")
            return
        seen[key] = where
        sentences.append(LabelledSentence(text, kind, near, split_of(text), where))

    def entries(value: object, where: str) -> list[object]:
        if value is None:
            return []
        if not isinstance(value, list):
            bad(where, f"expected a list of sentences, got {type(value).__name__}")
            return []
        return list(value)

    for kind, body in kinds_raw.items():
        if not isinstance(kind, str) or not kind.isidentifier():
            bad(f"kinds.{kind}", "a kind is a lower-case identifier, e.g. budget_cut")
            continue
        if not isinstance(body, dict):
            bad(f"kinds.{kind}", "expected 'positive' and 'hard_negative' lists")
            continue
        unknown = sorted(set(body) - {"positive", "hard_negative"})
        if unknown:
            bad(f"kinds.{kind}", f"unknown keys {unknown}; expected positive, hard_negative")
        for i, value in enumerate(entries(body.get("positive"), f"kinds.{kind}.positive")):
            add(value, f"kinds.{kind}.positive[{i}]", kind, None)
        for i, value in enumerate(
            entries(body.get("hard_negative"), f"kinds.{kind}.hard_negative")
        ):
            add(value, f"kinds.{kind}.hard_negative[{i}]", None, kind)
    for i, value in enumerate(entries(raw.get("routine"), "routine")):
        add(value, f"routine[{i}]", None, None)
    if problems:
        raise ValidationFailed(problems)
    return LabelledSet(
        version=int(version),
        kinds=tuple(str(k) for k in kinds_raw),
        sentences=tuple(sentences),
        source=str(path),
    )


def score_kinds(
    predicted: Sequence[str | None],
    gold: Sequence[str | None],
    kinds: Sequence[str],
) -> dict[str, KindScore]:
    """Precision and recall per kind: a sentence found as kind k is a true positive when
    it is a k sentence, a false positive otherwise (another kind's or a negative)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} sentences")
    out: dict[str, KindScore] = {}
    for kind in kinds:
        tp = sum(1 for p, g in zip(predicted, gold, strict=True) if p == kind and g == kind)
        fp = sum(1 for p, g in zip(predicted, gold, strict=True) if p == kind and g != kind)
        fn = sum(1 for p, g in zip(predicted, gold, strict=True) if p != kind and g == kind)
        out[kind] = KindScore(kind, tp, fp, fn)
    return out


def micro(scores: Mapping[str, KindScore], kinds: Sequence[str]) -> KindScore:
    """All of ``kinds`` counted together."""
    return KindScore(
        "+".join(kinds),
        sum(scores[k].true_positive for k in kinds),
        sum(scores[k].false_positive for k in kinds),
        sum(scores[k].false_negative for k in kinds),
    )


def fit_threshold(
    scores: Sequence[float],
    positive: Sequence[bool],
    *,
    min_precision: float,
    floor: float,
    ceiling: float = 0.8,
    step: float = 0.01,
) -> float:
    """One kind's threshold, fitted on the sentences whose best phrase is of that kind.

    ``scores``: their similarity to that phrase; ``positive``: whether each is truly of the
    kind. Of the thresholds in [floor, ceiling] whose precision reaches ``min_precision``,
    those finding the most positives; the middle of that range (not its edge, which would
    sit on one sentence's score). None reaching it: ``ceiling``.
    """
    n = round((ceiling - floor) / step)
    grid = [round(floor + i * step, 4) for i in range(n + 1)]
    found: list[tuple[float, int]] = []
    for t in grid:
        tp = sum(1 for s, p in zip(scores, positive, strict=True) if p and s >= t)
        fp = sum(1 for s, p in zip(scores, positive, strict=True) if not p and s >= t)
        if tp + fp == 0 or tp / (tp + fp) >= min_precision:
            found.append((t, tp))
    if not found:
        return ceiling
    most = max(tp for _, tp in found)
    best = [t for t, tp in found if tp == most]
    return round(round((min(best) + max(best)) / 2 / step) * step, 4)


__all__ = [
    "KindScore",
    "LabelledSentence",
    "LabelledSet",
    "default_path",
    "fit_threshold",
    "load_labelled_set",
    "micro",
    "score_kinds",
    "split_of",
]
