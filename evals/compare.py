"""Comparing two runs: what got better and what got worse, by scenario and scorer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from keel.errors import KeelError

RUN_FILE: Final = "run.json"
EPSILON: Final = 1e-9


@dataclass(frozen=True)
class Change:
    scenario: str
    scorer: str
    before: float
    after: float
    reason: str = ""

    @property
    def delta(self) -> float:
        return self.after - self.before

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "scorer": self.scorer,
            "before": round(self.before, 4),
            "after": round(self.after, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Comparison:
    baseline: str
    baseline_model: str
    baseline_prompts: str
    better: list[Change] = field(default_factory=list)
    worse: list[Change] = field(default_factory=list)
    means: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)

    @property
    def worse_scenarios(self) -> list[str]:
        return list(dict.fromkeys(c.scenario for c in self.worse))

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "baseline_model": self.baseline_model,
            "baseline_prompts": self.baseline_prompts,
            "better": [c.as_json() for c in self.better],
            "worse": [c.as_json() for c in self.worse],
            "worse_scenarios": self.worse_scenarios,
            "means": {k: list(v) for k, v in self.means.items()},
            "only_before": self.only_before,
            "only_after": self.only_after,
        }


def load_run(path: Path) -> dict[str, Any]:
    """A run's JSON, from its file or its directory."""
    target = path / RUN_FILE if path.is_dir() else path
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeelError(f"{target}: cannot read the earlier run ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise KeelError(f"{target}: not a Keel eval run (invalid JSON: {exc.msg})") from exc
    if not isinstance(data, dict) or "scenarios" not in data:
        raise KeelError(f"{target}: not a Keel eval run (no 'scenarios')")
    return data


def _scores(run: dict[str, Any]) -> dict[tuple[str, str], tuple[float, str]]:
    out = {}
    for scenario in run.get("scenarios") or []:
        for score in scenario.get("scores") or []:
            if score.get("applicable", True):
                out[(scenario["id"], score["scorer"])] = (
                    float(score["score"]),
                    str(score.get("reason", "")),
                )
    return out


def _means(run: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v["mean"])
        for k, v in (run.get("summary") or {}).items()
        if v.get("mean") is not None
    }


def compare(before: dict[str, Any], after: dict[str, Any], *, baseline: str) -> Comparison:
    """What changed from ``before`` to ``after`` (both run JSONs)."""
    old, new = _scores(before), _scores(after)
    better, worse = [], []
    for key in sorted(old.keys() & new.keys()):
        (a, _), (b, reason) = old[key], new[key]
        if b > a + EPSILON:
            better.append(Change(key[0], key[1], a, b, reason))
        elif b < a - EPSILON:
            worse.append(Change(key[0], key[1], a, b, reason))
    worse.sort(key=lambda c: (c.delta, c.scenario))
    better.sort(key=lambda c: (-c.delta, c.scenario))
    old_means, new_means = _means(before), _means(after)
    means = {
        k: (old_means.get(k), new_means.get(k)) for k in dict.fromkeys([*new_means, *old_means])
    }
    before_ids = {s["id"] for s in before.get("scenarios") or []}
    after_ids = {s["id"] for s in after.get("scenarios") or []}
    return Comparison(
        baseline=baseline,
        baseline_model=str(before.get("model", "")),
        baseline_prompts=str(before.get("prompts_digest", "")),
        better=better,
        worse=worse,
        means=means,
        only_before=sorted(before_ids - after_ids),
        only_after=sorted(after_ids - before_ids),
    )
