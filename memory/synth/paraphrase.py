"""Phrase-level paraphrase: interchangeable wordings swapped at random in a finished text.

Templates fix the structure; people vary the small words. Each group below lists wordings
that can stand in for each other in the sentences of the phrase banks ("Could you" for
"Can you", "at the moment" for "right now"), so the same template rarely yields the same
sentence twice.
"""

from __future__ import annotations

import random
import re

SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("Can you", "Could you", "Would you be able to", "Are you able to"),
    ("Is there a way to", "Is it possible to", "Any way to"),
    ("check the", "have a look at the", "take a look at the"),
    ("right now", "at the moment"),
    ("for now", "for the time being", "in the meantime"),
    ("a few", "a couple of", "several"),
    ("issue", "problem"),
    ("Happy to", "Glad to", "More than happy to"),
    ("Any idea", "Do you know"),
    ("on the roadmap", "planned", "in the pipeline"),
    ("workaround", "temporary fix", "stopgap"),
    ("the team", "our team"),
    ("let me know", "tell me", "let us know"),
    ("tell us", "let us know"),
    ("we're getting", "we keep getting", "we're seeing"),
    ("nothing changed", "nothing has changed"),
    ("no change", "no difference", "still the same"),
    ("manual work", "manual effort"),
    ("a lot of", "lots of", "plenty of"),
    ("ideally", "if possible", "preferably"),
    ("we'd like", "we would like", "we want"),
    ("I'd like", "I would like", "I want"),
    (
        "whenever you get a chance",
        "when you have a minute",
        "when you get a moment",
        "whenever you can",
    ),
    ("on your side", "on your end"),
    ("on our side", "on our end"),
    ("anymore", "these days"),
    ("a handful of", "a small number of"),
    ("straight away", "right away", "immediately"),
    ("as far as I can tell", "as far as I know", "from what I can see"),
    ("Is this", "Would this be"),
    ("customers", "clients", "end customers"),
    ("figure out", "work out", "understand"),
    ("explain", "clarify"),
    ("send me", "forward me"),
    ("fixed", "resolved", "sorted"),
    ("Thanks for looking into it", "Thanks for checking", "Thanks for digging into this"),
    ("Appreciate the help", "Appreciate it", "Much appreciated"),
    ("a short call", "a quick call", "a 15-minute call"),
    ("doesn't seem to", "doesn't appear to"),
    ("the same result", "the same outcome"),
    ("every day", "daily", "each day"),
    ("maybe", "perhaps"),
    ("people", "colleagues"),
    ("manually", "by hand"),
    ("in one go", "at once", "in a single run"),
    ("nobody", "no one"),
    ("everyone", "everybody"),
    ("seems to", "appears to"),
    ("I think", "I believe", "I reckon"),
    ("as soon as possible", "asap", "as quickly as you can"),
    ("the dashboard", "the analytics dashboard", "our dashboard"),
    ("to be honest", "honestly", "frankly"),
    ("a handful", "a small number"),
    ("Let me know", "Tell me", "Let us know"),
    ("Sorry for", "Apologies for"),
    ("Quick one", "Short one", "A quick one"),
    ("Is there", "Do you have"),
    ("can't find", "can't see", "couldn't find"),
    ("Management", "Leadership", "Our leadership", "Our management"),
    ("it would be nice", "it would be great", "it would help"),
    ("We checked", "We've checked", "We double-checked"),
    ("same result", "no luck", "no joy"),
    ("Any best practice", "Any tips", "Any advice"),
    ("would help", "would be useful", "would be great"),
    ("because of this", "as a result", "because of it"),
    ("from day one", "from the start", "on day one"),
    ("the harder cases", "the tricky cases", "the complex cases"),
    ("make that possible", "solve that", "allow that"),
)

# "about 40" reads as "around 40", "roughly 40"; "about refunds" must stay as it is.
_APPROX = re.compile(r"\b(about|around|roughly|approximately)(?= ~?\d)")
_APPROX_WORDS = ("about", "around", "roughly", "approximately")


def _compile() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """One alternation over every wording (longest first), and wording -> its group."""
    group_of: dict[str, tuple[str, ...]] = {}
    for group in SYNONYMS:
        for wording in group:
            group_of.setdefault(wording, group)
    alts = sorted(group_of, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(a) for a in alts) + r")\b"), group_of


_RX, _GROUP_OF = _compile()


def paraphrase(text: str, rng: random.Random, p: float = 0.65) -> str:
    """Swap each matched wording for a random equivalent with probability ``p``."""

    def swap(m: re.Match[str]) -> str:
        if rng.random() >= p:
            return m.group(0)
        group = _GROUP_OF[m.group(0)]
        return group[rng.randrange(len(group))]

    text = _RX.sub(swap, text)

    def approx(m: re.Match[str]) -> str:
        return _APPROX_WORDS[rng.randrange(4)] if rng.random() < p else m.group(0)

    return _APPROX.sub(approx, text)
