"""The offline chat's health answer leads with what raises the risk (issue 20, item 5).

It compared a factor's direction with "raises", which no factor has ("raises risk"), so
every answer listed the factors lowering the risk first: for the largest account, its size
("outcomes delivered 66,234, typical 4,269") read as the reason it was safe.
"""

from __future__ import annotations

from keel.agents.offline.chat import _health


def test_the_health_answer_names_the_risks_before_what_lowers_them() -> None:
    results = {
        "account_profile": {"account": {"name": "Kilburn Capital"}},
        "account_health": {
            "id": "health:acc-00072@2026-10-31",
            "score": 83.0,
            "risk": 0.17,
            "percentile": 40.0,
            "band": "watch",
            "horizon_days": 180,
            "factors": [
                {
                    "direction": "lowers risk",
                    "text": "Outcomes (outcomes delivered (28 days) 66,234, typical 4,269 "
                    "(reflects account size)) lowers risk (-0.15 logit)",
                },
                {
                    "direction": "raises risk",
                    "text": "Billing (late or failed payments (12 months) 3, typical 1) raises "
                    "risk (+0.91 logit)",
                },
            ],
        },
    }
    lines = _health("how healthy is Kilburn Capital?", results)
    assert any(line.startswith("- Billing") for line in lines)
    assert not any("outcomes delivered" in line for line in lines)
