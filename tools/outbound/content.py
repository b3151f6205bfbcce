"""The outbound content policy's detectors: what in a message may not leave, as pure functions.

Everything here parses; nothing pattern-matches the raw text alone. Each detector reads a
normalised view of the text (HTML character references decoded, NFKC, Unicode dot
lookalikes as ``.``, invisible characters dropped; see :mod:`keel.tools.outbound.urls`) and
reports spans of the ORIGINAL text, so a caller can replace exactly what was found.

- :func:`find_urls` / :func:`url_allowed`: links, parsed with a URL and host parser (any
  public suffix, IP literals in every form a browser accepts, IDN as punycode), and the
  allow-list as origins plus path prefixes without redirects.
- :func:`find_markup`: HTML (also entity-encoded or with whitespace tricks), markdown images
  and links, ``javascript:``/``data:`` URIs, invisible characters that hide text. Keel's
  messages are plain text.
- :func:`find_offers` / :func:`offer_allowed`: commercial promises (discounts, free things,
  refunds, waivers, credits, SLA and legal promises, price locks), each with a category.
- :func:`check_content`: all of the above, and e-mail addresses, over a subject and body.
- :func:`neutralise`: customer text made inert for display inside Keel's own views.

Decisions worth knowing (the tests pin each one):

- ``mailto:`` is not a link: the address in it is an address (kind ``"address"``).
- Bare hosts and protocol-relative links count as https: ``help.keel.example/articles``
  matches the entry ``https://help.keel.example``; an ``http://`` link never matches an
  ``https://`` entry.
- "free" is an offer only with what is given (``free month``, ``two seats free``, ``for
  free``, ``free of charge``): ``the free plan's limits``, ``free trial`` and ``feel free``
  describe the product or are idiom, not promises.
- "credit" is an offer unless it is a card, score, check... (``credit card on file``) or
  acknowledgement (``credit to the team``, ``credit where it is due``, ``give credit``).
- Amounts on their own (``your invoice of $1,200.50``) and percentages of anything but a
  price (``100% of your users``) are not offers; ``100% off`` and ``20% discount`` are.
- Words inside a link or an e-mail address (``.../articles/refund-policy``) are the link's,
  not offers.
- ``offer_allowed``: same category as an offer found in one approved offer and, when the
  offer states numbers, each of them in that approved offer; an approved offer phrased
  without any offer vocabulary approves nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from keel.tools.outbound.urls import (
    DOT_LOOKALIKES,
    INVISIBLE_EXTRA,
    ParsedUrl,
    TextView,
    address_key,
    decode_entities,
    is_hidden_char,
    link_extent,
    normalised_view,
    scan,
    url_allowed,
    url_problem,
)

__all__ = [
    "ContentProblem",
    "FoundOffer",
    "FoundUrl",
    "check_content",
    "find_markup",
    "find_offers",
    "find_urls",
    "neutralise",
    "offer_allowed",
    "url_allowed",
]

Kind = Literal["link", "markup", "offer", "address", "internal"]


@dataclass(frozen=True)
class FoundUrl:
    """A link in a text: ``text[start:end] == raw``.

    ``normalised`` is ``scheme://host[:port]/path?query#fragment`` after NFKC and IDNA with
    the host lower-cased, the default port dropped and backslashes as slashes (bare and
    protocol-relative links get ``https``; ``javascript:`` and ``data:`` links are
    ``scheme:rest``; user information, when present, stays in front of the host so the
    normalised form never looks cleaner than the link). Judge a link with
    ``url_allowed(found.raw, ...)``: the raw token keeps what normalising smooths over
    (a backslash in the path).
    """

    raw: str
    normalised: str
    host: str  # punycode for IDN, an IP literal as text (IPv6 without brackets), "" for none
    start: int
    end: int


@dataclass(frozen=True)
class FoundOffer:
    """A commercial promise: ``text`` is the matched span, ``text == original[start:end]``."""

    text: str
    category: str  # one of OFFER_CATEGORIES
    start: int
    end: int


@dataclass(frozen=True)
class ContentProblem:
    """Something that may not go out. ``span`` is the offending text exactly as it appears in
    the subject or body (so ``text.replace(span, ...)`` removes it)."""

    kind: Kind
    span: str
    reason: str


def _short(span: str, limit: int = 80) -> str:
    span = " ".join(span.split()) if span.strip() else span
    return span if len(span) <= limit else span[: limit - 1] + "…"


# --- markup -------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_ELEMENTS: Final = frozenset(
    _words(
        "a abbr applet audio b base basefont bgsound big blink blockquote body br button "
        "canvas center code details dialog div em embed font form frame frameset h1 h2 h3 h4 "
        "h5 h6 head hr html i iframe image img input isindex keygen label li link listing "
        "marquee math meta noembed noframes noscript object ol option p param picture "
        "plaintext portal pre q s script select small source span strike strong style sub sup "
        "svg table tbody td template textarea th title tr tt u ul video xml xmp"
    )
)
_DANGEROUS: Final = frozenset(
    _words(
        "applet audio base basefont bgsound body details embed form frame frameset iframe "
        "image img input isindex link marquee math meta noscript object plaintext portal "
        "script style svg template textarea video xml xmp"
    )
)
_COMMENT = re.compile(r"<!--.*?(?:--!?>|\Z)|<![A-Za-z\[][^>]*>?|<\?[A-Za-z][^>]*>?", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^\s/<>]*(?:[\s/](?:\"[^\"]*\"|'[^']*'|[^'\"<>]){0,2000})?>")
_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*>|<[^\s<>@]+@[^\s<>]+>")
_SPACED_TAG = re.compile(r"<\s+/?\s*([A-Za-z][A-Za-z0-9]*)(?:\s*/?\s*>|\s+[^<>]*=[^<>]*>)")
_BOGUS_CLOSE = re.compile(r"</\s+[A-Za-z][^<>]*>")
# An unclosed tag runs to the next "<" or the end of its line.
_TAG_START = re.compile(r"<(\s*)/?\s*([A-Za-z][^\s/<>]*)([^<\n]*)")
_HANDLER = re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)
_BRACKETED = r"\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]"
_MD_IMAGE = re.compile(
    r"!" + _BRACKETED + r"(?:[ \t]*\((?:[^()\n]|\([^()\n]*\))*\)?|[ \t]*\[[^\[\]\n]*\]?)"
)
_MD_LINK = re.compile(
    r"(?<!!)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*(<[^<>\n]*>|(?:[^\s()]|\([^\s()]*\))*)"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
_MD_DEFINITION = re.compile(r"(?m)^[ ]{0,3}\[([^\[\]\n]+)\]:[ \t]*(<[^<>\n]*>|\S+)[^\n]*")
_MD_REFERENCE = re.compile(r"(?<![!\]])\[([^\[\]\n]+)\][ \t]?\[([^\[\]\n]*)\]")
_MD_SHORTCUT = re.compile(r"(?<!\])(!?)\[([^\[\]\n]+)\](?![\[(:])")
_GAP = r"[\t\r\n]*"
_SCRIPT_URI = re.compile(
    r"(?<![\w+.\-])(?:(?:"
    + "|".join(_GAP.join(word) for word in ("javascript", "vbscript", "livescript"))
    + r")"
    + _GAP
    + r":(?=\S)|data:(?=[\w.+-]*/[\w.+-]+|[,;]))",
    re.IGNORECASE,
)
_PLAIN = "Keel sends plain text"
_UNUSUAL = re.compile(r"[^\t\n\r\x20-\x7e]")


@dataclass(frozen=True)
class _Markup:
    start: int  # in the original text
    end: int
    reason: str
    replacement: str  # what neutralise puts in its place


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


def _is_urlish(dest: str) -> bool:
    dest = dest.strip("<>")
    if dest[:1] in "/#" or re.match(r"[A-Za-z][A-Za-z0-9+.\-]+:", dest):
        return True
    return bool(scan(normalised_view(dest).text)[0])


def _hidden_runs(s: str) -> list[tuple[int, int]]:
    def hides(i: int) -> bool:
        ch = s[i]
        if ch == "\u200d":  # a zero-width joiner inside an emoji sequence is the emoji's
            before = s[i - 1] if i else ""
            after = s[i + 1] if i + 1 < len(s) else ""
            emoji = ("So", "Sk")
            if (
                before
                and after
                and unicodedata.category(after) == "So"
                and (unicodedata.category(before) in emoji or before == "\ufe0f")
            ):
                return False
        cat = unicodedata.category(ch)
        return cat == "Cf" or (cat == "Cc" and not ch.isspace()) or ch in INVISIBLE_EXTRA

    runs: list[tuple[int, int]] = []
    for m in _UNUSUAL.finditer(s):
        i = m.start()
        if hides(i):
            if runs and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
    return runs


def markup_spans(text: str) -> list[_Markup]:
    """Every markup item in ``text`` with its original span, reason and neutral form."""
    view = decode_entities(TextView.identity(text))
    s = view.text
    items: list[tuple[int, int, str, str]] = []
    for m in _COMMENT.finditer(s):
        items.append((m.start(), m.end(), "HTML comment or declaration", "[html removed]"))
    for m in _TAG.finditer(s):
        if not _AUTOLINK.fullmatch(m.group(0)):
            items.append((m.start(), m.end(), "HTML tag", "[html removed]"))
    for m in _SPACED_TAG.finditer(s):
        if m.group(1).lower() in _ELEMENTS:
            items.append((m.start(), m.end(), "HTML tag", "[html removed]"))
    for m in _BOGUS_CLOSE.finditer(s):
        items.append((m.start(), m.end(), "HTML tag", "[html removed]"))
    covered = bytearray(len(s) + 1)  # where a closed tag or comment already is
    for a, b, _, _ in items:
        covered[a:b] = b"\x01" * (b - a)
    for m in _TAG_START.finditer(s):
        name = m.group(2).lower()
        if covered.find(1, m.start(), m.start() + 1) >= 0:
            continue
        dangerous = name in _DANGEROUS and (not m.group(1) or name in _ELEMENTS)
        if dangerous or _HANDLER.search(m.group(3)):
            items.append((m.start(), m.end(), "unclosed HTML tag", "[html removed]"))
    for m in _MD_IMAGE.finditer(s):
        items.append((m.start(), m.end(), "markdown image", "[image removed]"))
    for m in _MD_LINK.finditer(s):
        new = f"{m.group(1)} ({m.group(2).strip('<>')})"
        items.append((m.start(), m.end(), "markdown link", new))
    defined = set()
    for m in _MD_DEFINITION.finditer(s):
        if _is_urlish(m.group(2)):
            defined.add(_label(m.group(1)))
            items.append((m.start(), m.end(), "markdown link definition", "[link removed]"))
    if defined:
        for m in _MD_REFERENCE.finditer(s):
            if _label(m.group(2) or m.group(1)) in defined:
                items.append((m.start(), m.end(), "markdown link", m.group(1)))
        for m in _MD_SHORTCUT.finditer(s):
            if _label(m.group(2)) in defined:
                kind = "markdown image" if m.group(1) else "markdown link"
                items.append((m.start(), m.end(), kind, m.group(2)))
    end = 0
    for m in _SCRIPT_URI.finditer(s):
        if m.start() < end:
            continue  # inside the previous one
        end = link_extent(s, m.start(), m.end()) or m.end()
        scheme = re.sub(r"\s", "", m.group(0)).lower()
        new = _ANY_SCHEME.sub(_defang_scheme, s[m.start() : end]).replace(".", "[.]")
        items.append((m.start(), end, f"{scheme} URI", new))
    for a, b in _hidden_runs(s):
        codes = ", ".join(
            f"U+{ord(c):04X} {unicodedata.name(c, 'control character')}"
            for c in dict.fromkeys(s[a:b])
        )
        items.append((a, b, f"invisible character ({codes})", ""))
    out = []
    for a, b, what, new in sorted(items, key=lambda x: (x[0], -x[1])):
        start, end = view.original(a, b)
        out.append(_Markup(start, end, _markup_reason(what, text[start:end]), new))
    return out


def _markup_reason(what: str, span: str) -> str:
    if what.startswith("invisible"):
        return f"{what} can hide or reorder text"
    if what.endswith("URI"):
        return f'{what} "{_short(span)}" runs code or carries content when clicked'
    if what == "markdown image":
        return f'{what} "{_short(span)}" would load a remote image; {_PLAIN}'
    return f'{what} "{_short(span)}" is not allowed: {_PLAIN}'


# --- offers -------------------------------------------------------------------------------

OFFER_CATEGORIES: Final = (
    "discount",
    "free",
    "refund",
    "waiver",
    "credit",
    "sla",
    "legal",
    "price",
)
_UNITS = _words(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES: Final = {
    **{w: i + 1 for i, w in enumerate(_UNITS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    "hundred": 100, "half": 50, "a": 1, "an": 1, "zero": 0,
}  # fmt: skip
_NUMBER_WORD = (
    r"(?:(?:one|a)[\s-]+hundred|hundred|(?:"
    + "|".join(_TENS)
    + r")(?:[\s-]+(?:"
    + "|".join(_UNITS[:9])
    + r"))?|"
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r")"
)
_W = r"[\s\-]+"  # between words: spaces or a hyphen
_NUM = rf"(?:\d+(?:[.,]\d+)*|{_NUMBER_WORD})"
_PCT = rf"{_NUM}\s*(?:%|percent|per{_W}?cent|pct)"
_MONEY = r"[$€£¥]\s?\d[\d,]*(?:\.\d+)?"
_QTY = rf"(?:{_NUM}|an?|extra|additional)"
_PERIOD = r"(?:months?|weeks?|days?|years?|quarters?|seats?|licen[cs]es?|hours?)"
_BENEFIT = (
    rf"(?:{_PERIOD}|upgrades?|trial{_W}extensions?|extensions?|add{_W}?ons?|onboarding|training|"
    r"consulting|implementation|support|access|credits?|usage|tier\s+upgrades?|renewal|"
    r"professional\s+services|sessions?|migration)"
)
_GIVEN = (
    r"(?:free|for\s+free|free\s+of\s+(?:charge|cost)|gratis|on\s+us|on\s+the\s+house|"
    rf"at\s+no{_W}(?:extra\s+|additional\s+)?(?:cost|charge))"
)
_TEAMISH = (
    r"(?:team|teams|engineers?|engineering|staff|folks|people|group|crew|colleagues|"
    r"developers?|admins?|champions?|leadership|work|efforts?)"
)
_NOT_MONEY_CREDIT = (
    r"(?:card|cards|check|checks|score|scores|rating|ratings|union|unions|history|limit|limits|"
    r"risk|line|lines|terms|report|reports|reporting|bureau|worthiness|worthy|application|"
    r"applications|approval|agency|agencies|facility)"
)
_FEES = r"(?:fees?|charges?|invoices?|overages?|penalt(?:y|ies))"
_PRICE = r"(?:price|pricing|rate|rates)"
_OFFER_PATTERNS: Final[tuple[tuple[str, str], ...]] = (
    # discount
    ("discount", rf"\b{_PCT}{_W}(?:off|discount(?:s|ed)?|rebate|markdown)\b"),
    ("discount", rf"(?:%|\bpercent|\bper{_W}cent){_W}off\b"),
    (
        "discount",
        rf"\b(?:save|saving)\s+(?:up\s+to\s+)?(?:{_PCT}|{_MONEY})"
        r"(?=\s+(?:on|off|with|when|if|by|at|per)\b)",
    ),
    ("discount", r"\bdiscount(?:s|ed|ing|able)?\b"),
    ("discount", rf"\bhalf{_W}(?:price|priced|off|the\s+price)\b"),
    ("discount", rf"{_MONEY}\s*(?:off|discount)\b"),
    (
        "discount",
        r"\b\d[\d,]*(?:\.\d+)?\s*(?:dollars|euros|pounds|usd|eur|gbp)\s+(?:off|discount)\b",
    ),
    ("discount", r"\b(?:rebates?|coupons?|vouchers?)\b"),
    ("discount", rf"\bpromo(?:tion(?:al)?)?{_W}codes?\b|\bpromo\b"),
    ("discount", r"\bpromotional\s+(?:offer|pricing|price|rate|discount)s?\b"),
    ("discount", rf"\b(?:special|exclusive){_W}(?:offer|deal|pricing|price|rate)s?\b"),
    (
        "discount",
        r"\b(?:reduced|lower|preferential|loyalty|introductory|intro)\s+(?:price|pricing|rate|fee)s?\b",
    ),
    (
        "discount",
        r"\b(?:cut|reduce|lower|drop|slash)\s+(?:the|your)\s+"
        r"(?:price|pricing|rate|bill|invoice|fees?|cost|subscription)\b",
    ),
    ("discount", r"\bmarked\s+down\b"),
    # free
    ("free", rf"\bfree{_W}of{_W}(?:charge|cost)\b"),
    (
        "free",
        rf"\b(?:at|for|with)\s+no{_W}(?:extra\s+|additional\s+|added\s+)?(?:cost|charge|fee)s?\b",
    ),
    ("free", rf"\bno{_W}(?:extra{_W}|additional{_W}|added{_W})?(?:cost|charge)\b"),
    ("free", r"\bwithout\s+(?:any\s+)?(?:extra\s+|additional\s+)?(?:cost|charge)\b"),
    ("free", rf"\b(?:gratis|on\s+the\s+house|for\s+free|zero{_W}cost)\b"),
    # "complimentary", not the praising kind ("complimentary about the rollout")
    (
        "free",
        r"\bcomplimentary\b"
        r"(?!\s+(?:about|of|to|remarks?|feedback|words?|comments?|reviews?)\b)",
    ),
    ("free", rf"\b(?:{_QTY}{_W})?free{_W}(?:extra\s+|additional\s+)?{_BENEFIT}\b"),
    ("free", rf"\b{_QTY}{_W}(?:extra\s+|additional\s+)?{_BENEFIT}\s+{_GIVEN}(?!\w)"),
    ("free", rf"\b{_NUM}{_W}(?:free{_W})?(?:users?|seats?)\s+{_GIVEN}(?!\w)"),
    ("free", rf"\b{_NUM}{_W}free{_W}users?\b"),
    ("free", rf"\b{_BENEFIT}\s+(?:on\s+us|on\s+the\s+house|free\s+of\s+charge)\b"),
    # refund
    ("refund", r"\brefund(?:s|ed|ing|able)?\b"),
    ("refund", r"\breimburs(?:e|es|ed|ing|ement|ements)\b"),
    ("refund", rf"\bmoney{_W}back\b|\bpay\s+you\s+back\b"),
    ("refund", r"\breturn\s+(?:the|your)\s+(?:payment|money|fees?)\b"),
    # waiver
    ("waiver", r"\bwaiv(?:e|es|ed|ing|er|ers)\b"),
    ("waiver", rf"\b(?:write|writes|writing|written|wrote){_W}off\b|\bwrite-?offs?\b"),
    (
        "waiver",
        r"\bforgiv(?:e|es|en|ing)\s+(?:the|your|this|that|any)\s+"
        r"(?:fees?|invoices?|balance|charges?|overages?|debt|amount)\b",
    ),
    (
        "waiver",
        rf"\bno\s+(?:late|overage|cancellation|set{_W}?up|early\s+termination|termination|exit|"
        r"penalty)\s+(?:fees?|charges?)\b",
    ),
    (
        "waiver",
        r"\bwe(?:\s+will\s+not|\s+won['’]t|\s+shall\s+not|['’]ll\s+not)\s+(?:charge|bill|invoice)\b",
    ),
    (
        "waiver",
        r"\b(?:drop|remove|cancel|void|scrap)\s+(?:the|your|this|that|any)\s+"
        rf"(?:late\s+|overage\s+)?{_FEES}\b",
    ),
    # credit (not a credit card, not praise: see _ACKNOWLEDGE too)
    ("credit", rf"\bcredit{_W}(?:note|memo)s?\b"),
    (
        "credit",
        r"\b(?:service|account|billing|usage|store|promotional|one-?time|goodwill)\s+credits?\b",
    ),
    (
        "credit",
        rf"\bcredit(?:s|ed|ing)?\b(?!{_W}{_NOT_MONEY_CREDIT}\b)(?!\s+where\b)"
        r"(?!(?<=ed)\s+with\b)"
        r"(?!\s+(?:goes\s+|belongs\s+|is\s+due\s+)?to\s+"
        rf"(?:the\s+|our\s+|my\s+|his\s+|her\s+|their\s+|your\s+)?(?:\w+\s+){{0,1}}?{_TEAMISH}\b)",
    ),
    # SLA and uptime
    (
        "sla",
        r"\bwe\s+(?:can\s+|will\s+|do\s+|hereby\s+|would\s+)?guarantee[sd]?\b"
        r"|\bwe['’]ll\s+guarantee\b",
    ),
    (
        "sla",
        rf"\bguarantee[sd]?\s+(?:you\s+)?(?:an?\s+)?(?:{_PCT}\s+)?"
        r"(?:uptime|availability|response|resolution|delivery|results?|savings|roi|performance|sla)\b",
    ),
    (
        "sla",
        r"\b(?:uptime|availability|response\s+times?|resolution\s+times?)\s+"
        r"(?:is\s+|are\s+|of\s+)?guaranteed\b",
    ),
    ("sla", rf"\b{_PCT}\s+(?:uptime|availability)(?:\s+(?:sla|guarantee|commitment))?\b"),
    ("sla", rf"\bsla{_W}(?:credits?|guarantees?|upgrades?|commitments?|penalt(?:y|ies)|breach)\b"),
    (
        "sla",
        r"\b(?:custom|new|improved|upgraded|enhanced|better|stronger|extended|special|premium|"
        rf"dedicated|bespoke|tighter)\s+(?:sla|service{_W}level\s+agreement)s?\b",
    ),
    ("sla", rf"\bcommit(?:s|ted|ting|ment)?\s+to\s+(?:an?\s+)?{_PCT}"),
    ("sla", r"\bsatisfaction\s+guaranteed?\b"),
    # legal
    ("legal", r"\bindemnif(?:y|ies|ied|ying|ication)\b|\bhold\s+(?:you\s+)?harmless\b"),
    (
        "legal",
        r"\b(?:accept|accepts|accepted|assume|assumes|take|takes)\s+(?:full\s+|all\s+|any\s+)?"
        r"(?:legal\s+)?liability\b",
    ),
    (
        "legal",
        r"\bwe\s+(?:are|will\s+be|would\s+be|shall\s+be)\s+(?:fully\s+)?liable\b"
        r"|\bwe['’]ll\s+be\s+liable\b",
    ),
    (
        "legal",
        r"\b(?:terminat(?:e|es|ed|ing|ion)|cancel(?:s|led|ling|lation)?|exit)\b[^.\n]{0,40}?"
        r"\bwithout\s+(?:any\s+)?(?:penalt(?:y|ies)|fees?|charges?|cost)\b",
    ),
    ("legal", rf"\bpenalty{_W}free\s+(?:termination|cancellation|exit)\b"),
    (
        "legal",
        rf"\bcontract(?:ual)?{_W}"
        r"(?:amendment|change|modification|addendum|variation|exception)s?\b",
    ),
    (
        "legal",
        r"\bamend(?:s|ed|ing|ment)?\s+(?:to\s+)?(?:the|your|our|this)\s+"
        r"(?:contract|agreement|msa|terms|order\s+form|dpa)\b",
    ),
    (
        "legal",
        r"\b(?:will|would|shall)\s+not\s+enforce\b|\bwon['’]t\s+enforce\b"
        r"|\bnot\s+(?:going\s+to\s+)?enforce\b",
    ),
    (
        "legal",
        r"\brelease\s+you\s+from\s+(?:the|your)\s+"
        r"(?:contract|agreement|commitment|obligations?)\b",
    ),
    ("legal", r"\blet\s+you\s+out\s+of\s+(?:the|your)\s+(?:contract|agreement)\b"),
    ("legal", rf"\bside{_W}letter\b|\bexit\s+clause\b"),
    # price
    (
        "price",
        rf"\bprice{_W}(?:lock|locks|locked|freeze|frozen|guarantee|guaranteed|protection|hold|"
        r"match|matching|cap|capped)\b",
    ),
    (
        "price",
        rf"\block(?:s|ed|ing)?{_W}in\s+"
        r"(?:the\s+|your\s+|this\s+|that\s+|our\s+|a\s+|today['’]?s\s+)?"
        rf"(?:current\s+|existing\s+|same\s+)?{_PRICE}\b",
    ),
    (
        "price",
        r"\b(?:freez(?:e|es|ing)|froze|frozen|hold|holding|keep|keeping|cap|capping|guarantee)\s+"
        rf"(?:the\s+|your\s+)?(?:current\s+|existing\s+)?{_PRICE}\b",
    ),
    (
        "price",
        r"\bmatch(?:es|ed|ing)?\s+(?:their|the|any|your|a|competitors?['’]?s?)\s+"
        r"(?:competitor['’]?s?\s+|competing\s+|lower\s+)?(?:price|pricing|quote|offer|rate|bid)s?\b",
    ),
    ("price", r"\bno\s+price\s+(?:increase|rise|change|hike)s?\b"),
    (
        "price",
        r"\brenew(?:al)?\s+at\s+(?:the\s+)?(?:same|current|existing|today['’]?s)\s+"
        r"(?:price|rate|pricing)\b",
    ),
    ("price", rf"\b(?:only|just)\s+{_MONEY}"),
)
_OFFER_RES: Final = tuple((cat, re.compile(p, re.IGNORECASE)) for cat, p in _OFFER_PATTERNS)
# Cyrillic and Greek letters that look Latin, read as their Latin twins for offers only.
_CONFUSABLES: Final = str.maketrans(
    "аеорсуххіјѕԁɡһӏАВЕКМНОРСТХІЈЅοαντικρΑΒΕΗΙΚΜΝΟΡΤΧΥΖ",
    "aeopcyxxijsdghlABEKMHOPCTXIJSoavtikpABEHIKMNOPTXYZ",
)
_ACKNOWLEDGE = re.compile(
    r"\b(?:give|gives|gave|given|giving|deserves?|deserved|deserving|take|takes|took|taking|"
    r"claim|claims|claimed|share|shares|shared)\s+(?:the\s+|all\s+the\s+|full\s+|some\s+|"
    r"much\s+|more\s+|partial\s+)?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_WORD_NUMBER = re.compile(rf"\b{_NUMBER_WORD}\b|\bhalf\b", re.IGNORECASE)


def _match_offers(s: str, skip: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    s = s.translate(_CONFUSABLES)
    found = []
    for category, rx in _OFFER_RES:
        for m in rx.finditer(s):
            a, b = m.start(), m.end()
            if b <= a or any(x <= a and b <= y for x, y in skip):
                continue
            if category == "credit" and _ACKNOWLEDGE.search(s, max(0, a - 40), a):
                continue  # "give credit", "take the credit": praise, not money
            found.append((a, b, category))
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    chosen: list[tuple[int, int, str]] = []
    for item in found:
        if not chosen or item[0] >= chosen[-1][1]:
            chosen.append(item)
    return chosen


def _number_value(text: str) -> str:
    words = re.split(r"[\s-]+", text.lower())
    total = 0
    for w in words:
        if w == "hundred":
            total = max(total, 1) * 100
        else:
            total += _WORD_VALUES.get(w, 0)
    return str(total)


def _numbers_in(text: str) -> set[str]:
    """The numbers ``text`` states: digits (``1,200`` is 1200, ``10.0`` is 10), number words
    and "half" (50)."""
    out = set()
    for m in _DIGITS.finditer(text):
        raw = m.group(0)
        raw = (
            raw.replace(",", "")
            if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw)
            else raw.replace(",", ".")
        )
        try:
            value = float(raw)
        except ValueError:
            continue
        out.add(f"{value:g}")
    for m in _WORD_NUMBER.finditer(text.translate(_CONFUSABLES)):
        if m.group(0).lower() not in ("a", "an"):
            out.add(_number_value(m.group(0)))
    return out


# --- the public detectors -------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """One text as the detectors read it: the normalised view, its links and addresses."""

    text: str
    view: TextView
    links: tuple[ParsedUrl, ...]
    emails: tuple[tuple[int, int], ...]

    def original(self, a: int, b: int) -> tuple[int, int, str]:
        start, end = self.view.original(a, b)
        return start, end, self.text[start:end]


def _read(text: str) -> _Reading:
    view = normalised_view(text)
    links, emails = scan(view.text)
    return _Reading(text, view, tuple(links), tuple(emails))


def _urls(reading: _Reading) -> list[tuple[FoundUrl, ParsedUrl]]:
    out = []
    for parsed in reading.links:
        start, end, raw = reading.original(parsed.a, parsed.b)
        out.append((FoundUrl(raw, parsed.normalised, parsed.host, start, end), parsed))
    return out


def _offers(reading: _Reading) -> list[FoundOffer]:
    skip = [(p.a, p.b) for p in reading.links] + list(reading.emails)
    out = []
    for a, b, category in _match_offers(reading.view.text, skip):
        start, end, raw = reading.original(a, b)
        out.append(FoundOffer(raw, category, start, end))
    return out


_OBFUSCATED_ADDRESS = re.compile(
    r"(?<![\w.+-])([\w.+-]+)\s*[\[({]\s*(?:at|@)\s*[\])}]\s*"
    r"([\w-]+(?:\s*(?:\.|[\[({]\s*(?:dot|\.)\s*[\])}])\s*[\w-]+)+)",
    re.IGNORECASE,
)
_OBFUSCATED_DOT = re.compile(r"\s*(?:[\[({]\s*(?:dot|\.)\s*[\])}]|\.)\s*", re.IGNORECASE)


def _addresses(reading: _Reading) -> list[tuple[str, str]]:
    """``(span, address)`` for every address, plain or written as ``name [at] host [dot] com``."""
    out = []
    for a, b in reading.emails:
        _, _, raw = reading.original(a, b)
        out.append((raw, address_key(reading.view.text[a:b])))
    for m in _OBFUSCATED_ADDRESS.finditer(reading.view.text):
        _, _, raw = reading.original(m.start(), m.end())
        domain = _OBFUSCATED_DOT.sub(".", m.group(2))
        out.append((raw, address_key(f"{m.group(1)}@{domain}")))
    return out


def find_urls(text: str) -> list[FoundUrl]:
    """Every link in ``text``, in order (see :mod:`keel.tools.outbound.urls` for what counts)."""
    return [found for found, _ in _urls(_read(text))]


def find_markup(text: str) -> list[ContentProblem]:
    """HTML, markdown images and links, script URIs and hiding characters in ``text``."""
    seen: dict[tuple[str, str], None] = {}
    for item in markup_spans(text):
        seen.setdefault((text[item.start : item.end], item.reason), None)
    return [ContentProblem("markup", span, reason) for span, reason in seen]


def find_offers(text: str) -> list[FoundOffer]:
    """Every commercial promise in ``text``, in order, the longest where matches overlap;
    words inside links and e-mail addresses are not read."""
    return _offers(_read(text))


@lru_cache(maxsize=256)
def _approved(approved: str) -> tuple[frozenset[str], frozenset[str]]:
    """The categories and the numbers of one approved offer."""
    return frozenset(o.category for o in find_offers(approved)), frozenset(_numbers_in(approved))


def offer_allowed(offer: FoundOffer, approved_offers: Sequence[str]) -> bool:
    """Whether ``offer`` is one of the play's approved offers: the same category as an offer
    in one approved offer and, when ``offer`` states numbers, each of them in that approved
    offer. An empty list allows nothing."""
    numbers = _numbers_in(offer.text)
    for approved in approved_offers:
        categories, approved_numbers = _approved(approved)
        if offer.category in categories and numbers <= approved_numbers:
            return True
    return False


def _link_reason(found: FoundUrl, parsed: ParsedUrl, why: str) -> str:
    target = found.host or f"{parsed.scheme}:"
    return f'link to {target} {why}: "{_short(found.raw)}"'


def check_content(
    *,
    subject: str,
    body: str,
    allowlist: Sequence[str],
    approved_offers: Sequence[str] = (),
    allowed_addresses: Collection[str] | None = None,
) -> list[ContentProblem]:
    """Everything in the subject and body that may not go out, each problem once.

    Links not allowed by :func:`url_allowed`, every markup item, offers not allowed by
    :func:`offer_allowed` and, when ``allowed_addresses`` is given, e-mail addresses not in
    it (compared lower-cased, IDN domains as punycode).
    """
    allowed = None
    if allowed_addresses is not None:
        allowed = {address_key(a) for a in allowed_addresses if a}
    problems: dict[ContentProblem, None] = {}

    def add(kind: Kind, span: str, reason: str) -> None:
        problems.setdefault(ContentProblem(kind, span, reason), None)

    for where, text in (("subject", subject), ("body", body)):
        suffix = " (in the subject)" if where == "subject" else ""
        reading = _read(text)
        for found, parsed in _urls(reading):
            why = url_problem(parsed, allowlist)
            if why is not None:
                add("link", found.raw, _link_reason(found, parsed, why) + suffix)
        for markup in find_markup(text):
            add("markup", markup.span, markup.reason + suffix)
        why = "is not among the play's approved offers"
        if not approved_offers:
            why = "is not allowed: the play has no approved offers"
        for offer in _offers(reading):
            if not offer_allowed(offer, approved_offers):
                add(
                    "offer",
                    offer.text,
                    f'{offer.category} offer "{_short(offer.text)}" {why}{suffix}',
                )
        if allowed is not None:
            for span, address in _addresses(reading):
                if address not in allowed:
                    add(
                        "address",
                        span,
                        f"address {address} is not one this message may name{suffix}",
                    )
    return list(problems)


# --- neutralise ---------------------------------------------------------------------------

_MAX_PASSES: Final = 25
_DEFANGED_SCHEMES: Final = {
    "http": "hxxp",
    "https": "hxxps",
    "ftp": "fxp",
    "ws": "wxs",
    "wss": "wxss",
}


_ANY_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*):")


def _defang_scheme(m: re.Match[str]) -> str:
    mapped = _DEFANGED_SCHEMES.get(m.group(1).lower())
    return f"{mapped}:" if mapped else f"{m.group(1)}[:]"


def _defang_url(u: str, parsed: ParsedUrl) -> str:
    """The link as inert text: every scheme in it (``hxxps:``, ``javascript[:]``), every
    dot (``[.]``) and a protocol-relative start (``[//]``)."""
    prefix = ""
    if not parsed.scheme and u[:1] in "/\\":
        prefix, u = "[//]", u.lstrip("/\\")
    return prefix + _ANY_SCHEME.sub(_defang_scheme, u).replace(".", "[.]")


def _neutral_edits(text: str) -> list[tuple[int, int, str]]:
    edits: list[tuple[int, int, str]] = [
        (m.start, m.end, m.replacement) for m in markup_spans(text)
    ]
    reading = _read(text)
    view = reading.view
    for parsed in reading.links:
        start, end = view.original(parsed.a, parsed.b)
        edits.append((start, end, _defang_url(view.text[parsed.a : parsed.b], parsed)))
    for a, b in reading.emails:
        start, end = view.original(a, b)
        local, _, domain = view.text[a:b].rpartition("@")
        edits.append((start, end, f"{local}[at]{domain.replace('.', '[.]')}"))
    # Outermost first; a span inside (or overlapping) a taken one waits for the next pass.
    edits.sort(key=lambda e: (e[0], -(e[1] - e[0])))
    taken: list[tuple[int, int, str]] = []
    for edit in edits:
        if edit[1] > edit[0] and (not taken or edit[0] >= taken[-1][1]):
            taken.append(edit)
    return [e for e in taken if text[e[0] : e[1]] != e[2]]


def neutralise(text: str) -> str:
    """``text`` made safe to quote inside Keel's own views; idempotent.

    Links are defanged (``hxxps://evil[.]de/x``, ``evil[.]de``, ``[//]host/x``,
    ``javascript[:]...``; a link inside a link's query too), e-mail addresses too
    (``name[at]host[.]com``), HTML tags and comments become ``[html removed]``, markdown
    images ``[image removed]``, markdown links their text and target (``text (target)``),
    and invisible characters are removed. Repeated until nothing is left to change; text
    nested deeper than that allows loses its punctuation instead (:func:`_inert`).
    """
    for _ in range(_MAX_PASSES):
        edits = _neutral_edits(text)
        if not edits:
            return text
        out, pos = [], 0
        for start, end, new in edits:
            out += [text[pos:start], new]
            pos = end
        out.append(text[pos:])
        text = "".join(out)
    return _inert(text)


# Characters every link, address and markup needs, as lookalikes no detector reads.
_INERT: Final = str.maketrans(
    {
        ".": "·",
        ":": "꞉",
        "/": "∕",
        "\\": "⧵",
        "@": "(at)",
        "<": "‹",
        ">": "›",
        "[": "⟦",
        "]": "⟧",
        "&": "＆",
    }
)


def _inert(text: str) -> str:
    """The last resort for pathological nesting: no character a link or markup needs."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join("." if c in DOT_LOOKALIKES else c for c in text if not is_hidden_char(c))
    return text.translate(_INERT)
