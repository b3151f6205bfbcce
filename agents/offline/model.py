"""The offline chat model: deterministic, honest about being one, and graph-compatible.

It speaks LangChain's chat-model contract so the same graphs run on it unchanged:

- with tools bound and no tool results yet for the current request, it calls the tools
  that match the request (the calling step's plan, intent rules and local-embedding
  similarity), with arguments filled from the request, the prompt's context and its facts;
- once results are in, it answers: structured output through its composer for the
  schema (given the typed facts the caller attached, see
  :mod:`keel.agents.offline.request`), or a templated text reply over the facts;
- with no tools and no schema, a short templated reply that says it is the offline model.

It is built with its composers, step plans and reply composers
(``OfflineChatModel(composers=..., plans=...)``); there is no global registry.

Every message carries ``response_metadata={"model_name": "keel-offline-1", "offline": True}``.
Nothing is random: the same messages always give the same output.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.utils import LC_ID_PREFIX
from pydantic import BaseModel, Field, PrivateAttr

from keel.agents.offline.arguments import fill_arguments
from keel.agents.offline.compose import (
    Composer,
    ComposeRequest,
    ReplyComposer,
    compose,
    compose_reply,
    schema_for_tool,
)
from keel.agents.offline.facts import (
    called_tools,
    collect_facts,
    key_values,
    latest_request,
    system_text,
)
from keel.agents.offline.intents import DEFAULT_INTENTS, IntentTable, ToolSelector, ToolSpec
from keel.agents.offline.request import STEP_KEY, TypedPrompt
from keel.agents.offline.text import OFFLINE_MODEL_NAME, stable_hash
from keel.agents.repair import attach_parser, schema_tool_name

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForLLMRun


# tool_choice values that require some tool call (LangChain, OpenAI and Anthropic spellings).
_REQUIRED_CHOICES = frozenset({"any", "required", "True"})
# The keyword argument that carries a TypedPrompt's facts from invoke() to _generate().
_FACTS_KWARG = "keel_facts"
# A streamed text reply comes in pieces of this many words (tool calls in one piece).
_STREAM_WORDS = 4
_WORD = re.compile(r"\S+\s*|\s+")


def _openai_tool(tool: dict[str, Any] | type | Callable[..., Any] | BaseTool) -> dict[str, Any]:
    """``convert_to_openai_tool``, once per schema class or tool object: the agent loop binds
    the same tools on every model call, and generating their JSON schema again each time
    was a fifth of a review's time on this model. Tools are not hashable, so they are kept
    by id beside the object itself (the id of a live object is never reused); copies are
    returned so no caller can change a cached one."""
    if not isinstance(tool, type | BaseTool):
        return convert_to_openai_tool(tool)
    with _CONVERTED_LOCK:
        found = _CONVERTED.get(id(tool))
        if found is None or found[0] is not tool:
            if len(_CONVERTED) >= _CONVERTED_MAX:
                _CONVERTED.clear()
            found = (tool, convert_to_openai_tool(tool))
            _CONVERTED[id(tool)] = found
    return copy.deepcopy(found[1])


@functools.lru_cache(maxsize=256)
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    return convert_to_json_schema(schema)


_CONVERTED: dict[int, tuple[object, dict[str, Any]]] = {}
_CONVERTED_LOCK = threading.Lock()
_CONVERTED_MAX = 512


class OfflineChatModel(BaseChatModel):
    """A deterministic chat model that calls tools and writes from templates.

    Attributes:
        model_name: Reported in every message's metadata and in model labels.
        embedder: Local sentence embedder for tool choice (word overlap when absent).
        embedder_factory: Loads the embedder on first tool choice instead.
        intents: Intent rules; the shared :data:`DEFAULT_INTENTS` when ``None``.
        composers: How to write each structured-output schema (others: from the facts).
        plans: Tools each calling step always calls (names or globs), by step name.
        replies: How to write a plain reply, by calling step (others: a summary of facts).
        min_similarity: Cosine similarity a tool needs to be chosen semantically.
        max_tools: At most this many tools chosen semantically per request.
    """

    model_name: str = OFFLINE_MODEL_NAME
    embedder: Any = Field(default=None, exclude=True)
    embedder_factory: Callable[[], Any] | None = Field(default=None, exclude=True)
    intents: IntentTable | None = Field(default=None, exclude=True)
    composers: dict[type[BaseModel], Composer] = Field(default_factory=dict, exclude=True)
    plans: dict[str, tuple[str, ...]] = Field(default_factory=dict, exclude=True)
    replies: dict[str, ReplyComposer] = Field(default_factory=dict, exclude=True)
    min_similarity: float = 0.3
    max_tools: int = 3

    _selector: ToolSelector | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "keel-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def selector(self) -> ToolSelector:
        if self._selector is None:
            self._selector = ToolSelector(
                embedder=self.embedder,
                embedder_factory=self.embedder_factory,
                min_similarity=self.min_similarity,
                max_tools=self.max_tools,
            )
        return self._selector

    # --- LangChain surface ------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Structured output built by this model's composer for ``schema``.

        ``method`` and ``strict`` are accepted and ignored (there is only one method).
        """
        kwargs.pop("method", None)
        kwargs.pop("strict", None)
        if kwargs:
            raise ValueError(f"unsupported arguments for with_structured_output: {kwargs}")
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise TypeError(
                f"the offline model writes pydantic schemas only; got {schema!r}. "
                "Define the output as a pydantic model and give the model a composer for it."
            )
        llm = self.bind_tools(
            [schema],
            tool_choice=schema_tool_name(schema),
            keel_schema=schema,
            # For tracing only; given as its JSON schema, made once per class (LangChain
            # would otherwise regenerate it from the pydantic model on every call).
            ls_structured_output_format={
                "kwargs": {"method": "function_calling"},
                "schema": _json_schema(schema),
            },
        )
        return attach_parser(llm, schema, include_raw=include_raw)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        # A TypedPrompt's facts ride to _generate as a keyword argument; the messages go
        # through LangChain's usual path (callbacks, tracing) like any prompt.
        if isinstance(input, TypedPrompt):
            kwargs[_FACTS_KWARG] = input.facts
        return super().invoke(input, config, stop=stop, **kwargs)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        if isinstance(input, TypedPrompt):
            kwargs[_FACTS_KWARG] = input.facts
        return await super().ainvoke(input, config, stop=stop, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = run_manager.metadata.get(STEP_KEY) if run_manager is not None else None
        message = self.respond(
            messages,
            tools=kwargs.get("tools") or [],
            tool_choice=kwargs.get("tool_choice"),
            schema=kwargs.get("keel_schema"),
            step=str(step) if step else None,
            facts=kwargs.get(_FACTS_KWARG),
        )
        if run_manager is not None and not message.tool_calls:
            _stream_text(message, run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    # --- behaviour --------------------------------------------------------------------------

    def respond(
        self,
        messages: Sequence[BaseMessage],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        tool_choice: Any = None,
        schema: type[BaseModel] | None = None,
        step: str | None = None,
        facts: Any = None,
    ) -> AIMessage:
        """The model's next message for ``messages`` (what ``invoke`` returns).

        Args:
            messages: The conversation.
            tools: Bound tools in OpenAI format.
            tool_choice: The tool the caller requires, if any.
            schema: The structured-output schema asked for, if any.
            step: The calling step (chooses its tool plan and reply composer).
            facts: The typed facts the caller attached (for the schema's composer).
        """
        specs = [] if tool_choice == "none" else [ToolSpec.from_openai(t) for t in tools]
        schemas = self._schema_tools(specs, schema)
        regular = [spec for spec in specs if spec.name not in schemas]
        forced = _forced_tool(tool_choice)
        called = set(called_tools(messages))

        if forced in schemas and not regular:
            return self._structured(messages, schemas[forced], facts)
        if forced and forced not in schemas and forced != "*":
            spec = next((s for s in regular if s.name == forced), None)
            if spec is not None and forced not in called:
                return self._call_tools(messages, [spec], required=True)
        elif regular:
            wanted = self._wanted(messages, regular, step)
            todo = [s for s in regular if s.name in wanted and s.name not in called]
            if todo:
                message = self._call_tools(messages, todo, required=False)
                if message.tool_calls:
                    return message
            if forced == "*" and not called and not schemas:
                best = self.selector.best(latest_request(messages), regular)
                spec = next(s for s in regular if s.name == best)
                return self._call_tools(messages, [spec], required=True)
        if schemas:
            return self._structured(messages, next(iter(schemas.values())), facts)
        return self._message(compose_reply(messages, self.replies.get(step or "")))

    def _schema_tools(
        self, specs: Sequence[ToolSpec], schema: type[BaseModel] | None
    ) -> dict[str, type[BaseModel]]:
        """Bound tools that are really output schemas (``with_structured_output``, or
        ``create_agent``'s tool strategy for a schema this model has a composer for)."""
        found: dict[str, type[BaseModel]] = {}
        for spec in specs:
            if schema is not None and spec.name == schema_tool_name(schema):
                found[spec.name] = schema
            elif (known := schema_for_tool(self.composers, spec.name)) is not None:
                found[spec.name] = known
        return found

    def _wanted(
        self, messages: Sequence[BaseMessage], tools: Sequence[ToolSpec], step: str | None
    ) -> list[str]:
        intents = self.intents if self.intents is not None else DEFAULT_INTENTS
        plan = self.plans.get(step or "", ())
        return self.selector.select(latest_request(messages), tools, intents, plan)

    def _call_tools(
        self, messages: Sequence[BaseMessage], tools: Sequence[ToolSpec], *, required: bool
    ) -> AIMessage:
        request = latest_request(messages)
        system = system_text(messages)
        context = {**key_values(system), **key_values(request)}
        facts = collect_facts(messages)
        calls: list[ToolCall] = []
        for tool in tools:
            args = fill_arguments(tool, request=request, context=context, facts=facts)
            if args is None and system:
                args = fill_arguments(tool, request=system, context=context, facts=facts)
            if args is None and required:
                args = {}  # the caller insists; the tool will report what is missing
            if args is None:
                continue
            seed = f"{len(messages)}|{tool.name}|{request}|{sorted(args.items(), key=str)}"
            calls.append(
                ToolCall(
                    name=tool.name, args=args, id=f"call_{stable_hash(seed):016x}", type="tool_call"
                )
            )
        return self._message("", tool_calls=calls)

    def _message(self, content: str, *, tool_calls: list[ToolCall] | None = None) -> AIMessage:
        return AIMessage(
            content=content,
            tool_calls=tool_calls or [],
            response_metadata={"model_name": self.model_name, "offline": True},
        )

    def _structured(
        self, messages: Sequence[BaseMessage], schema: type[BaseModel], facts: Any
    ) -> AIMessage:
        built = compose(ComposeRequest(list(messages), schema, facts), self.composers)
        name = schema_tool_name(schema)
        seed = f"{len(messages)}|{name}|{latest_request(messages)}"
        call = ToolCall(
            name=name,
            args=built.model_dump(mode="json"),
            id=f"call_{stable_hash(seed):016x}",
            type="tool_call",
        )
        return self._message("", tool_calls=[call])


def _stream_text(message: AIMessage, run_manager: CallbackManagerForLLMRun) -> None:
    """Hand a text reply to the run's callbacks in pieces of a few words, as a real model's
    stream arrives (LangGraph's ``messages`` stream mode relays them). The message takes the
    pieces' id, so the whole message is not relayed a second time when the call ends."""
    text = message.content if isinstance(message.content, str) else ""
    if not text:
        return
    message.id = "-".join((LC_ID_PREFIX, str(run_manager.run_id)))
    words = _WORD.findall(text)
    for start in range(0, len(words), _STREAM_WORDS):
        piece = "".join(words[start : start + _STREAM_WORDS])
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
        run_manager.on_llm_new_token(piece, chunk=chunk)


def _forced_tool(tool_choice: Any) -> str | None:
    """The tool name ``tool_choice`` requires, ``"*"`` for any tool, else ``None``."""
    if tool_choice is None or tool_choice is False or tool_choice in ("auto", "none"):
        return None
    if tool_choice is True or str(tool_choice) in _REQUIRED_CHOICES:
        return "*"
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool_choice.get("name")
        return str(name) if name else "*"
    return str(tool_choice)
