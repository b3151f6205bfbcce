"""The gate: per-scorer minimums a run must reach (a YAML file; the bundled default is
``evals/gate.default.yaml``).

::

    version: 1
    max_failed_scenarios: 0              # reviews where a step failed (default 0)
    minimums:
      grounded: {mean: 1.0, each: 1.0}   # mean over scenarios, and every scenario
      citations: {mean: 0.9}

Only applicable scores count (a scenario without drafts says nothing about the policy);
a review whose analyst, planner or drafter failed is a failure of its own, whatever its
scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from keel.errors import KeelError
from keel.evals.scorers import SCORERS

DEFAULT_GATE: Final = Path(__file__).with_name("gate.default.yaml")


class GateError(KeelError):
    """A gate file that cannot be used."""


class Minimum(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float | None = Field(default=None, ge=0.0, le=1.0)
    each: float | None = Field(default=None, ge=0.0, le=1.0)


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    max_failed_scenarios: int = Field(default=0, ge=0)
    minimums: dict[str, Minimum] = Field(default_factory=dict)

    @field_validator("minimums")
    @classmethod
    def _known(cls, value: dict[str, Minimum]) -> dict[str, Minimum]:
        unknown = [k for k in value if k not in SCORERS]
        if unknown:
            raise ValueError(f"unknown scorer(s) {', '.join(unknown)}; known: {', '.join(SCORERS)}")
        return value


def load_gate(path: Path | None = None) -> Gate:
    """Read a gate file (the bundled default when ``path`` is None)."""
    path = path or DEFAULT_GATE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateError(f"{path}: cannot read the gate ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise GateError(f"{path}: not valid YAML ({exc})") from exc
    try:
        return Gate.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc") or ())
        raise GateError(f"{path}: {where or 'gate'}: {first.get('msg')}") from exc


def check_gate(
    gate: Gate,
    scores: dict[str, dict[str, float]],
    failed: dict[str, list[str]] | None = None,
) -> list[str]:
    """What the run misses, one line each; empty when it passes.

    Args:
        gate: The minimums.
        scores: Applicable scores by scorer, then by scenario id.
        failed: The errors of each scenario whose review failed a step.
    """
    missed = []
    failed = failed or {}
    if len(failed) > gate.max_failed_scenarios:
        shown = "; ".join(f"{k}: {v[0]}" for k, v in list(failed.items())[:3])
        most = gate.max_failed_scenarios
        missed.append(f"{len(failed)} scenario(s) failed a step (at most {most}): {shown}")
    for scorer, minimum in gate.minimums.items():
        values = scores.get(scorer) or {}
        if not values:
            continue
        mean = sum(values.values()) / len(values)
        if minimum.mean is not None and mean < minimum.mean - 1e-9:
            missed.append(f"{scorer}: mean {mean:.3f} is below the minimum {minimum.mean:.3f}")
        if minimum.each is not None:
            low = sorted((v, k) for k, v in values.items() if v < minimum.each - 1e-9)
            if low:
                names = ", ".join(f"{k} ({v:.2f})" for v, k in low[:6])
                missed.append(f"{scorer}: {len(low)} scenario(s) below {minimum.each:.2f}: {names}")
    return missed
