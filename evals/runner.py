"""``keel eval``'s use case: run a dataset through the review graph, score, compare, gate.

One run seeds the dataset's book in a temporary workspace (:mod:`keel.evals.workspace`),
places every scenario on its account, reviews each account with the real review graph
on the configured model (the offline model unless an OpenAI-compatible endpoint is set),
scores what came out, and returns an :class:`EvalRun`: the run's JSON (with the model
label and the prompts' digest), the comparison with an earlier run and the gate's verdict.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from keel.agents.repair import counting_structured
from keel.api.services.reviews import run_context
from keel.app import App
from keel.domain.policy import Policy
from keel.errors import KeelError
from keel.evals.chat_collect import ask_questions
from keel.evals.collect import run_scenario
from keel.evals.compare import Comparison, compare, load_run
from keel.evals.dataset import load_dataset
from keel.evals.digest import file_digest, policy_digest, prompt_digest
from keel.evals.gate import DEFAULT_GATE, check_gate, load_gate
from keel.evals.injection import expand
from keel.evals.outcome import Score
from keel.evals.scorers import SCORERS, score_all
from keel.evals.workspace import Placed, Workspace, describe, open_workspace, place
from keel.settings import Settings

Progress = Callable[[str, int, int], None]


@dataclass
class EvalRun:
    """One finished run: its JSON, and what the comparison and the gate say."""

    data: dict[str, Any]
    comparison: Comparison | None = None
    gate_missed: list[str] = field(default_factory=list)
    gate_path: str = ""

    @property
    def passed(self) -> bool:
        return not self.gate_missed


def run_eval(
    *,
    settings: Settings,
    dataset_path: Path | None = None,
    compare_with: Path | None = None,
    gate_path: Path | None = None,
    model: BaseChatModel | None = None,
    progress: Progress | None = None,
    only: Sequence[str] | None = None,
) -> EvalRun:
    """Run a dataset (the bundled default when None) and judge it.

    Args:
        settings: The user's settings: model, policy and link allow-list come from them;
            storage and delivery are the run's own temporary workspace.
        dataset_path: The dataset file.
        compare_with: An earlier run's directory or ``run.json``.
        gate_path: Per-scorer minimums; the bundled default gate when None.
        model: The chat model; from ``settings`` when None.
        progress: Called as ``progress(scenario_id, done, total)``.
        only: Run just these scenarios (ids); each is still placed on the account the
            whole dataset gives it, so its scores compare with a full run's.

    Raises:
        KeelError: an unusable dataset, gate or earlier run, a scenario no account fits,
            or an ``only`` id the dataset does not have.
    """
    from keel.domain.policy import policy_from_settings

    dataset = load_dataset(dataset_path)
    gate = load_gate(gate_path)
    baseline = load_run(compare_with) if compare_with is not None else None
    expanded = expand(dataset)
    policy = policy_from_settings(settings)
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with open_workspace(dataset, settings) as ws:
        placed = _only(place(ws, expanded.scenarios, policy), only)
        with _app(ws, model) as app:
            label = app.model_label
            total = len(placed)
            for done, item in enumerate(placed):
                if progress is not None:
                    progress(item.scenario.id, done, total)
                results.append(_one(ws, app, item, policy, label))
            if progress is not None:
                progress("", total, total)
        as_of = ws.as_of
    source = Path(dataset.source)
    data: dict[str, Any] = {
        "run_id": started_at.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6],
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
        "dataset": {"name": dataset.name, "source": str(source), "digest": file_digest(source)},
        "model": label,
        "prompts_digest": prompt_digest(),
        "policy_digest": policy_digest(policy),
        "book": {
            "accounts": dataset.book.accounts,
            "seed": dataset.book.seed,
            "as_of": as_of.isoformat(),
        },
        "notes": expanded.notes
        + ([f"only {len(placed)} of the dataset's scenarios were run"] if only else []),
        "scenarios": results,
        "summary": summarise(results),
        "model_stats": model_stats(results),
    }
    run = EvalRun(data=data, gate_path=str(gate_path or DEFAULT_GATE))
    failed = {r["id"]: r["errors"] for r in results if r["errors"]}
    run.gate_missed = check_gate(gate, applicable_scores(results), failed)
    data["gate"] = {"path": run.gate_path, "passed": run.passed, "missed": run.gate_missed}
    if baseline is not None and compare_with is not None:
        run.comparison = compare(baseline, data, baseline=str(compare_with))
        data["comparison"] = run.comparison.as_json()
    return run


def _only(placed: list[Placed], only: Sequence[str] | None) -> list[Placed]:
    """The placed scenarios ``only`` names, in the dataset's order (all when None)."""
    if not only:
        return placed
    known = [item.scenario.id for item in placed]
    unknown = [ident for ident in only if ident not in known]
    if unknown:
        raise KeelError(
            f"no scenario {', '.join(repr(u) for u in unknown)} in the dataset "
            f"(it has: {', '.join(known)})"
        )
    wanted = set(only)
    return [item for item in placed if item.scenario.id in wanted]


@contextmanager
def _app(ws: Workspace, model: BaseChatModel | None) -> Iterator[App]:
    """The application object over the workspace, as every entry point builds it: the
    review graph compiled once with its checkpointer, dry-run delivery into the
    workspace's outbox, evidence from SQL recency (no vector index: the eval needs no
    embedding model). The policy is the workspace settings' own, the one ``run_eval`` judges
    with. Each scenario runs with a budget of its own (its run context)."""
    from keel.memory.actions import Channel
    from keel.tools.outbound.dry_run import DryRunAdapter

    dry = DryRunAdapter(ws.settings.outbox_dir, sender=ws.settings.smtp_from)
    with App(
        settings=ws.settings,
        use_vectors=False,
        model=model,
        adapters={str(c): dry for c in Channel},
    ) as app:
        yield app


def _one(ws: Workspace, app: App, item: Placed, policy: Policy, label: str) -> dict[str, Any]:
    started = time.perf_counter()
    head = {
        "id": item.scenario.id,
        "description": item.scenario.description,
        "tags": item.scenario.tags,
        **describe(item),
        "tier": policy.tier_for(item.account),
    }
    try:
        with counting_structured() as tally:
            outcome, thread = run_scenario(
                app.review_graph,
                ws.engine,
                item,
                policy=policy,
                allowlist=ws.settings.link_allowlist,
                as_of=ws.as_of,
                prep_model=app.chat_model,
                label=label,
                context=lambda thread_id: run_context(
                    app,
                    as_of=ws.as_of,
                    user=None,
                    thread_id=thread_id,
                    account_id=item.account.id,
                ),
            )
            if item.scenario.chat:
                outcome = replace(outcome, chat=ask_questions(app, item, as_of=ws.as_of))
    except KeelError as exc:
        # A review that stops (a spent budget, an endpoint down) scores nothing: it fails
        # every scorer rather than vanish from the means.
        failed = [Score(name, 0.0, f"the review failed: {exc}") for name in SCORERS]
        return {
            **head,
            "thread": "",
            "hypotheses": [],
            "plays": [],
            "expected": {},
            "errors": [str(exc)],
            "seconds": round(time.perf_counter() - started, 3),
            "scores": [s.as_json() for s in failed],
            "artefacts": [],
            "structured": tally.as_json(),
        }
    scores = score_all(outcome)
    return {
        **head,
        "thread": thread,
        "hypotheses": [str(h.get("category")) for h in outcome.hypotheses],
        "plays": list(outcome.plays),
        "expected": {
            "hypotheses": list(outcome.expected.hypotheses),
            "plays": list(outcome.expected.plays),
        },
        "errors": list(outcome.errors),
        "seconds": round(time.perf_counter() - started, 3),
        "scores": [s.as_json() for s in scores],
        "artefacts": [a.as_json() for a in outcome.artefacts],
        "chat": [c.as_json() for c in outcome.chat],
        "structured": tally.as_json(),
    }


def model_stats(results: list[dict[str, Any]]) -> dict[str, Any]:
    """How the model held up: structured answers (usable at once, after the error was fed
    back, or not at all) by schema and in all, and the time per scenario and per draft."""
    by_schema: dict[str, dict[str, int]] = {}
    for result in results:
        for schema, counts in (result.get("structured") or {}).items():
            total = by_schema.setdefault(schema, {"first_try": 0, "repaired": 0, "failed": 0})
            for key in total:
                total[key] += int(counts.get(key, 0))
    first = sum(c["first_try"] for c in by_schema.values())
    repaired = sum(c["repaired"] for c in by_schema.values())
    failed = sum(c["failed"] for c in by_schema.values())
    asked = first + repaired + failed
    drafts = sum(
        1
        for r in results
        for a in r.get("artefacts") or []
        if str(a.get("key", "")).startswith("draft:")
    )
    chat_seconds = sum(float(c.get("seconds") or 0) for r in results for c in r.get("chat") or [])
    answers = sum(len(r.get("chat") or []) for r in results)
    # Reviews (what drafts cost) apart from the chat questions asked after them.
    seconds = sum(float(r.get("seconds") or 0) for r in results) - chat_seconds

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "structured": {
            "asked": asked,
            "first_try": first,
            "repaired": repaired,
            "failed": failed,
            "success_rate": rate(first + repaired, asked),
            "repair_rate": rate(repaired, asked),
            "repair_success": rate(repaired, repaired + failed),
            "by_schema": by_schema,
        },
        "scenarios": len(results),
        "reviews_failed": sum(1 for r in results if r.get("errors")),
        "drafts": drafts,
        "seconds": round(seconds, 2),
        "seconds_per_scenario": round(seconds / len(results), 2) if results else None,
        "seconds_per_draft": round(seconds / drafts, 2) if drafts else None,
        "chat_answers": answers,
        "seconds_per_chat_answer": round(chat_seconds / answers, 2) if answers else None,
    }


def applicable_scores(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Applicable scores by scorer, then scenario id."""
    out: dict[str, dict[str, float]] = {name: {} for name in SCORERS}
    for result in results:
        for score in result["scores"]:
            if score["applicable"]:
                out[score["scorer"]][result["id"]] = float(score["score"])
    return out


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean, minimum and count of applicable scores per scorer."""
    summary: dict[str, dict[str, Any]] = {}
    for scorer, values in applicable_scores(results).items():
        numbers = list(values.values())
        summary[scorer] = {
            "mean": round(sum(numbers) / len(numbers), 4) if numbers else None,
            "min": round(min(numbers), 4) if numbers else None,
            "n": len(numbers),
        }
    return summary
