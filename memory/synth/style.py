"""Personal writing habits: the same sentence reads differently from different people.

Each contact (and each CSM) gets a stable style: contractions or not, US or UK spelling,
how they write dashes, whether they are free with exclamation marks. Applied to a whole
text, so one person stays consistent while two people rarely write identical sentences.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("I'm", "I am"),
    ("I've", "I have"),
    ("I'd", "I would"),
    ("I'll", "I will"),
    ("we're", "we are"),
    ("we've", "we have"),
    ("we'd", "we would"),
    ("we'll", "we will"),
    ("they're", "they are"),
    ("they've", "they have"),
    ("it's", "it is"),
    ("that's", "that is"),
    ("there's", "there is"),
    ("don't", "do not"),
    ("doesn't", "does not"),
    ("didn't", "did not"),
    ("can't", "cannot"),
    ("isn't", "is not"),
    ("aren't", "are not"),
    ("haven't", "have not"),
    ("hasn't", "has not"),
    ("won't", "will not"),
    ("wasn't", "was not"),
    ("couldn't", "could not"),
    ("wouldn't", "would not"),
    ("what's", "what is"),
    ("let's", "let us"),
)
_US_SPELLING: tuple[tuple[str, str], ...] = (
    ("organise", "organize"),
    ("organisation", "organization"),
    ("reorganisation", "reorganization"),
    ("licence", "license"),
    ("licences", "licenses"),
    ("behaviour", "behavior"),
    ("prioritise", "prioritize"),
    ("cancelled", "canceled"),
    ("centre", "center"),
    ("analyse", "analyze"),
    ("apologise", "apologize"),
    ("customise", "customize"),
    ("optimise", "optimize"),
    ("realise", "realize"),
    ("summarise", "summarize"),
    ("programme", "program"),
    ("colour", "color"),
    ("favourite", "favorite"),
    ("standardise", "standardize"),
    ("standardising", "standardizing"),
    ("re-authorised", "re-authorized"),
    ("authorised", "authorized"),
    ("labelling", "labeling"),
    ("travelling", "traveling"),
    ("recognise", "recognize"),
    ("utilisation", "utilization"),
    ("organised", "organized"),
    ("prioritised", "prioritized"),
    ("realised", "realized"),
    ("apologies", "apologies"),
    ("customised", "customized"),
    ("standardised", "standardized"),
    ("analysed", "analyzed"),
)


def _table(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a, b in pairs:
        out[a] = b
        out[a[:1].upper() + a[1:]] = b[:1].upper() + b[1:]
    return out


def _alternation(words: dict[str, str]) -> re.Pattern[str]:
    alts = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in alts) + r")\b")


_EXPAND = _table(_CONTRACTIONS)
_EXPAND_RX = _alternation(_EXPAND)
_US = _table(_US_SPELLING)
_US_RX = _alternation(_US)
_CASUAL: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bPlease\b"), "Pls"),
    (re.compile(r"\bThanks\b"), "Thx"),
    (re.compile(r"\bthanks\b"), "thx"),
    (re.compile(r"\bbecause\b"), "bc"),
)


@dataclass(frozen=True)
class WritingStyle:
    contractions: bool
    us_spelling: bool
    dash: str
    exclaims: bool
    casual: bool
    thanks_first: bool  # writes "Thank you" where others write "Thanks"
    lowercase: bool  # types everything in lower case
    no_final_period: bool  # leaves the full stop off the end of a paragraph
    smiley: bool
    ellipsis: bool  # trails off "..." between thoughts


def style_for(key: str, region: str) -> WritingStyle:
    """The stable style of the person identified by ``key`` (deterministic)."""
    rng = random.Random(f"style-{key}")
    us = rng.random() < (0.9 if region == "NA" else 0.15)
    return WritingStyle(
        contractions=rng.random() < 0.75,
        us_spelling=us,
        dash=rng.choice((" — ", " - ", " -- ", ", ")),
        exclaims=rng.random() < 0.2,
        casual=rng.random() < 0.08,
        thanks_first=rng.random() < 0.25,
        lowercase=rng.random() < 0.05,
        no_final_period=rng.random() < 0.2,
        smiley=rng.random() < 0.1,
        ellipsis=rng.random() < 0.08,
    )


def apply_style(text: str, style: WritingStyle) -> str:
    if not style.contractions:
        text = _EXPAND_RX.sub(lambda m: _EXPAND[m.group(0)], text)
    if style.us_spelling:
        text = _US_RX.sub(lambda m: _US[m.group(0)], text)
    if style.dash != " — ":
        text = text.replace(" — ", style.dash)
    if style.thanks_first:
        text = re.sub(r"\bThanks\b(?=[ ,.!\n])", "Thank you", text)
    if style.casual:
        for rx, short in _CASUAL:
            text = rx.sub(short, text)
    if style.exclaims:
        # Enthusiastic writers end their thanks and hopes with "!".
        text = re.sub(
            r"((?:Thanks|Thank you|Thx|Cheers|appreciated|help|soon)[^.\n!?]{0,20})\.", r"\1!", text
        )
    if style.smiley:
        text = re.sub(
            r"^((?:Hope|Thanks|Thank you|Cheers|Happy)[^\n]*?)([.!])$", r"\1 :)", text, flags=re.M
        )
    if style.ellipsis:
        text = re.sub(r"(?<=[a-z])\. (?=[A-Z])", "... ", text, count=2)
    if style.no_final_period:
        text = re.sub(r"(?<=[a-z0-9)])\.$", "", text, flags=re.M)
    if style.lowercase:
        text = re.sub(r"\bi\b(?!\.)", "I", text.lower())
    return text
