"""What a run records about the things that shape its output: prompts, policy, dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prompt_digest() -> str:
    """A hash of every prompt constant in :mod:`keel.agents.prompts` (upper-case string names):
    two runs with the same digest used the same prompt text."""
    from keel.agents import prompts

    constants = {k: v for k, v in vars(prompts).items() if k.isupper() and isinstance(v, str)}
    return _hash(constants)


def policy_digest(policy: Any) -> str:
    """A hash of the loaded approval policy."""
    dump = policy.model_dump(mode="json") if hasattr(policy, "model_dump") else repr(policy)
    return _hash(dump)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
