"""JSON-constrained decoding for the local model: only tokens that keep the reply valid JSON
of the requested schema may be generated.

A 135M-parameter model asked for a tool's arguments or a response schema mostly writes
something JSON-like that no parser accepts (an unclosed string, prose after a brace, the
schema copied back). With ``lm-format-enforcer`` (part of the ``local-model`` extra) the
server masks, at every step, the tokens that would leave the schema's grammar, so the reply
parses and has the schema's shape. Only the *syntax* is forced: the values (which evidence
ids, which numbers, which names) are still the model's own, and Keel's guards and the eval's
scorers judge them exactly as they judge any endpoint's.

The schema is tightened before it is enforced (:func:`enforceable`): dates get a
``YYYY-MM-DD`` pattern, and free strings and arrays get upper bounds, so a weak model
cannot spend its whole token cap inside one string or one list and leave the object
unclosed.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Callable
from typing import Any

ENFORCER_MODULE = "lmformatenforcer"
DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
# Bounds a weak model's free text and lists (schemas that set their own keep theirs).
MAX_STRING_CHARS = 300
MAX_ARRAY_ITEMS = 3
MAX_WHITESPACE = 4

AllowedTokens = Callable[[int, Any], list[int]]


def available() -> bool:
    """Whether ``lm-format-enforcer`` is installed (found without importing it)."""
    return importlib.util.find_spec(ENFORCER_MODULE) is not None


def enforceable(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``schema`` the enforcer can hold a small model to.

    An empty or missing schema becomes "any JSON object" (``json_object`` mode, a tool with
    no parameters). Dates get a pattern, strings a length and arrays a size bound when they
    have none; everything else is kept as the client sent it.
    """
    if not schema:
        return {"type": "object"}
    tightened = copy.deepcopy(schema)
    _tighten(tightened)
    if tightened.get("type") is None and "properties" in tightened:
        tightened["type"] = "object"
    return tightened


def _tighten(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _tighten(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and "enum" not in node and "const" not in node:
        if node.get("format") == "date" and "pattern" not in node:
            node["pattern"] = DATE_PATTERN
        elif "pattern" not in node:
            node.setdefault("maxLength", MAX_STRING_CHARS)
    if kind == "array":
        node.setdefault("maxItems", MAX_ARRAY_ITEMS)
    for value in node.values():
        if isinstance(value, dict | list):
            _tighten(value)


class JsonEnforcer:
    """Per tokenizer, what the enforcer needs (built once: a pass over the vocabulary);
    per request, a ``prefix_allowed_tokens_fn`` for ``model.generate``."""

    def __init__(self, tokenizer: Any) -> None:
        from lmformatenforcer.tokenenforcer import TokenEnforcerTokenizerData

        vocab_size = len(tokenizer)
        self._data = TokenEnforcerTokenizerData(
            _regular_tokens(tokenizer, vocab_size),
            lambda tokens: tokenizer.decode(tokens).rstrip("\ufffd"),
            tokenizer.eos_token_id,
            False,
            vocab_size,
        )

    def allowed_tokens(self, schema: dict[str, Any] | None) -> AllowedTokens:
        """The function ``generate`` calls at each step with the sequence so far."""
        from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser
        from lmformatenforcer.tokenenforcer import TokenEnforcer

        parser = JsonSchemaParser(enforceable(schema))
        enforcer = TokenEnforcer(self._data, parser)
        # The enforcer replaces the parser's configuration with its tokenizer's alphabet;
        # the bounds go on after it.
        parser.config = CharacterLevelParserConfig(
            alphabet=self._data.tokenizer_alphabet,
            max_consecutive_whitespaces=MAX_WHITESPACE,
            max_json_array_length=MAX_ARRAY_ITEMS,
        )

        def allowed(_batch: int, sequence: Any) -> list[int]:
            return list(enforcer.get_allowed_tokens(sequence.tolist()).allowed_tokens)

        return allowed


def _regular_tokens(tokenizer: Any, vocab_size: int) -> list[tuple[int, str, bool]]:
    """``(id, text, starts a word)`` for every non-special token, as the enforcer wants them.

    A token's text is read after a ``0`` token and the ``0`` dropped: decoded alone, a
    word-start token may lose its leading space.
    """
    zero = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    out: list[tuple[int, str, bool]] = []
    for token in range(vocab_size):
        if token in special:
            continue
        after_zero = tokenizer.decode([zero, token])[1:]
        alone = tokenizer.decode([token])
        out.append((token, after_zero, len(after_zero) > len(alone)))
    return out
