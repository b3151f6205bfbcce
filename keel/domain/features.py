"""Product feature and event names as the product shows them, not as the data codes them.

Telemetry names features by key (``workflow_builder``, ``ai_triage``); a CSM, a brief or a
customer reads "Workflow Builder" and "Smart Triage". The product's own catalogue gives
the name when it knows the key (the demo product's catalogue is the synthetic book's);
any other key is turned into words (``usage_export`` -> "Usage export", with known
acronyms in capitals). A name that already reads as words (an import that carries display
names) is kept as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

# Words shown in capitals when a key is turned into words.
_ACRONYMS: Final = frozenset(
    {"ai", "api", "crm", "csv", "qa", "sso", "scim", "sla", "sdk", "ui", "pdf", "ocr", "id"}
)


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, str]:
    """Key -> display name of the product's features (the demo product's catalogue)."""
    try:
        from keel.memory.synth.phrases.common import FEATURES
    except ImportError:  # pragma: no cover - the catalogue ships with the package
        return {}
    return {key: value[0] for key, value in FEATURES.items()}


def display_name(key: str) -> str:
    """How the product names a feature or event key (see the module docstring)."""
    text = str(key).strip()
    known = _catalogue().get(text)
    if known:
        return known
    if not re.fullmatch(r"[a-z0-9]+(?:[_\-.][a-z0-9]+)*", text):
        return text  # already words (or a name we should not guess at)
    words = [w for w in re.split(r"[_\-.]+", text) if w]
    shown = [w.upper() if w in _ACRONYMS else w for w in words]
    if shown and shown[0] == words[0]:
        shown[0] = shown[0].capitalize()
    return " ".join(shown)
