"""Seats and expansion on an export with active users and purchased seats (issue 20 item 2).

The book is written here as CSV files a CS team could export: usage with ``active_users``
and ``seats`` but no seats-used column, and call notes, some with expansion language. It
goes through ``keel import`` and ``keel index`` into a real SQLite database and vector
store, then ``keel priorities`` and ``keel health --hypotheses`` read the scored book.
Seat utilisation comes from active users against purchased seats; expansion language is
counted per account over 90 days; both views apply one threshold set
(``keel.tools.signals.expansion``), so they name the same expansion opportunities.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from keel.tools.signals.expansion import (
    EXPANSION_LANGUAGE_SIGNAL,
    SEATS_NEAR_CEILING,
    SIGNAL_OF,
    expansion_strength,
    near_ceiling,
    says_expansion,
    seats_in_use,
)
from tests.api.cli_support import keel

TODAY = dt.date(2024, 6, 30)
# account -> (seats purchased, active users on a typical day)
SEATS: dict[str, tuple[int, int]] = {
    "A-studio": (60, 57),  # near the ceiling, and two new studios on the way (note N-1)
    "B-seats": (40, 38),  # near the ceiling, nothing said
    "C-talk": (100, 86),  # 85%: under the ceiling (the 0.8 of one view once named it) ...
    "D-near": (80, 70),  # ... as it would this one; C-talk's note speaks of a rollout
    "E-quiet": (50, 22),
    "F-quiet": (120, 60),
}
NOTES = (
    ("N-1", "A-studio", "2024-06-10", "QBR with the design leads. Two new studios are joining "
     "in August, with 30 more designers who will need access."),
    ("N-2", "C-talk", "2024-06-12", "Call with their VP. The board approved budget to roll it "
     "out to field engineering next quarter."),
    ("N-3", "D-near", "2024-06-05", "Walked through the new reports; they love the dashboards."),
    ("N-4", "E-quiet", "2024-06-07", "They asked how to reset two-factor authentication."),
    ("N-5", "B-seats", "2024-06-08", "QBR scheduled for the 14th with the support leads."),
)  # fmt: skip


def _export(folder: Path) -> Path:
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        "id,name,arr,renewal_date\n"
        + "".join(f"{a},{a[2:].title()} Co,{s * 1000},2025-01-31\n" for a, (s, _) in SEATS.items()),
        encoding="utf-8",
    )
    rows = ["account_id,date,active_users,seats"]
    day = TODAY - dt.timedelta(days=200)
    while day <= TODAY:
        rows += [f"{a},{day},{users - day.day % 3},{seats}" for a, (seats, users) in SEATS.items()]
        day += dt.timedelta(days=1)
    (folder / "usage.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with (folder / "notes.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["note_id", "account_id", "date", "text"])
        writer.writerows(NOTES)
    return folder


# --- the rules, without a database ------------------------------------------------------


def test_active_users_stand_for_seats_used_only_where_the_export_has_none() -> None:
    usage = pd.DataFrame(
        {
            "account_id": [1, 1, 2, 3, 3],
            "day": [10, 11, 10, 5, 20],
            "active_users": [57, 55, 30, 9, 9],
            "seats_used": [np.nan, np.nan, 35, np.nan, np.nan],
            "seats_purchased": [60, 60, 40, np.nan, np.nan],
        }
    )
    accounts = pd.DataFrame(
        {"account_id": [1, 2, 3], "seats_purchased": [99, 99, 10], "contract_start": [0, 0, 15]}
    )
    seats = seats_in_use(usage, accounts)
    # Active users where no seats-used figure; the export's own figure wins where it has one.
    assert seats["used"].tolist()[:3] == [57, 55, 35]
    assert seats["derived"].tolist() == [True, True, False, False, True]
    # Seats purchased from the row, else the account's, for rows in its current term only.
    bought = seats["bought"].to_numpy(dtype=np.float64)
    assert bought[:3].tolist() == [60, 60, 40]
    assert np.isnan(bought[3]) and bought[4] == 10
    # No seats known on that day: no utilisation.
    assert np.isnan(seats["used"].to_numpy(dtype=np.float64)[3])


def test_one_threshold_set_decides_every_expansion_pick() -> None:
    frame = pd.DataFrame(
        {
            SIGNAL_OF["seats"]: [0.95, 0.85, 0.85, np.nan],
            SIGNAL_OF["teams"]: [0.0, 0.0, 0.0, np.nan],
            SIGNAL_OF["adoption"]: [0, 0, 0, 0],
            SIGNAL_OF["ceiling"]: [np.nan] * 4,
            EXPANSION_LANGUAGE_SIGNAL: [1, 0, 2, 0],
        }
    )
    strength, reasons = expansion_strength(frame)
    # 85% of seats is under the ceiling: no pick on its own (the 0.8 a view once used).
    assert strength[1] == 0 and reasons[1] == ""
    assert not near_ceiling("seats", 0.85) and near_ceiling("seats", SEATS_NEAR_CEILING)
    assert strength[2] > 0 and reasons[2] == "expansion language: 2 records in 90 days"
    assert reasons[0] == (
        "seats near the ceiling: 95% of purchased seats in use; "
        "expansion language: 1 record in 90 days"
    )
    assert strength[3] == 0
    for i in range(len(frame)):
        named = any(near_ceiling(k, float(frame[c].to_numpy()[i])) for k, c in SIGNAL_OF.items())
        assert (strength[i] > 0) == named


def test_expansion_language_counts_only_text_that_names_growth() -> None:
    assert says_expansion("Two new studios are joining, with 30 more designers.")
    assert says_expansion("The board approved budget to roll it out to field engineering.")
    assert says_expansion("Could you send me the pricing for another 40 seats?")
    assert not says_expansion("Walked through the reports; the team loves the dashboards.")
    # Seats alone are no growth: status lines sit near the seat phrases in meaning.
    assert not says_expansion("They're at 184 of 227 seats across 3 teams.")
    assert not says_expansion("We are currently paying for 21 seats.")
    assert not says_expansion("Some of the licences aren't being used.")
    assert not says_expansion("")


# --- the whole path: keel import, keel index, keel priorities, keel health --------------


@pytest.mark.slow
def test_an_imported_book_names_the_same_expansion_with_both_citations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "keel-data"))
    code, out = keel(capsys, monkeypatch, "import", str(_export(tmp_path / "export")))
    assert code == 0, out
    code, out = keel(capsys, monkeypatch, "index")
    assert code == 0, out
    when = ("--as-of", TODAY.isoformat())
    code, out = keel(capsys, monkeypatch, "priorities", *when, "--json")
    assert code == 0, out
    priorities = json.loads(out)
    views: dict[str, list[dict[str, Any]]] = {}
    for account in SEATS:
        code, out = keel(capsys, monkeypatch, "health", account, *when, "--hypotheses", "--json")
        assert code == 0, out
        views[account] = json.loads(out)["hypotheses"]["expansion"]

    # Seats near the ceiling, from active users against purchased seats (the export has no
    # seats used), in whole seats, citing the usage and the note that says the same.
    (seats,) = views["A-studio"]
    assert seats["factor"] == "seats"
    assert re.fullmatch(
        r"Seats near the ceiling: 5\d active users on 60 purchased seats \(9\d%\), "
        r"and expansion language in 1 note",
        seats["claim"],
    ), seats["claim"]
    (metric,) = seats["metrics"]
    assert metric["metric"] == "seats_used" and metric["label"] == "seats in use (active users)"
    assert float(metric["before"]).is_integer() and float(metric["after"]).is_integer()
    assert [(r["kind"], r["external_id"]) for r in seats["records"]] == [("note", "N-1")]

    # Expansion language alone is an opportunity too, citing its note; routine notes are not.
    (said,) = views["C-talk"]
    assert said["factor"] == "language"
    assert said["claim"] == "Expansion language in notes and tickets: 1 note in 90 days"
    assert [(r["kind"], r["external_id"]) for r in said["records"]] == [("note", "N-2")]
    assert views["D-near"] == views["E-quiet"] == views["F-quiet"] == []

    # The two views agree: the priority list's picks are the accounts with expansion
    # hypotheses (none of this book has an open risk); 85% of seats (D-near) is named by
    # neither. Seats and words together come first.
    picks = [e["external_id"] for e in priorities["expansions"]]
    assert set(picks) == {a for a, found in views.items() if found}
    assert set(picks) == {"A-studio", "B-seats", "C-talk"}
    assert picks[0] == "A-studio"
    reason = priorities["expansions"][0]["reason"]
    assert reason.startswith("seats near the ceiling: 9") and "expansion language" in reason
