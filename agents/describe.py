"""What a reviewer reads beside a draft: Keel's reasons, built by code.

The reasons shown as Keel's come from the signals (the code's own candidate hypotheses),
the evidence ids, the policy and the content checks, never from a model's free text: a
model that fell for an instruction in a ticket would otherwise speak to the reviewer in
Keel's voice ("Why: the customer's CFO asked us to send the invoice to ...").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keel.agents.content_gate import CONTENT_PREFIX
from keel.agents.facts import known_evidence_ids
from keel.domain.plays import PLAY_LIBRARY
from keel.memory.actions import ProposedAction
from keel.tools.outbound.content import neutralise


def _code_hypothesis(facts: Mapping[str, Any], hypothesis_id: str | None) -> Mapping[str, Any]:
    for hypothesis in facts.get("hypotheses") or []:
        if hypothesis_id and hypothesis.get("id") == hypothesis_id:
            return dict(hypothesis)
    return {}


def why_lines(item: Mapping[str, Any], facts: Mapping[str, Any]) -> list[str]:
    """Why the play was proposed, in code's words."""
    play = PLAY_LIBRARY.get(str(item.get("play")))
    title = play.title if play else str(item.get("play"))
    hypothesis = _code_hypothesis(facts, item.get("hypothesis_id"))
    lines: list[str] = []
    if hypothesis:
        confidence = float(hypothesis.get("confidence") or 0)
        lines.append(
            f"Why: {title} answers {hypothesis['id']} ({hypothesis.get('kind')}, "
            f"{confidence:.0%} confidence): {neutralise(str(hypothesis.get('statement') or ''))}"
        )
    else:
        lines.append(
            f"Why: {title}; the model proposed it and no signal-based hypothesis of Keel's "
            "supports it."
        )
    if item.get("code_selected") is False:
        lines.append(
            "Chosen by: the model. The signals alone would not have selected this play, so "
            "it waits for a human whatever the tier."
        )
    elif item.get("code_selected") is True:
        lines.append("Chosen by: the signals (the model wrote the words, not the choice).")
    return lines


def describe_action(
    action: ProposedAction,
    item: Mapping[str, Any],
    facts: Mapping[str, Any],
    *,
    content_notes: Sequence[str] = (),
) -> str:
    """The approval request's description for ``action``."""
    lines = [f"Play: {action.play_id} (revision {action.revision})."]
    lines += why_lines(item, facts)
    known = known_evidence_ids(facts)
    cited = [str(i) for i in action.payload.get("metadata", {}).get("evidence_ids") or []]
    evidence = [i for i in cited if i in known]
    if evidence:
        lines.append("Evidence: " + ", ".join(evidence))
    policy = [r for r in action.policy_reasons if not r.startswith(CONTENT_PREFIX)]
    removed = [
        *content_notes,
        *(
            r.removeprefix(CONTENT_PREFIX)
            for r in action.policy_reasons
            if r.startswith(CONTENT_PREFIX)
        ),
    ]
    if removed:
        # What was refused is the model's (or an attacker's) text, not Keel's: it is shown
        # quoted, inert, under a label that says so.
        lines.append("Content checks removed from the draft (quoted as found, made inert):")
        lines += [f"> {neutralise(note)}" for note in dict.fromkeys(removed)]
        lines.append("")
    lines.append("Policy: " + "; ".join(neutralise(r) for r in policy))
    lines.append(f"Drafted by: {action.produced_by_model or 'unknown model'}")
    return "\n".join(lines)
