"""The portfolio and account-view services over a real SQLite book."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.api.services.accounts import AccountQuery, account_view
from keel.api.services.portfolio import (
    BANDS,
    DistributionQuery,
    PriorityQuery,
    health_distribution,
    priority_list,
)
from keel.app import App
from keel.errors import KeelError
from keel.settings import Settings
from tests.tools.minibook import build_minibook


@pytest.fixture()
def keel_app(tmp_path: Path) -> Iterator[App]:
    app = App(settings=Settings(data_dir=tmp_path / "keel-data"))
    build_minibook(app.engine, n_healthy=30, n_decline=20, n_ai=2)
    yield app
    app.close()


def test_priority_list_cut_to_an_owner_keeps_the_book_order(keel_app: App) -> None:
    book = priority_list(keel_app, PriorityQuery(top=100))
    assert [r.rank for r in book.risks] == list(range(1, len(book.risks) + 1))
    assert book.scored == len(book.risks) and book.flagged == sum(r.flagged for r in book.risks)
    owner = book.risks[0].owner_csm
    mine = priority_list(keel_app, PriorityQuery(top=100, owner=owner.upper()))
    assert [r.account_id for r in mine.risks] == [
        r.account_id for r in book.risks if r.owner_csm == owner
    ]
    assert mine.flagged == sum(r.flagged for r in mine.risks)


def test_health_distribution_adds_up_to_the_book(keel_app: App) -> None:
    book = priority_list(keel_app, PriorityQuery(top=100))
    spread = health_distribution(keel_app, DistributionQuery())
    assert [b.band for b in spread.bands] == list(BANDS)
    assert sum(b.accounts for b in spread.bands) == spread.scored == book.scored
    assert spread.arr_at_risk == pytest.approx(sum(r.arr_at_risk for r in book.risks))
    assert spread.flagged == book.flagged and spread.as_of == book.as_of


def test_account_view_reads_the_same_rows_as_the_priority_list(keel_app: App) -> None:
    first = priority_list(keel_app, PriorityQuery(top=1)).risks[0]
    view = account_view(keel_app, AccountQuery(account=first.external_id, timeline=True))
    assert view.profile.account_id == first.account_id
    assert view.health.probability == first.probability and view.health.risk_rank == 1
    explanation = view.health.explanation
    assert explanation.baseline + sum(f.contribution for f in explanation.factors) == (
        pytest.approx(explanation.logit)
    )
    assert view.hypotheses is not None and view.hypotheses.account_id == first.account_id
    assert view.timeline and all(e.date <= view.as_of for e in view.timeline if e.kind != "renewal")
    assert [e.date for e in view.timeline] == sorted((e.date for e in view.timeline), reverse=True)
    by_name = account_view(keel_app, AccountQuery(account=first.name.lower(), hypotheses=False))
    assert by_name.profile.account_id == first.account_id and by_name.hypotheses is None


def test_account_view_errors_say_what_is_wrong(keel_app: App) -> None:
    with pytest.raises(KeelError, match="no account matches"):
        account_view(keel_app, AccountQuery(account="nobody"))


def test_an_unknown_owner_is_an_error_listing_the_known_owners(keel_app: App) -> None:
    # Before: an empty table and no word (the help's own example returned nothing).
    with pytest.raises(KeelError) as caught:
        priority_list(keel_app, PriorityQuery(owner="Dana Reyes"))
    assert "Dana Reyes" in str(caught.value)
    assert "csm-a" in str(caught.value) and "csm-b" in str(caught.value)
    with pytest.raises(KeelError, match="as listed: csm-a, csm-b"):
        health_distribution(keel_app, DistributionQuery(owner="Dana Reyes"))
    # A known owner in another case still lists their accounts.
    spread = health_distribution(keel_app, DistributionQuery(owner="CSM-A"))
    assert 0 < spread.scored < priority_list(keel_app, PriorityQuery(top=100)).scored
