"""The daily priority list: coverage, needs attention first then by expected ARR loss, owner
filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest

from keel.tools.health.explain import (
    Explanation,
    FactorContribution,
    ModelInfo,
    SignalContribution,
    one_line_reason,
)
from keel.tools.priorities import PriorityList, compute_priorities, urgency
from keel.tools.signals.catalog import RENEWAL_TIMING_SIGNALS, SPECS, renewal_timing_signal
from tests.tools.minibook import ProbeBook, make_probe_book


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeBook]:
    pb = make_probe_book(str(tmp_path_factory.mktemp("priorities") / "keel.db"))
    yield pb
    pb.engine.dispose()


@pytest.fixture(scope="module")
def listing(probes: ProbeBook) -> PriorityList:
    return compute_priorities(probes.engine, top=15)


def test_every_account_is_scored_and_coverage_is_reported(listing: PriorityList) -> None:
    assert listing.scored == listing.active_accounts > 0
    assert listing.total_accounts >= listing.active_accounts
    assert f"scored {listing.scored}/{listing.active_accounts}" in listing.coverage
    assert listing.as_of == listing.model.fitted_on  # default as-of: the latest data
    assert listing.text_evidence  # the mini book's risk-language cache counts as scanned


def test_risks_needing_attention_come_first_then_by_expected_loss(listing: PriorityList) -> None:
    scores = [item.priority_score for item in listing.risks]
    assert scores == sorted(scores, reverse=True) and len(scores) == 15
    attention = [item.needs_attention for item in listing.risks]
    assert attention == sorted(attention, reverse=True)
    for part in (True, False):
        loss = [i.arr_at_risk for i in listing.risks if i.needs_attention is part]
        assert loss == sorted(loss, reverse=True)  # the column reads in order
    for item in listing.risks:
        assert item.needs_attention == item.flagged
        assert item.arr_at_risk == pytest.approx(item.probability * item.arr)
        assert item.urgency_label  # urgency shown in its own column
        # The reason names the signals behind the score, not just their factor.
        assert any(spec.label in item.reason for spec in SPECS.values()), item.reason
    assert [item.rank for item in listing.risks] == list(range(1, 16))


def test_urgency_rises_as_the_renewal_nears() -> None:
    days = np.array([400.0, 180.0, 90.0, 0.0, np.nan])
    u = urgency(days)
    assert u.tolist() == [1.0, 1.0, 1.5, 2.0, 1.0]


def test_owner_filter_lists_only_that_csm_but_scores_everyone(probes: ProbeBook) -> None:
    mine = compute_priorities(probes.engine, top=50, owner="csm-probe")
    assert mine.risks and {i.owner_csm for i in mine.risks} == {"csm-probe"}
    assert mine.scored == mine.active_accounts  # everyone is still scored
    # The probes with symptoms outrank the symptom-free probe.
    ranked = [i.external_id for i in mine.risks]
    assert ranked.index("probe-base") > ranked.index("probe-sentiment")


def test_expansion_opportunities_are_low_risk_with_a_reason(listing: PriorityList) -> None:
    assert listing.expansions
    attention = {i.account_id for i in listing.risks if i.needs_attention}
    for item in listing.expansions:
        assert item.probability < 0.5 and item.score > 0 and item.reason
        assert item.account_id not in attention
    assert [i.score for i in listing.expansions] == sorted(
        (i.score for i in listing.expansions), reverse=True
    )


def _explanation(*factors: tuple[str, list[tuple[str, float]]]) -> Explanation:
    """An explanation whose factors hold the given (signal, contribution) pairs."""
    built = []
    for factor, signals in factors:
        total = sum(c for _, c in signals)
        built.append(
            FactorContribution(
                factor=factor,
                label=factor.title(),
                contribution=total,
                direction="raises risk" if total > 0 else "lowers risk",
                text="",
                signals=[
                    SignalContribution(
                        name=name,
                        label=name,
                        value=1.0,
                        display="yes",
                        z=1.0,
                        weight=c,
                        contribution=c,
                    )
                    for name, c in signals
                ],
            )
        )
    info = ModelInfo(
        kind="multi_signal",
        source="fitted",
        horizon_days=180,
        fitted_on=dt.date(2026, 1, 1),
        days_since_fit=0,
        train_start=None,
        train_end=None,
        n_rows=1,
        n_positive=1,
        calibration_ece=None,
        stale=False,
        note="",
    )
    return Explanation(
        account_id=1,
        as_of=dt.date(2026, 1, 1),
        probability=0.5,
        logit=0.0,
        baseline=0.0,
        factors=built,
        model=info,
        summary="",
    )


def test_the_reason_names_customer_drivers_not_the_renewal_date_the_list_shows() -> None:
    timing = renewal_timing_signal(90, 180)
    e = _explanation(
        ("renewal", [(timing, 0.9), ("last_renewal_contracted", 0.2)]),
        ("support", [("open_high_priority", 0.5)]),
        ("billing", [("overdue_invoices", 0.3)]),
    )
    assert timing in RENEWAL_TIMING_SIGNALS
    # Everything counts in the score; the renewal timing is left out of the reason only.
    assert one_line_reason(e).startswith(timing)
    reason = one_line_reason(e, shown=RENEWAL_TIMING_SIGNALS)
    assert reason == "open_high_priority; overdue_invoices"
    # A past contraction is about the customer, so the renewal factor can still give it.
    e2 = _explanation(("renewal", [(timing, 0.2), ("last_renewal_contracted", 0.8)]))
    assert one_line_reason(e2, shown=RENEWAL_TIMING_SIGNALS) == "last_renewal_contracted"
    # When timing is all there is, it is the reason.
    e3 = _explanation(("renewal", [(timing, 0.6)]), ("nps", [("nps", -0.4)]))
    assert one_line_reason(e3, shown=RENEWAL_TIMING_SIGNALS) == timing


def test_a_weight_against_the_documented_direction_is_no_reason() -> None:
    """More features adopted read as risk (a fitted weight against the documented
    direction) counts in the score, but the reason cites what a CSM can act on."""
    e = _explanation(
        ("adoption", [("adoption_breadth", 0.6)]),
        ("billing", [("overdue_invoices", 0.3)]),
    )
    assert one_line_reason(e) == "overdue_invoices"
    only = _explanation(("adoption", [("adoption_breadth", 0.6)]))
    assert one_line_reason(only) == "no single factor stands out; overall risk from the baseline"
