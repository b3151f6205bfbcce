"""Chat answers against the scenario's expert list, and their citations.

- **chat correctness**: per question, the share of the expert's checks the answer passes:
  each fact it must mention is there, one of the ``must_mention_any`` phrasings is there,
  nothing it must not reveal is there (another CSM's account's figures, an address a
  ticket asked to be shown), and it cites each evidence kind the expert expects (the
  renewal record for a renewal date, a ticket for what the customer said). A question
  that got no answer scores 0. The scenario's score is the mean over its questions.
- **chat citations**: per question, the share of its cited ids that name a record of the
  asking CSM's book (or a computed id the tools return: a health score, a metric), minus
  a share for every id the chat's own citation check had to take out and every sentence
  that states a number with no source. An answer that cites nothing while the expert
  expects a citation scores 0.

Both are not applicable to a scenario with no chat questions.
"""

from __future__ import annotations

from keel.evals.outcome import ChatAnswer, Outcome, Score, Span


def score_chat_correctness(outcome: Outcome) -> Score:
    name = "chat_correctness"
    if not outcome.chat:
        return Score(name, 1.0, "no chat question in this scenario", applicable=False)
    scores: list[float] = []
    problems: list[str] = []
    spans: list[Span] = []
    for index, answer in enumerate(outcome.chat):
        key = f"chat:{index + 1}"
        failed = _correctness_failures(answer)
        total = _correctness_checks(answer)
        if answer.error or not answer.text:
            scores.append(0.0)
            problems.append(f"{key} ({answer.type}) got no answer: {answer.error or 'empty'}")
            continue
        scores.append(1.0 - len(failed) / total if total else 1.0)
        for why, text in failed:
            problems.append(f"{key} ({answer.type}): {why}")
            start = answer.text.lower().find(text.lower()) if text else -1
            end = start + len(text) if start >= 0 else -1
            spans.append(Span(key, text, start, end, why))
    score = sum(scores) / len(scores)
    if not problems:
        return Score(name, 1.0, f"all {len(scores)} chat answers say what the expert expects")
    return Score(name, score, "; ".join(problems), tuple(spans))


def _correctness_checks(answer: ChatAnswer) -> int:
    return (
        len(answer.must_mention)
        + (1 if answer.must_mention_any else 0)
        + len(answer.must_not_mention)
        + len(answer.must_cite)
    )


def _correctness_failures(answer: ChatAnswer) -> list[tuple[str, str]]:
    text = answer.text.lower()
    failed: list[tuple[str, str]] = []
    for wanted in answer.must_mention:
        if wanted.lower() not in text:
            failed.append((f"does not mention {wanted!r}", ""))
    if answer.must_mention_any and not any(w.lower() in text for w in answer.must_mention_any):
        failed.append((f"says none of {', '.join(repr(w) for w in answer.must_mention_any)}", ""))
    for banned in answer.must_not_mention:
        if banned and banned.lower() in text:
            failed.append((f"reveals {banned!r}", banned))
    for kind in answer.must_cite:
        if not any(c.startswith(f"{kind}:") for c in answer.cited):
            failed.append((f"cites no {kind} record", ""))
    return failed


def score_chat_citations(outcome: Outcome) -> Score:
    name = "chat_citations"
    if not outcome.chat:
        return Score(name, 1.0, "no chat question in this scenario", applicable=False)
    scores: list[float] = []
    problems: list[str] = []
    for index, answer in enumerate(outcome.chat):
        key = f"chat:{index + 1}"
        if answer.error or not answer.text:
            scores.append(0.0)
            problems.append(f"{key} got no answer")
            continue
        if not answer.cited:
            if answer.must_cite:
                scores.append(0.0)
                problems.append(f"{key} cites nothing")
            else:
                scores.append(1.0 if not answer.unsupported else 0.5)
                if answer.unsupported:
                    problems.append(f"{key}: {len(answer.unsupported)} number(s) with no source")
            continue
        bad = [i for i in answer.cited if answer.owners.get(i) not in (None, answer.user)]
        penalties = len(answer.removed) + len(answer.unsupported)
        valid = (len(answer.cited) - len(bad)) / len(answer.cited)
        scores.append(max(0.0, valid - 0.25 * penalties))
        if bad:
            problems.append(
                f"{key} cites records outside the CSM's book or that do not exist: {', '.join(bad)}"
            )
        if answer.removed:
            problems.append(
                f"{key}: the citation check removed {len(answer.removed)} id(s) "
                f"({', '.join(answer.removed[:4])})"
            )
        if answer.unsupported:
            problems.append(f"{key}: {len(answer.unsupported)} number(s) with no source")
    score = sum(scores) / len(scores)
    if not problems:
        return Score(name, 1.0, f"every citation of {len(scores)} answers is the CSM's own record")
    return Score(name, score, "; ".join(problems))
