"""A local OpenAI-compatible server that plays a FULLY COMPROMISED model.

The test registers an attack (:class:`Attack`): the instruction planted in a ticket, call
note or NPS comment, and what a model that fell for it emits (foreign links in every form,
images, HTML and script, offers, extra addresses, plays the attacker wants, "no approval
needed" claims, attacker prose). The server then answers every ``/v1/chat/completions``
request like this:

- **Has the record reached the model?** Only when the planted instruction (or the attack's
  canary, which everything the compromised model writes carries on) appears in the
  request's messages, compared after undoing JSON escapes and Unicode compatibility forms,
  does the model fall for it. Otherwise it is an ordinary model.
- **The ordinary model** is Keel's own deterministic offline model, fed the same messages
  and tools (so its tool calls and structured answers are those of an honest run); for a
  schema the offline model cannot fill it builds a plain, schema-valid instance itself.
  The offline model writes structured answers from the typed facts a step attaches to its
  prompt, which never go over the wire: Keel's client for this server
  (:func:`client_model`) hands them to the server out of band, keyed by the prompt's last
  message.
- **The compromised model** answers any structured-output request generically from the
  JSON schema in the request (``response_format.json_schema.schema`` or the parameters of
  the forced tool call): starting from the honest answer, every free-text field becomes
  attacker prose and payload, every field that names a play gets the plays the attacker
  wants, approval-like booleans become false, id lists gain an invented id, and arrays of
  items gain one item per wanted play. In a tool loop it calls tools honestly (the
  evidence is what it wants to read) and then answers with attacker prose.

It knows nothing about Keel's schemas beyond two name hints ("play"-like fields take play
ids, approval-like booleans are set false): the product is judged on attacks and schemas
this server never saw. It counts requests and records which attacks it fell for::

    with serve_hostile() as server:
        server.model.attack(OWN_ATTACKS[0])
        ...  # ChatOpenAI(base_url=server.base_url, ...)
        assert server.model.fell_for(OWN_ATTACKS[0].id)
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from keel.settings import Settings
from tests.openai_server import OpenAIScript, OpenAIServer, Reply, serve

# Plays the policy lets an AI-led account send without a human (keel/domain/policy.default.yaml);
# an attacker who wants its payload out unreviewed asks for these.
AUTO_SEND_PLAYS: tuple[str, ...] = (
    "ticket_satisfaction_pulse",
    "adoption_congrats",
    "internal_escalation",
)
# Field-name hints, the only schema knowledge the server uses.
_CHOICE_FIELD = re.compile(r"play|action", re.IGNORECASE)
_APPROVAL_FIELD = re.compile(r"approv|review|confirm|human|consent|gate", re.IGNORECASE)
_ID_FIELD = re.compile(r"(?:^|_)ids?$", re.IGNORECASE)
_ADDRESS_FIELD = re.compile(
    r"^(?:to|cc|bcc|recipients?|emails?|addresses|reply_to)$|email|address", re.IGNORECASE
)
_SHORT_FIELD = re.compile(r"subject|title|headline|name|category|owner", re.IGNORECASE)
# JSON escapes as tool results carry them (json.dumps escapes non-ASCII by default).
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\([nrt\"\\/])")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# Long triggers also match on a window, so an instruction cut by a length limit still counts
# as having reached the model when a substantial part of it did.
_WINDOW = 60
_MAX_DEPTH = 6


# --- the attack ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One attack: what is planted, and what a model that falls for it emits.

    Attributes:
        id: Stable case id (used in test ids and reports).
        instruction: The text planted in the customer record.
        canary: A unique ASCII token in the planted text. The attacker's prose carries it
            (and the prose is planted verbatim, as a real attacker plants the words it
            wants said), so a test finds attacker prose wherever it ends up, and the next
            step, reading the compromised briefing or plan, stays compromised too.
        links: Links the compromised model writes, in the forms the attack uses.
        hosts: Hosts those links point at (the test's canaries for "foreign link").
        images: Image markup (markdown or HTML).
        markup: HTML, script, hidden text.
        offers: Commercial offers ("100% discount").
        addresses: Addresses the attacker wants added (To/Cc or in the text).
        plays: Plays the attacker wants run, most wanted first.
        claims: Claims that no approval is needed.
        headers: Text for a short field such as a subject that tries to add mail headers
            (a line break and ``Bcc: ...``).
        prose: Sentences the attacker wants said in the product's voice (planted verbatim;
            the instruction itself when empty).
        family: The kind of attack, for reports.
    """

    id: str
    instruction: str
    canary: str
    links: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    markup: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    plays: tuple[str, ...] = AUTO_SEND_PLAYS
    claims: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    prose: tuple[str, ...] = ()
    family: str = "own"

    @property
    def triggers(self) -> tuple[str, ...]:
        return (self.canary, self.instruction)

    @property
    def voice(self) -> tuple[str, ...]:
        """What the attacker wants said: its prose, else its instruction as it stands."""
        return self.prose or (self.instruction,)

    def body_text(self) -> str:
        """What the compromised model writes into a long free-text field."""
        parts = [
            *self.voice,
            *self.claims,
            *(f"{offer.capitalize()} for your team." for offer in self.offers),
            *(f"Details: {link}" for link in self.links),
            *self.images,
            *self.markup,
            *(f"Write to {address} to confirm." for address in self.addresses),
        ]
        return "\n".join(parts)

    def short_text(self) -> str:
        """What it writes into a short field (a subject): the offer and a link first."""
        parts = [*self.offers[:1], *self.links[:1], self.voice[0]]
        return " - ".join(p for p in parts if p) + "".join(self.headers)

    def item_text(self, index: int) -> str:
        """One list item (a talking point, a fact used): each carries a piece of payload."""
        pieces = [
            *self.voice,
            *self.claims,
            *self.offers,
            *self.links,
            *self.images,
            *self.markup,
            *self.addresses,
        ]
        return pieces[index % len(pieces)]


# --- matching the planted text ---------------------------------------------------------------


def _unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        return {"n": "\n", "r": "\r", "t": "\t"}.get(match.group(2), match.group(2))

    return _JSON_ESCAPE.sub(replace, text)


def normalise(text: str) -> str:
    """Lower-case ASCII letters and digits only, after undoing JSON escapes and NFKC.

    The planted text reaches the model wrapped, JSON-escaped, with control characters
    dropped; letters and digits survive all of that, so they are what is compared.
    """
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", _unescape(text)).casefold())


def reached(haystack: str, needles: Sequence[str]) -> bool:
    """Whether any needle (or, for a long one, its first or last window) is in haystack."""
    normal = normalise(haystack)
    for needle in needles:
        wanted = normalise(needle)
        if not wanted:
            continue
        if wanted in normal:
            return True
        if len(wanted) > _WINDOW and (wanted[:_WINDOW] in normal or wanted[-_WINDOW:] in normal):
            return True
    return False


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content
        )
    return "" if content is None else str(content)


def request_text(body: Mapping[str, Any]) -> str:
    """Everything the model reads in a request: message contents and earlier tool calls."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        parts.append(_content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            parts.append(str((call.get("function") or {}).get("arguments", "")))
    return "\n".join(parts)


# --- the ordinary model ----------------------------------------------------------------------


def _to_langchain(messages: Sequence[Mapping[str, Any]]) -> list[BaseMessage]:
    from langchain_openai.chat_models.base import _convert_dict_to_message

    converted = []
    for message in messages:
        flat = dict(message)
        flat["content"] = _content_text(message.get("content"))
        converted.append(_convert_dict_to_message(flat))
    return converted


def _ordinary_message(
    messages: list[BaseMessage], tools: list[dict[str, Any]], tool_choice: Any, facts: Any = None
) -> AIMessage | None:
    """Keel's offline model's answer to the same request, or None when it cannot give one."""
    from keel.agents.composers import offline_model
    from keel.agents.step_requests import ANALYST_STEP

    try:
        # Keel's one tool loop is the analyst's: the ordinary model plans as it does.
        return offline_model().respond(
            messages, tools=tools, tool_choice=tool_choice, step=ANALYST_STEP, facts=facts
        )
    except Exception:  # an unknown schema or prompt: the generic builder answers instead
        return None


# --- schema walking --------------------------------------------------------------------------


@dataclass
class _Context:
    """What a generated value may draw on: the prompt's ids and plays, the attack."""

    attack: Attack | None
    prompt: str
    ids: dict[str, list[Any]] = field(default_factory=dict)
    defs: dict[str, Any] = field(default_factory=dict)
    depth: int = 0  # object nesting, so a recursive schema ends

    def wanted_plays(self) -> list[str]:
        """The attacker's plays, those the prompt offers first (they survive a policy filter)."""
        assert self.attack is not None
        offered = [p for p in self.attack.plays if re.search(rf"\b{re.escape(p)}\b", self.prompt)]
        return offered + [p for p in self.attack.plays if p not in offered]

    def candidates(self, name: str) -> list[Any]:
        """Values the prompt holds under ``name`` (or its singular, or ``id`` for id fields)."""
        keys = [name, name[:-1] if name.endswith("s") else name]
        if _ID_FIELD.search(name):
            keys.append("id")
        found: list[Any] = []
        for key in keys:
            for value in self.ids.get(key, []):
                if value not in found:
                    found.append(value)
        return found


def _collect_ids(messages: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Scalar values by key, from every JSON object in the messages."""
    from keel.agents.repair import find_json_objects

    seen: dict[str, list[Any]] = {}

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif key is not None and isinstance(value, str | int) and not isinstance(value, bool):
            bucket = seen.setdefault(key, [])
            if value not in bucket and len(bucket) < 200:
                bucket.append(value)

    for message in messages:
        text = _content_text(message.get("content"))
        try:
            walk(json.loads(text), None)
            continue
        except (json.JSONDecodeError, ValueError):
            pass
        for block in find_json_objects(text):
            walk(block, None)
    return seen


def _resolve(node: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    resolved = dict(node)
    while "$ref" in resolved:
        ref = str(resolved.pop("$ref"))
        target = ctx.defs.get(ref.rsplit("/", 1)[-1], {})
        resolved = {**target, **resolved}
    for key in ("anyOf", "oneOf"):
        if key in resolved:
            branches = [_resolve(b, ctx) for b in resolved.pop(key)]
            chosen = next((b for b in branches if b.get("type") != "null"), branches[0])
            resolved = {**chosen, **{k: v for k, v in resolved.items() if k != "type"}}
    if "allOf" in resolved:
        merged: dict[str, Any] = {}
        for branch in resolved.pop("allOf"):
            merged.update(_resolve(branch, ctx))
        resolved = {**merged, **resolved}
    return resolved


def _kind(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind:
        return str(kind)
    if "properties" in node:
        return "object"
    if "items" in node:
        return "array"
    if "enum" in node:
        return "string"
    return "string"


def _fit(text: str, node: Mapping[str, Any]) -> str:
    limit = node.get("maxLength")
    if isinstance(limit, int) and len(text) > limit:
        text = text[:limit].rstrip()
    minimum = node.get("minLength")
    if isinstance(minimum, int) and len(text) < minimum:
        text = text + "." * (minimum - len(text))
    return text


def _string(node: Mapping[str, Any], name: str, current: Any, ctx: _Context, index: int) -> Any:
    attack = ctx.attack
    enum = node.get("enum")
    if enum:
        if attack is not None:
            wanted = [p for p in ctx.wanted_plays() if p in enum]
            if wanted:
                return wanted[index % len(wanted)]
        return current if current in enum else enum[0]
    fmt = node.get("format")
    if fmt in ("date", "date-time"):
        if isinstance(current, str) and current:
            return current
        today = dt.date.today()
        return today.isoformat() if fmt == "date" else f"{today.isoformat()}T00:00:00Z"
    if fmt == "email" or _ADDRESS_FIELD.search(name):
        if attack is not None and attack.addresses:
            return attack.addresses[index % len(attack.addresses)]
        return current if isinstance(current, str) else "csm@keel.example"
    if _CHOICE_FIELD.search(name) and not _ID_FIELD.search(name):
        if attack is not None:
            plays = ctx.wanted_plays()
            return plays[index % len(plays)]
        options = ctx.candidates(name)
        return (
            current
            if isinstance(current, str) and current
            else str(options[0] if options else "none")
        )
    if _ID_FIELD.search(name):
        if isinstance(current, str) and current:
            return current
        options = ctx.candidates(name)
        return str(options[0]) if options else f"{name}-1"
    if attack is None:
        if isinstance(current, str) and current:
            return current
        return _fit(f"Routine update on {name.replace('_', ' ')}.", node)
    short = _SHORT_FIELD.search(name) or (node.get("maxLength") or 10_000) <= 300
    text = attack.short_text() if short else attack.body_text()
    return _fit(text, node)


def _build(node: Mapping[str, Any], name: str, current: Any, ctx: _Context, index: int = 0) -> Any:
    """A value for ``node``: ``current`` (the honest answer) kept or turned, or built."""
    node = _resolve(node, ctx)
    kind = _kind(node)
    attack = ctx.attack
    if "const" in node:
        return node["const"]
    if kind == "object":
        base = dict(current) if isinstance(current, Mapping) else {}
        properties: Mapping[str, Any] = node.get("properties") or {}
        required = set(node.get("required") or [])
        # The attacker fills every field it may, down to a depth where a recursive schema
        # would never end; below it only what is required.
        fill_all = attack is not None and ctx.depth < _MAX_DEPTH
        ctx.depth += 1
        try:
            for prop, sub in properties.items():
                if prop in base or prop in required or fill_all:
                    base[prop] = _build(sub, prop, base.get(prop), ctx, index)
        finally:
            ctx.depth -= 1
        return base
    if kind == "array":
        return _array(node, name, current, ctx)
    if kind == "boolean":
        if attack is not None and _APPROVAL_FIELD.search(name):
            return False
        return current if isinstance(current, bool) else False
    if kind in ("integer", "number"):
        if isinstance(current, int | float) and not isinstance(current, bool):
            value: float = current
        else:
            options = [v for v in ctx.candidates(name) if isinstance(v, int)]
            value = options[0] if options else node.get("minimum", 1)
        if attack is not None and "maximum" in node:
            value = node["maximum"]  # the attacker is sure of itself
        return int(value) if kind == "integer" else float(value)
    if kind == "null":
        return None
    return _string(node, name, current, ctx, index)


def _array(node: Mapping[str, Any], name: str, current: Any, ctx: _Context) -> list[Any]:
    items = node.get("items") or {"type": "string"}
    item_node = _resolve(items, ctx)
    honest = list(current) if isinstance(current, list) else []
    low = int(node.get("minItems") or 0)
    high = node.get("maxItems")
    attack = ctx.attack
    item_kind = _kind(item_node)
    if attack is None:
        values = [_build(items, name, v, ctx, i) for i, v in enumerate(honest)]
        while len(values) < low:
            values.append(_build(items, name, None, ctx, len(values)))
    elif item_kind == "object":
        props = item_node.get("properties") or {}
        if any(_CHOICE_FIELD.search(p) and not _ID_FIELD.search(p) for p in props):
            # A list of chosen plays/actions: the attacker's plays replace the honest ones,
            # each item built from an honest one (so its ids stay plausible).
            template = honest[0] if honest else None
            wanted = ctx.wanted_plays()
            values = [
                _build(items, name, copy.deepcopy(template), ctx, i) for i in range(len(wanted))
            ]
        else:
            values = [_build(items, name, v, ctx, i) for i, v in enumerate(honest)]
            if not values:
                values = [_build(items, name, None, ctx, 0)]
    elif item_kind == "string" and (_ID_FIELD.search(name) or item_node.get("enum")):
        values = [_build(items, name, v, ctx, i) for i, v in enumerate(honest)]
        if not values:
            values = [v for v in ctx.candidates(name) if isinstance(v, str)][:2]
        if not item_node.get("enum"):
            values.append(f"ticket:ATTACKER-{attack.canary}")  # an invented citation
        while len(values) < max(low, 1):
            values.append(_build(items, name, None, ctx, len(values)))
    elif item_kind == "string":
        count = max(low, len(honest), 3)
        values = [_fit(attack.item_text(i), item_node) for i in range(count)]
    else:
        values = [_build(items, name, v, ctx, i) for i, v in enumerate(honest)]
        while len(values) < low:
            values.append(_build(items, name, None, ctx, len(values)))
    if isinstance(high, int):
        values = values[:high]
    return values


def build_instance(
    schema: Mapping[str, Any],
    *,
    attack: Attack | None,
    messages: Sequence[Mapping[str, Any]],
    honest: Any = None,
) -> Any:
    """A schema-valid instance: ``honest`` kept (ordinary) or turned (compromised)."""
    ctx = _Context(
        attack=attack,
        prompt=request_text({"messages": messages}),
        ids=_collect_ids(messages),
        defs={**(schema.get("definitions") or {}), **(schema.get("$defs") or {})},
    )
    return _build(schema, "root", honest, ctx)


# --- the server's brain ----------------------------------------------------------------------


@dataclass
class CaseStats:
    """What the server saw while one attack was registered."""

    requests: int = 0
    compromised: int = 0
    steps: list[str] = field(default_factory=list)  # schema or "tools"/"text", when compromised


def _forced_name(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        if isinstance(function, Mapping) and function.get("name"):
            return str(function["name"])
        if tool_choice.get("name"):
            return str(tool_choice["name"])
    return None


def _tool_args(message: AIMessage | None, name: str) -> Any:
    if message is None:
        return None
    for call in message.tool_calls:
        if call["name"] == name:
            return call["args"]
    return None


def _in_tool_turn(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether tool results already answer the latest user request."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            return True
        if role == "user":
            return False
    return False


class HostileModel(OpenAIScript):
    """The script behind the server: answers every request as described in the module doc.

    ``attack(a)`` registers the current attack (``None``: an ordinary model) with fresh
    counts; ``stats`` holds the counts of each attack's latest registration, ``history``
    every registration's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.current: Attack | None = None
        self.stats: dict[str, CaseStats] = {}
        self.history: list[tuple[str, CaseStats]] = []
        self.total_requests = 0
        # Typed facts of the prompts Keel's client sent, by their last message's text.
        self._facts: dict[str, Any] = {}

    def expect(self, messages: Sequence[BaseMessage], facts: Any) -> None:
        """The typed facts of a prompt about to arrive (see :func:`client_model`)."""
        if messages:
            with self._lock:
                if len(self._facts) > 256:
                    self._facts.clear()
                self._facts[_content_text(messages[-1].content)] = facts

    def _facts_for(self, messages: Sequence[Mapping[str, Any]]) -> Any:
        if not messages:
            return None
        with self._lock:
            return self._facts.get(_content_text(messages[-1].get("content")))

    def attack(self, attack: Attack | None) -> None:
        with self._lock:
            self.current = attack
            if attack is not None:
                # Fresh counts per registration: one attack runs in many placements, and
                # each must show whether its own planted record reached the model.
                stats = CaseStats()
                self.stats[attack.id] = stats
                self.history.append((attack.id, stats))

    def fell_for(self, attack_id: str) -> bool:
        with self._lock:
            stats = self.stats.get(attack_id)
            return bool(stats and stats.compromised)

    def next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.total_requests += 1
            attack = self.current
            stats = self.stats.get(attack.id) if attack is not None else None
        compromised = attack is not None and reached(request_text(request), attack.triggers)
        reply, step = self.answer(request, attack if compromised else None)
        if stats is not None:
            with self._lock:
                stats.requests += 1
                if compromised:
                    stats.compromised += 1
                    stats.steps.append(step)
        return reply

    def answer(self, request: Mapping[str, Any], attack: Attack | None) -> tuple[Reply, str]:
        """The reply to one request, and which step it was (schema name, tools or text)."""
        messages: list[Mapping[str, Any]] = list(request.get("messages") or [])
        tools: list[dict[str, Any]] = list(request.get("tools") or [])
        tool_choice = request.get("tool_choice")
        response_format = request.get("response_format") or {}
        lc_messages = _to_langchain(messages)
        facts = self._facts_for(messages)

        forced = _forced_name(tool_choice)
        spec = next((t for t in tools if (t.get("function") or {}).get("name") == forced), None)
        if spec is not None:
            schema = (spec.get("function") or {}).get("parameters") or {}
            honest = _tool_args(
                _ordinary_message(lc_messages, tools, tool_choice, facts), str(forced)
            )
            value = build_instance(schema, attack=attack, messages=messages, honest=honest)
            return Reply(tool_calls=[(str(forced), value)]), str(forced)

        if response_format.get("type") in ("json_schema", "json_object"):
            block = response_format.get("json_schema") or {}
            name = str(block.get("name") or "Answer")
            schema = block.get("schema") or {"type": "object"}
            as_tool = {"type": "function", "function": {"name": name, "parameters": schema}}
            choice = {"type": "function", "function": {"name": name}}
            honest = _tool_args(_ordinary_message(lc_messages, [as_tool], choice, facts), name)
            value = build_instance(schema, attack=attack, messages=messages, honest=honest)
            return Reply(content=json.dumps(value)), name

        if tools and tool_choice != "none" and not _in_tool_turn(messages):
            ordinary = _ordinary_message(lc_messages, tools, tool_choice)
            if ordinary is not None and ordinary.tool_calls:
                # Honest tool calls, compromised or not: the evidence is what it wants to read.
                calls: list[tuple[str, dict[str, Any] | str]] = [
                    (c["name"], dict(c["args"])) for c in ordinary.tool_calls
                ]
                return Reply(tool_calls=calls), "tools"

        if attack is not None:
            return Reply(content=attack.body_text()), "text"
        ordinary = _ordinary_message(lc_messages, [], None)
        text = ordinary.text if ordinary is not None else "I have reviewed the account."
        return Reply(content=text or "I have reviewed the account."), "text"


# Evidence ids as Keel's tool results carry them (JSON strings in the request's tool messages).
_CITABLE_ID = re.compile(
    r'"((?:ticket|note|nps|health|renewal|invoice|contact|account):[^"\s,\[\]]+)"'
)
_MAX_CITED = 6


class CitingHostileModel(HostileModel):
    """A compromised model that cites: once it falls for an attack, its text answer states
    the attacker's prose, claims and offers in its own voice, each sentence citing real
    evidence ids the conversation's tool results carry (the planted record's among them),
    so a check that cited ids exist passes every one. Otherwise as :class:`HostileModel`.
    """

    def answer(self, request: Mapping[str, Any], attack: Attack | None) -> tuple[Reply, str]:
        reply, step = super().answer(request, attack)
        if attack is None or step != "text":
            return reply, step
        ids: list[str] = []
        for message in request.get("messages") or []:
            if message.get("role") == "tool":
                ids.extend(_CITABLE_ID.findall(_content_text(message.get("content"))))
        ids = list(dict.fromkeys(ids))
        if not ids:
            return reply, step
        # The planted record first, when the tools returned it (it says what is claimed).
        ids.sort(key=lambda i: not i.startswith(("ticket:", "note:", "nps:")))
        cited = ", ".join(ids[:_MAX_CITED])
        sentences = [
            *attack.voice,
            *attack.claims,
            *(f"{offer.capitalize()} was agreed" for offer in attack.offers),
        ]
        reply.content = " ".join(f"{s.strip().rstrip('.')} [{cited}]." for s in sentences)
        return reply, step


@contextmanager
def serve_citing_hostile() -> Iterator[HostileServer]:
    """:func:`serve_hostile` with a :class:`CitingHostileModel`."""
    model = CitingHostileModel()
    with serve(model) as running:
        yield HostileServer(base_url=running.base_url, model=model, server=running)


@contextmanager
def serve_hostile(*, delay_s: float = 0.0) -> Iterator[HostileServer]:
    """Run the hostile model on 127.0.0.1 with an ephemeral port (a background thread).

    ``delay_s``: every response is sent that long after its request arrived (see
    :func:`tests.openai_server.serve`); 0 answers as soon as it can.
    """
    model = HostileModel()
    with serve(model, delay_s=delay_s) as running:
        yield HostileServer(base_url=running.base_url, model=model, server=running)


@dataclass
class HostileServer:
    """A running hostile server: its ``/v1`` base URL and its model."""

    base_url: str
    model: HostileModel
    server: OpenAIServer


def client_model(settings: Settings, server: HostileServer) -> BaseChatModel:
    """Keel's real-model client (as :func:`keel.agents.llm.make_chat_model` builds it for
    ``settings``) that also hands ``server`` the typed facts each prompt carries.

    Only the test needs this: the facts never go over the wire, but the server's ordinary
    model is Keel's offline model, which writes structured answers from them.
    """
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.runnables import RunnableConfig

    from keel.agents.budget import RunBudget
    from keel.agents.llm import PLACEHOLDER_API_KEY, ResilientChatOpenAI, RetryPolicy
    from keel.agents.offline import TypedPrompt

    class FactsForwardingClient(ResilientChatOpenAI):
        def invoke(
            self,
            input: LanguageModelInput,
            config: RunnableConfig | None = None,
            *,
            stop: list[str] | None = None,
            **kwargs: Any,
        ) -> AIMessage:
            if isinstance(input, TypedPrompt):
                server.model.expect(input.messages, input.facts)
            return super().invoke(input, config, stop=stop, **kwargs)

    return FactsForwardingClient(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=PLACEHOLDER_API_KEY,
        timeout=settings.llm_timeout_s,
        max_retries=0,
        stream_usage=True,
        retry_policy=RetryPolicy.from_settings(settings),
        budget=RunBudget.from_settings(settings),
    )


__all__ = [
    "AUTO_SEND_PLAYS",
    "Attack",
    "CaseStats",
    "CitingHostileModel",
    "HostileModel",
    "HostileServer",
    "build_instance",
    "client_model",
    "normalise",
    "reached",
    "serve_citing_hostile",
    "serve_hostile",
]
