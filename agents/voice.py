"""Keel's own voice: model-written text shown to a CSM or reviewer, with customer text
kept as data.

Briefings, meeting briefs and call summaries are written by a model that read customer
text. Whatever it copied from a ticket, note or NPS comment is shown only as a marked
quotation naming its record, and no link, image or markup in any of it stays live: an
instruction planted in a ticket cannot speak to the CSM as Keel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from keel.tools.outbound.content import find_offers, neutralise
from keel.tools.outbound.quotes import mark_quotes

UNVERIFIED_OFFER: Final = "model text, an offer Keel has not approved"
# Any marked span: a customer quotation or an unverified offer.
_ANY_MARK: Final = re.compile(r"“[^“”]*”\s*\[(?:customer text|model text)[^\]]*\]")
# A quotation as :func:`keel.tools.outbound.quotes.mark_quotes` writes it.
_MARKED: Final = re.compile(r"“([^“”]*)”\s*\[customer text,?\s*([^\]]*)\]")


def quoted_in(texts: Iterable[str]) -> list[tuple[str, str]]:
    """The customer text quoted (and marked) in ``texts``, as ``(record, words)`` sources.

    A model that reads a briefing sees customer text only inside its marked quotations; if
    it copies those words into its own, they are marked again.
    """
    return [
        (m.group(2).strip() or "customer text", m.group(1))
        for text in texts
        for m in _MARKED.finditer(text or "")
    ]


def in_keel_voice(text: str, sources: Sequence[tuple[str, str]]) -> str:
    """``text`` with quotations of ``sources`` marked and everything made inert."""
    if not text:
        return text
    return neutralise(mark_offers(mark_quotes(text, sources, neutralise=neutralise)))


def mark_offers(text: str) -> str:
    """Offers in a model's analysis marked as unverified: Keel's briefings recommend plays,
    they never make commercial promises, so a discount or refund there is the model's (or
    an attacker's) word, not Keel's. Offers inside quotations stay as quoted."""
    quoted = [(m.start(), m.end()) for m in _ANY_MARK.finditer(text)]
    offers = [o for o in find_offers(text) if not any(a <= o.start < b for a, b in quoted)]
    for offer in sorted(offers, key=lambda o: -o.start):
        span = text[offer.start : offer.end]
        text = f"{text[: offer.start]}“{span}” [{UNVERIFIED_OFFER}]{text[offer.end :]}"
    return text


def sources_from_hits(hits: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(evidence id, text)`` for each evidence hit that carries customer text."""
    return [
        (str(hit.get("id") or "customer text"), str(hit.get("content") or ""))
        for hit in hits
        if hit.get("content")
    ]
