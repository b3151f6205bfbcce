"""Redact keys, tokens and passwords from text before it is printed, logged or stored.

Remote servers echo what they were sent: a 401 body repeats the API key, a webhook
relay quotes its own URL, an SMTP reply repeats the login. Every message Keel builds
from a remote answer passes through :func:`redact_secrets` before it reaches a user,
the database or a checkpoint.

What is replaced by ``[redacted]``:

* every exact string passed in ``extra`` (the configured SMTP password, API key, webhook
  URL and its token parts) of at least :data:`MIN_EXTRA_LEN` characters — shorter ones
  would blank out ordinary words and cannot be told apart from them;
* values of ``Authorization``/``Proxy-Authorization`` headers, ``Bearer <token>`` and
  ``Basic <base64>`` credentials;
* values of keys named like ``api_key``, ``apikey``, ``x-api-key``, ``token``,
  ``access_token``, ``password``, ``secret``, ``client_secret`` in query strings,
  headers and JSON (``name=value``, ``name: value``, ``"name": "value"``);
* the ``user:password`` part of URLs (``https://[redacted]@host``) and the token path of
  Slack incoming webhooks (``hooks.slack.com/services/[redacted]``);
* well-known key shapes: OpenAI ``sk-...``/``sk-proj-...``, Stripe ``sk_live_...``, JWTs
  (``eyJ...``), AWS access key ids (``AKIA...``/``ASIA...``), GitHub tokens (``ghp_...``,
  ``github_pat_...``), Slack tokens (``xoxb-...``), Google API keys (``AIza...``);
* generic long tokens: a run of at least 32 characters from ``[A-Za-z0-9_+=-]`` (no
  spaces, no dots, no slashes) that is either hexadecimal or mixes upper case, lower case
  and digits, as random base64/base62 keys do.

What is deliberately kept: lower-case hex runs of exactly 32 or 64 characters. That is
the shape of Keel's own action ids (``uuid4().hex``), idempotency keys and payload hashes
(sha256 hex), which an operator needs to see in an error to find the action. A secret
of exactly that shape is still redacted when it is passed in ``extra``, which is why the
adapters always pass their configured secrets. Hyphenated lower-case slugs and UUIDs in
their dashed form are kept too (they are not a single upper/lower/digit mix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

MIN_EXTRA_LEN = 4
"""Exact secrets shorter than this are not searched for (they would match ordinary text)."""

_SECRET_NAME = (
    r"[A-Za-z0-9_-]*?"
    r"(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|"
    r"token|secret|password|passwd|pwd)"
)

# Order matters: the specific shapes run before the generic long-token rule so the
# replacement keeps a readable prefix ("Bearer [redacted]", "password=[redacted]").
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL.
    (
        re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
        rf"\g<scheme>{REDACTED}@",
    ),
    # Slack incoming-webhook paths: the whole path after /services/ is the credential.
    (
        re.compile(r"(?P<host>hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"),
        rf"\g<host>{REDACTED}",
    ),
    # Header values: "Authorization: Bearer x", "authorization": "Basic y", Authorization=...
    (
        re.compile(
            r"(?P<name>[\"']?\b(?:proxy-)?authorization[\"']?\s*[:=]\s*)"
            r"(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\r\n,;}]+)",
            re.IGNORECASE,
        ),
        rf"\g<name>{REDACTED}",
    ),
    (
        re.compile(r"\b(?P<scheme>Bearer)\s+[A-Za-z0-9._~+/-]+=*", re.IGNORECASE),
        rf"\g<scheme> {REDACTED}",
    ),
    (
        re.compile(
            r"\b(?P<scheme>Basic)\s+(?=[A-Za-z0-9+/][a-z+/]*[0-9A-Z+/=])[A-Za-z0-9+/]{8,}={0,2}"
        ),
        rf"\g<scheme> {REDACTED}",
    ),
    # name=value / name: value / "name": "value" for secret-looking names.
    (
        re.compile(
            rf"(?P<name>[\"']?\b{_SECRET_NAME}[\"']?\s*[:=]\s*)"
            r"(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"'&,;}\]]+)",
            re.IGNORECASE,
        ),
        rf"\g<name>{REDACTED}",
    ),
    # Known key shapes.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{8,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]+){0,2}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),
)

_LONG_RUN = re.compile(r"(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{32,}(?![A-Za-z0-9_+=-])")
_KEEL_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _looks_random(token: str) -> bool:
    """The generic rule: hex (but not Keel's id shapes) or an upper/lower/digit mix."""
    core = token.rstrip("=")
    if _KEEL_ID.fullmatch(core):
        return False
    if _HEX.fullmatch(core):
        return any(c.isdigit() for c in core) and any(c.isalpha() for c in core)
    return (
        any(c.isupper() for c in core)
        and any(c.islower() for c in core)
        and any(c.isdigit() for c in core)
    )


def _exact_secrets(extra: Iterable[str | None]) -> list[str]:
    """The extra secrets worth searching for, longest first so a longer one wins."""
    found: set[str] = set()
    for secret in extra:
        if not secret or len(secret) < MIN_EXTRA_LEN:
            continue
        # A secret may be echoed URL-encoded (a password in a query string).
        found.update({secret, quote(secret, safe=""), quote(secret)})
    return sorted((s for s in found if len(s) >= MIN_EXTRA_LEN), key=len, reverse=True)


def redact_secrets(text: str, *, extra: Iterable[str | None] = ()) -> str:
    """Return ``text`` with everything that looks like a key or token replaced by ``[redacted]``.

    Args:
        text: Any message, typically built from a remote server's answer.
        extra: Exact secrets to remove wherever they appear (``None`` and strings shorter
            than :data:`MIN_EXTRA_LEN` are ignored), e.g. the configured password.

    Returns:
        The text with secrets replaced; the rest is left as it was.
    """
    for secret in _exact_secrets(extra):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _LONG_RUN.sub(lambda m: REDACTED if _looks_random(m.group(0)) else m.group(0), text)


def _secret_segment(segment: str) -> bool:
    """A URL path segment that is probably a token: long and mixing letters and digits."""
    return (
        len(segment) >= 16
        and any(c.isdigit() for c in segment)
        and any(c.isalpha() for c in segment)
    )


def secrets_in_url(url: str | None) -> tuple[str, ...]:
    """The parts of a configured URL that are credentials, to pass as ``extra``.

    The whole URL, its path (and path with query), the password of its
    ``user:password@``, every query value of at least eight characters, and every path
    segment that looks like a token (long, letters and digits mixed): webhook URLs usually
    carry their secret in one of these places.
    """
    if not url:
        return ()
    parts = urlsplit(url)
    found = [url]
    # The path as a whole: short tokens ("/hooks/T0/abc") are not caught segment by segment.
    if len(parts.path) >= 8:
        found.append(parts.path)
        if parts.query:
            found.append(f"{parts.path}?{parts.query}")
    if parts.password:
        found.append(unquote(parts.password))
    found.extend(value for _, value in parse_qsl(parts.query) if len(value) >= 8)
    found.extend(unquote(s) for s in parts.path.split("/") if _secret_segment(unquote(s)))
    return tuple(found)


def redact_url(url: str) -> str:
    """A URL fit for a log line: no ``user:password``, no token-like path segments or values.

    The scheme, host, port and the readable path stay, so the reader still sees where a
    request went. Query parameter names stay; their values are redacted when they are
    long (eight characters or more) or when :func:`redact_secrets` would redact them.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return redact_secrets(url)
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        netloc = f"{REDACTED}@{netloc}"
    if host == "hooks.slack.com" and parts.path.startswith("/services/"):
        path = f"/services/{REDACTED}"
    else:
        path = "/".join(
            REDACTED if _secret_segment(unquote(s)) else s for s in parts.path.split("/")
        )
    query = urlencode(
        [
            (name, REDACTED if len(value) >= 8 or redact_secrets(value) != value else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    return redact_secrets(urlunsplit((parts.scheme, netloc, path, query, "")))
