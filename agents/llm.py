"""The model factory: one LangChain chat model per run, remote when configured, else offline.

:func:`make_chat_model` returns :class:`ResilientChatOpenAI` when an OpenAI-compatible
endpoint is configured (``OPENAI_API_KEY`` and/or ``KEEL_LLM_BASE_URL``, ``KEEL_LLM_MODEL``:
OpenAI, vLLM, Ollama, llama.cpp server, LM Studio), otherwise the deterministic
:class:`keel.agents.offline.OfflineChatModel` with Keel's composers
(:func:`keel.agents.composers.offline_model`). Both support ``bind_tools`` and
``with_structured_output``, so the same graphs run on either.

``ResilientChatOpenAI`` is ``ChatOpenAI`` with the client's own retries turned off and
replaced by a bounded tenacity layer (exponential backoff with jitter, ``Retry-After``
honoured, every retry logged), plus a per-run :class:`keel.agents.budget.RunBudget` checked
before every call. It subclasses rather than wraps ``ChatOpenAI`` so that everything
LangChain knows about OpenAI models (tool binding, model profiles used by ``create_agent``
to pick a structured-output strategy, streaming, token counting) keeps working; only the
four call paths (``_generate``, ``_agenerate``, ``_stream``, ``_astream``) are guarded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar

import openai
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableSequence
from langchain_core.utils.function_calling import convert_to_openai_function
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from keel.agents.budget import RunBudget, budget_in_run
from keel.agents.composers import offline_model
from keel.agents.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from keel.agents.repair import attach_parser, repair_tool_calls, schema_tool_name
from keel.errors import KeelError
from keel.redact import redact_secrets

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
    )

    from keel.memory.embeddings import Embedder
    from keel.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the OpenAI client needs one.
PLACEHOLDER_API_KEY = "not-needed"
# Rough characters per token, used only to check the budget before a call.
CHARS_PER_TOKEN = 4


class LLMCallFailed(KeelError):
    """The model endpoint failed or refused a call (after retries when retrying made sense)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, timeouts, lost connections) are retried.

    Attributes:
        max_retries: Retries after the first attempt.
        initial_wait_s: First backoff; doubles each retry, plus up to this much jitter.
        max_wait_s: Cap on any single wait, including a server's ``Retry-After``.
    """

    max_retries: int = 4
    initial_wait_s: float = 1.0
    max_wait_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_retries=settings.llm_max_retries)


def retry_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is worth retrying, or ``None`` when it is not."""
    if isinstance(exc, openai.RateLimitError):
        return "rate limited (HTTP 429)"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "could not connect"
    if isinstance(exc, openai.APIStatusError):
        return f"server error (HTTP {exc.status_code})" if exc.status_code >= 500 else None
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return "malformed response body"
    # langchain-openai raises these for a body that is not a chat completion (an HTML
    # error page from a proxy, null ``choices``); all of its messages mention the response.
    if isinstance(exc, ValueError | TypeError | KeyError) and "response" in str(exc).lower():
        return "malformed response body"
    return None


def _retry_after_s(exc: BaseException | None) -> float | None:
    """The server's requested wait (``retry-after-ms`` or ``retry-after`` seconds), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None
    return None


class _Wait:
    """Exponential backoff with jitter, at least the server's ``Retry-After``, capped."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.backoff = wait_exponential_jitter(
            initial=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.initial_wait_s
        )

    def __call__(self, state: RetryCallState) -> float:
        wait = self.backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after_s(exc)
        if hinted is not None:
            wait = max(wait, hinted)
        return min(wait, self.policy.max_wait_s)


def _estimate_tokens(messages: Sequence[BaseMessage]) -> int:
    chars = sum(len(str(message.content)) for message in messages)
    return chars // CHARS_PER_TOKEN + 4 * len(messages)


def _result_tokens(messages: Sequence[AIMessage]) -> int | None:
    totals = [m.usage_metadata["total_tokens"] for m in messages if m.usage_metadata]
    return sum(totals) if totals else None


class ResilientChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` with bounded, logged retries and a per-run budget on every call.

    Build it with ``max_retries=0`` (the factory does) so the OpenAI client never retries
    on its own behind the budget's back.
    """

    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy, exclude=True)
    budget: RunBudget | None = Field(default=None, exclude=True)

    @property
    def label(self) -> str:
        return f"openai:{self.model_name}@{self.openai_api_base or OPENAI_DEFAULT_BASE_URL}"

    # --- retry ------------------------------------------------------------------------------

    def _retry_kwargs(self) -> dict[str, Any]:
        policy = self.retry_policy
        return {
            "stop": stop_after_attempt(policy.max_retries + 1),
            "wait": _Wait(policy),
            "retry": retry_if_exception(lambda exc: retry_reason(exc) is not None),
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "Model call to %s failed (%s); retry %d of %d in %.2fs",
            self.label,
            retry_reason(exc) if exc else "unknown",
            state.attempt_number,
            self.retry_policy.max_retries,
            wait,
        )

    def _with_retry(self, call: Callable[[], T]) -> T:
        retrying = Retrying(**self._retry_kwargs())
        try:
            return retrying(call)
        except Exception as exc:
            raise self._failure(exc, retrying.statistics.get("attempt_number", 1)) from exc

    async def _awith_retry(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(**self._retry_kwargs())
        try:
            return await retrying(call)
        except Exception as exc:
            raise self._failure(exc, retrying.statistics.get("attempt_number", 1)) from exc

    def _failure(self, exc: Exception, attempts: int) -> Exception:
        """The error to raise for ``exc``: a clear :class:`LLMCallFailed` for endpoint trouble."""
        if isinstance(exc, KeelError | ContextOverflowError):
            return exc  # budget errors as they are; context overflow for LangChain middleware
        reason = retry_reason(exc)
        if reason is not None:
            return LLMCallFailed(
                self._redact(
                    f"The model {self.label} did not answer after {attempts} attempt(s): "
                    f"{reason}. Check that the endpoint is up, or raise KEEL_LLM_MAX_RETRIES / "
                    "KEEL_LLM_TIMEOUT_S."
                )
            )
        if isinstance(exc, openai.APIStatusError):
            hint = " Check OPENAI_API_KEY." if exc.status_code in (401, 403) else ""
            # A 401 body often echoes the key it rejected: the message lands in review state,
            # checkpoints and the CLI, so it is redacted here, at the source.
            return LLMCallFailed(
                self._redact(
                    f"The model {self.label} refused the request (HTTP {exc.status_code}): "
                    f"{exc.message}.{hint}"
                )
            )
        return exc

    def _redact(self, text: str) -> str:
        """``text`` without the configured API key or anything shaped like a secret."""
        key = self.openai_api_key
        secret = key.get_secret_value() if isinstance(key, SecretStr) else None
        return redact_secrets(text, extra=[secret])

    # --- budget -----------------------------------------------------------------------------

    def _budget(self) -> RunBudget | None:
        """The run's budget (from its run context) when the call is part of a graph run;
        else the budget this model was made with."""
        return budget_in_run() or self.budget

    def _reserve(self, messages: Sequence[BaseMessage]) -> int:
        estimate = _estimate_tokens(messages)
        budget = self._budget()
        if budget is not None:
            budget.charge(calls=1, tokens=estimate)
        return estimate

    def _settle(self, estimate: int, used: int | None) -> None:
        budget = self._budget()
        if budget is not None:
            # Failed calls are not billed by providers: refund the estimate (used=None).
            budget.adjust((used or 0) - estimate)

    # --- guarded call paths -----------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        estimate = self._reserve(messages)
        inner = super()._generate
        used: int | None = None
        try:
            result = self._with_retry(lambda: inner(messages, stop, run_manager, **kwargs))
            result = _repaired(result)
            ai = [g.message for g in result.generations if isinstance(g.message, AIMessage)]
            used = _result_tokens(ai) or estimate
            return result
        finally:
            self._settle(estimate, used)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        estimate = self._reserve(messages)
        inner = super()._agenerate
        used: int | None = None

        async def attempt() -> ChatResult:
            return await inner(messages, stop, run_manager, **kwargs)

        try:
            result = await self._awith_retry(attempt)
            result = _repaired(result)
            ai = [g.message for g in result.generations if isinstance(g.message, AIMessage)]
            used = _result_tokens(ai) or estimate
            return result
        finally:
            self._settle(estimate, used)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        """Stream, retrying only until the first chunk arrives (later output is not replayed)."""
        messages: list[BaseMessage] = args[0] if args else kwargs["messages"]
        estimate = self._reserve(messages)
        inner = super()._stream
        used: int | None = None

        def start() -> tuple[ChatGenerationChunk | None, Iterator[ChatGenerationChunk]]:
            iterator = inner(*args, **kwargs)
            return next(iterator, None), iterator

        try:
            first, rest = self._with_retry(start)
            used = estimate  # the call was made, even if the caller stops reading early
            tokens = 0
            for chunk in chain([first] if first else [], rest):
                if isinstance(chunk.message, AIMessage) and chunk.message.usage_metadata:
                    tokens += chunk.message.usage_metadata["total_tokens"]
                yield chunk
            used = tokens or estimate
        finally:
            self._settle(estimate, used)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        messages: list[BaseMessage] = args[0] if args else kwargs["messages"]
        estimate = self._reserve(messages)
        inner = super()._astream
        used: int | None = None

        async def start() -> tuple[ChatGenerationChunk | None, AsyncIterator[ChatGenerationChunk]]:
            iterator = inner(*args, **kwargs)
            return await anext(iterator, None), iterator

        try:
            first, rest = await self._awith_retry(start)
            used = estimate
            tokens = 0
            if first is not None:
                tokens += _chunk_tokens(first)
                yield first
            async for chunk in rest:
                tokens += _chunk_tokens(chunk)
                yield chunk
            used = tokens or estimate
        finally:
            self._settle(estimate, used)

    # --- structured output ------------------------------------------------------------------

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: str = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        tools: list[Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output parsed by :func:`keel.agents.repair.parse_structured`.

        The default method is tool calling, which every OpenAI-compatible server we
        target supports (``json_schema`` and ``json_mode`` are available too). For
        pydantic schemas the answer goes through the repairing parser, so fenced or
        slightly broken JSON still yields the schema and anything else raises
        :class:`keel.agents.repair.StructuredOutputError`. Dict and TypedDict schemas use
        ``ChatOpenAI``'s own implementation.
        """
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)) or tools:
            return super().with_structured_output(
                schema,
                method=method,  # type: ignore[arg-type]
                include_raw=include_raw,
                strict=strict,
                tools=tools,
                **kwargs,
            )
        trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        llm: Runnable[LanguageModelInput, BaseMessage]
        if method == "function_calling":
            llm = self.bind_tools(
                [schema],
                tool_choice=schema_tool_name(schema),
                strict=strict,
                ls_structured_output_format=trace,
                **kwargs,
            )
        elif method == "json_schema":
            llm = self.bind(
                response_format=_json_schema_format(schema, strict),
                ls_structured_output_format=trace,
                **kwargs,
            )
        elif method == "json_mode":
            llm = self.bind(
                response_format={"type": "json_object"}, ls_structured_output_format=trace, **kwargs
            )
        else:
            raise ValueError(
                f"unknown structured output method {method!r}; "
                "use 'function_calling', 'json_schema' or 'json_mode'"
            )
        return attach_parser(llm, schema, include_raw=include_raw)


def _chunk_tokens(chunk: ChatGenerationChunk) -> int:
    message = chunk.message
    usage = message.usage_metadata if isinstance(message, AIMessage) else None
    return usage["total_tokens"] if usage else 0


def _repaired(result: ChatResult) -> ChatResult:
    """Repair tool-call arguments that arrived as slightly broken JSON."""
    for generation in result.generations:
        if isinstance(generation.message, AIMessage):
            generation.message = repair_tool_calls(generation.message)
    return result


def _json_schema_format(schema: type[BaseModel], strict: bool | None) -> dict[str, Any]:
    # A dict, not the class: the OpenAI client would otherwise parse the reply itself and
    # raise on malformed JSON before our repairing parser sees it.
    function = convert_to_openai_function(schema, strict=strict)
    json_schema: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}


# --- factory -------------------------------------------------------------------------------


def make_chat_model(
    settings: Settings,
    *,
    budget: RunBudget | None = None,
    embedder: Embedder | None = None,
    retry: RetryPolicy | None = None,
) -> BaseChatModel:
    """The chat model for one run.

    Args:
        settings: ``llm_configured`` picks the OpenAI-compatible endpoint; else offline.
        budget: Calls and tokens this run may spend on the endpoint; by default a fresh
            budget from ``KEEL_LLM_MAX_CALLS`` / ``KEEL_LLM_MAX_TOKENS``. Offline calls
            cost nothing and are not counted.
        embedder: For the offline model's tool choice; loaded on first use when omitted.
        retry: Retry policy; by default ``KEEL_LLM_MAX_RETRIES`` retries.
    """
    if not settings.llm_configured:
        if embedder is not None:
            return offline_model(embedder=embedder)
        return offline_model(embedder_factory=_load_default_embedder)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return ResilientChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key or PLACEHOLDER_API_KEY,
        timeout=settings.llm_timeout_s,
        max_retries=0,
        stream_usage=True,
        retry_policy=retry or RetryPolicy.from_settings(settings),
        budget=budget if budget is not None else RunBudget.from_settings(settings),
    )


def _load_default_embedder() -> Embedder:
    from keel.memory.embeddings import load_embedder

    return load_embedder()


def model_label(model: Runnable[Any, Any]) -> str:
    """Which model produced an artefact, e.g. ``openai:gpt-4o-mini@https://...``.

    Accepts a chat model or anything built on one (``bind_tools``, ``with_structured_output``).
    """
    while True:
        if isinstance(model, RunnableBinding):
            model = model.bound
        elif isinstance(model, RunnableSequence):
            model = model.first
        else:
            break
    if isinstance(model, ResilientChatOpenAI):
        return model.label
    if isinstance(model, OfflineChatModel):
        return f"offline:{model.model_name}"
    if isinstance(model, ChatOpenAI):
        return f"openai:{model.model_name}@{model.openai_api_base or OPENAI_DEFAULT_BASE_URL}"
    if isinstance(model, BaseChatModel):
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
        return f"{model._llm_type}:{name or type(model).__name__}"
    return f"unknown:{type(model).__name__}"


__all__ = [
    "OFFLINE_MODEL_NAME",
    "LLMCallFailed",
    "ResilientChatOpenAI",
    "RetryPolicy",
    "make_chat_model",
    "model_label",
    "retry_reason",
]
