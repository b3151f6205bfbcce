"""How a ticket is named in Keel's words: its priority and category, never a guessed one.

An export without a category column (or a blank cell) gives tickets the category
"uncategorised"; such a ticket is "an urgent-priority ticket", not "an urgent-priority
how to ticket". The category words are the product's, never the customer's text.
"""

from __future__ import annotations

import re
from typing import Final

# Category values that say nothing about the ticket (an importer's default, a blank cell).
NO_CATEGORY: Final = frozenset(
    {"", "uncategorised", "uncategorized", "none", "null", "nan", "n/a", "unknown"}
)
# Categories as a person says them ("how_to" is a how-to question).
CATEGORY_WORDS: Final = {"how_to": "how-to", "feature_request": "feature request"}
# Priority values that say nothing either.
NO_PRIORITY: Final = NO_CATEGORY


def category_words(category: object) -> str:
    """The category in words ("how-to", "bug"); "" for a ticket without one."""
    raw = str(category or "").strip()
    if raw.lower() in NO_CATEGORY:
        return ""
    return CATEGORY_WORDS.get(raw, raw.replace("_", " "))


def ticket_phrase(
    priority: object = "", category: object = "", *, priority_word: bool = True
) -> str:
    """ "urgent-priority bug ticket", "urgent-priority ticket" (no category), "bug ticket"
    (no priority), or "ticket"; ``priority_word=False`` gives "urgent bug ticket"."""
    level = str(priority or "").strip()
    words = []
    if level and level.lower() not in NO_PRIORITY:
        words.append(f"{level}-priority" if priority_word else level)
    kind = category_words(category)
    if kind:
        words.append(kind)
    words.append("ticket")
    return " ".join(words)


# What a ticket asks about, read from its subject and body by fixed patterns: the topic is
# always one of these code-written words, never the customer's text, so it may appear in a
# customer draft ("the SSO outage ticket") without quoting what they typed.
_SUBJECTS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "admin transfer",
        re.compile(
            r"\badmin\w*\b[^.\n]{0,40}\b(?:transfer|hand ?over|handoff|reassign|move|change)"
            r"|\b(?:transfer|hand ?over|handoff|reassign)\w*\b[^.\n]{0,40}\badmin",
            re.IGNORECASE,
        ),
    ),
    ("SSO", re.compile(r"\bsso\b|single sign[- ]?on|\bsaml\b|\bokta\b|\bazure ad\b", re.I)),
    ("login", re.compile(r"\blog ?-?in\b|\bsign ?-?in\b|\bpassword\b|\b2fa\b|\bmfa\b", re.I)),
    ("data export", re.compile(r"\bexport", re.I)),
    ("integration", re.compile(r"\bapi\b|\bintegration|\bwebhook", re.I)),
    ("invoice", re.compile(r"\binvoice|\bbilling\b|\bcharged?\b|\brefund", re.I)),
    ("seat", re.compile(r"\bseats?\b|\blicen[cs]es?\b", re.I)),
    ("reporting", re.compile(r"\breport(?:s|ing)?\b|\bdashboard", re.I)),
)
_PROBLEMS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "outage",
        re.compile(
            r"\boutage\b|\bunavailable\b|\bnot (?:loading|working)\b"
            r"|(?<!drill )(?<!scroll )\bdown\b(?!\s*(?:\d|by\b|to\b|from\b|the\b))",
            re.IGNORECASE,
        ),
    ),
)


def request_topic(text: str) -> str:
    """What a ticket is about in Keel's words ("SSO outage", "admin transfer"), or "" when
    none of the known topics is named."""
    subject = next((name for name, cue in _SUBJECTS if cue.search(text or "")), "")
    problem = next((name for name, cue in _PROBLEMS if cue.search(text or "")), "")
    if subject == "admin transfer":
        return subject
    return " ".join(w for w in (subject, problem) if w)
