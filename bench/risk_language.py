"""Risk and expansion language on the team's labelled sentences: precision and recall per kind.

    python bench/risk_language.py                 # before and after, per kind, test and dev parts
    python bench/risk_language.py --misses dev    # also list what the current matcher gets wrong
    python bench/risk_language.py --fit           # refit the per-kind thresholds on dev and
                                                  # compare with those in keel.tools.risk_language

The labelled set is ``tools/data/language_labels.yaml`` (positives and hard negatives per
kind, routine sentences). Each sentence is labelled as the risk-language scan labels a
record: its best phrase over every kind's prototypes (and, after, the contrast phrases),
kept when the similarity reaches that kind's threshold.

* **before**: the prototypes and the single 0.55 threshold Keel had before this bench
  (commit 3668643, frozen below as ``BEFORE_PROTOTYPES``); it had no expansion kind.
* **previous**: as it is, but with the 15 expansion prototypes of commit f83d378 (frozen
  below as ``PREVIOUS_EXPANSION``): what issue 20 item 2's expansion work started from.
* **after**: ``keel.tools.risk_language`` as it is (prototypes, contrasts, thresholds).

The thresholds were fitted on the dev part only; the test part (30% of the sentences, by
a hash of the text) is the honest figure. The embedding model (all-MiniLM-L6-v2, bundled,
offline) embeds the set and the phrases once per run; nothing is cached on disk.
Not a test: nothing is asserted (tests/tools/test_language_labels.py holds the floors).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from keel.tools.language_labels import (  # noqa: E402
    KindScore,
    LabelledSentence,
    fit_threshold,
    load_labelled_set,
    micro,
    score_kinds,
)
from keel.tools.risk_language import (  # noqa: E402
    EXPANSION,
    FLOOR_SCORE,
    LANGUAGE_KINDS,
    RISK_KINDS,
    THRESHOLDS,
    all_prototypes,
    best_phrases,
    kind_of,
)

# Keel's prototypes and threshold before this bench (tools/risk_language.py at 3668643).
BEFORE_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "competitor_evaluation": (
        "They are piloting a competing product in one of their teams.",
        "They have started a trial with a competitor.",
        "They asked for a demo from another provider to compare with us.",
        "Their company may standardise on a rival platform instead of ours.",
        "They asked about data export formats, as if preparing to move to another system.",
        "They are trialling another vendor and comparing offers.",
    ),
    "budget_cut": (
        "Finance is cutting software spend across the company.",
        "Every tool now needs CFO approval and has to be justified.",
        "They were told to reduce costs and drop licences.",
        "Their budget for next year was cut.",
        "Finance is holding payments while vendors are re-approved.",
    ),
    "reorg": (
        "After a reorganisation their group now reports into a different department.",
        "New leadership is reviewing all vendor relationships.",
        "Their department was merged into another group.",
        "Layoffs hit the team that uses the product.",
        "Nobody is sure who owns the decision after the restructuring.",
    ),
    "champion_leaving": (
        "Our main contact has left the company.",
        "Emails to our champion bounce; she no longer works there.",
        "He is leaving the company at the end of the month.",
        "The project owner handed over to a colleague before leaving.",
        "We lost our sponsor and need to rebuild the relationship.",
    ),
    "quality_complaint": (
        "The answers are often wrong and the team no longer trusts them.",
        "Accuracy dropped after the latest release.",
        "They have to check every output by hand because of errors.",
        "Quality got worse and agents escalate more tickets.",
        "The AI is making things up and customers complained.",
    ),
}
BEFORE_MIN_SCORE = 0.55
# The expansion prototypes of commit f83d378 (held-out expansion recall 0.11).
PREVIOUS_EXPANSION: tuple[str, ...] = (
    "A new team is joining and needs seats.",
    "They want to roll it out to another department next quarter.",
    "They need more seats for new hires.",
    "Can we add more agents to the contract?",
    "They want to use it for another kind of request too.",
    "Another group wants their own workspace.",
    "They are interested in adding another module or channel.",
    "The board approved budget to grow the deployment.",
    "The purchase order for additional licences was approved.",
    "They want to launch in more countries after the pilot.",
    "They want to make it the standard tool across the company.",
    "Headcount is growing and everyone will need access.",
    "They asked for a quote for additional licences.",
    "Next they will roll it out to the remaining sites.",
    "Phase two: roll out to the other offices and contact centres.",
)
# The precision the fitted thresholds keep on dev.
MIN_PRECISION = 0.9


class Matcher:
    """Prototypes embedded once; labels sentences whose vectors are given."""

    def __init__(self, embed: object, prototypes: Mapping[str, Sequence[str]]) -> None:
        self.labels = [label for label, values in prototypes.items() for _ in values]
        phrases = [p for values in prototypes.values() for p in values]
        self.vectors = embed(phrases)  # type: ignore[operator]

    def best(self, sentence_vectors: np.ndarray) -> list[tuple[str, float]]:
        return best_phrases(sentence_vectors @ self.vectors.T, self.labels)


def _predict(best: list[tuple[str, float]], thresholds: Mapping[str, float]) -> list[str | None]:
    return [kind_of(label, score, thresholds) for label, score in best]


def _table(
    title: str,
    gold: Sequence[str | None],
    columns: Sequence[tuple[str, Sequence[str | None]]],
) -> None:
    kinds = list(LANGUAGE_KINDS)
    scored = [(name, score_kinds(predicted, gold, kinds)) for name, predicted in columns]
    n_neg = sum(1 for g in gold if g is None)
    print(f"\n{title}: {len(gold)} sentences, {n_neg} negatives (hard and routine)")
    head = "".join(f"   {name + ' P':>10} {'R':>5}" for name, _ in columns)
    print(f"  {'kind':<24}{'n':>4}{head}")

    def row(name: str, scores: Sequence[KindScore]) -> None:
        cells = ""
        for sc in scores:
            p = f"{sc.precision:.2f}" if sc.true_positive + sc.false_positive else "  - "
            cells += f"   {p:>10} {sc.recall:>5.2f}"
        print(f"  {name:<24}{scores[-1].support:>4}{cells}")

    for kind in kinds:
        row(kind, [s[kind] for _, s in scored])
    row("all risk kinds", [micro(s, RISK_KINDS) for _, s in scored])
    row("all kinds", [micro(s, kinds) for _, s in scored])


def _misses(
    sentences: Sequence[LabelledSentence],
    best: list[tuple[str, float]],
    predicted: list[str | None],
) -> None:
    print("\nWhat the current matcher gets wrong (gold -> found, best phrase's label and score):")
    for s, (label, score), p in zip(sentences, best, predicted, strict=True):
        if p != s.kind:
            print(f"  {s.kind or '-':<22} -> {p or '-':<22} {label:<22} {score:.3f}  {s.text}")


def _fit(sentences: Sequence[LabelledSentence], best: list[tuple[str, float]]) -> dict[str, float]:
    fitted: dict[str, float] = {}
    for kind in LANGUAGE_KINDS:
        pairs = zip(sentences, best, strict=True)
        winners = [(score, s.kind == kind) for s, (label, score) in pairs if label == kind]
        fitted[kind] = fit_threshold(
            [w[0] for w in winners],
            [w[1] for w in winners],
            min_precision=MIN_PRECISION,
            floor=FLOOR_SCORE,
        )
    return fitted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--labels", type=Path, default=None, help="another labelled set (YAML)")
    parser.add_argument("--misses", choices=["dev", "test", "all"], default=None)
    parser.add_argument("--fit", action="store_true", help="refit the thresholds on dev")
    args = parser.parse_args(argv)

    from keel.errors import KeelError
    from keel.memory.embeddings import load_embedder

    try:
        labelled = load_labelled_set(args.labels)
    except KeelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    embedder = load_embedder()
    sentences = list(labelled.sentences)
    vectors = embedder.embed([s.text for s in sentences])
    before_best = Matcher(embedder.embed, BEFORE_PROTOTYPES).best(vectors)
    previous_prototypes = {**all_prototypes(), EXPANSION: PREVIOUS_EXPANSION}
    previous_best = Matcher(embedder.embed, previous_prototypes).best(vectors)
    after_best = Matcher(embedder.embed, all_prototypes()).best(vectors)
    seconds = time.perf_counter() - started
    before_thresholds = dict.fromkeys(BEFORE_PROTOTYPES, BEFORE_MIN_SCORE)
    before = _predict(before_best, before_thresholds)
    previous = _predict(previous_best, THRESHOLDS)
    after = _predict(after_best, THRESHOLDS)

    print(
        f"Labelled set {labelled.source} (version {labelled.version}): {len(sentences)} "
        f"sentences; embedded with the phrases in {seconds:.1f}s"
    )
    print(f"before: {sum(map(len, BEFORE_PROTOTYPES.values()))} phrases, one threshold "
          f"{BEFORE_MIN_SCORE} (no expansion kind)")  # fmt: skip
    print(f"previous: the expansion prototypes of f83d378 ({len(PREVIOUS_EXPANSION)}), "
          "the rest as after")  # fmt: skip
    n_after = sum(map(len, all_prototypes().values()))
    print(f"after:  {n_after} phrases (contrasts included), thresholds "
          + ", ".join(f"{k} {v:.2f}" for k, v in THRESHOLDS.items()))  # fmt: skip
    for split, title in (("test", "TEST part (held out: never tuned on)"),
                         ("dev", "DEV part (thresholds fitted here)")):  # fmt: skip
        idx = [i for i, s in enumerate(sentences) if s.split == split]
        _table(
            title,
            [sentences[i].kind for i in idx],
            [
                ("before", [before[i] for i in idx]),
                ("previous", [previous[i] for i in idx]),
                ("after", [after[i] for i in idx]),
            ],
        )
    if args.fit:
        dev = [i for i, s in enumerate(sentences) if s.split == "dev"]
        fitted = _fit([sentences[i] for i in dev], [after_best[i] for i in dev])
        print(f"\nThresholds fitted on dev (precision >= {MIN_PRECISION}, floor {FLOOR_SCORE}):")
        for kind, value in fitted.items():
            same = (
                "" if abs(value - THRESHOLDS[kind]) < 1e-9 else f"   (code has {THRESHOLDS[kind]})"
            )
            print(f"  {kind:<24}{value:.2f}{same}")
    if args.misses:
        idx = [i for i, s in enumerate(sentences) if args.misses == "all" or s.split == args.misses]
        _misses([sentences[i] for i in idx], [after_best[i] for i in idx], [after[i] for i in idx])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
