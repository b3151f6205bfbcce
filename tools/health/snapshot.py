"""The scoring job, and the one way to read a scored book.

:func:`score_as_of` is the job: it fits (or loads) the health model, scores every active
account as of a date, ranks the book, explains every account and works out its
hypotheses, and writes all of it as a snapshot (:mod:`keel.memory.snapshots`) in one
transaction. :func:`current_snapshot` is what every reader calls: it returns the fresh
snapshot for the date, and runs the job first only when there is none (never scored, or
marked stale by an import). Readers then read rows; nothing on a read path fits or
stores a model.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from keel.errors import KeelError
from keel.memory.snapshots import (
    AccountHealthRow,
    AccountHypothesesRow,
    BookSnapshot,
    data_fingerprint,
    find_snapshot,
    health_row,
    health_rows,
    hypotheses_row,
    is_current,
    write_snapshot,
)
from keel.tools.cohort import SimilarAccount, similar_churned
from keel.tools.health.explain import Explanation, ModelInfo, model_info, one_line_reason
from keel.tools.health.ranking import band, flag_rule, percentiles, rank_book
from keel.tools.health.service import (
    DEFAULT_HORIZON_DAYS,
    get_model_record,
    model_schema,
    score_book,
    text_prototype_version,
)
from keel.tools.hypotheses import AccountHypotheses, hypotheses_for
from keel.tools.signals.book import Book, latest_data_date, load_book
from keel.tools.signals.catalog import RENEWAL_TIMING_SIGNALS
from keel.tools.signals.windows import day_date, day_number

DEFAULT_KIND = "multi_signal"

log = logging.getLogger(__name__)


# What a snapshot's rows mean: bump it when the scoring job writes them differently (the
# ranking rule, the hypotheses, the explanation's wording), so a book scored by an earlier
# Keel is scored again on its next read instead of showing the old order.
SCORING_VERSION: Final = 8


def scoring_fingerprint(engine: Engine) -> str:
    """The data fingerprint plus the scoring job's version: what a fresh snapshot matches."""
    return f"{data_fingerprint(engine)};scoring=v{SCORING_VERSION}"


def _as_of(engine: Engine, as_of: dt.date | None) -> dt.date:
    when = as_of or latest_data_date(engine)
    if when is None:
        raise ValueError("the book has no telemetry yet: import or seed data first")
    return when


def score_as_of(
    engine: Engine,
    as_of: dt.date | None = None,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = DEFAULT_KIND,
    refit: bool = False,
) -> BookSnapshot:
    """Score the book as of ``as_of`` (default: the latest data) and store the snapshot.

    Safe to run from several processes at once: they all compute, one writes, and the
    others return the snapshot it wrote (see :func:`keel.memory.snapshots.write_snapshot`).

    Raises:
        ValueError: the book has no telemetry.
    """
    when = _as_of(engine, as_of)
    fingerprint = scoring_fingerprint(engine)
    model_id, model = get_model_record(
        engine, as_of=when, horizon_days=horizon_days, kind=kind, refit=refit
    )
    scores = score_book(engine, as_of=when, horizon_days=horizon_days, kind=kind, model=model)
    history = load_book(engine, until=when, prototype_version=text_prototype_version(engine))
    ranked = rank_book(scores)
    ids = [int(a) for a in ranked["account_id"].tolist()]
    explained = {e.account_id: e for e in scores.explain(ids)}
    similar = similar_churned(history, ids, when)
    found = {
        h.account_id: h
        for h in hypotheses_for(scores, history, ids, explanations=explained, similar=similar)
    }
    info = model_info(model, when)
    header: dict[str, Any] = {
        "as_of": when,
        "horizon_days": horizon_days,
        "model_kind": kind,
        "model_id": model_id,
        "model_version": model_schema(kind),
        "fingerprint": fingerprint,
        "total_accounts": scores.total_accounts,
        "scored": scores.scored,
        "text_evidence": scores.text_evidence,
        "flag_rule": flag_rule(scores).describe(),
        "model_info_json": info.model_dump_json(),
    }
    health = _health_rows(ranked, scores.book, history, explained, when)
    hyps = [
        {
            "account_id": account,
            "hypotheses_json": found[account].model_dump_json(),
            "similar_json": json.dumps(
                [s.model_dump(mode="json") for s in similar.get(account, [])]
            ),
        }
        for account in ids
        if account in found
    ]
    snapshot_id, written = write_snapshot(engine, header, health, hyps)
    if not written:
        log.info("book as of %s: another process scored it first; its snapshot is kept", when)
    snapshot = find_snapshot(engine, as_of=when, horizon_days=horizon_days, model_kind=kind)
    assert snapshot is not None and snapshot.id == snapshot_id
    return snapshot


def _health_rows(
    ranked: pd.DataFrame,
    book: Book,
    history: Book,
    explained: dict[int, Explanation],
    when: dt.date,
) -> list[dict[str, Any]]:
    accounts = book.accounts.set_index("account_id")
    pct = percentiles(ranked["p"].to_numpy(dtype=np.float64))
    today = day_number(when)
    renewals = history.renewals
    upcoming = renewals[renewals["renewal"] >= today].sort_values("renewal")
    first = upcoming.drop_duplicates("account_id")
    nexts: dict[int, dict[str, Any]] = {
        int(r["account_id"]): {str(k): v for k, v in r.items()} for r in first.to_dict("records")
    }
    rows: list[dict[str, Any]] = []
    for i, row in enumerate(ranked.to_dict("records")):
        account = int(row["account_id"])
        dtr = row["days_to_renewal"]
        known = dtr == dtr
        explanation = explained[account]
        nxt = nexts.get(account)
        rows.append(
            {
                "account_id": account,
                "external_id": str(accounts.at[account, "external_id"]),
                "name": str(accounts.at[account, "name"]),
                "owner_csm": str(row["owner"]),
                "segment": str(row["segment"]),
                "probability": float(row["p"]),
                "logit": float(row["logit"]),
                "percentile": float(pct[i]),
                "band": band(float(pct[i])),
                "risk_rank": int(row["risk_rank"]),
                "expansion_rank": int(row["expansion_rank"]) or None,
                "arr": float(row["arr"]),
                "arr_at_risk": float(row["arr_at_risk"]),
                "urgency": float(row["urgency"]),
                "priority_score": float(row["priority"]),
                "days_to_renewal": int(dtr) if known else None,
                "renewal_date": day_date(int(row["as_of"]) + int(dtr)) if known else None,
                "flagged": bool(row["flagged"]),
                "flag": str(row["flag"]),
                "reason": one_line_reason(explanation, shown=RENEWAL_TIMING_SIGNALS),
                "expansion_score": float(row["expansion"]),
                "expansion_reason": str(row["expansion_reason"]),
                "open_risk": str(row["open_risk"]),
                "next_renewal_external_id": None if nxt is None else str(nxt["external_id"]),
                "next_renewal_date": None if nxt is None else day_date(int(nxt["renewal"])),
                "explanation_json": explanation.model_dump_json(),
            }
        )
    return rows


# ----------------------------------------------------------------------------- reading


def fresh_snapshot(
    engine: Engine,
    as_of: dt.date | None = None,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = DEFAULT_KIND,
) -> BookSnapshot | None:
    """The fresh snapshot for ``as_of`` (default: the latest data), or None; only reads.

    Raises:
        KeelError: the book has no telemetry.
    """
    try:
        when = _as_of(engine, as_of)
    except ValueError as exc:
        raise KeelError(str(exc)) from exc
    found = find_snapshot(engine, as_of=when, horizon_days=horizon_days, model_kind=kind)
    return found if is_current(found, scoring_fingerprint(engine)) else None


def current_snapshot(
    engine: Engine,
    as_of: dt.date | None = None,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    kind: str = DEFAULT_KIND,
) -> BookSnapshot:
    """The fresh snapshot for ``as_of`` (default: the latest data); the scoring job runs
    first when there is none or it is stale. A date already scored is only read.

    Raises:
        KeelError: the book has no telemetry.
    """
    found = fresh_snapshot(engine, as_of, horizon_days=horizon_days, kind=kind)
    if found is not None:
        return found
    when = _as_of(engine, as_of)
    try:
        return score_as_of(engine, when, horizon_days=horizon_days, kind=kind)
    except ValueError as exc:
        raise KeelError(f"cannot score the book as of {when}: {exc}") from exc


@dataclass(frozen=True)
class ScoredAccount:
    """One account of a snapshot, as read back."""

    row: AccountHealthRow

    @property
    def account_id(self) -> int:
        return self.row.account_id

    def explanation(self) -> Explanation:
        return Explanation.model_validate_json(self.row.explanation_json)


def snapshot_model(snapshot: BookSnapshot) -> ModelInfo:
    return ModelInfo.model_validate_json(snapshot.model_info_json)


def scored_accounts(engine: Engine, snapshot: BookSnapshot) -> list[ScoredAccount]:
    """Every scored account of ``snapshot`` in the book's priority order."""
    assert snapshot.id is not None
    return [ScoredAccount(r) for r in health_rows(engine, snapshot.id)]


def scored_account(engine: Engine, snapshot: BookSnapshot, account_id: int) -> ScoredAccount | None:
    assert snapshot.id is not None
    row = health_row(engine, snapshot.id, account_id)
    return None if row is None else ScoredAccount(row)


@dataclass(frozen=True)
class StoredHypotheses:
    hypotheses: AccountHypotheses
    similar: list[SimilarAccount]


def stored_hypotheses(
    engine: Engine, snapshot: BookSnapshot, account_id: int
) -> StoredHypotheses | None:
    assert snapshot.id is not None
    row: AccountHypothesesRow | None = hypotheses_row(engine, snapshot.id, account_id)
    if row is None:
        return None
    return StoredHypotheses(
        hypotheses=AccountHypotheses.model_validate_json(row.hypotheses_json),
        similar=[SimilarAccount.model_validate(s) for s in json.loads(row.similar_json)],
    )
