"""Signals, health, hypotheses and cohort matches for one account, shaped for the analyst.

A thin reader over the scored book (:mod:`keel.tools.health.snapshot`): the scoring job
scores every account as of a date and stores each one's health, explanation, hypotheses
and cohort matches; every call here reads that account's rows. Nothing is kept between
calls, so an import (which marks the book stale) is seen by the next call, and nothing
here fits or stores a model: when the date has no fresh snapshot, the scoring job runs
first (:meth:`prefetch` runs it up front for a batch of reviews).

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
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.engine import Engine

from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.memory.snapshots import AccountHealthRow, BookSnapshot
    from keel.memory.vectors import VectorStore
    from keel.tools.health.explain import Explanation
    from keel.tools.health.snapshot import StoredHypotheses
    from keel.tools.hypotheses import AccountHypotheses, Hypothesis

HEALTHY_PERCENTILE: Final = 50.0
HEALTHY_RENEWAL_DAYS: Final = 120
MAX_SIGNALS: Final = 12
NOTABLE_CHANGE: Final = 0.15

# The play-library hypothesis kind (``keel.domain.plays.HypothesisKind`` values) each health
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


class AccountIntel:
    """Per-account views of the scored book's health, signals, hypotheses and cohort matches.

    Args:
        engine: The telemetry database (the scored book lives there too).
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
        # One scoring job at a time from this object's threads (the job itself is safe
        # across processes; this only saves a thread from scoring what another is scoring).
        self._scoring = threading.Lock()

    # --- the scored book, read per call ----------------------------------------------------

    def snapshot(self, as_of: dt.date, snapshot_id: int | None = None) -> BookSnapshot:
        """The fresh snapshot for ``as_of``, scored first when there is none.

        With ``snapshot_id`` (the run's pinned snapshot, :class:`AccountScope`), that
        snapshot is read as it is, stale or not, so every tool call of one run sees the
        same scores even when an import lands mid-run; only when it is not a snapshot of
        ``as_of`` is the fresh one looked up.
        """
        from keel.memory.snapshots import get_snapshot
        from keel.tools.health.service import DEFAULT_HORIZON_DAYS
        from keel.tools.health.snapshot import current_snapshot, fresh_snapshot

        if snapshot_id is not None:
            pinned = get_snapshot(self.engine, snapshot_id)
            if pinned is not None and pinned.as_of == as_of:
                return pinned

        horizon = self.horizon_days or DEFAULT_HORIZON_DAYS
        found = fresh_snapshot(self.engine, as_of, horizon_days=horizon)
        if found is not None:
            return found
        with self._scoring:
            return current_snapshot(self.engine, as_of, horizon_days=horizon)

    def prefetch(self, account_ids: Sequence[int], as_of: dt.date) -> None:
        """Make sure the book is scored as of ``as_of`` (every account's hypotheses with it),
        so a batch of reviews does not wait on the first one's tool call."""
        del account_ids  # the job scores the whole book at once
        self.snapshot(as_of)

    def _row(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> tuple[BookSnapshot, AccountHealthRow]:
        from keel.tools.health.snapshot import scored_account

        snap = self.snapshot(as_of, snapshot_id)
        found = scored_account(self.engine, snap, account_id)
        if found is None:
            raise KeelError(
                f"account {account_id} is not active on {as_of} (churned or not started)"
            )
        return snap, found.row

    def _explanation(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> Explanation:
        from keel.tools.health.explain import Explanation

        return Explanation.model_validate_json(
            self._row(account_id, as_of, snapshot_id)[1].explanation_json
        )

    def _stored(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> StoredHypotheses:
        from keel.tools.health.snapshot import stored_hypotheses

        found = stored_hypotheses(self.engine, self.snapshot(as_of, snapshot_id), account_id)
        if found is None:
            raise KeelError(f"account {account_id} is not active on {as_of}")
        return found

    def _hypotheses(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> AccountHypotheses:
        return self._stored(account_id, as_of, snapshot_id).hypotheses

    # --- the tools' views ------------------------------------------------------------------

    def health(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> dict[str, Any]:
        from keel.tools.health.explain import Explanation

        snap, row = self._row(account_id, as_of, snapshot_id)
        explanation = Explanation.model_validate_json(row.explanation_json)
        p = float(explanation.probability)
        return {
            "id": f"health:{row.external_id}@{as_of.isoformat()}",
            "score": round(100.0 * (1.0 - p), 1),
            "risk": round(p, 4),
            "horizon_days": snap.horizon_days,
            "percentile": round(row.percentile, 1),
            "band": row.band,
            # The priority list's open-risk rule (tools.health.ranking.open_risks): the
            # planner refuses growth plays while it is set.
            "open_risk": row.open_risk,
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

    def signals(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> dict[str, Any]:
        """Metric changes behind the hypotheses (notable), then the model's signals."""
        found = self._hypotheses(account_id, as_of, snapshot_id)
        explanation = self._explanation(account_id, as_of, snapshot_id)
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

    def hypotheses(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> dict[str, Any]:
        found = self._hypotheses(account_id, as_of, snapshot_id)
        health = self.health(account_id, as_of, snapshot_id)
        items = [_hypothesis(h, "risk") for h in found.risk]
        items += [_hypothesis(h, "expansion") for h in found.expansion]
        healthy = _healthy_renewal(
            found, health, self._row(account_id, as_of, snapshot_id)[1], as_of
        )
        if healthy is not None:
            items.append(healthy)
        return {
            "as_of": as_of.isoformat(),
            "probability": round(found.probability, 4),
            "text_evidence": found.text_evidence,
            "hypotheses": items,
        }

    def similar_churned(
        self, account_id: int, as_of: dt.date, snapshot_id: int | None = None
    ) -> dict[str, Any]:
        stored = self._stored(account_id, as_of, snapshot_id)
        matches = {s.external_id: s for h in stored.hypotheses.risk for s in h.similar_accounts}
        if not matches:
            matches = {s.external_id: s for s in stored.similar}
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
    row: AccountHealthRow,
    as_of: dt.date,
) -> dict[str, Any] | None:
    """A healthy account with a renewal coming: the moment for a renewal kickoff."""
    if health["percentile"] < HEALTHY_PERCENTILE:
        return None
    from keel.text import ordinal

    when = row.next_renewal_date
    if when is None or (when - as_of).days > HEALTHY_RENEWAL_DAYS:
        return None
    return {
        "id": f"{found.external_id}:expansion:renewal",
        "kind": "expansion",
        "category": "healthy_renewal",
        "factor": "renewal",
        "statement": (
            f"Healthy account ({ordinal(health['percentile'])} percentile) with a renewal on "
            f"{when} ({(when - as_of).days} days): a good moment to open the renewal"
        ),
        "confidence": 0.65,
        "evidence_ids": [f"renewal:{row.next_renewal_external_id}", health["id"]],
        "since": None,
    }
