"""The offline model: deterministic tool calling and templated prose over structured facts.

Used whenever no OpenAI-compatible endpoint is configured, so every graph runs without a
network. See :mod:`keel.agents.offline.model` for its behaviour and
:mod:`keel.agents.offline.compose` for how agents give it a voice (composers), and
:mod:`keel.agents.offline.request` for how a caller passes it typed facts and its step.
"""

from keel.agents.offline.compose import (
    Composer,
    ComposeRequest,
    Composers,
    ReplyComposer,
    compose,
    compose_from_facts,
    compose_reply,
    default_reply,
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
)
from keel.agents.offline.model import OfflineChatModel
from keel.agents.offline.request import STEP_KEY, TypedPrompt, step_config, typed_prompt
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
    "STEP_KEY",
    "ComposeRequest",
    "Composer",
    "Composers",
    "IntentRule",
    "IntentTable",
    "OfflineChatModel",
    "ReplyComposer",
    "ToolResult",
    "ToolSelector",
    "ToolSpec",
    "TypedPrompt",
    "collect_facts",
    "compose",
    "compose_from_facts",
    "compose_reply",
    "default_reply",
    "find_fact",
    "format_value",
    "humanise",
    "key_values",
    "latest_request",
    "step_config",
    "tool_results",
    "typed_prompt",
    "vary",
]
