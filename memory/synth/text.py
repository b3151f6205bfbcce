"""A small compositional grammar for the synthetic book's texts.

Template syntax:

* ``[a|b|c]`` picks one alternative (alternatives may be empty: ``[really |]``) and nest;
* ``{slot}`` asks the slot source for a value (names, numbers, dates, features ...).

Templates are parsed once and cached; rendering draws from a ``random.Random`` so a text
is a pure function of the account's stream.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

SlotValue = str | Callable[[], str]
Slots = Mapping[str, SlotValue]


@dataclass(frozen=True)
class _Lit:
    text: str


@dataclass(frozen=True)
class _Slot:
    name: str


@dataclass(frozen=True)
class _Choice:
    options: tuple[tuple[object, ...], ...]


class TemplateError(ValueError):
    """A phrase template is malformed or asks for an unknown slot."""


def _parse(src: str, pos: int, depth: int) -> tuple[tuple[object, ...], int, str | None]:
    """Parse a sequence until ``|``/``]`` (inside a choice) or the end; return stop char."""
    parts: list[object] = []
    buf: list[str] = []
    while pos < len(src):
        ch = src[pos]
        if ch == "[":
            if buf:
                parts.append(_Lit("".join(buf)))
                buf = []
            options: list[tuple[object, ...]] = []
            pos += 1
            while True:
                seq, pos, stop = _parse(src, pos, depth + 1)
                options.append(seq)
                if stop == "]":
                    break
                if stop is None:
                    raise TemplateError(f"unclosed '[' in template: {src!r}")
            parts.append(_Choice(tuple(options)))
            continue
        if ch in "|]":
            if depth == 0:
                raise TemplateError(f"stray {ch!r} in template: {src!r}")
            if buf:
                parts.append(_Lit("".join(buf)))
            return tuple(parts), pos + 1, ch
        if ch == "{":
            end = src.find("}", pos)
            if end < 0:
                raise TemplateError(f"unclosed '{{' in template: {src!r}")
            if buf:
                parts.append(_Lit("".join(buf)))
                buf = []
            parts.append(_Slot(src[pos + 1 : end]))
            pos = end + 1
            continue
        buf.append(ch)
        pos += 1
    if buf:
        parts.append(_Lit("".join(buf)))
    return tuple(parts), pos, None


@lru_cache(maxsize=8192)
def compile_template(src: str) -> tuple[object, ...]:
    seq, _, _ = _parse(src, 0, 0)
    return seq


def _render(
    seq: tuple[object, ...], rng: random.Random, slots: Slots, out: list[str], src: str
) -> None:
    for part in seq:
        if isinstance(part, _Lit):
            out.append(part.text)
        elif isinstance(part, _Slot):
            try:
                value = slots[part.name]
            except KeyError:
                raise TemplateError(f"unknown slot {{{part.name}}} in template: {src!r}") from None
            out.append(value() if callable(value) else value)
        else:
            assert isinstance(part, _Choice)
            opts = part.options
            _render(opts[rng.randrange(len(opts))], rng, slots, out, src)


_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_PUNCT = re.compile(r" +([,.;:!?)])")
_DOUBLE_DOT = re.compile(r"\.\.(?!\.)")
# A sentence that starts mid-template with a slot ("{team} needs ...") gets its capital.
_SENTENCE_START = re.compile(r"(?<![.]\w)(?<!e\.g)(?<!i\.e)([.!?] )([a-z])")


def _upper_start(m: re.Match[str]) -> str:
    return m.group(1) + m.group(2).upper()


def tidy(text: str) -> str:
    """Fix what composition leaves behind: doubled spaces and dots, a lowercase start."""
    # Cheap substring tests first: most sentences need none of the regexes.
    if "  " in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    if " " in text and _SPACE_PUNCT.search(text):
        text = _SPACE_PUNCT.sub(r"\1", text)
    if ".." in text:
        text = _DOUBLE_DOT.sub(".", text)
    if ". " in text or "? " in text or "! " in text:
        text = _SENTENCE_START.sub(_upper_start, text)
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def render(src: str, rng: random.Random, slots: Slots) -> str:
    """Expand one template; the result is tidied and starts with a capital letter."""
    out: list[str] = []
    _render(compile_template(src), rng, slots, out, src)
    return tidy("".join(out))


def usable(bank: Sequence[str], slots: Slots) -> list[str]:
    """Templates of ``bank`` whose slots are all available.

    A voice leaves out slots that make no sense for the account on that day (no one has
    left, there is no sponsor), so a template about a departed champion is never chosen
    for an account whose champion is still there.
    """
    return [t for t in bank if slot_names(t) <= slots.keys()]


def pick(rng: random.Random, bank: Sequence[str], slots: Slots) -> str:
    """Render one usable template drawn from ``bank`` ("" if none is usable)."""
    ok = usable(bank, slots)
    return render(ok[rng.randrange(len(ok))], rng, slots) if ok else ""


def maybe(rng: random.Random, p: float, bank: Sequence[str], slots: Slots) -> str | None:
    return (pick(rng, bank, slots) or None) if rng.random() < p else None


@lru_cache(maxsize=8192)
def slot_names(src: str) -> frozenset[str]:
    """Every slot a template may ask for."""
    names: set[str] = set()

    def walk(seq: tuple[object, ...]) -> None:
        for part in seq:
            if isinstance(part, _Slot):
                names.add(part.name)
            elif isinstance(part, _Choice):
                for opt in part.options:
                    walk(opt)

    walk(compile_template(src))
    return frozenset(names)


_CONNECTORS = (", and ", " — ", "; ", " and ", ", plus ")


def _proper_words() -> frozenset[str]:
    """Words that keep their capital mid-sentence: names, products, places, months, "I"."""
    from keel.memory.synth import names
    from keel.memory.synth.phrases import common

    words: set[str] = {"I", "I'm", "I've", "I'd", "I'll", names.PRODUCT}
    for group in (
        names.FIRST_NAMES,
        names.COMPANY_STEMS,
        common.INTEGRATIONS,
        common.SUPPORT_AGENTS,
        common.MONTHS,
        common.WEEKDAYS,
        common.COMPETITORS,
        tuple(c for cities in common.CITIES.values() for c in cities),
        tuple(v[0] for v in common.FEATURES.values()),
    ):
        words.update(w.split(" ", 1)[0] for w in group)
    return frozenset(words)


_PROPER: frozenset[str] = frozenset()


def lower_first(sentence: str) -> str:
    """Lower-case the first word unless it is a name, a product, an acronym or "I"."""
    global _PROPER
    if not _PROPER:
        _PROPER = _proper_words()
    first = sentence.split(" ", 1)[0].rstrip(",.:;!?")
    first = first.removesuffix("'s")
    if not first[:1].isupper() or first in _PROPER:
        return sentence
    if any(ch.isupper() for ch in first[1:]) or any(ch.isdigit() for ch in first):
        return sentence  # acronyms and codes: SSO, QA, ERR-4102, Q3
    return sentence[:1].lower() + sentence[1:]


def lead_in(lead: str, sentence: str) -> str:
    """Prefix ``sentence`` with ``lead`` ("Also, ")."""
    return lead + lower_first(sentence)


def run_on(items: Sequence[str], rng: random.Random, p: float = 0.3) -> list[str]:
    """Join some adjacent statements into one sentence, as people do when they type fast."""
    out: list[str] = []
    for item in items:
        prev = out[-1] if out else ""
        if (
            prev.endswith(".")
            and item
            and "?" not in prev
            and "\n" not in prev
            and "\n" not in item
            and rng.random() < p
        ):
            out[-1] = prev[:-1] + rng.choice(_CONNECTORS) + lower_first(item)
        else:
            out.append(item)
    return out


_SENTENCE_SPLIT = re.compile(r"(?<![eE]\.g\.)(?<![iI]\.e\.)(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """Split a text into sentences and lines (for the realism checks)."""
    return [s.strip(" -•\t") for s in _SENTENCE_SPLIT.split(text) if s.strip(" -•\t")]
