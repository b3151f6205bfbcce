"""Win-backs as a CRM and a billing tool record them, not only as subscription periods.

``tests/tools/test_win_back.py`` covers a subscriptions export. Here the churn is a row of
a renewals export (a CRM's closed-lost opportunity) and the return is what the other
exports show: a new contract start in the accounts file, invoices issued again, or a
later renewal won. An account that churned twice and did not come back the second time,
and one still using the product without being billed, stay churned. Imported and scored
with the ``keel`` command (``keel import``, ``keel health``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from keel.memory.db import make_engine
from keel.settings import Settings
from keel.tools.health.service import active_panel, score_book
from keel.tools.signals import load_book
from tests.api.cli_support import keel

TODAY = dt.date(2024, 6, 30)
ACCOUNTS = ("R-contract", "I-invoiced", "K-renewed", "T-twice", "G-gone", "U-unbilled")
RENEWALS = (
    # Churned at the end of 2023; a new contract from 1 March 2024 (the accounts file).
    "r1,R-contract,2024-01-01,closed lost,2023-12-01",
    "r2,R-contract,2025-03-01,open,",
    # Churned at the end of 2023; invoiced again from March 2024.
    "i1,I-invoiced,2024-01-01,lost,2023-12-01",
    # Churned at the start of 2023; renewed a year later (it had come back in between).
    "k1,K-renewed,2023-01-01,churned,2022-12-01",
    "k2,K-renewed,2024-01-01,won,2023-12-10",
    # Churned, came back (invoiced through 2023), churned again, gone.
    "t1,T-twice,2023-01-01,churned,2022-12-01",
    "t2,T-twice,2024-01-01,churned,2023-12-01",
    "g1,G-gone,2024-01-01,churned,2023-12-01",
    # Churned; its users kept logging in, but nothing was billed again.
    "u1,U-unbilled,2024-01-01,churned,2023-12-01",
)


def _export(folder: Path) -> Path:
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        "id,contract_start,renewal_date\nR-contract,2024-03-01,2025-03-01\n"
        + "".join(f"{a},,\n" for a in ACCOUNTS[1:]),
        encoding="utf-8",
    )
    (folder / "renewals.csv").write_text(
        "id,account_id,renewal_date,outcome,decided_on\n" + "\n".join(RENEWALS) + "\n",
        encoding="utf-8",
    )
    invoices = ["id,account_id,issued_on,due_on,amount,status"]
    invoices += [f"i-{m},I-invoiced,2024-0{m}-01,2024-0{m}-28,100,paid" for m in range(3, 7)]
    invoices += [f"t-{m},T-twice,2023-{m:02d}-01,2023-{m:02d}-28,100,paid" for m in range(3, 13)]
    (folder / "invoices.csv").write_text("\n".join(invoices) + "\n", encoding="utf-8")
    usage = ["account_id,day,active_users,sessions"]
    day = dt.date(2022, 6, 1)
    while day <= TODAY:
        usage += [f"{a},{day},{5 + day.day % 3},12" for a in ACCOUNTS]
        day += dt.timedelta(days=1)
    (folder / "usage.csv").write_text("\n".join(usage) + "\n", encoding="utf-8")
    return folder


@pytest.fixture()
def book(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Engine:
    data = tmp_path / "keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(data))
    code, out = keel(capsys, monkeypatch, "import", str(_export(tmp_path / "export")))
    assert code == 0, out
    return make_engine(Settings(data_dir=data).resolved_database_url)


def _scored(engine: Engine, as_of: dt.date) -> list[str]:
    scores = score_book(engine, as_of=as_of)
    names = scores.book.accounts.set_index("account_id")["external_id"]
    return sorted(str(names[a]) for a in scores.frame["account_id"])


def test_the_current_state_decides_who_is_scored(book: Engine) -> None:
    assert _scored(book, TODAY) == ["I-invoiced", "K-renewed", "R-contract"]
    # Point in time: before the March return the two 2023 churns are still churned; in
    # mid-2023 the first churn of T-twice had ended (invoiced again from March 2023).
    assert _scored(book, dt.date(2024, 2, 1)) == ["K-renewed"]
    assert _scored(book, dt.date(2023, 6, 30)) == [
        "G-gone",
        "I-invoiced",
        "R-contract",
        "T-twice",
        "U-unbilled",
    ]


def test_keel_health_scores_a_won_back_account(
    book: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = keel(capsys, monkeypatch, "health", "R-contract", "--as-of", TODAY.isoformat())
    assert code == 0, out
    assert "chance of churn or contraction" in out and "not active" not in out
    code, out = keel(capsys, monkeypatch, "health", "G-gone", "--as-of", TODAY.isoformat())
    assert code != 0 and "not active" in out


def test_the_earlier_churn_stays_a_label(book: Engine) -> None:
    history = load_book(book)
    ids = history.accounts.set_index("external_id")["account_id"]
    panel = active_panel(history, [dt.date(2023, 9, 1)], horizon_days=180)
    labelled = dict(zip(panel["account_id"], panel["y"], strict=True))
    # Each churn became known on 2023-12-01, inside the 180 days after the cut.
    assert {a: int(labelled[ids[a]]) for a in ("R-contract", "I-invoiced", "T-twice")} == {
        "R-contract": 1,
        "I-invoiced": 1,
        "T-twice": 1,
    }


def test_a_won_back_account_carries_no_open_risk_from_its_old_churn(book: Engine) -> None:
    """Its churn ended in the return; the open-risk rule that keeps accounts out of the
    expansion picks and away from growth plays must not hold the old churn against it."""
    from keel.tools.health.ranking import rank_book

    ranked = rank_book(score_book(book, as_of=TODAY))
    names = score_book(book, as_of=TODAY).book.accounts.set_index("account_id")["external_id"]
    reasons = {
        str(names[a]): str(r)
        for a, r in zip(ranked["account_id"], ranked["open_risk"], strict=True)
    }
    assert set(reasons) == {"I-invoiced", "K-renewed", "R-contract"}
    assert not any("churned at a recent renewal" in r for r in reasons.values()), reasons
