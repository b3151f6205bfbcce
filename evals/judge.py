"""An optional judge: an LLM rates each customer draft for clarity, tone, empathy and
actionability (1-5, with a reason), and a small set the team labelled by hand measures how
far its ratings agree with people's.

The deterministic scorers decide the gate; the judge only adds a reading of what they
cannot measure. It runs with ``keel eval --judge`` on any OpenAI-compatible model (the one
Keel is configured with unless ``--judge-model`` / ``--judge-base-url`` say otherwise),
through ``openevals``' LLM-as-judge. Its model, prompt (and digest) and temperature are
pinned and recorded with the run. Every verdict is cached on disk under a key of
(prompt, inputs and output, model, temperature), so a run replays offline: a cached
verdict is read back, the model is asked only on a miss. With no model configured the
judge is skipped and the run says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from keel.errors import KeelError
from keel.evals.agreement import SCALE, agreement
from keel.evals.local_model import first_json_object

CRITERIA = ("clarity", "tone", "empathy", "actionability")
JUDGE_VERSION = "judge-v1"
JUDGE_TEMPERATURE = 0.0
JUDGE_TIMEOUT_S = 600.0
DEFAULT_CACHE = Path("keel-evals") / "judge-cache"
DEFAULT_LABELS = Path(__file__).with_name("datasets") / "judge_labels.yaml"

# The rubric. ``{inputs}`` and ``{outputs}`` are filled by openevals (str.format: literal
# braces are doubled).
JUDGE_PROMPT = """\
You review an email that a Customer Success Manager drafted to a customer of a software \
company. Rate the draft on four criteria, each from 1 (poor) to 5 (excellent), and give a \
one-sentence reason for each rating.

- clarity: 5 = short, plain and easy to follow, one point per paragraph; 1 = confusing, \
rambling, jargon or placeholders left in.
- tone: 5 = warm, professional, right for this customer; 1 = rude, pushy, robotic or \
overfamiliar.
- empathy: 5 = acknowledges the customer's situation and their own open requests or \
frustrations; 1 = ignores them or blames the customer.
- actionability: 5 = one clear, specific next step the customer can take (a date, a call, a \
decision); 1 = no ask, or several vague ones.

The situation:
{inputs}

The draft:
<draft>
{outputs}
</draft>

Reply with only this JSON object:
{{"clarity": {{"score": 1-5, "reason": "..."}}, "tone": {{"score": 1-5, "reason": "..."}}, \
"empathy": {{"score": 1-5, "reason": "..."}}, "actionability": {{"score": 1-5, "reason": "..."}}}}
"""

# A reason is one sentence: the bound also keeps a small local model from rambling on.
REASON_CHARS = 200
VERDICT_SCHEMA: dict[str, Any] = {
    "title": "draft_rating",
    "description": "Ratings of one customer email draft, 1-5 per criterion, with reasons.",
    "type": "object",
    "properties": {
        name: {
            "type": "object",
            "properties": {
                "score": {"type": "integer", "enum": list(SCALE)},
                "reason": {"type": "string", "maxLength": REASON_CHARS},
            },
            "required": ["score", "reason"],
        }
        for name in CRITERIA
    },
    "required": list(CRITERIA),
}


def prompt_digest() -> str:
    """The rubric's digest, recorded with each run and part of every cache key."""
    return hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class JudgeConfig:
    """The pinned judge: which model, where, at what temperature."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = JUDGE_TEMPERATURE

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self.base_url or 'https://api.openai.com/v1'}"

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "prompt_version": JUDGE_VERSION,
            "prompt_digest": prompt_digest(),
        }


SKIPPED_NOTE = (
    "judge skipped: no model is configured (set KEEL_LLM_BASE_URL or OPENAI_API_KEY, or "
    "pass --judge-base-url); the deterministic scores stand alone"
)


def judge_config(
    settings: Any, *, model: str | None = None, base_url: str | None = None
) -> JudgeConfig | None:
    """The judge from the user's settings and the command's options; None when no model
    is configured at all."""
    if not (settings.llm_configured or base_url):
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return JudgeConfig(
        model=model or settings.llm_model,
        base_url=base_url or settings.llm_base_url,
        api_key=key,
    )


@dataclass(frozen=True)
class Rating:
    score: int | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The judge's ratings of one draft. ``error`` says why a rating is missing (an
    unreadable reply, an endpoint down); ``cached`` that it was read back from disk."""

    ratings: dict[str, Rating] = field(default_factory=dict)
    error: str | None = None
    cached: bool = False
    raw: str = ""

    def score(self, criterion: str) -> int | None:
        rating = self.ratings.get(criterion)
        return rating.score if rating else None

    def as_json(self) -> dict[str, Any]:
        return {
            "ratings": {k: {"score": r.score, "reason": r.reason} for k, r in self.ratings.items()},
            "error": self.error,
            "cached": self.cached,
        }


def parse_verdict(text: str) -> Verdict:
    """Read a judge's reply. Accepts ``{"clarity": {"score": 4, "reason": ..}, ..}``, the
    flat ``{"clarity": 4, "clarity_reason": ..}``, either under a ``ratings`` or ``scores``
    key, and scores written as ``"4"`` or ``"4/5"``. A criterion missing or out of 1-5 is
    left unrated and named in ``error``."""
    found = first_json_object(text or "")
    if found is None:
        snippet = " ".join((text or "").split())[:120]
        return Verdict(error=f"no JSON object in the judge's reply: {snippet!r}", raw=text)
    data = found[0]
    for wrapper in ("ratings", "scores"):
        if isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    ratings: dict[str, Rating] = {}
    problems: list[str] = []
    for criterion in CRITERIA:
        value = data.get(criterion)
        reason = ""
        if isinstance(value, dict):
            reason = str(value.get("reason") or value.get("reasoning") or "")
            value = value.get("score")
        else:
            reason = str(data.get(f"{criterion}_reason") or "")
        score = _score(value)
        if score is None:
            problems.append(f"{criterion}: {'missing' if value is None else repr(value)}")
        ratings[criterion] = Rating(score=score, reason=reason.strip())
    error = f"unusable ratings ({'; '.join(problems)})" if problems else None
    return Verdict(ratings=ratings, error=error, raw=text)


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        number = int(value)
    elif isinstance(value, str):
        head = value.strip().split("/")[0].strip()
        if not head.isdigit():
            return None
        number = int(head)
    else:
        return None
    return number if number in SCALE else None


Ask = Callable[[str, str], str]  # (inputs, output) -> the judge's raw reply


class Judge:
    """Rates drafts with the pinned model, through a cache on disk.

    Args:
        config: The pinned judge.
        cache_dir: Where verdicts are kept (one JSON file per key).
        ask: How the model is asked; ``openevals``' LLM-as-judge on ``ChatOpenAI`` unless
            given. Called only on a cache miss.
    """

    def __init__(self, config: JudgeConfig, cache_dir: Path, ask: Ask | None = None) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self._ask = ask
        self.calls = 0
        self.hits = 0

    def key(self, inputs: str, output: str) -> str:
        material = {
            "prompt": prompt_digest(),
            "inputs": inputs,
            "output": output,
            "model": self.config.model,
            "temperature": self.config.temperature,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def rate(self, inputs: str, output: str) -> Verdict:
        """The verdict on ``output`` written for ``inputs``: from the cache, else asked."""
        path = self.cache_dir / f"{self.key(inputs, output)}.json"
        cached = self._read(path)
        if cached is not None:
            self.hits += 1
            return cached
        self.calls += 1
        try:
            raw = self._asker()(inputs, output)
        except Exception as exc:
            # The endpoint failed (down, refused, timed out): nothing to cache; the next
            # run asks again.
            return Verdict(error=f"the judge did not answer: {_one_line(exc)}")
        verdict = parse_verdict(raw)
        self._write(path, raw)
        return verdict

    def _read(self, path: Path) -> Verdict | None:
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            raw = str(entry["raw"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is asked again and overwritten
        verdict = parse_verdict(raw)
        return Verdict(ratings=verdict.ratings, error=verdict.error, cached=True, raw=raw)

    def _write(self, path: Path, raw: str) -> None:
        entry = {**self.config.as_json(), "raw": raw}
        entry.pop("base_url", None)  # not part of the key: the same model anywhere
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise KeelError(
                f"{self.cache_dir}: cannot write the judge's cache ({exc.strerror or exc})"
            ) from exc

    def _asker(self) -> Ask:
        if self._ask is None:
            self._ask = openevals_asker(self.config)
        return self._ask


def openevals_asker(config: JudgeConfig) -> Ask:
    """Ask through ``openevals.create_llm_as_judge`` on ``ChatOpenAI`` (the verdict's JSON
    schema as the response format, so an endpoint that decodes under a schema, as ``keel
    local-model serve`` does, returns one; the pinned temperature); the raw reply is
    returned for :func:`parse_verdict`."""
    from langchain_openai import ChatOpenAI
    from openevals.llm import create_llm_as_judge

    chat = ChatOpenAI(
        model=config.model,
        base_url=config.base_url,
        api_key=SecretStr(config.api_key or "not-needed"),
        temperature=config.temperature,
        timeout=JUDGE_TIMEOUT_S,
        max_retries=2,
    )
    evaluator = create_llm_as_judge(
        prompt=JUDGE_PROMPT,
        judge=chat,
        output_schema=VERDICT_SCHEMA,
        structured_output_kwargs={"method": "json_schema", "include_raw": True},
    )

    def ask(inputs: str, output: str) -> str:
        result: Any = evaluator(inputs=inputs, outputs=output)
        raw = result.get("raw") if isinstance(result, dict) else None
        content = getattr(raw, "content", raw)
        if isinstance(content, str):
            return content
        return json.dumps(result.get("parsed") if isinstance(result, dict) else result)

    return ask


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


# --- the run's drafts ----------------------------------------------------------------------


def situation(scenario: Mapping[str, Any], artefact: Mapping[str, Any]) -> str:
    """What the judge is told about a draft: the account, the play, the recipient."""
    lines = [
        f"Account: {scenario.get('account_name') or scenario.get('account') or '-'}",
        f"Situation: {scenario.get('description') or '-'}",
        f"Play: {artefact.get('play') or '-'}",
        f"Recipient: {artefact.get('recipient_name') or '-'}",
    ]
    return "\n".join(lines)


def customer_drafts(
    scenarios: Iterable[Mapping[str, Any]],
) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(scenario, artefact) for every customer-facing draft of a run."""
    for scenario in scenarios:
        for artefact in scenario.get("artefacts") or []:
            if str(artefact.get("key", "")).startswith("draft:") and (
                artefact.get("audience") == "customer"
            ):
                yield scenario, artefact


def means(verdicts: Iterable[Verdict]) -> dict[str, float | None]:
    """Mean rating per criterion over the verdicts that rated it."""
    out: dict[str, float | None] = {}
    listed = list(verdicts)
    for criterion in CRITERIA:
        scores = [s for v in listed if (s := v.score(criterion)) is not None]
        out[criterion] = round(sum(scores) / len(scores), 3) if scores else None
    return out


# --- the team's labels ---------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    """One draft the team rated by hand."""

    id: str
    situation: str
    draft: str
    labels: dict[str, int]


def load_labels(path: Path | None = None) -> list[Labelled]:
    """The human-labelled drafts (the bundled set when None).

    Raises:
        KeelError: the file is missing or a draft lacks a field or a 1-5 label, naming it.
    """
    source = path or DEFAULT_LABELS
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeelError(f"{source}: cannot read the judge labels ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise KeelError(f"{source}: not valid YAML ({exc})") from exc
    rows = data.get("drafts") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise KeelError(f"{source}: needs a non-empty 'drafts' list")
    out: list[Labelled] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"{source}: drafts[{index}]"
        if not isinstance(row, dict):
            raise KeelError(f"{where}: must be a mapping with id, situation, draft, labels")
        for name in ("id", "situation", "draft"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise KeelError(f"{where}: field '{name}' must be non-empty text")
        if row["id"] in seen:
            raise KeelError(f"{where}: id {row['id']!r} is used twice")
        seen.add(row["id"])
        labels = row.get("labels")
        if not isinstance(labels, dict):
            raise KeelError(f"{where} ({row['id']}): field 'labels' must map criteria to 1-5")
        for criterion in CRITERIA:
            value = labels.get(criterion)
            if isinstance(value, bool) or value not in SCALE:
                raise KeelError(
                    f"{where} ({row['id']}): labels.{criterion} must be 1-5, got {value!r}"
                )
        out.append(
            Labelled(
                id=row["id"],
                situation=row["situation"].strip(),
                draft=row["draft"].strip(),
                labels={c: int(labels[c]) for c in CRITERIA},
            )
        )
    return out


def measure_agreement(judge: Judge, labelled: list[Labelled]) -> dict[str, Any]:
    """The judge's ratings of the labelled drafts against the team's, per criterion.

    Drafts the judge left unrated on a criterion are counted and left out of its measures.
    """
    verdicts = {item.id: judge.rate(item.situation, item.draft) for item in labelled}
    per: dict[str, Any] = {}
    for criterion in CRITERIA:
        pairs = [
            (item.labels[criterion], score)
            for item in labelled
            if (score := verdicts[item.id].score(criterion)) is not None
        ]
        people = [p for p, _ in pairs]
        rated = [j for _, j in pairs]
        measures = agreement(people, rated) if pairs else {"n": 0}
        per[criterion] = {**measures, "unrated": len(labelled) - len(pairs)}
    return {
        "drafts": len(labelled),
        "criteria": per,
        "errors": {k: v.error for k, v in verdicts.items() if v.error},
        "verdicts": {k: v.as_json() for k, v in verdicts.items()},
    }


def judge_run(
    data: dict[str, Any],
    config: JudgeConfig | None,
    *,
    cache_dir: Path = DEFAULT_CACHE,
    labels_path: Path | None = None,
    ask: Ask | None = None,
) -> dict[str, Any]:
    """Rate a finished run's customer drafts and measure agreement on the team's labels;
    the result goes in the run's JSON under ``judge``. Skipped (with the reason) when no
    model is configured."""
    if config is None:
        return {"skipped": SKIPPED_NOTE}
    judge = Judge(config, cache_dir, ask=ask)
    rated: list[dict[str, Any]] = []
    verdicts: list[Verdict] = []
    for scenario, artefact in customer_drafts(data.get("scenarios") or []):
        verdict = judge.rate(situation(scenario, artefact), str(artefact.get("text") or ""))
        verdicts.append(verdict)
        rated.append(
            {"scenario": scenario.get("id"), "artefact": artefact.get("key"), **verdict.as_json()}
        )
    labelled = load_labels(labels_path)
    return {
        **config.as_json(),
        "cache": str(cache_dir),
        "means": means(verdicts),
        "drafts": rated,
        "agreement": measure_agreement(judge, labelled),
        "calls": judge.calls,
        "cached": judge.hits,
    }
