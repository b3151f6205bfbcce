"""Citations: every cited id exists, belongs to the account, and supports its sentence.

For each id an artefact cites (in brackets in its text, or in its declared evidence ids):

- **exists**: a draft may cite only the fact lines it was given; the briefing only ids the
  analyst's tools returned.
- **belongs**: a record id (ticket, note, NPS, contact, invoice, renewal, account) names a
  record of the reviewed account. Similar churned accounts (``cohort:``) are pattern
  evidence for the CS team: allowed internally, another customer's data in a customer
  draft.
- **supports** (the lexical rule, for ids cited in brackets): in a draft, the sentence
  citing it and the cited fact line or record share at least two content words (three
  letters or more, not stop words, plurals folded), or at least 30% of the sentence's
  content words, and every number of the sentence is in what it cites (a draft's
  citation points at the fact that carries its number). The briefing's (and the
  meeting-prep brief's) claims are
  aggregates over several records ("CSAT 3.3 over 90 days" citing the low-rated
  tickets): one shared content word with what they cite is enough there, and its
  numbers are the grounded scorer's to judge.

A customer's draft cites beside its text, not in it (issue 19): a sentence of it that
states a number is cited by the declared evidence id that supports it (the strict rule).
A draft's sentence that states a number or date and cites nothing is counted as an
uncited factual sentence. Score: good citations / (citations + uncited factual
sentences); not applicable when nothing cites and nothing states a number.
"""

from __future__ import annotations

from typing import Final

from keel.agents.facts import known_evidence_ids
from keel.evals.numbers import Known, find_numbers, grounded
from keel.evals.outcome import INTERNAL, Artefact, Outcome, Score, Span
from keel.evals.text import citations, content_words, sentences, without_citations, without_notices

NAME = "citations"
MIN_SHARED_WORDS: Final = 2
MIN_SHARED_SHARE: Final = 0.3
_GREETING_WORDS: Final = ("hi ", "hello ", "dear ", "hey ", "subject: ")


def supports(sentence: str, support: str, *, strict: bool) -> bool:
    """Whether ``support`` (fact lines or records) says what ``sentence`` claims; ``strict``
    for drafts, lenient for the briefing's aggregate claims (see the module docstring)."""
    claim = content_words(sentence)
    shared = claim & content_words(support)
    if not strict:
        return bool(shared) or not claim
    if claim and len(shared) < MIN_SHARED_WORDS and len(shared) / len(claim) < MIN_SHARED_SHARE:
        return False
    if strict:
        known = Known.of([support])
        return all(grounded(f, known) for f in find_numbers(without_citations(sentence)))
    return True


def _declared_support(
    outcome: Outcome, artefact: Artefact, sentence: str, known: set[str]
) -> str | None:
    """The declared evidence id of a customer's draft that supports ``sentence`` (strictly:
    its words and every number), or None (also for internal artefacts, which cite inline)."""
    if not artefact.key.startswith("draft:") or artefact.audience == INTERNAL:
        return None
    if not find_numbers(sentence):
        return None
    for ident in artefact.cited:
        if _problem(outcome, artefact, ident, known) is not None:
            continue
        support = _support_text(outcome, artefact, ident)
        if support.strip() and supports(sentence, support, strict=True):
            return ident
    return None


def _support_text(outcome: Outcome, artefact: Artefact, ident: str) -> str:
    lines = [line["text"] for line in artefact.given if line.get("id") == ident]
    lines += [line["text"] for line in outcome.facts.get("fact_lines") or [] if line["id"] == ident]
    record = outcome.records.get(ident)
    if record:
        lines.append(record[0])
    return "\n".join(dict.fromkeys(lines))


def _problem(outcome: Outcome, artefact: Artefact, ident: str, known: set[str]) -> str | None:
    if ident not in known:
        drafted = artefact.key.startswith("draft:")
        what = "the facts it was given" if drafted else "the tools' results"
        return f"{ident} is not among {what}"
    if ident.startswith("cohort:"):
        return None if artefact.audience == INTERNAL else f"{ident} is another customer's data"
    record = outcome.records.get(ident)
    own = outcome.account.get("id")
    if record is not None and record[1] is not None and record[1] != own:
        return f"{ident} belongs to another account"
    return None


def score_citations(outcome: Outcome) -> Score:
    total = good = uncited = 0
    spans: list[Span] = []
    all_known = known_evidence_ids(outcome.facts)
    for artefact in outcome.artefacts:
        is_draft = artefact.key.startswith("draft:")
        known = {line["id"] for line in artefact.given} if is_draft else all_known
        text = without_notices(artefact.text)
        inline = citations(text)
        checked: set[str] = set()
        for sentence in sentences(text):
            cited = [c for c in inline if sentence.start <= c[1] < sentence.end]
            if not cited:
                lowered = sentence.text.lower()
                beside = _declared_support(outcome, artefact, sentence.text, known)
                if beside is not None and not lowered.startswith(_GREETING_WORDS):
                    # A customer's draft carries its citations beside the text (its
                    # declared evidence ids), never inline: the sentence is cited when one
                    # of them says it.
                    total += 1
                    good += 1
                    checked.add(beside)
                    continue
                if (
                    is_draft
                    and not lowered.startswith(_GREETING_WORDS)
                    and find_numbers(sentence.text)
                ):
                    uncited += 1
                    spans.append(
                        Span(
                            artefact.key,
                            sentence.text,
                            sentence.start,
                            sentence.end,
                            "states a number or date and cites nothing",
                        )
                    )
                continue
            support = "\n".join(_support_text(outcome, artefact, ident) for ident, _, _ in cited)
            for ident, start, end in cited:
                total += 1
                checked.add(ident)
                problem = _problem(outcome, artefact, ident, known)
                if problem is None and not _support_text(outcome, artefact, ident).strip():
                    problem = f"nothing Keel recorded under {ident} can support this sentence"
                elif problem is None and not supports(sentence.text, support, strict=is_draft):
                    problem = f"what {ident} records does not say this sentence"
                if problem is None:
                    good += 1
                else:
                    spans.append(Span(artefact.key, ident, start, end, problem))
        for ident in artefact.cited:
            if ident in checked:
                continue
            total += 1
            problem = _problem(outcome, artefact, ident, known)
            if problem is None:
                good += 1
            else:
                spans.append(Span(artefact.key, ident, -1, -1, problem + " (declared evidence)"))
    denominator = total + uncited
    if not denominator:
        return Score(NAME, 1.0, "nothing cited and no factual sentence", applicable=False)
    score = good / denominator
    if not spans:
        return Score(NAME, 1.0, f"all {total} citations exist, belong and support their sentence")
    reason = (
        f"{good} of {total} citations hold; {uncited} factual sentence(s) cite nothing"
        + "; "
        + "; ".join(s.why for s in spans[:3])
    )
    return Score(NAME, score, reason, tuple(spans))
