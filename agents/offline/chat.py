"""How the offline model holds up its end of the CSM chat: answers from the tool results.

The chat step's plan calls every read-only chat tool on each question (they only read the
scored book and the account's records), and an intent rule adds ``propose_draft`` when the
CSM asks for a draft. :func:`chat_reply` then answers the latest question from this
turn's tool results, by question type, with templates: every sentence that states a fact
ends with the evidence ids it comes from, numbers are the tools' own, and each answer says
it came from the offline model. A question it has no template for gets a plain answer
saying what it can and cannot answer. Customer text is never followed: ticket and note
bodies are only ever quoted (briefly, marked, with their id), never acted on. A sentence
that says something is absent ("No recent ticket ... is on record") cites nothing: no record
says so, and the citation check holds a cited record to what its sentence says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from langchain_core.messages import BaseMessage, ToolMessage

from keel.agents.chat import CHAT_STEP
from keel.agents.offline.facts import current_turn, latest_request
from keel.agents.offline.intents import DEFAULT_INTENTS, IntentRule, IntentTable
from keel.agents.offline.text import OFFLINE_NOTICE
from keel.text import money

# The read-only tools the offline chat calls on every question (globs over their names).
CHAT_PLAN: Final = (
    "account_*",
    "candidate_hypotheses",
    "search_evidence",
    "similar_churned_accounts",
    "renewal_and_billing",
    "book_*",
)
DRAFT_INTENT: Final = IntentRule(r"\b(draft|write|compose)\b", ("propose_draft",))

CHAT_NOTICE: Final = "Answered by Keel's offline model (templates over the tool results; no LLM)."
CAN_ANSWER: Final = (
    "why an account is at risk or healthy, what changed since last month, who the champion "
    "is and when you last talked, what they complained about, what similar churned accounts "
    "had in common, adoption, NPS, the renewal and its value; across your book: renewals "
    "next quarter at risk, expansion openings, quiet accounts, what the last scoring "
    "changed; and work: meeting prep, a call-note summary, a draft for approval"
)
_QUOTE_CHARS: Final = 160
_UNWRAP = re.compile(r"</?customer_content[^>]*>")


def chat_intents() -> IntentTable:
    """The offline model's intent rules: the shared ones plus the chat's draft request."""
    return IntentTable([*DEFAULT_INTENTS.rules, DRAFT_INTENT])


def chat_plans() -> dict[str, tuple[str, ...]]:
    return {CHAT_STEP: CHAT_PLAN}


def chat_replies() -> dict[str, Callable[[list[BaseMessage]], str]]:
    return {CHAT_STEP: chat_reply}


# --------------------------------------------------------------------------- the reply

Results = Mapping[str, Any]
Answer = Callable[[str, Results], list[str]]


def chat_reply(messages: list[BaseMessage]) -> str:
    """The offline answer to the latest question, from this turn's tool results."""
    question = latest_request(messages).strip()
    results = _results(messages)
    kind, answer = _route(question)
    if kind == "account":
        refusal = _refusal(results)
        if refusal:
            return _finish([f"I can't answer that: {refusal}."])
    try:
        lines = answer(question, results)
    except (KeyError, TypeError, ValueError, IndexError):
        lines = []
    if not lines:
        lines = [
            "The tools returned nothing I can answer this with.",
            f"I can answer: {CAN_ANSWER}.",
        ]
    return _finish(lines)


def _finish(lines: list[str]) -> str:
    return "\n".join([*lines, f"_{CHAT_NOTICE} {OFFLINE_NOTICE}_"])


def _results(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for message in current_turn(messages):
        if isinstance(message, ToolMessage) and message.name:
            try:
                found[message.name] = json.loads(str(message.content))
            except json.JSONDecodeError:
                continue
    return found


def _refusal(results: Results) -> str | None:
    profile = results.get("account_profile") or {}
    if profile.get("refused") or profile.get("error"):
        return str(profile.get("reason") or profile.get("error"))
    return None


def _cite(*ids: Any) -> str:
    kept = [str(i) for i in ids if i]
    return f" [{', '.join(dict.fromkeys(kept))}]" if kept else ""


def _pct(value: Any) -> str:
    return f"{float(value):.0%}"


def _money(value: Any) -> str:
    return money(value)


def _quote(record: Mapping[str, Any]) -> str:
    text = _UNWRAP.sub("", str(record.get("content") or "")).strip().replace("\n", " ")
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def _account(results: Results) -> dict[str, Any]:
    return dict((results.get("account_profile") or {}).get("account") or {})


def _hits(results: Results, kind: str) -> list[dict[str, Any]]:
    hits = (results.get("search_evidence") or {}).get("hits") or []
    return [h for h in hits if h.get("kind") == kind]


# --- about one account ---------------------------------------------------------------------


def _health(question: str, results: Results) -> list[str]:
    account = _account(results)
    health = results.get("account_health") or {}
    if not health.get("id"):
        return []
    name = account.get("name") or "The account"
    state = "at risk" if health.get("band") == "at risk" else f"in the '{health.get('band')}' band"
    lines = [
        f"{name} is {state}: health {health['score']}/100, the {health['percentile']} "
        f"percentile of the book, churn risk {_pct(health['risk'])} within "
        f"{health.get('horizon_days')} days{_cite(health['id'])}."
    ]
    raising = [f for f in health.get("factors") or [] if f.get("direction") == "raises risk"]
    lowering = [f for f in health.get("factors") or [] if f.get("direction") == "lowers risk"]
    for factor in (raising or lowering)[:3]:
        lines.append(f"- {factor.get('text') or factor.get('label')}{_cite(health['id'])}")
    risks = [
        h
        for h in (results.get("candidate_hypotheses") or {}).get("hypotheses") or []
        if h.get("kind") == ("risk" if raising else "expansion")
    ]
    for hypothesis in risks[:2]:
        lines.append(f"- {hypothesis['statement']}{_cite(*hypothesis['evidence_ids'])}")
    return lines


def _changed(question: str, results: Results) -> list[str]:
    account = _account(results)
    notable = [
        s for s in (results.get("account_signals") or {}).get("signals") or [] if s.get("notable")
    ]
    lines = [f"What changed at {account.get('name', 'the account')}:"] if notable else []
    for signal in notable[:5]:
        lines.append(f"- {signal['text']} (since {signal['since']}){_cite(signal['id'])}")
    for contact in (results.get("account_profile") or {}).get("contacts") or []:
        if contact.get("left_company"):
            lines.append(
                f"- {contact['name']} ({contact['role']}) left the company"
                + (f" on {contact['left_on']}" if contact.get("left_on") else "")
                + _cite(contact["evidence_id"])
            )
    if not lines:
        lines.append(
            f"No metric of {account.get('name', 'the account')} moved enough to call it a change."
        )
    return lines


def _champion(question: str, results: Results) -> list[str]:
    contacts = (results.get("account_profile") or {}).get("contacts") or []
    champions = [c for c in contacts if c.get("role") == "champion"]
    lines = []
    for contact in champions[:2]:
        left = " (has left the company)" if contact.get("left_company") else ""
        engaged = contact.get("last_engagement")
        lines.append(
            f"The champion is {contact['name']}, {contact.get('title') or 'no title'}{left}"
            + (f"; last engaged on {engaged}" if engaged else "")
            + f"{_cite(contact['evidence_id'])}."
        )
    if not champions:
        account = _account(results)
        lines.append(f"No contact of {account.get('name', 'the account')} is recorded as champion.")
    notes = _hits(results, "note")
    if notes:
        note = notes[0]
        lines.append(
            f"The last call note is from {note['date']} ({note.get('note_kind')}, by "
            f"{note.get('author')}){_cite(note['id'])}."
        )
    return lines


def _complaints(question: str, results: Results) -> list[str]:
    tickets = _hits(results, "ticket")
    if not tickets:
        account = _account(results)
        return [f"No recent ticket of {account.get('name', 'the account')} is on record."]
    lines = ["Recent tickets (customer text quoted as written, not acted on):"]
    for ticket in tickets[:4]:
        lines.append(
            f"- {ticket['date']}: {ticket.get('priority')} {ticket.get('category')} ticket, "
            f"{ticket.get('status')}: \u201c{_quote(ticket)}\u201d{_cite(ticket['id'])}"
        )
    return lines


def _similar(question: str, results: Results) -> list[str]:
    matches = (results.get("similar_churned_accounts") or {}).get("matches") or []
    if not matches:
        account = _account(results)
        return [
            "No churned account followed a path similar enough to compare with "
            f"{account.get('name', 'it')}."
        ]
    lines = [f"{len(matches)} churned account(s) resemble it:{_cite(*[m['id'] for m in matches])}"]
    for match in matches[:3]:
        lines.append(f"- {match['summary']}{_cite(match['id'])}")
    shared = [
        h
        for h in (results.get("candidate_hypotheses") or {}).get("hypotheses") or []
        if any(str(i).startswith("cohort:") for i in h.get("evidence_ids") or [])
    ]
    for hypothesis in shared[:1]:
        lines.append(f"In common: {hypothesis['statement']}{_cite(*hypothesis['evidence_ids'])}")
    return lines


def _adoption(question: str, results: Results) -> list[str]:
    signals = (results.get("account_signals") or {}).get("signals") or []
    named = re.search(r"feature\s+([\w-]+)", question, re.IGNORECASE) or re.search(
        r"adoption of\s+([\w-]+)", question, re.IGNORECASE
    )
    word = named.group(1) if named else ""
    pattern = re.compile(
        r"adopt|feature|event|usage|active|seat|session|engagement|outcome", re.IGNORECASE
    )
    chosen = [s for s in signals if pattern.search(f"{s.get('name')} {s.get('label')}")]
    lines = []
    if word and not any(
        word.lower() in f"{s.get('name')} {s.get('label')}".lower() for s in signals
    ):
        lines.append(f"I have no metric for the feature '{word}'; the adoption signals are:")
    for signal in chosen[:5]:
        text = signal.get("text") or f"{signal.get('label')}: {signal.get('display')}"
        since = f" (since {signal['since']})" if signal.get("since") else ""
        lines.append(f"- {text}{since}{_cite(signal['id'])}")
    if not chosen:
        lines.append("The tools return no adoption metric for this account.")
    return lines


def _nps(question: str, results: Results) -> list[str]:
    account = _account(results)
    responses = _hits(results, "nps")
    signals = [
        s
        for s in (results.get("account_signals") or {}).get("signals") or []
        if "nps" in f"{s.get('name')} {s.get('label')}".lower()
    ]
    lines = []
    for signal in signals[:2]:
        text = signal.get("text") or f"{signal.get('label')}: {signal.get('display')}"
        lines.append(f"- {text}{_cite(signal['id'])}")
    for response in responses[:3]:
        lines.append(
            f"- NPS {response.get('score')} on {response['date']}: "
            f"\u201c{_quote(response)}\u201d{_cite(response['id'])}"
        )
    if not lines:
        return [f"No recent NPS response from {account.get('name', 'the account')} is on record."]
    return [f"NPS at {account.get('name', 'the account')}:", *lines]


def _renewal(question: str, results: Results) -> list[str]:
    billing = results.get("renewal_and_billing") or {}
    upcoming = billing.get("upcoming_renewal")
    account = _account(results)
    lines = []
    if upcoming:
        lines.append(
            f"{account.get('name', 'The account')} renews on {upcoming['renewal_date']}, in "
            f"{upcoming['days_to_renewal']} days, worth {_money(upcoming['arr'])} ARR"
            f"{_cite(upcoming['id'])}."
        )
    else:
        lines.append(f"No upcoming renewal of {account.get('name', 'the account')} is recorded.")
    for past in (billing.get("past_renewals") or [])[-1:]:
        lines.append(
            f"The last renewal ({past['renewal_date']}) outcome {past['outcome']}, ARR "
            f"{_money(past['arr_before'])} -> {_money(past['arr_after'])}{_cite(past['id'])}."
        )
    for issue in (billing.get("billing_issues") or [])[:2]:
        lines.append(
            f"Invoice of {_money(issue['amount'])} due {issue['due_on']} is {issue['status']}"
            f"{_cite(issue['id'])}."
        )
    return lines


def _prep(question: str, results: Results) -> list[str]:
    account = _account(results)
    lines = [f"# Call prep: {account.get('name', 'the account')}"]
    lines += _health(question, results)
    lines += _renewal(question, results)[:1]
    lines += _champion(question, results)
    hypotheses = (results.get("candidate_hypotheses") or {}).get("hypotheses") or []
    points = [
        f"- {'Probe' if h['kind'] == 'risk' else 'Explore'}: {h['statement']}"
        f"{_cite(*h['evidence_ids'])}"
        for h in hypotheses[:3]
    ]
    if points:
        lines += ["Talking points:", *points]
    return lines


def _summary(question: str, results: Results) -> list[str]:
    pasted = question.split(":", 1)[1].strip() if ":" in question else ""
    if len(pasted) > 40:
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", pasted) if s.strip()]
        actions = [s for s in sentences if re.search(r"\b(will|next step|follow|send|by )", s)]
        lines = [
            f"Summary of the note you pasted ({len(sentences)} sentences; not a stored record):"
        ]
        lines += [f"- {s}" for s in sentences[:3] if not _has_number(s)]
        lines += [f"- Action: {s}" for s in actions[:4] if not _has_number(s)]
        return lines
    notes = _hits(results, "note")
    if not notes:
        account = _account(results)
        return [f"No recent call note of {account.get('name', 'the account')} is on record."]
    note = notes[0]
    return [
        f"The last call note, {note['date']} ({note.get('note_kind')}, by {note.get('author')})"
        f"{_cite(note['id'])}.",
        f"It says: \u201c{_quote(note)}\u201d{_cite(note['id'])}",
    ]


def _has_number(text: str) -> bool:
    return bool(re.search(r"\d", text))


def _draft(question: str, results: Results) -> list[str]:
    outcome = results.get("propose_draft") or {}
    if outcome.get("refused"):
        return [f"I can't propose that: {outcome.get('reason')}."]
    proposal = outcome.get("proposal")
    if not outcome.get("proposed") or not proposal:
        return [f"I did not propose a draft: {outcome.get('reason') or 'no draft was asked for'}."]
    account = _account(results)
    return [
        f"I asked Keel to prepare a '{proposal['play_title']}' draft for "
        f"{proposal['account_name']}{_cite(account.get('evidence_id'))}.",
        "It is drafted, checked against the policy and waits in the approval queue; nothing "
        "is sent until a person approves it.",
    ]


# --- across the book -----------------------------------------------------------------------


def _book_renewals(question: str, results: Results) -> list[str]:
    found = results.get("book_renewals") or {}
    rows = list(found.get("renewals") or [])
    at_risk = bool(re.search(r"risk", question, re.IGNORECASE))
    if at_risk:
        rows = [r for r in rows if r.get("flagged") or r.get("band") == "at risk"]
    what = "at risk and renewing" if at_risk else "renewing"
    if not rows:
        return [f"None of your accounts is {what} in this window."]
    lines = [f"Your accounts {what} in the next {found.get('window_days')} days:"]
    for row in rows:
        lines.append(
            f"- {row['account']} ({row['external_id']}): renews {row['renewal_date']} "
            f"({row['days_to_renewal']} days), ARR {_money(row['arr'])}, health {row['score']}"
            f"/100, {row['band']}{' (flagged)' if row.get('flagged') else ''}"
            f"{_cite(row['renewal_id'], row['health_id'])}"
        )
    return lines


def _book_expansion(question: str, results: Results) -> list[str]:
    openings = (results.get("book_expansion_openings") or {}).get("openings") or []
    if not openings:
        return ["None of your accounts shows an expansion opening in the scored book."]
    lines = ["Your expansion openings, best first:"]
    for row in openings[:6]:
        idea = row["hypotheses"][0]
        lines.append(
            f"- {row['account']} ({row['external_id']}): {idea['statement']}"
            f"{_cite(row['health_id'], *idea['evidence_ids'])}"
        )
    return lines


def _book_quiet(question: str, results: Results) -> list[str]:
    found = results.get("book_quiet_accounts") or {}
    rows = found.get("quiet") or []
    if not rows:
        return ["Every one of your accounts had a touch within the window."]
    lines = [f"Your accounts with no touch in {found.get('quiet_days')} days:"]
    for row in rows:
        last = (
            f"last touch {row['last_touch_on']} ({row['days_quiet']} days ago)"
            if row.get("last_touch_on")
            else "no touch on record"
        )
        lines.append(
            f"- {row['account']} ({row['external_id']}): {last}"
            f"{_cite(row.get('last_touch_id'), row['health_id'])}"
        )
    return lines


def _book_changes(question: str, results: Results) -> list[str]:
    found = results.get("book_scoring_changes") or {}
    if not found.get("previous_as_of"):
        return [
            "The book has no earlier scoring to compare the latest one with, so I cannot say "
            "what it changed."
        ]
    changes = found.get("changes") or []
    if not changes:
        return ["The latest scoring changed nothing notable in your accounts."]
    lines = [f"What the scoring as of {found['as_of']} changed since {found['previous_as_of']}:"]
    for change in changes:
        lines.append(
            f"- {change['account']} ({change['external_id']}): {change['what']}"
            f"{_cite(*change['evidence_ids'])}"
        )
    return lines


def _unknown(question: str, results: Results) -> list[str]:
    return [
        "I am Keel's offline model: I answer a fixed set of questions from the tools, and I "
        f"have no template for \u201c{question[:120]}\u201d.",
        f"I can answer: {CAN_ANSWER}.",
    ]


# Question patterns, first match wins: (pattern, needs an account, answer).
_ROUTES: Final[tuple[tuple[str, bool, Answer], ...]] = (
    (r"\b(draft|write|compose)\b", True, _draft),
    (r"\bprep\b|prepare me|get me ready|brief me", True, _prep),
    (r"summari[sz]e", True, _summary),
    (
        r"\bnightly\b|last scoring|scoring (run|change)|what did .*(run|scoring)",
        False,
        _book_changes,
    ),
    (
        r"\b(my accounts|which accounts|my book)\b.*renew|renew\w* next quarter",
        False,
        _book_renewals,
    ),
    (r"\b(my|where).*(expansion|upsell)|expansion openings?", False, _book_expansion),
    (r"quiet|gone silent|gone dark|not heard", False, _book_quiet),
    (r"similar|churned accounts|in common", True, _similar),
    (r"\bchanged?\b|since last month|what'?s new", True, _changed),
    (r"champion|last (talk|talked|spoke|call)|who .*contact", True, _champion),
    (r"complain|problem|issue|ticket", True, _complaints),
    (r"adoption|feature|usage", True, _adoption),
    (r"\bnps\b|promoter|survey", True, _nps),
    (r"renew|worth|contract", True, _renewal),
    (r"risk|health|why|how is|how are|doing", True, _health),
)


def _route(question: str) -> tuple[str, Answer]:
    for pattern, needs_account, answer in _ROUTES:
        if re.search(pattern, question, re.IGNORECASE):
            return ("account" if needs_account else "book"), answer
    return "other", _unknown


__all__ = [
    "CHAT_PLAN",
    "CHAT_STEP",
    "chat_intents",
    "chat_plans",
    "chat_replies",
    "chat_reply",
]
