"""Default weights for a book with too little labelled history to fit on.

The default model is a logistic regression whose weights are set by hand rather than
learnt: each named signal's ``prior`` in ``keel.tools.signals.catalog`` (relative weight per
standard deviation of the signal, signed so that positive means more risk), standardised
against the book's own current population (which needs no labels), scaled so that one
standard deviation of the combined score moves the log-odds by ``PRIOR_LOGIT_PER_SD``, and
an intercept at the default base rate below. The magnitudes follow the CS literature's
ordering: a champion leaving, falling NPS and risk language weigh most; levels of use
least. They are a starting point: as soon as the book has ``MIN_POSITIVES`` known churns
or contractions in closed label windows the model is fitted, shrinking toward the same
direction (``keel.tools.health.model``) rather than toward zero.
"""

from __future__ import annotations

import math

# Churn plus contraction per year in a typical B2B SaaS book (gross revenue churn events).
DEFAULT_ANNUAL_RATE = 0.15
# The default model scales the prior direction so that one standard deviation of the prior
# score moves the log-odds by this much (odds x2.7): the relative order comes from the
# weights, the overall confidence stays modest until the book's own history says more.
PRIOR_LOGIT_PER_SD = 1.0
# Fit only with at least this many positive and negative labelled rows.
MIN_POSITIVES = 20
MIN_NEGATIVES = 50


def default_base_rate(horizon_days: int) -> float:
    """Probability of a churn or contraction within ``horizon_days`` at the default rate."""
    return 1.0 - (1.0 - DEFAULT_ANNUAL_RATE) ** (horizon_days / 365.0)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
