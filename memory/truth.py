"""Ground truth of a synthetic book: hidden trajectories and real (also future) outcomes.

It lives in a JSON file under ``<data_dir>/truth/``, never in the telemetry database, so no
tool or agent can see it. Only evaluation and backtest code may import this module; tools/
and agents/ must not (a test checks it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from keel.errors import KeelError

TRUTH_FILE = "book.json"
FORMAT_VERSION = 1


class Trajectory(StrEnum):
    """The hidden path an account follows; it drives every signal and text with noise."""

    HEALTHY = "healthy"
    SLOW_DECLINE = "slow_decline"
    SUDDEN_RISK = "sudden_risk"
    QUALITY_REGRESSION = "quality_regression"
    EXPANSION_READY = "expansion_ready"
    # Engagement falls while outcomes rise: the AI product got better, not worse.
    AI_PRODUCT = "ai_product"


@dataclass(frozen=True)
class RenewalTruth:
    """One renewal and its real outcome, also when it lies after ``as_of``."""

    renewal_date: dt.date
    outcome: str  # renewed | expanded | contracted | churned
    decided_on: dt.date
    arr_before: float
    arr_after: float
    after_as_of: bool


@dataclass(frozen=True)
class AccountTruth:
    """What really happens to one account.

    Attributes:
        trajectory: the hidden trajectory (a ``Trajectory`` value).
        sub_cause: e.g. ``champion_left``, ``budget_cut``, ``recovered``; None if none.
        severity: strength of the episode in [0, 1] (0 for healthy accounts).
        episode_start: first day the episode shapes the data (None for healthy).
        target_renewal_date: the renewal the episode affects (every account has one).
        target_outcome: the outcome of that renewal.
        product_change_on: the product release behind a quality regression.
        recovered_on: when a quality regression was fixed for this account, if it was.
        churned_on: the day the account stopped being a customer, also if after as_of.
        renewals: every renewal from the start of history to the first one after as_of.
    """

    external_id: str
    trajectory: str
    sub_cause: str | None
    severity: float
    episode_start: dt.date | None
    target_renewal_date: dt.date | None
    target_outcome: str
    product_change_on: dt.date | None = None
    recovered_on: dt.date | None = None
    churned_on: dt.date | None = None
    renewals: tuple[RenewalTruth, ...] = field(default_factory=tuple)

    @property
    def target_in_history(self) -> bool:
        """Whether the targeted renewal was already decided in the book's history."""
        for r in self.renewals:
            if r.renewal_date == self.target_renewal_date:
                return not r.after_as_of
        return False


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _date(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _decode(row: dict[str, Any]) -> AccountTruth:
    renewals = tuple(
        RenewalTruth(
            renewal_date=dt.date.fromisoformat(r["renewal_date"]),
            outcome=r["outcome"],
            decided_on=dt.date.fromisoformat(r["decided_on"]),
            arr_before=float(r["arr_before"]),
            arr_after=float(r["arr_after"]),
            after_as_of=bool(r["after_as_of"]),
        )
        for r in row.get("renewals", [])
    )
    return AccountTruth(
        external_id=row["external_id"],
        trajectory=row["trajectory"],
        sub_cause=row.get("sub_cause"),
        severity=float(row.get("severity", 0.0)),
        episode_start=_date(row.get("episode_start")),
        target_renewal_date=_date(row.get("target_renewal_date")),
        target_outcome=row["target_outcome"],
        product_change_on=_date(row.get("product_change_on")),
        recovered_on=_date(row.get("recovered_on")),
        churned_on=_date(row.get("churned_on")),
        renewals=renewals,
    )


def write_truth(
    directory: Path,
    truth: Iterable[AccountTruth],
    *,
    as_of: dt.date | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write the truth file atomically (a reader never sees half a file); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "as_of": as_of.isoformat() if as_of else None,
        "meta": _encode(meta or {}),
        "accounts": [_encode(asdict(t)) for t in truth],
    }
    target = directory / TRUTH_FILE
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".book-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _read(directory: Path) -> dict[str, Any]:
    path = directory / TRUTH_FILE
    if not path.exists():
        raise KeelError(f"{path}: no ground truth here; run `keel seed` first")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KeelError(f"{path}: cannot read ground truth ({exc})") from exc
    if not isinstance(payload, dict) or "accounts" not in payload:
        raise KeelError(f"{path}: not a Keel truth file (no 'accounts')")
    return payload


def load_truth(directory: Path) -> dict[str, AccountTruth]:
    """Ground truth by account external id."""
    payload = _read(directory)
    out: dict[str, AccountTruth] = {}
    for i, row in enumerate(payload["accounts"]):
        try:
            t = _decode(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise KeelError(
                f"{directory / TRUTH_FILE}: account entry {i} is malformed ({exc})"
            ) from exc
        out[t.external_id] = t
    return out


def load_truth_as_of(directory: Path) -> dt.date | None:
    """The ``as_of`` date of the book the truth belongs to."""
    return _date(_read(directory).get("as_of"))
