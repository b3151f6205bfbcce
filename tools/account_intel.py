"""Signals, health, hypotheses and cohort matches for one account, shaped for the analyst.

A thin adapter over the predictive-intelligence tools (:mod:`keel.tools.health.service`,
:mod:`keel.tools.hypotheses`, :mod:`keel.tools.cohort`): those work on a whole book at once, so one
:class:`AccountIntel` scores the book once per as-of date and caches it, and a review of
many accounts (the nightly run, the benchmark) pays for it once. Call :meth:`prefetch` with
every account first to compute their hypotheses in one batch.

Every record carries an evidence id: ``health:<ext>@<date>``, ``factor:<factor>``,
``signal:<name>``, ``metric:<name>``, ``ticket:<ext>``, ``invoice:<ext>``,
``contact:<ext>``, ``renewal:<ext>``, ``cohort:<ext>``. Hypotheses get the play-library
kind they are about (``category``), mapped from the factor that raised them. Claims never
carry customer-written text (ticket subjects are replaced by their ids).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy.engine import Engine

from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.memory.vectors import VectorStore
    from keel.tools.health.explain import Explanation
    from keel.tools.health.service import BookScores
    from keel.tools.hypotheses import AccountHypotheses, Hypothesis
    from keel.tools.signals.book import Book

HEALTHY_PERCENTILE: Final = 50.0
HEALTHY_RENEWAL_DAYS: Final = 120
MAX_SIGNALS: Final = 12
NOTABLE_CHANGE: Final = 0.15

# The play-library hypothesis kind (``keel.agents.plays.HypothesisKind`` values) each health
# factor's hypothesis is about.
FACTOR_CATEGORY: Final[dict[str, str]] = {
    "engagement": "usage_decline",
    "seats": "usage_decline",
    "product_events": "low_adoption",
    "adoption": "low_adoption",
    "outcomes": "usage_decline",
    "relationships": "exec_disengagement",
    "support": "support_pain",
    "sentiment": "support_pain",
    "nps": "renewal_risk",
    "billing": "billing",
    "risk_language": "renewal_risk",
    "renewal": "renewal_risk",
    "pattern": "renewal_risk",
    "tenure": "renewal_risk",
}
EXPANSION_CATEGORY: Final[dict[str, str]] = {
    "seats": "expansion",
    "teams": "expansion",
    "outcome_ceiling": "expansion",
    "adoption": "adoption_win",
}


@dataclass
class _Snapshot:
    """The book scored as of one date, and what was derived from it so far."""

    scores: BookScores
    history: Book
    percentiles: dict[int, float]
    explanations: dict[int, Explanation] = field(default_factory=dict)
    hypotheses: dict[int, AccountHypotheses] = field(default_factory=dict)


class AccountIntel:
    """Per-account views of the book's signals, health, hypotheses and cohort matches.

    Args:
        engine: The telemetry database.
        vector_store: For :meth:`search_ids`; None disables semantic search.
        horizon_days: Health horizon (the health service's default when None).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        vector_store: VectorStore | None = None,
        horizon_days: int | None = None,
    ) -> None:
        self.engine = engine
        self.vector_store = vector_store
        self.horizon_days = horizon_days
        self._snapshots: dict[dt.date, _Snapshot] = {}
        self._lock = threading.RLock()

    # --- the book, scored once per date ----------------------------------------------------

    def snapshot(self, as_of: dt.date) -> _Snapshot:
        with self._lock:
            found = self._snapshots.get(as_of)
            if found is None:
                found = self._score(as_of)
                self._snapshots[as_of] = found
            return found

    def _score(self, as_of: dt.date) -> _Snapshot:
        from keel.tools.health.service import (
            DEFAULT_HORIZON_DAYS,
            score_book,
            text_prototype_version,
        )
        from keel.tools.signals.book import load_book

        horizon = self.horizon_days or DEFAULT_HORIZON_DAYS
        try:
            scores = score_book(self.engine, as_of=as_of, horizon_days=horizon)
        except ValueError as exc:
            raise KeelError(f"cannot score the book as of {as_of}: {exc}") from exc
        history = load_book(
            self.engine, until=as_of, prototype_version=text_prototype_version(self.engine)
        )
        return _Snapshot(scores=scores, history=history, percentiles=_percentiles(scores))

    def prefetch(self, account_ids: Sequence[int], as_of: dt.date) -> None:
        """Compute hypotheses for many accounts in one batch (the cohort match is shared)."""
        from keel.tools.hypotheses import hypotheses_for

        snap = self.snapshot(as_of)
        with self._lock:
            todo = [a for a in account_ids if a not in snap.hypotheses and a in snap.percentiles]
            if not todo:
                return
            explained = {e.account_id: e for e in snap.scores.explain(todo)}
            snap.explanations.update(explained)
            for found in hypotheses_for(snap.scores, snap.history, todo, explanations=explained):
                snap.hypotheses[found.account_id] = found

    def _explanation(self, account_id: int, as_of: dt.date) -> Explanation:
        snap = self.snapshot(as_of)
        with self._lock:
            if account_id not in snap.percentiles:
                raise KeelError(
                    f"account {account_id} is not active on {as_of} (churned or not started)"
                )
            if account_id not in snap.explanations:
                snap.explanations[account_id] = snap.scores.explain([account_id])[0]
            return snap.explanations[account_id]

    def _hypotheses(self, account_id: int, as_of: dt.date) -> AccountHypotheses:
        self.prefetch([account_id], as_of)
        snap = self.snapshot(as_of)
        if account_id not in snap.hypotheses:
            raise KeelError(f"account {account_id} is not active on {as_of}")
        return snap.hypotheses[account_id]

    # --- the tools' views ------------------------------------------------------------------

    def health(self, account_id: int, as_of: dt.date) -> dict[str, Any]:
        explanation = self._explanation(account_id, as_of)
        snap = self.snapshot(as_of)
        external = _external_id(snap, account_id)
        p = float(explanation.probability)
        percentile = snap.percentiles[account_id]
        return {
            "id": f"health:{external}@{as_of.isoformat()}",
            "score": round(100.0 * (1.0 - p), 1),
            "risk": round(p, 4),
            "horizon_days": snap.scores.model.horizon_days,
            "percentile": round(percentile, 1),
            "band": "at risk" if percentile < 25 else "watch" if percentile < 50 else "healthy",
            "summary": explanation.summary,
            "factors": [
                {
                    "factor": f.factor,
                    "label": f.label,
                    "direction": f.direction,
                    "contribution": round(f.contribution, 3),
                    "text": f.text,
                    "evidence_ids": [f"factor:{f.factor}"],
                }
                for f in explanation.factors
                if f.direction != "neutral"
            ],
            "model": {
                "source": explanation.model.source,
                "fitted_on": explanation.model.fitted_on.isoformat(),
                "stale": explanation.model.stale,
                "note": explanation.model.note,
            },
        }

    def signals(self, account_id: int, as_of: dt.date) -> dict[str, Any]:
        """Metric changes behind the hypotheses (notable), then the model's signals."""
        found = self._hypotheses(account_id, as_of)
        explanation = self._explanation(account_id, as_of)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for hypothesis in [*found.risk, *found.expansion]:
            for metric in hypothesis.metrics:
                key = f"metric:{metric.metric}"
                if key in seen:
                    continue
                seen.add(key)
                change = metric.change_pct
                out.append(
                    {
                        "id": key,
                        "name": metric.metric,
                        "label": metric.label,
                        "text": metric.text[:1].upper() + metric.text[1:],
                        "before": round(metric.before, 3),
                        "after": round(metric.after, 3),
                        "change_pct": None if change is None else round(change, 3),
                        "since": metric.start.isoformat(),
                        "notable": change is None or abs(change) >= NOTABLE_CHANGE,
                    }
                )
        ranked = sorted(
            (s for f in explanation.factors for s in f.signals if s.value is not None),
            key=lambda s: -abs(s.contribution),
        )
        for signal in ranked[:MAX_SIGNALS]:
            out.append(
                {
                    "id": f"signal:{signal.name}",
                    "name": signal.name,
                    "label": signal.label,
                    "display": signal.display,
                    "contribution": round(signal.contribution, 3),
                    "notable": False,
                }
            )
        return {"as_of": as_of.isoformat(), "signals": out}

    def hypotheses(self, account_id: int, as_of: dt.date) -> dict[str, Any]:
        found = self._hypotheses(account_id, as_of)
        health = self.health(account_id, as_of)
        items = [_hypothesis(h, "risk") for h in found.risk]
        items += [_hypothesis(h, "expansion") for h in found.expansion]
        healthy = _healthy_renewal(found, health, self.snapshot(as_of), account_id, as_of)
        if healthy is not None:
            items.append(healthy)
        return {
            "as_of": as_of.isoformat(),
            "probability": round(found.probability, 4),
            "text_evidence": found.text_evidence,
            "hypotheses": items,
        }

    def similar_churned(self, account_id: int, as_of: dt.date) -> dict[str, Any]:
        found = self._hypotheses(account_id, as_of)
        matches = {s.external_id: s for h in found.risk for s in h.similar_accounts}
        if not matches:
            from keel.tools.cohort import similar_churned

            snap = self.snapshot(as_of)
            raw = similar_churned(snap.history, [account_id], as_of).get(account_id, [])
            matches = {s.external_id: s for s in raw}
        return {
            "matches": [
                {
                    "id": f"cohort:{s.external_id}",
                    "account_name": s.name,
                    "similarity": s.similarity,
                    "outcome": s.outcome,
                    "event_date": s.event_date.isoformat(),
                    "summary": f"Resembles {s.name}, which {s.outcome} on {s.event_date} "
                    f"(similarity {s.similarity:.2f}, {s.aligned_days_before_event} days "
                    "before that).",
                }
                for s in sorted(matches.values(), key=lambda s: -s.similarity)
            ]
        }

    def search_ids(
        self,
        query: str,
        *,
        account_id: int,
        since: dt.date,
        until: dt.date,
        k: int,
    ) -> list[str]:
        """Evidence ids (``ticket:<ext>``...) of the records best matching ``query``."""
        if self.vector_store is None:
            return []
        hits = self.vector_store.search(query, k=k, account_id=account_id, since=since, until=until)
        return [f"{hit.kind}:{hit.external_id}" for hit in hits]


# ----------------------------------------------------------------------------- shaping


def _percentiles(scores: BookScores) -> dict[int, float]:
    """Health percentile (100 = healthiest) of each scored account among the scored."""
    frame = scores.frame
    if frame.empty:
        return {}
    p = frame["p"].to_numpy(dtype=np.float64)
    ids = frame["account_id"].to_numpy(dtype=np.int64)
    n = len(p)
    out: dict[int, float] = {}
    for account, value in zip(ids, p, strict=True):
        riskier = float(np.sum(p > value))
        ties = float(np.sum(p == value)) - 1.0
        out[int(account)] = 100.0 * (riskier + 0.5 * ties) / max(n - 1, 1)
    return out


def _external_id(snap: _Snapshot, account_id: int) -> str:
    accounts = snap.history.accounts
    row = accounts[accounts["account_id"] == account_id]
    return str(row["external_id"].iloc[0]) if len(row) else str(account_id)


def _confidence(strength: float, kind: str) -> float:
    if kind == "expansion":
        return 0.6
    # A factor's logit contribution: 0.5 -> ~0.59, 1 -> ~0.73, 2 -> ~0.87.
    return round(min(max(0.35 + 0.6 * (1.0 - math.exp(-max(strength, 0.0))), 0.05), 0.95), 3)


def _category(hypothesis: Hypothesis) -> str:
    if hypothesis.kind == "expansion":
        return EXPANSION_CATEGORY.get(hypothesis.factor, "expansion")
    if hypothesis.factor == "relationships" and any(
        r.kind == "contact" for r in hypothesis.records
    ):
        return "champion_left"
    if hypothesis.factor == "outcomes" and any(
        m.metric == "outcome_quality" and (m.change_pct or 0) < 0 for m in hypothesis.metrics
    ):
        return "quality_regression"
    return FACTOR_CATEGORY.get(hypothesis.factor, "renewal_risk")


def _hypothesis(hypothesis: Hypothesis, kind: str) -> dict[str, Any]:
    claim = hypothesis.claim
    for record in hypothesis.records:
        if record.kind in ("ticket", "note", "nps") and record.summary:
            # Summaries of tickets are their subjects: customer text stays out of claims.
            claim = claim.replace(f" ({record.summary})", "")
    evidence = [f"{r.kind}:{r.external_id}" for r in hypothesis.records]
    evidence += [f"metric:{m.metric}" for m in hypothesis.metrics]
    evidence += [f"cohort:{s.external_id}" for s in hypothesis.similar_accounts]
    if not evidence:
        evidence = [f"factor:{hypothesis.factor}"]
    since = min((m.start for m in hypothesis.metrics), default=None)
    return {
        "id": hypothesis.id,
        "kind": kind,
        "category": _category(hypothesis),
        "factor": hypothesis.factor,
        "statement": claim,
        "confidence": _confidence(hypothesis.strength, kind),
        "evidence_ids": list(dict.fromkeys(evidence)),
        "since": since.isoformat() if since else None,
    }


def _healthy_renewal(
    found: AccountHypotheses,
    health: dict[str, Any],
    snap: _Snapshot,
    account_id: int,
    as_of: dt.date,
) -> dict[str, Any] | None:
    """A healthy account with a renewal coming: the moment for a renewal kickoff."""
    if health["percentile"] < HEALTHY_PERCENTILE:
        return None
    from keel.text import ordinal

    renewals = snap.history.renewals
    mine = renewals[renewals["account_id"] == account_id]
    from keel.tools.signals.windows import day_date, day_number

    today = day_number(as_of)
    upcoming = mine[(mine["renewal"] >= today) & (mine["renewal"] <= today + HEALTHY_RENEWAL_DAYS)]
    if upcoming.empty:
        return None
    row = upcoming.sort_values("renewal").iloc[0]
    when = day_date(int(row["renewal"]))
    return {
        "id": f"{found.external_id}:expansion:renewal",
        "kind": "expansion",
        "category": "healthy_renewal",
        "factor": "renewal",
        "statement": (
            f"Healthy account ({ordinal(health['percentile'])} percentile) with a renewal on "
            f"{when} ({int(row['renewal']) - today} days): a good moment to open the renewal"
        ),
        "confidence": 0.65,
        "evidence_ids": [f"renewal:{row['external_id']}", health["id"]],
        "since": None,
    }
