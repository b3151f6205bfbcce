"""How a caller tells the offline model what a real model reads from the prompt's words.

A real model reads the prompt. The offline model cannot, so a node hands it two typed
things alongside the messages, by two mechanisms chosen so that the real-model path
carries nothing for the offline model:

- **The facts a step's prompt was written from** travel in a :class:`TypedPrompt`, a
  LangChain ``ChatPromptValue`` with a ``facts`` object attached. Every LangChain chat model
  accepts a prompt value as input and reads it through ``to_messages()``, so a real model
  (and its callbacks and traces) receives exactly the messages, byte for byte; the facts
  never reach a provider. The alternatives each leak: a ``RunnableConfig`` ``metadata``
  entry is copied into every trace, ``bind()`` keyword arguments are forwarded into the
  provider's request body, and ``additional_kwargs`` on a message is only ignored as long
  as each provider's message converter happens to ignore it. The structured-output schema
  needs no channel of its own: ``with_structured_output(Schema)`` already gives it.
- **Which step is calling** (e.g. ``"analyst"``) travels as the config metadata entry
  :data:`STEP_KEY` (:func:`step_config`). It is a short label, not data: LangChain passes
  it down to every model call inside a tool loop the node does not drive itself
  (``create_agent``), and in a real model's trace it usefully names the step. The offline
  model chooses a step's fixed tool plan from it, never from the prompt's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableConfig

STEP_KEY: Final = "keel_step"
"""Config metadata key naming the agent step that makes a model call."""


class TypedPrompt(ChatPromptValue):
    """Chat messages plus the typed facts they were written from.

    A chat model reads it as its messages; the offline model also reads ``facts`` (any
    object its composer for the requested schema expects, usually a pydantic model).
    """

    facts: Any = None

    def extended(self, messages: Sequence[BaseMessage]) -> TypedPrompt:
        """The same request with ``messages`` appended (a retry or a follow-up turn)."""
        return self.model_copy(update={"messages": [*self.messages, *messages]})


def typed_prompt(messages: Sequence[BaseMessage], facts: Any) -> TypedPrompt:
    """``messages`` for any chat model, with ``facts`` for the offline model."""
    return TypedPrompt(messages=list(messages), facts=facts)


def step_config(step: str) -> RunnableConfig:
    """Config that names the calling step for the model calls made under it."""
    return {"metadata": {STEP_KEY: step}}
