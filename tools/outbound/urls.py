"""Links and e-mail addresses in outbound text, found by parsing rather than by pattern.

:mod:`keel.tools.outbound.content` is the public face of the content policy; this module holds
its URL half: the normalised view of a text (with a map back to the original), the URL
scanner, the allow-list check and the address finder.

How a text is read
    Every detector reads a *view* of the text, not the text itself: HTML character
    references are decoded (``&#46;`` is a dot, ``&amp;lt;`` is ``<``, up to three levels),
    the view is NFKC-normalised (fullwidth ``ｈｔｔｐｓ：／／`` is ``https://``), the Unicode
    dot lookalikes ``。．｡`` become ``.``, and invisible characters (format characters such as
    zero-width spaces and bidi controls, Hangul fillers, variation selectors, control
    characters) are dropped. Every character of the view remembers the span of the original
    text it came from, so what is found is reported with ``raw``/``start``/``end`` of the
    ORIGINAL text: ``text[start:end] == raw`` always holds.

What counts as a link
    - ``scheme:`` URLs for the web schemes ``http``, ``https``, ``ftp``, ``ws``, ``wss``
      with any number of slashes or backslashes, including none (``https:evil.de`` and
      ``https:\\\\evil.de`` open ``evil.de`` in a browser); hosts may be names, IPv4 in any
      form a browser accepts (``http://2130706433/``, ``http://0x7f.1/``) or ``[IPv6]``.
    - ``file:`` URLs; the code-running schemes ``javascript:``, ``vbscript:``,
      ``livescript:`` (followed directly by their code) and ``data:`` (followed by a media
      type, ``,`` or ``;``).
    - any other ``scheme://host`` with a dotted host name (app links, ``intent://``...).
    - protocol-relative ``//host/path`` (also with backslashes).
    - bare hosts ``name.tld`` whose last label is a public suffix (the ``publicsuffixlist``
      package's offline copy of the Public Suffix List) or a special-use name (``.example``,
      ``.test``, ``.invalid``, ``.localhost``, ``.local``, ``.internal``); any ``www.`` host;
      dotted-quad IPv4 addresses (not when written as a version: ``v1.2.3.4``,
      ``version 1.2.3.4``); ``localhost:port``.
    Not links: ``mailto:`` (the address in it is an address, found by
    :func:`find_addresses`), ``tel:``/``sms:`` and other schemes without ``//``, one-letter
    schemes (``C:\\Users``), version numbers and amounts (their last label is a number),
    abbreviations (``e.g.``: ``g`` is no public suffix), e-mail addresses' domains, and
    file names. Some file extensions are also top-level domains; for the ones that are
    mostly file names (:data:`FILE_LIKE_SUFFIXES`: ``.zip``, ``.mov``, ``.py``, ``.md``...)
    a bare ``name.zip`` is a host only when a path, port, query or fragment follows it or it
    starts with ``www.`` (behind a scheme or ``//`` it always is). Suffixes that are mostly
    web sites (``.pl``, ``.cc``, ``.so``, ``.app``) are always hosts.

A link's extent ends at whitespace, ``<``, ``>``, ``"`` or a backtick; trailing sentence
punctuation (``.,;:!?'"*_~``) and closing brackets without an opening one inside the link
belong to the sentence.
"""

from __future__ import annotations

import html
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import unquote

from publicsuffixlist import PublicSuffixList

# --- the normalised view ------------------------------------------------------------------

DOT_LOOKALIKES: Final = frozenset("。．｡︒﹒․")
# Invisible characters dropped from the view (besides every format character, category Cf).
INVISIBLE_EXTRA: Final = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)")


def is_hidden_char(ch: str) -> bool:
    """Whether ``ch`` is invisible when rendered and is dropped from the view."""
    if ch in INVISIBLE_EXTRA:
        return True
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return True
    if cat == "Cc":
        return not ch.isspace()
    cp = ord(ch)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


class TextView:
    """A transformed text whose every character knows the original span it came from."""

    __slots__ = ("_ends", "_starts", "length", "text")

    def __init__(self, text: str, starts: list[int], ends: list[int], length: int) -> None:
        self.text = text
        self._starts = starts
        self._ends = ends
        self.length = length  # of the original text

    @classmethod
    def identity(cls, text: str) -> TextView:
        return cls(text, list(range(len(text))), list(range(1, len(text) + 1)), len(text))

    def original(self, a: int, b: int) -> tuple[int, int]:
        """The original span behind ``self.text[a:b]``."""
        if a >= b:
            pos = self._starts[a] if a < len(self.text) else self.length
            return pos, pos
        return self._starts[a], self._ends[b - 1]

    def rewrite(self, edits: Iterable[tuple[int, int, str]]) -> TextView:
        """A new view with ``self.text[a:b]`` replaced by each edit's text (sorted, disjoint)."""
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        for a, b, new in edits:
            out.append(self.text[pos:a])
            starts += self._starts[pos:a]
            ends += self._ends[pos:a]
            if new:
                s, e = self.original(a, b)
                out.append(new)
                starts += [s] * len(new)
                ends += [e] * len(new)
            pos = b
        out.append(self.text[pos:])
        starts += self._starts[pos:]
        ends += self._ends[pos:]
        return TextView("".join(out), starts, ends, self.length)


def decode_entities(view: TextView) -> TextView:
    """``view`` with HTML character references decoded, up to three levels deep."""
    for _ in range(3):
        edits = []
        for m in _ENTITY.finditer(view.text):
            decoded = html.unescape(m.group(0))
            if decoded != m.group(0):
                edits.append((m.start(), m.end(), decoded))
        if not edits:
            break
        view = view.rewrite(edits)
    return view


def _nfkc(view: TextView) -> TextView:
    text = view.text
    if unicodedata.is_normalized("NFKC", text):
        return view
    edits = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        normal = unicodedata.normalize("NFKC", cluster)
        if normal != cluster:
            edits.append((i, j, normal))
        i = j
    return view.rewrite(edits)


_UNUSUAL = re.compile(r"[^\t\n\r\x20-\x7e]")  # what is not printable ASCII


def _clean(view: TextView) -> TextView:
    edits = []
    for m in _UNUSUAL.finditer(view.text):
        ch = m.group(0)
        if ch in DOT_LOOKALIKES:
            edits.append((m.start(), m.end(), "."))
        elif is_hidden_char(ch):
            edits.append((m.start(), m.end(), ""))
    return view.rewrite(edits) if edits else view


def normalised_view(text: str) -> TextView:
    """The view every URL, address and offer detector reads (see the module docstring)."""
    return _clean(_nfkc(decode_entities(TextView.identity(text))))


# --- hosts --------------------------------------------------------------------------------

SPECIAL_SCHEMES: Final = frozenset({"http", "https", "ftp", "ws", "wss"})
SCRIPT_SCHEMES: Final = frozenset({"javascript", "vbscript", "livescript"})
NOT_LINK_SCHEMES: Final = frozenset({"mailto", "tel", "sms", "callto", "urn", "cid", "mid"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
# Names reserved for documentation, testing and private networks: not in the Public Suffix
# List, but a host all the same (Keel's own examples live under .example).
SPECIAL_USE_SUFFIXES: Final = frozenset(
    {"example", "test", "invalid", "localhost", "local", "internal", "onion"}
)
# Top-level domains that are, in a customer e-mail, far more often a file's extension.
FILE_LIKE_SUFFIXES: Final = frozenset({"zip", "mov", "py", "rs", "md", "sh", "java", "pm", "tf"})
_FORBIDDEN_HOST = frozenset(' \t\n\r#%/:<>?@[\\]^|"`{}')
_DELIMITER = re.compile(r"[\s<>\"`]")
_TRAILING: Final = ".,;:!?'\"*_~"
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList(accept_unknown=False)


def ascii_host(host: str) -> str:
    """``host`` lower-cased with every non-ASCII label in punycode (IDNA, UTS 46)."""
    host = host.lower()
    if host.isascii():
        return host
    try:
        import idna  # IDNA 2008 with UTS 46 mapping, as browsers do; httpx depends on it

        return str(idna.encode(host, uts46=True, transitional=False).decode("ascii"))
    except Exception:  # not installed, or a label IDNA 2008 refuses: go label by label
        pass
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


_IPV4_PART = {10: re.compile(r"[0-9]+"), 8: re.compile(r"[0-7]+"), 16: re.compile(r"[0-9a-fA-F]+")}


def _ipv4(host: str) -> str | None:
    """The dotted form of an IPv4 host as a browser parses it (1-4 parts, hex, octal)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or "" in parts:
        return None
    numbers = []
    for part in parts:
        base = 10
        if part[:2].lower() == "0x":
            base, part = 16, part[2:]
        elif len(part) > 1 and part.startswith("0"):
            base, part = 8, part[1:]
        if part and not _IPV4_PART[base].fullmatch(part):
            return None
        numbers.append(int(part, base) if part else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _ends_in_number(host: str) -> bool:
    """Whether a browser would parse ``host`` as IPv4 (its last label is a number)."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2].lower() == "0x" and all(c in "0123456789abcdef" for c in last[2:].lower())


def normalise_host(raw: str, *, special: bool) -> tuple[str, str] | None:
    """``(host, kind)`` for the host text of a URL, kind ``name``/``ipv4``/``ipv6``; None if
    a browser would refuse it."""
    host = unquote(raw) if "%" in raw else raw
    host = "".join("." if c in DOT_LOOKALIKES else c for c in host)
    host = unicodedata.normalize("NFKC", host).lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1])), "ipv6"
        except ValueError:
            return None
    if host.endswith(".") and len(host) > 1:
        host = host[:-1]
    if not host or any(c in _FORBIDDEN_HOST for c in host) or ".." in host:
        return None
    if not any(c.isalnum() for c in host):
        return None
    if special and _ends_in_number(host):
        dotted = _ipv4(host)
        return (dotted, "ipv4") if dotted else None
    return ascii_host(host), "name"


@lru_cache(maxsize=4096)
def _has_public_suffix(host: str) -> bool:
    return _psl().publicsuffix(host) is not None


def names_a_host(segment: str) -> bool:
    """Whether a path segment reads as a host (``attacker.example``, ``10.0.0.1``): a path
    like ``/go/attacker.example/x`` forwards the reader elsewhere. File names whose suffix
    is mostly a file extension (``readme.md``) are not hosts."""
    labels = [label for label in segment.strip().lower().split(".")]
    if len(labels) < 2 or not all(labels) or labels[-1] in FILE_LIKE_SUFFIXES:
        return False
    if all(label.isdigit() for label in labels) and len(labels) == 4:
        return True
    if not all(re.fullmatch(r"[a-z0-9-]+|xn--[a-z0-9-]+", label) for label in labels):
        return False
    return _is_public_host(labels)


def _is_public_host(labels: Sequence[str]) -> bool:
    tld = ascii_host(labels[-1])
    if tld in SPECIAL_USE_SUFFIXES:
        return True
    if tld.isdigit():
        return False
    return _has_public_suffix(ascii_host(".".join(labels)))


# --- URLs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedUrl:
    """One URL as the scanner read it (view coordinates ``a``..``b``)."""

    a: int
    b: int
    scheme: str  # "" for bare hosts and protocol-relative links
    host: str  # normalised; "" for javascript:/data: and hostless file: URLs
    host_kind: str  # "name", "ipv4", "ipv6" or "none"
    port: int | None
    userinfo: str | None  # None when there is no "@" in the authority
    path: str  # as written, backslashes included
    query: str | None
    fragment: str | None
    opaque: str = ""  # what follows "scheme:" for javascript:, data: and the like

    @property
    def effective_scheme(self) -> str:
        return self.scheme or "https"

    @property
    def normalised(self) -> str:
        if self.host_kind == "none" and self.scheme != "file":
            return f"{self.scheme}:{self.opaque}"
        host = f"[{self.host}]" if self.host_kind == "ipv6" else self.host
        scheme = self.effective_scheme
        port = ""
        if self.port is not None and self.port != DEFAULT_PORTS.get(scheme):
            port = f":{self.port}"
        path = self.path.replace("\\", "/") or "/"
        query = f"?{self.query}" if self.query is not None else ""
        fragment = f"#{self.fragment}" if self.fragment is not None else ""
        user = f"{self.userinfo}@" if self.userinfo is not None else ""
        return f"{scheme}://{user}{host}{port}{path}{query}{fragment}"


def link_extent(s: str, a: int, content: int) -> int | None:
    """Where the link starting at ``a`` ends; None when nothing follows ``content``.

    It ends at a delimiter; trailing sentence punctuation, and closing brackets that have no
    opening one inside the link, are the sentence's.
    """
    m = _DELIMITER.search(s, content)
    b = m.start() if m else len(s)
    counts: dict[str, int] = {}
    while b > content:
        c = s[b - 1]
        if c in _TRAILING:
            b -= 1
            continue
        if c not in _CLOSERS:
            break
        if c not in counts:
            counts[c] = s.count(c, a, b)
            counts[_CLOSERS[c]] = s.count(_CLOSERS[c], a, b)
        if counts[_CLOSERS[c]] >= counts[c]:
            break
        counts[c] -= 1
        b -= 1
    return b if b > content else None


def _split_rest(rest: str) -> tuple[str, str | None, str | None]:
    fragment = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    query = None
    if "?" in rest:
        rest, query = rest.split("?", 1)
    return rest, query, fragment


def _with_authority(s: str, a: int, start: int, b: int, scheme: str) -> ParsedUrl | None:
    """Parse ``s[start:b]`` as ``authority[path][?query][#fragment]``."""
    m = re.compile(r"[/\\?#]").search(s, start, b)
    auth_end = m.start() if m else b
    auth = s[start:auth_end]
    userinfo = None
    if "@" in auth:
        userinfo, auth = auth.rsplit("@", 1)
    port_text = ""
    if auth.startswith("["):
        close = auth.find("]")
        if close < 0:
            return None
        host_text, after = auth[: close + 1], auth[close + 1 :]
        if after and not after.startswith(":"):
            return None
        port_text = after[1:]
    elif ":" in auth:
        host_text, port_text = auth.split(":", 1)
    else:
        host_text = auth
    if port_text and not (port_text.isascii() and port_text.isdigit() and int(port_text) < 65536):
        return None
    special = scheme in SPECIAL_SCHEMES or scheme == ""
    parsed_host = normalise_host(host_text, special=special)
    if parsed_host is None:
        return None
    host, kind = parsed_host
    path, query, fragment = _split_rest(s[auth_end:b])
    return ParsedUrl(
        a=a,
        b=b,
        scheme=scheme,
        host=host,
        host_kind=kind,
        port=int(port_text) if port_text else None,
        userinfo=userinfo,
        path=path,
        query=query,
        fragment=fragment,
    )


_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*):")
_DATA_TYPE = re.compile(r"[\w.+-]*/[\w.+-]+|[,;]")
_SLASHES = re.compile(r"[/\\]*")
_PROTOCOL_RELATIVE = re.compile(r"(?<![\w:/\\])[/\\]{2,}(?=[\w\[%])")
_BARE = re.compile(r"(?<![\w-])[\w-]+(?:\.[\w-]+)+(?![\w-])")
_BARE_ASCII = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+(?![A-Za-z0-9_-])")
_LOCALHOST = re.compile(r"(?<![\w.-])localhost(?=:\d)", re.IGNORECASE)
_VERSION_WORD = re.compile(r"(?i)\b(?:version|release|build|ver|rev|patch|v)\.?\s*$")


def _scheme_url(s: str, m: re.Match[str]) -> ParsedUrl | None:
    scheme = m.group(1).lower()
    a, colon = m.start(), m.end()
    if len(scheme) == 1 or scheme in NOT_LINK_SCHEMES:
        return None
    if scheme in SCRIPT_SCHEMES or scheme == "data":
        if colon >= len(s) or s[colon].isspace():
            return None
        if scheme == "data" and not _DATA_TYPE.match(s, colon):
            return None
        b = link_extent(s, a, colon)
        if b is None:
            return None
        return ParsedUrl(a, b, scheme, "", "none", None, None, "", None, None, s[colon:b])
    slashes = _SLASHES.match(s, colon)
    start = slashes.end() if slashes else colon
    b = link_extent(s, a, start)
    if b is None:
        return None
    if scheme == "file":
        if start - colon == 2 and start < b:
            parsed = _with_authority(s, a, start, b, scheme)
            if parsed is not None:
                return parsed
        path, query, fragment = _split_rest(s[colon:b].lstrip("/\\"))
        return ParsedUrl(a, b, scheme, "", "none", None, None, "/" + path, query, fragment)
    if scheme in SPECIAL_SCHEMES:
        return _with_authority(s, a, start, b, scheme)
    if start - colon < 2:
        return None
    parsed = _with_authority(s, a, start, b, scheme)
    if parsed is None or parsed.host_kind != "name" or "." not in parsed.host:
        return None
    return parsed


class _Claimed:
    """The spans of the view already taken by a link or an address."""

    def __init__(self, length: int) -> None:
        self._marks = bytearray(length + 1)
        self.spans: list[tuple[int, int]] = []

    def overlaps(self, a: int, b: int) -> bool:
        return self._marks.find(1, a, b) >= 0

    def add(self, a: int, b: int) -> None:
        self._marks[a:b] = b"\x01" * (b - a)
        self.spans.append((a, b))


def _bare_host(s: str, m: re.Match[str]) -> ParsedUrl | None:
    labels = m.group(0).split(".")
    a, end = m.start(), m.end()
    if any(len(label) > 63 or not label.strip("-_") for label in labels):
        return None
    nxt = s[end] if end < len(s) else ""
    following = bool(nxt) and (nxt in "/\\?#" or (nxt == ":" and s[end + 1 : end + 2].isdigit()))
    if len(labels) == 4 and all(x.isascii() and x.isdigit() for x in labels):
        if _VERSION_WORD.search(s, max(0, a - 12), a) or any(int(x) > 255 for x in labels):
            return None
    elif labels[0].lower() == "www":
        pass
    elif not _is_public_host(labels) or (
        ascii_host(labels[-1]) in FILE_LIKE_SUFFIXES and not following
    ):
        return None
    return _host_with_rest(s, a, end)


def _host_with_rest(s: str, a: int, end: int) -> ParsedUrl | None:
    b = end
    if b < len(s) and s[b] == ":":
        digits = re.compile(r"\d{1,5}").match(s, b + 1)
        if digits:
            b = digits.end()
    if b < len(s) and s[b] in "/\\?#":
        b = link_extent(s, a, b) or b
    return _with_authority(s, a, a, b, "")


def scan(s: str) -> tuple[list[ParsedUrl], list[tuple[int, int]]]:
    """Every URL in the view text ``s``, in order, and the spans of e-mail addresses."""
    found: list[ParsedUrl] = []
    claimed = _Claimed(len(s))

    def take(parsed: ParsedUrl | None) -> None:
        if parsed is not None:
            found.append(parsed)
            claimed.add(parsed.a, parsed.b)

    for m in _SCHEME.finditer(s):
        if not claimed.overlaps(m.start(), m.end()):
            take(_scheme_url(s, m))
    for m in _PROTOCOL_RELATIVE.finditer(s):
        if claimed.overlaps(m.start(), m.end()):
            continue
        b = link_extent(s, m.start(), m.end())
        parsed = None if b is None else _with_authority(s, m.start(), m.end(), b, "")
        if parsed is None:
            continue
        # "//intranet" is a link only with a path or port ("// TODO" is a comment).
        dotless = parsed.host_kind == "name" and "." not in parsed.host
        bare_word = not parsed.path.strip("/\\") and parsed.port is None
        if dotless and parsed.host != "localhost" and bare_word:
            continue
        take(parsed)
    emails = []
    for m in _EMAIL.finditer(s):
        if not claimed.overlaps(m.start(), m.end()):
            emails.append((m.start(), m.end()))
            claimed.add(m.start(), m.end())
    # Unicode-aware first (IDN hosts); then ASCII hosts glued to other scripts' letters
    # ("詳細はevil.deへ"), which the first pass reads as one long word.
    for pattern in (_BARE, _BARE_ASCII):
        for m in pattern.finditer(s):
            if not claimed.overlaps(m.start(), m.end()):
                take(_bare_host(s, m))
    for m in _LOCALHOST.finditer(s):
        if not claimed.overlaps(m.start(), m.end()):
            take(_host_with_rest(s, m.start(), m.end()))
    found.sort(key=lambda p: p.a)
    return found, emails


# --- e-mail addresses ---------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+'-])[\w+'-][\w.+'-]*@(?:(?:[\w-]+\.)+[\w-]+|\[[0-9a-fA-F.:]+\])", re.UNICODE
)


@dataclass(frozen=True)
class FoundAddress:
    """An e-mail address: ``address`` lower-cased (IDN domain in punycode), ``raw`` as written
    (``text[start:end]``)."""

    raw: str
    address: str
    start: int
    end: int


def address_key(address: str) -> str:
    """The form addresses are compared in: lower-cased, the domain in punycode."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local.lower()}@{ascii_host(domain.rstrip('.'))}" if local else address.lower()


def find_addresses(text: str) -> list[FoundAddress]:
    """Every e-mail address in ``text`` (``mailto:`` ones included), in order; addresses
    that are part of a link (``https://user@host``) are the link's."""
    view = normalised_view(text)
    _, emails = scan(view.text)
    out = []
    for a, b in emails:
        start, end = view.original(a, b)
        out.append(FoundAddress(text[start:end], address_key(view.text[a:b]), start, end))
    return out


# --- the allow-list -----------------------------------------------------------------------

# Query parameters that open redirects conventionally use; names are compared lower-cased
# with "-", "_", "." and "[]" removed, and any name containing one of _REDIRECT_PARTS is one.
REDIRECT_PARAMETERS: Final = frozenset(
    {
        "to", "url", "uri", "redirect", "redirecturi", "redirecturl", "next", "return",
        "returnto", "returnurl", "continue", "dest", "destination", "goto", "target", "out",
        "link", "r", "u", "go", "redir", "forward", "callback", "jump", "service", "ret",
    }
)  # fmt: skip
_REDIRECT_PARTS: Final = (
    "redirect", "redir", "return", "url", "uri", "callback", "continue", "goto", "forward",
    "dest", "next", "target", "link", "jump", "href", "location",
)  # fmt: skip
_PATH_TRICK = re.compile(r"%(?:2e|2f|5c|25|00)|\\|//", re.IGNORECASE)
_SCHEME_LIKE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]+:")


@lru_cache(maxsize=1024)
def parse_url(url: str) -> ParsedUrl | None:
    """``url`` read the way :func:`scan` reads links in text; None unless the whole string
    is exactly one link."""
    view = normalised_view(url.strip())
    found, _ = scan(view.text)
    if len(found) == 1 and found[0].a == 0 and found[0].b == len(view.text):
        return found[0]
    return None


def _decoded(value: str) -> str:
    from urllib.parse import unquote_plus

    for _ in range(3):
        decoded = unquote_plus(value)
        if decoded == value:
            break
        value = decoded
    return value


def _carries_link(value: str) -> bool:
    value = _decoded(value)
    if re.search(r"[/\\]{2}", value) or _SCHEME_LIKE.match(value):
        return True
    found, _ = scan(normalised_view(value).text)
    return bool(found)


def _parameters(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in re.split(r"[&;]", query):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def _matches_entry(url: ParsedUrl, entry: ParsedUrl) -> bool:
    scheme = url.effective_scheme
    if scheme != entry.effective_scheme or url.host != entry.host:
        return False
    port = url.port if url.port is not None else DEFAULT_PORTS.get(scheme)
    entry_port = entry.port if entry.port is not None else DEFAULT_PORTS.get(scheme)
    if port != entry_port:
        return False
    base = entry.path.replace("\\", "/").rstrip("/")
    path = url.path or "/"
    return not base or path == base or path.startswith(base + "/")


def url_problem(url: ParsedUrl, allowlist: Sequence[str]) -> str | None:
    """Why ``url`` may not go out (None when it may): the reason, to follow "link to HOST".

    Allowed only when it is an http(s) link (bare and protocol-relative links count as
    https) whose scheme, host and port equal an allow-list entry's and whose path continues
    the entry's path at a "/" boundary; and it has no user information, no "..", encoded
    slash, dot or backslash, "//" or backslash in its path, no redirect-style query
    parameter, no query value or fragment that is itself a link.
    """
    if url.host_kind == "none" and url.scheme in SCRIPT_SCHEMES | {"data"}:
        return f"runs code or carries content when clicked ({url.scheme}:)"
    if url.effective_scheme not in ("http", "https"):
        return f"uses {url.scheme}:, which is not on the allow-list"
    entries = [e for e in (parse_url(x) for x in allowlist) if e is not None]
    if not any(_matches_entry(url, entry) for entry in entries):
        return "is not on the allow-list"
    if url.userinfo is not None:
        return "has user information before the host, which hides where it goes"
    segments = url.path.replace("\\", "/").split("/")
    if _PATH_TRICK.search(url.path) or "." in segments or ".." in segments:
        return "has '..', an encoded slash or dot, a backslash or '//' in its path"
    for segment in segments:
        if names_a_host(_decoded(segment)):
            return f"names another host in its path ({segment}), as a redirect does"
    for name, value in _parameters(url.query or ""):
        key = re.sub(r"[-_.\[\]\s]", "", _decoded(name).lower())
        if key in REDIRECT_PARAMETERS or any(part in key for part in _REDIRECT_PARTS):
            return f"has a redirect-style query parameter ({name}=)"
        if _carries_link(value):
            return f"carries another link in its query ({name}=)"
    if url.fragment and _carries_link(url.fragment):
        return "carries another link in its fragment"
    return None


def url_allowed(url: str, allowlist: Sequence[str]) -> bool:
    """Whether the link ``url`` (a raw token from the text, or any URL string) may go out;
    see :func:`url_problem`. A string that is not exactly one link is not allowed."""
    parsed = parse_url(url)
    return parsed is not None and url_problem(parsed, allowlist) is None
