"""The health model on a hand-built book: explanations, per-signal direction, store, staleness."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.memory.db import init_db, make_engine
from keel.memory.intel_tables import HealthModelRecord
from keel.tools.health.explain import model_info
from keel.tools.health.service import BookScores, score_book
from keel.tools.signals import load_book
from keel.tools.signals.compute import compute_signals
from tests.tools.minibook import SYMPTOMS, ProbeBook, build_minibook, make_probe_book

# Which explanation factor each symptom should push up (usage falls with outcomes).
SYMPTOM_FACTOR: dict[str, str | tuple[str, ...]] = {
    "usage": ("engagement", "outcomes"),
    "quality": "outcomes",
    "seats": "seats",
    "adoption": "adoption",
    "champion": "relationships",
    "sponsor": "relationships",
    "tickets": "support",
    "urgent": "support",
    "sentiment": "sentiment",
    "csat": "sentiment",
    "nps": "nps",
    "billing": "billing",
    "risk_language": "risk_language",
}


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeBook]:
    pb = make_probe_book(str(tmp_path_factory.mktemp("health") / "keel.db"))
    yield pb
    pb.engine.dispose()


@pytest.fixture(scope="module")
def scores(probes: ProbeBook) -> BookScores:
    return score_book(probes.engine, as_of=probes.end)


def _p(scores: BookScores, probes: ProbeBook, ext: str) -> float:
    frame = scores.frame.set_index("account_id")
    return float(frame.loc[probes.book.ids[ext], "p"])


def test_model_is_fitted_on_the_books_history(scores: BookScores) -> None:
    model = scores.model
    assert model.source == "fitted"
    assert model.n_positive >= 20 and model.train_end is not None
    # Trained on labels known by the date, including windows still open whose outcome the
    # book already shows (contracts committed past them): not only closed windows.
    assert model.train_end < scores.as_of
    assert model.train_end > scores.as_of - dt.timedelta(days=model.horizon_days)
    # Segments and stages with enough history get their own deviations.
    assert any(key.startswith("segment:") for key in model.group_coef)


def test_explanations_add_up_to_the_logit(scores: BookScores) -> None:
    explanations = scores.explain()
    assert len(explanations) == scores.scored
    predicted = scores.frame.set_index("account_id")["p"]
    for e in explanations:
        total = e.baseline + sum(f.contribution for f in e.factors)
        assert total == pytest.approx(e.logit, abs=1e-12)
        assert sum(s.contribution for f in e.factors for s in f.signals) + e.baseline == (
            pytest.approx(e.logit, abs=1e-9)
        )
        assert e.probability == pytest.approx(1 / (1 + math.exp(-e.logit)), abs=1e-12)
        assert e.probability == pytest.approx(float(predicted.loc[e.account_id]), abs=1e-9)
        assert e.summary and all(f.text for f in e.factors)


@pytest.mark.parametrize("symptom", SYMPTOMS)
def test_each_signal_moves_the_score_the_right_way(
    scores: BookScores, probes: ProbeBook, symptom: str
) -> None:
    """A probe identical to the baseline probe but for one symptom scores higher risk."""
    base = _p(scores, probes, "probe-base")
    assert _p(scores, probes, f"probe-{symptom}") > base
    explained = {
        e.account_id: {f.factor: f.contribution for f in e.factors}
        for e in scores.explain(
            [probes.book.ids["probe-base"], probes.book.ids[f"probe-{symptom}"]]
        )
    }
    wanted = SYMPTOM_FACTOR[symptom]
    factors = (wanted,) if isinstance(wanted, str) else wanted
    sick = sum(explained[probes.book.ids[f"probe-{symptom}"]].get(f, 0.0) for f in factors)
    healthy = sum(explained[probes.book.ids["probe-base"]].get(f, 0.0) for f in factors)
    assert sick > healthy


def test_falling_engagement_with_rising_outcomes_is_not_read_as_risk(
    scores: BookScores, probes: ProbeBook
) -> None:
    assert _p(scores, probes, "probe-ai") <= _p(scores, probes, "probe-base")
    engagement = {
        e.account_id: next((f.contribution for f in e.factors if f.factor == "engagement"), 0.0)
        for e in scores.explain([probes.book.ids["probe-ai"], probes.book.ids["probe-base"]])
    }
    assert (
        engagement[probes.book.ids["probe-ai"]] <= engagement[probes.book.ids["probe-base"]] + 1e-9
    )
    # The same decline with falling outcomes is risk.
    assert _p(scores, probes, "probe-usage") > 2 * _p(scores, probes, "probe-base")


def test_every_active_account_is_scored(scores: BookScores, probes: ProbeBook) -> None:
    book = load_book(probes.engine)
    ids = book.accounts["account_id"].to_numpy()
    today = scores.frame["as_of"].iloc[0]
    signals = compute_signals(book, ids, np.full(len(ids), today))
    churned = {
        probes.book.ids[ext]
        for ext, day in probes.book.events.items()
        if day <= scores.as_of
        and ext in probes.book.kinds
        and probes.book.ids[ext] % 2 == 1  # even-indexed decliners churn (ids are 1-based)
    }
    assert scores.total_accounts == len(ids)
    assert scores.scored == int(signals["exists"].sum()) - len(churned)
    assert not set(scores.frame["account_id"]) & churned


def test_fitted_model_is_stored_and_staleness_is_visible(
    scores: BookScores, probes: ProbeBook
) -> None:
    with Session(probes.engine) as session:
        records = session.exec(select(HealthModelRecord)).all()
    assert records, "score_book stores the model it fits"
    record = records[-1]
    assert record.fitted_on == probes.end and record.source == "fitted"
    assert record.train_start is not None and record.train_end is not None
    assert record.calibration_ece is not None and 0 <= record.calibration_ece < 0.5
    fresh = model_info(scores.model, probes.end)
    assert not fresh.stale and "calibration error" in fresh.note
    later = model_info(scores.model, probes.end + dt.timedelta(days=200))
    assert later.stale and "stale" in later.note and later.days_since_fit == 200


def test_default_weights_when_history_is_too_short(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'keel.db'}")
    init_db(engine)
    build_minibook(engine, n_healthy=6, n_decline=0, n_ai=0, days=200)
    scores = score_book(engine)
    assert scores.model.source == "prior" and scores.scored == 6
    explanation = scores.explain()[0]
    assert "default weights" in explanation.model.note
    assert explanation.baseline + sum(f.contribution for f in explanation.factors) == (
        pytest.approx(explanation.logit, abs=1e-12)
    )
    engine.dispose()


def test_a_decided_outcome_is_not_predicted_again_until_its_renewal(engine: Engine) -> None:
    """Between a contraction notice and its renewal, labelled panels leave the account out
    (nothing left to predict); live scoring keeps it, so every account is still scored."""
    from keel.tools.health.labels import outcome_events, outcome_pending
    from keel.tools.health.service import active_panel
    from keel.tools.signals import day_date

    build_minibook(engine, n_healthy=4, n_decline=8, n_ai=0)
    book = load_book(engine)
    events = outcome_events(book)
    ev = events[(events["outcome"] == "contracted") & (events["renewal"] - events["day"] > 2)]
    assert not ev.empty
    acc, known, renewal = (int(ev.iloc[0][k]) for k in ("account_id", "day", "renewal"))
    days = np.array([known - 1, known, renewal - 1, renewal], dtype=np.int64)
    pending = outcome_pending(book, np.full(4, acc, dtype=np.int64), days)
    assert pending.tolist() == [False, True, True, False]
    cut = [day_date(known + 1)]
    labelled = active_panel(book, cut, horizon_days=90)
    live = active_panel(book, cut, horizon_days=90, labelled=False)
    assert acc not in set(labelled["account_id"]) and acc in set(live["account_id"])


def test_values_read_as_counts_beside_the_books_typical_value(
    scores: BookScores, probes: ProbeBook
) -> None:
    """A reason says what is unusual: the value and what the book's accounts typically show."""
    from keel.tools.health.explain import one_line_reason
    from keel.tools.signals.catalog import spec_for

    model = scores.model
    (e,) = scores.explain([probes.book.ids["probe-nps"]])
    signals = {s.name: s for f in e.factors for s in f.signals}
    nps = signals["nps"]
    assert nps.typical == spec_for("nps").format(model.means[model.features.index("nps")])
    assert nps.contribution > 0 and nps.typical != nps.display
    assert f"NPS score (180-day mean) {nps.display}, typical {nps.typical}" in e.summary
    assert f"NPS score (180-day mean) {nps.display}, typical {nps.typical}" in one_line_reason(e)
    # Log-scaled counts are shown as counts, not as logarithms.
    tickets = signals["tickets_recent"]
    assert tickets.value is not None
    assert float(tickets.display.replace(",", "")) == pytest.approx(
        math.expm1(tickets.value), abs=0.05
    )
    # Yes/no signals have no typical value.
    assert all(s.typical is None for s in signals.values() if spec_for(s.name).fmt == "indicator")
