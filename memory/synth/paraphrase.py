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
    ("fixed", "sorted"),  # not "resolved": "tickets resolved" is a unit
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
    # Stock asks and closers that recur across thousands of tickets in a long book.
    ("the usage behind the charge", "the usage behind this charge", "a usage breakdown"),
    ("give us an ETA", "give us a timeline", "share an estimate"),
    ("I couldn't see one", "I couldn't find one", "I didn't see one", "I found none"),
    ("your AI team", "your ML team", "your model team", "someone on the AI side"),
    ("something changed", "anything changed", "something was changed"),
    ("still get in", "still log in", "still sign in"),
    ("Which number should we trust", "Which figure is right", "Which one is correct"),
    ("will be fixed", "will be resolved", "might be fixed"),
    ("No real hurry", "No rush", "Not urgent", "No great urgency"),
    ("on this one", "on this", "with this one"),
    ("Looking forward to", "Hoping for", "Keen to get", "Waiting on"),
    ("this week", "in the next few days", "by the end of the week"),
    ("retrain it", "retrain the model", "re-train it"),
    ("our corrections", "the corrections we made", "our edits"),
    ("close to the limit", "near our limit", "about to hit the limit"),
    ("at least a day", "a day or so", "over a day"),
    ("Per-queue settings", "Settings per queue", "Queue-level settings"),
    ("Any timeline", "Any dates", "Any ETA"),
    ("a status page entry", "a known incident", "an incident posted"),
    ("can be this granular", "go to this level of detail", "be set this finely"),
    ("before the weekend", "before Friday", "before I log off"),
    ("documentation", "docs", "a guide"),
    ("update the card details", "change the card on file", "update our payment card"),
    ("exact quotes", "quotation marks", "an exact phrase"),
    ("Many thanks", "Thanks a lot", "Thank you"),
    ("as always", "as ever", "once again"),
    ("reindex our workspace", "re-index our workspace", "rebuild our search index"),
    ("tonight", "overnight", "after hours"),
    ("on hold", "paused", "frozen"),
    ("finance reviews vendors", "finance reviews every vendor", "finance runs a vendor review"),
    ("scheduled reports", "report schedules", "weekly reports"),
    ("pass this on", "forward this", "hand this over"),
    ("with our name on it", "and mention us", "and add our vote"),
    ("customers of your size", "companies our size", "similar-sized customers"),
    ("Tried the steps", "Followed the steps", "We went through the steps"),
    ("help article", "help centre article", "knowledge base article"),
    ("a beta tester", "a beta customer", "an early tester"),
    ("I tried", "We tried", "I've tried"),
    ("includes an overage", "has an overage line", "charges an overage"),
    ("above our contracted volume", "over our contracted volume", "beyond what we contracted"),
    ("our own settings twice", "our settings twice", "our own configuration again"),
    ("they look right", "they look fine", "nothing looks off"),
    ("how that's measured", "how that is counted", "how you measure that"),
    ("what changed", "what has changed", "what was changed"),
    ("what your side receives", "what you receive", "what arrives on your side"),
    ("is no longer with us", "has left the company", "left us recently"),
    ("handles these", "looks after these", "deals with these"),
    ("I could not", "I couldn't", "We could not"),
    ("get that out of", "export that from", "pull that from"),
    ("do I need the API", "is the API the only way", "do we have to use the API"),
    ("show which knowledge article it used", "cite the article it used", "link the source"),
    ("trigger a manual re-sync", "force a re-sync", "kick off a sync"),
    ("lag by a day or more", "run a day behind", "lag a day or two"),
    ("an example workflow", "a sample workflow", "a template workflow"),
    ("Hope your week is going well", "Hope you're well", "Hope all is well"),
    ("winding down our use of", "phasing out", "moving off"),
    ("over the next few weeks", "in the coming weeks", "over the next month"),
    ("configurable per channel", "set per channel", "adjustable by channel"),
    ("set up yet", "in place yet", "configured yet"),
    ("trust it more", "rely on it more", "are more confident"),
    ("should be able to", "need to be able to", "ought to be able to"),
    ("already cleared the cache", "cleared the cache already", "emptied the cache"),
    ("if or when", "whether and when", "if and when"),
    ("until the invoice came", "before the invoice arrived", "until we got the bill"),
    ("a bulk export", "an export job", "a bulk download"),
    ("example IDs or anything else", "IDs or screenshots", "more detail"),
    ("returns nothing", "finds nothing", "comes back empty"),
    ("show up fine", "appear normally", "work fine"),
    ("free the seats", "release the seats", "free up the licences"),
    ("bulk-import users", "import users in bulk", "upload users"),
    ("all systems operational", "everything is up", "no incidents"),
)

# "about 40" reads as "around 40", "roughly 40"; "about refunds" must stay as it is.
_APPROX = re.compile(r"\b(about|around|roughly|approximately)(?= ~?\d)")
_APPROX_WORDS = ("about", "around", "roughly", "approximately")


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: list[str]) -> str:
    """A regex matching exactly ``words``, longest first, as a prefix tree.

    The same matches as ``word1|word2|...`` sorted longest first, several times faster: at
    each position the engine follows one branch instead of trying hundreds of wordings.
    """
    trie: _Trie = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # a wording ends here, a longer one may go on: try the longer one first
            return ("(?:" + body + ")?") if len(branches) > 1 or len(body) > 1 else body + "?"
        return body

    return build(trie)


def _compile() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """One alternation over every wording (longest first), and wording -> its group."""
    group_of: dict[str, tuple[str, ...]] = {}
    for group in SYNONYMS:
        for wording in group:
            group_of.setdefault(wording, group)
    return re.compile(r"\b(" + _trie_pattern(list(group_of)) + r")\b"), group_of


_RX, _GROUP_OF = _compile()


def paraphrase(text: str, rng: random.Random, p: float = 0.75) -> str:
    """Swap each matched wording for a random equivalent with probability ``p``."""

    def swap(m: re.Match[str]) -> str:
        if rng.random() >= p:
            return m.group(0)
        if m.group(0) == "a few" and text.startswith(" more", m.end()):
            return m.group(0)  # "a couple of more" is not English
        group = _GROUP_OF[m.group(0)]
        return group[rng.randrange(len(group))]

    text = _RX.sub(swap, text)

    def approx(m: re.Match[str]) -> str:
        return _APPROX_WORDS[rng.randrange(4)] if rng.random() < p else m.group(0)

    return _APPROX.sub(approx, text)
