"""Calibration: expected calibration error and the reliability table behind it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

DEFAULT_BINS = 10


class ReliabilityBin(BaseModel):
    """Observations whose predicted probability fell in [lower, upper)."""

    lower: float
    upper: float
    n: int
    mean_predicted: float
    observed_rate: float


def reliability_table(
    y: npt.ArrayLike, p: npt.ArrayLike, bins: int = DEFAULT_BINS
) -> list[ReliabilityBin]:
    """Equal-width probability bins with their mean prediction and observed rate."""
    yy = np.asarray(y, dtype=float)
    pp = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(pp, edges[1:-1], right=False), 0, bins - 1)
    table: list[ReliabilityBin] = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        if n == 0:
            continue
        table.append(
            ReliabilityBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                n=n,
                mean_predicted=float(pp[mask].mean()),
                observed_rate=float(yy[mask].mean()),
            )
        )
    return table


def expected_calibration_error(
    y: npt.ArrayLike, p: npt.ArrayLike, bins: int = DEFAULT_BINS
) -> float:
    """Mean |observed rate - mean prediction| over bins, weighted by bin size."""
    table = reliability_table(y, p, bins)
    total = sum(b.n for b in table)
    if total == 0:
        return float("nan")
    return float(sum(b.n * abs(b.observed_rate - b.mean_predicted) for b in table) / total)
