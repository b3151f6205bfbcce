"""Each shape of invoices export, through ``keel import``, scoring and a brief (issue 20).

A billing tool exports payment as a status, a payment date, both, or neither. Four
folders, one per shape, are imported with the ``keel`` command; the book is then scored
(the billing signal, ``payment_problems``) and ``keel prep`` writes the brief a CSM reads.
A paid invoice must never be called late, whatever the shape says it with; an export with
no payment column at all gives no invoice that is late.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from keel.memory.db import make_engine
from keel.settings import Settings
from keel.tools.health.service import score_book
from tests.api.cli_support import keel

AS_OF = dt.date(2025, 6, 30)
# Monthly invoices of 35,000, due on the 28th, January to June.
DUES = [dt.date(2025, m, 28) for m in range(1, 7)]
ACCOUNTS = ("S-paid", "S-due", "D-paid", "D-open", "B-paid", "B-late", "N-none")


def _status_only() -> str:
    rows = ["invoice_number,customer_id,due_date,terms,total,status"]
    for i, due in enumerate(DUES):
        rows.append(f'S-paid-{i},S-paid,{due},Net 30,"$35,000",Paid')
        late = i == len(DUES) - 2  # May's is past due; the rest were paid
        rows.append(f'S-due-{i},S-due,{due},Net 30,"$35,000",{"Past Due" if late else "paid"}')
    return "\r\n".join(rows) + "\r\n"


def _paid_date_only() -> str:
    rows = ["invoice_id,account_id,due_date,amount,payment_date"]
    for i, due in enumerate(DUES):
        rows.append(f'D-paid-{i},D-paid,{due},"35,000.00",{due - dt.timedelta(days=2)}')
        paid = "" if i == len(DUES) - 2 else str(due - dt.timedelta(days=2))
        rows.append(f'D-open-{i},D-open,{due},"35,000.00",{paid}')
    return "\n".join(rows) + "\n"


def _both() -> str:
    rows = ["id,account_id,issue_date,due_date,amount,status,paid_at"]
    for i, due in enumerate(DUES):
        issued = due - dt.timedelta(days=30)
        rows.append(f"B-paid-{i},B-paid,{issued},{due},35000,paid,{due - dt.timedelta(days=1)}")
        paid = due + dt.timedelta(days=20) if i == 2 else due - dt.timedelta(days=1)
        rows.append(f"B-late-{i},B-late,{issued},{due},35000,paid,{paid}")
    return "\n".join(rows) + "\n"


def _neither() -> str:
    rows = ["id,account_id,due_date,amount"]
    rows += [f"N-none-{i},N-none,{due},35000" for i, due in enumerate(DUES)]
    return "\n".join(rows) + "\n"


SHAPES = {
    "status-only": _status_only,
    "paid-date-only": _paid_date_only,
    "both": _both,
    "neither": _neither,
}


@pytest.fixture()
def workspace(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Engine, dict[str, str]]:
    """The four shapes imported with ``keel import``; returns the engine and each output."""
    data = tmp_path / "keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(data))
    base = tmp_path / "base"
    base.mkdir()
    (base / "accounts.csv").write_text(
        "id,name,arr,renewal_date\n"
        + "".join(f'{a},{a} Ltd,"$420,000",2025-12-31\n' for a in ACCOUNTS),
        encoding="utf-8",
    )
    usage = ["account_id,date,active_users,sessions,key_events,outcomes"]
    day = AS_OF - dt.timedelta(days=200)
    while day <= AS_OF:
        usage += [f"{a},{day},{20 + day.day % 3},60,40,{80 + day.day % 5}" for a in ACCOUNTS]
        day += dt.timedelta(days=1)
    (base / "usage.csv").write_text("\n".join(usage) + "\n", encoding="utf-8")
    outputs = {}
    code, outputs["base"] = keel(capsys, monkeypatch, "import", str(base))
    assert code == 0, outputs["base"]
    for shape, body in SHAPES.items():
        folder = tmp_path / shape
        folder.mkdir()
        (folder / "invoices.csv").write_text(body(), encoding="utf-8")
        code, outputs[shape] = keel(capsys, monkeypatch, "import", str(folder))
        assert code == 0, outputs[shape]
    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    return engine, outputs


def test_the_billing_signal_reads_each_shape_by_its_own_account(
    workspace: tuple[Engine, dict[str, str]],
) -> None:
    engine, _ = workspace
    scores = score_book(engine, as_of=AS_OF)
    names = scores.book.accounts.set_index("account_id")["external_id"]
    problems = {
        str(names[a]): int(n)
        for a, n in zip(scores.frame["account_id"], scores.frame["payment_problems"], strict=True)
    }
    assert problems == {
        "S-paid": 0,  # status paid, no payment date: paid, not late
        "S-due": 1,  # status past due
        "D-paid": 0,
        "D-open": 1,  # the one row without a payment date is unpaid
        "B-paid": 0,
        "B-late": 1,  # paid 20 days late
        "N-none": 0,  # the export says nothing of payment: nothing is late
    }


def test_the_import_says_when_a_file_has_no_payment_column(
    workspace: tuple[Engine, dict[str, str]],
) -> None:
    _, outputs = workspace
    note = "no status or payment-date column"
    assert note in " ".join(outputs["neither"].split())
    assert all(note not in outputs[s] for s in ("status-only", "paid-date-only", "both"))


def _brief(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, account: str
) -> str:
    code, out = keel(capsys, monkeypatch, "prep", account, "--as-of", AS_OF.isoformat())
    assert code == 0, out
    return " ".join(out.replace("│", " ").split())


def test_a_brief_never_calls_a_paid_invoice_late(
    workspace: tuple[Engine, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The false fact a CSM was told about a healthy account whose invoices are paid (the
    # amount with or without its currency: "invoice of $35,000 is late").
    late = re.compile(r"invoice of \S*35,000 is late")
    for account in ("S-paid", "N-none"):
        brief = _brief(capsys, monkeypatch, account)
        assert late.search(brief) is None, account
        assert "Payments are slipping" not in brief, account
    # The account with an invoice past due is told so, with its date.
    since = re.compile(late.pattern + r" \(since 2025-05-28\)")
    assert since.search(_brief(capsys, monkeypatch, "S-due")) is not None
