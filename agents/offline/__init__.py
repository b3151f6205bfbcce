"""The offline model: deterministic tool calling and templated prose over structured facts.

Used whenever no OpenAI-compatible endpoint is configured, so every graph runs without a
network. See :mod:`keel.agents.offline.model` for its behaviour and
:mod:`keel.agents.offline.compose` for how agents give it a voice (composers).
"""

from keel.agents.offline.compose import (
    Composer,
    ReplyComposer,
    compose,
    compose_from_facts,
    compose_reply,
    composer_for,
    default_reply,
    register_composer,
    register_reply_composer,
)
from keel.agents.offline.facts import (
    ToolResult,
    collect_facts,
    find_fact,
    key_values,
    latest_request,
    tool_results,
)
from keel.agents.offline.intents import (
    DEFAULT_INTENTS,
    IntentRule,
    IntentTable,
    ToolSelector,
    ToolSpec,
    register_intent,
    register_plan,
)
from keel.agents.offline.model import OfflineChatModel
from keel.agents.offline.text import (
    OFFLINE_MODEL_NAME,
    OFFLINE_NOTICE,
    format_value,
    humanise,
    vary,
)

__all__ = [
    "DEFAULT_INTENTS",
    "OFFLINE_MODEL_NAME",
    "OFFLINE_NOTICE",
    "Composer",
    "IntentRule",
    "IntentTable",
    "OfflineChatModel",
    "ReplyComposer",
    "ToolResult",
    "ToolSelector",
    "ToolSpec",
    "collect_facts",
    "compose",
    "compose_from_facts",
    "compose_reply",
    "composer_for",
    "default_reply",
    "find_fact",
    "format_value",
    "humanise",
    "key_values",
    "latest_request",
    "register_composer",
    "register_intent",
    "register_plan",
    "register_reply_composer",
    "tool_results",
    "vary",
]
