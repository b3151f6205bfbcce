"""The team's labelled risk and expansion language, and the matcher measured on it.

The fast tests check the labelled set itself, its loader and the scoring helpers. The slow
ones embed the set once (all-MiniLM-L6-v2, bundled) and hold Keel's prototypes and
per-kind thresholds to floors on the held-out test part, to issue 20's statements, and
to thresholds that are what the dev part fits (bench/risk_language.py prints the table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keel.errors import ValidationFailed
from keel.tools.language_labels import (
    LabelledSet,
    fit_threshold,
    load_labelled_set,
    micro,
    score_kinds,
    split_of,
)
from keel.tools.risk_language import (
    EXPANSION,
    FLOOR_SCORE,
    LANGUAGE_KINDS,
    RISK_KINDS,
    THRESHOLDS,
    TextLabel,
    all_prototypes,
    best_phrases,
    kind_of,
)
from keel.tools.signals.catalog import RISK_LABELS


@pytest.fixture(scope="module")
def labelled() -> LabelledSet:
    return load_labelled_set()


def test_the_labelled_set_covers_every_kind_with_positives_and_hard_negatives(
    labelled: LabelledSet,
) -> None:
    assert len(labelled.sentences) >= 200
    assert labelled.kinds == LANGUAGE_KINDS
    assert RISK_KINDS == RISK_LABELS  # the risk kinds are the risk signals' labels
    for kind in LANGUAGE_KINDS:
        positives = [s for s in labelled.sentences if s.kind == kind]
        hard = [s for s in labelled.sentences if s.near == kind]
        assert len(positives) >= 20 and len(hard) >= 10, kind
        # Both parts hold each kind, so the held-out figures exist per kind.
        assert sum(s.split == "test" for s in positives) >= 4, kind
        assert sum(s.split == "dev" for s in positives) >= 10, kind
    routine = [s for s in labelled.sentences if s.kind is None and s.near is None]
    assert len(routine) >= 15
    share = sum(s.split == "test" for s in labelled.sentences) / len(labelled.sentences)
    assert 0.2 < share < 0.4
    # No phrase of the matcher is a sentence of the set it is measured on.
    texts = {s.text.lower() for s in labelled.sentences}
    assert not [p for ps in all_prototypes().values() for p in ps if p.lower() in texts]


def test_the_split_is_decided_by_the_text_alone() -> None:
    assert split_of("Our key contact quit.") == split_of("  our key   contact QUIT. ")


def test_a_broken_labelled_set_names_each_bad_entry(tmp_path: Path) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text(
        "version: one\n"
        "kinds:\n"
        "  reorg:\n"
        "    positive: ['Layoffs hit support.', 42, 'layoffs hit  support.']\n"
        "    hard_negtive: ['typo in the key']\n"
        "  budget_cut: just a string\n"
        "routine: not a list\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as failed:
        load_labelled_set(path)
    message = str(failed.value)
    for where in (
        "field 'version'",
        "field 'kinds.reorg.positive[1]'",  # 42 is no sentence
        "field 'kinds.reorg.positive[2]': repeats kinds.reorg.positive[0]",
        "unknown keys ['hard_negtive']",
        "field 'kinds.budget_cut'",
        "field 'routine'",
    ):
        assert where in message, (where, message)
    assert "labels.yaml" in message
    path.write_text("kinds: [unclosed\n", encoding="utf-8")
    with pytest.raises(Exception, match="not valid YAML"):
        load_labelled_set(path)


def test_precision_and_recall_per_kind() -> None:
    gold = ["reorg", "reorg", None, "budget_cut", None]
    found = ["reorg", None, "reorg", "budget_cut", None]
    scores = score_kinds(found, gold, ["reorg", "budget_cut"])
    assert (scores["reorg"].precision, scores["reorg"].recall) == (0.5, 0.5)
    assert (scores["budget_cut"].precision, scores["budget_cut"].recall) == (1.0, 1.0)
    both = micro(scores, ["reorg", "budget_cut"])
    assert (both.true_positive, both.false_positive, both.false_negative) == (2, 1, 1)


def test_a_fitted_threshold_keeps_precision_and_sits_between_scores() -> None:
    scores = [0.9, 0.8, 0.7, 0.65, 0.6, 0.5]
    positive = [True, True, True, False, True, False]
    # 0.66..0.70 finds three positives at precision 1; lower thresholds admit the 0.65
    # negative (precision 0.8 finding four); the middle of the best range is returned.
    assert fit_threshold(scores, positive, min_precision=0.9, floor=0.5) == 0.68
    assert fit_threshold(scores, positive, min_precision=0.75, floor=0.5) == 0.55
    assert fit_threshold([0.9], [False], min_precision=0.9, floor=0.5, ceiling=0.8) == 0.8


def test_a_record_is_its_best_phrases_kind_at_that_kinds_threshold() -> None:
    similarity = np.array([[0.9, 0.1, 0.2], [0.3, 0.4, 0.95], [0.1, THRESHOLDS["reorg"], 0.0]])
    best = best_phrases(similarity, ["budget_cut", "reorg", "none"])
    assert [kind_of(label, score) for label, score in best] == ["budget_cut", None, "reorg"]
    assert kind_of("reorg", THRESHOLDS["reorg"] - 0.01) is None
    assert all(FLOOR_SCORE <= t < 0.8 for t in THRESHOLDS.values())
    assert set(THRESHOLDS) == set(LANGUAGE_KINDS)


# --- measured with the embedding model -------------------------------------------------

# Statements issue 20 found missed (or found only just), and the brief's hard negatives.
ISSUE_STATEMENTS = {
    "Their CFO sat in on a demo from a competitor last week.": "competitor_evaluation",
    "They have been asked to evaluate alternatives before the renewal.": "competitor_evaluation",
    "Our champion left the firm last Friday.": "champion_leaving",
    "They complained that answer quality dropped after the last release.": "quality_complaint",
    "They want to roll out to field engineering next quarter.": EXPANSION,
    "Two new studios are joining, with 30 more designers.": EXPANSION,
}
HARD_NEGATIVES = (
    "We evaluated alternatives last year and chose you.",
    "The champion left the meeting early.",
    "No budget issues this year; the renewal is already in their plan.",
    "Accuracy went up after the latest release.",
)
# Held-out (test part) floors, all risk kinds together. Before this work (the single
# 0.55 threshold and the prototypes of commit 3668643) the test part measured precision
# 0.80 and recall 0.41 for the risk kinds, and no expansion kind existed.
TEST_RISK_RECALL_FLOOR = 0.5
TEST_RISK_PRECISION_FLOOR = 0.75
# Per kind on the held-out part: only the kinds whose held-out recall rose above where it
# was (competitor evaluation 0.44, champion leaving 0.33 before).
TEST_KIND_RECALL_FLOORS = {"competitor_evaluation": 0.75, "champion_leaving": 0.5}
# Expansion on the held-out part (version 2 of the set, 17 positives): the prototypes of
# f83d378 found 2 (precision 0.40, recall 0.12); those of issue 20 item 2 find 6 (0.67,
# 0.35).
TEST_EXPANSION_RECALL_FLOOR = 0.3
TEST_EXPANSION_PRECISION_FLOOR = 0.6


@pytest.fixture(scope="module")
def labelled_best(labelled: LabelledSet) -> dict[str, tuple[str, float]]:
    """Each sentence of the set (and the issue's statements) with its best phrase."""
    from keel.memory.embeddings import load_embedder

    embedder = load_embedder()
    texts = sorted({s.text for s in labelled.sentences} | set(ISSUE_STATEMENTS))
    prototypes = all_prototypes()
    labels = [label for label, values in prototypes.items() for _ in values]
    phrases = [phrase for values in prototypes.values() for phrase in values]
    similarity = embedder.embed(texts) @ embedder.embed(phrases).T
    return dict(zip(texts, best_phrases(similarity, labels), strict=True))


@pytest.mark.slow
def test_the_issue_statements_are_found_and_the_hard_negatives_are_not(
    labelled_best: dict[str, tuple[str, float]],
) -> None:
    for text, kind in ISSUE_STATEMENTS.items():
        label, score = labelled_best[text]
        assert kind_of(label, score) == kind, (text, label, score)
    for text in HARD_NEGATIVES:
        label, score = labelled_best[text]
        assert kind_of(label, score) is None, (text, label, score)


@pytest.mark.slow
def test_held_out_precision_and_recall_meet_the_floors(
    labelled: LabelledSet, labelled_best: dict[str, tuple[str, float]]
) -> None:
    test = labelled.part("test")
    found = [kind_of(*labelled_best[s.text]) for s in test]
    scores = score_kinds(found, [s.kind for s in test], LANGUAGE_KINDS)
    risk = micro(scores, RISK_KINDS)
    assert risk.recall >= TEST_RISK_RECALL_FLOOR, risk
    assert risk.precision >= TEST_RISK_PRECISION_FLOOR, risk
    for kind, floor in TEST_KIND_RECALL_FLOORS.items():
        assert scores[kind].recall >= floor, scores[kind]
    # Expansion language is found, and what is found is mostly expansion.
    assert scores[EXPANSION].recall >= TEST_EXPANSION_RECALL_FLOOR, scores[EXPANSION]
    assert scores[EXPANSION].precision >= TEST_EXPANSION_PRECISION_FLOOR, scores[EXPANSION]
    every = labelled.part(None)
    found_all = [kind_of(*labelled_best[s.text]) for s in every]
    overall = score_kinds(found_all, [s.kind for s in every], LANGUAGE_KINDS)
    assert overall[EXPANSION].precision >= 0.8 and overall[EXPANSION].recall >= 0.4


@pytest.mark.slow
def test_the_thresholds_are_what_the_dev_part_fits(
    labelled: LabelledSet, labelled_best: dict[str, tuple[str, float]]
) -> None:
    dev = labelled.part("dev")
    for kind in LANGUAGE_KINDS:
        winners = [(labelled_best[s.text][1], s.kind == kind) for s in dev
                   if labelled_best[s.text][0] == kind]  # fmt: skip
        fitted = fit_threshold(
            [w[0] for w in winners], [w[1] for w in winners], min_precision=0.9, floor=FLOOR_SCORE
        )
        assert fitted == pytest.approx(THRESHOLDS[kind]), kind


@pytest.mark.slow
def test_label_texts_labels_as_the_scan_does() -> None:
    from keel.memory.embeddings import load_embedder
    from keel.tools.expansion_language import expansion_sentences
    from keel.tools.risk_language import label_texts

    embedder = load_embedder()
    texts = ["Our champion left the firm last Friday.", "They need 40 more seats for a new team."]
    labels = label_texts(embedder, texts)
    assert [t.kind for t in labels] == ["champion_leaving", EXPANSION]
    assert all(isinstance(t, TextLabel) and t.score >= THRESHOLDS[t.best_label] for t in labels)
    assert [t.text for t in expansion_sentences(embedder, texts)] == [texts[1]]
