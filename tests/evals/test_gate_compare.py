"""The gate's minimums and the comparison of two runs, on hand-written run JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.errors import KeelError
from keel.evals.compare import compare, load_run
from keel.evals.gate import GateError, check_gate, load_gate
from keel.evals.runner import applicable_scores, summarise


def _scenario(ident: str, **scores: float | None) -> dict[str, Any]:
    return {
        "id": ident,
        "scores": [
            {
                "scorer": k,
                "score": v or 0.0,
                "reason": f"{k} reason",
                "applicable": v is not None,
                "spans": [],
            }
            for k, v in scores.items()
        ],
    }


def _run(*scenarios: dict[str, Any]) -> dict[str, Any]:
    results = list(scenarios)
    return {
        "model": "offline",
        "prompts_digest": "abc",
        "scenarios": results,
        "summary": summarise(results),
    }


def test_the_default_gate_loads_and_a_bad_gate_is_one_message(tmp_path: Path) -> None:
    gate = load_gate()
    assert gate.minimums["grounded"].each == 1.0
    bad = tmp_path / "gate.yaml"
    bad.write_text("version: 1\nminimums:\n  eloquence: {mean: 0.5}\n")
    with pytest.raises(GateError, match=r"unknown scorer.*eloquence"):
        load_gate(bad)
    bad.write_text("version: 1\nminimums:\n  grounded: {mean: 2}\n")
    with pytest.raises(GateError, match=r"minimums\.grounded\.mean"):
        load_gate(bad)


def test_the_gate_checks_means_and_each_scenario_over_applicable_scores() -> None:
    gate = load_gate()
    good = [_scenario("a", grounded=1.0, policy=1.0), _scenario("b", grounded=1.0, policy=None)]
    assert check_gate(gate, applicable_scores(good)) == []
    bad = [_scenario("a", grounded=1.0, policy=1.0), _scenario("b", grounded=0.9, policy=0.0)]
    missed = check_gate(gate, applicable_scores(bad))
    assert "grounded: mean 0.950 is below the minimum 1.000" in missed
    assert "grounded: 1 scenario(s) below 1.00: b (0.90)" in missed
    assert any(line.startswith("policy: mean 0.500") for line in missed)
    failed = {"b": ["analyst: account 2 is not active"]}
    assert check_gate(gate, applicable_scores(good), failed) == [
        "1 scenario(s) failed a step (at most 0): b: analyst: account 2 is not active"
    ]


def test_compare_names_what_got_better_and_worse() -> None:
    before = _run(
        _scenario("a", grounded=1.0, citations=0.8), _scenario("b", grounded=1.0), _scenario("gone")
    )
    after = _run(
        _scenario("a", grounded=0.9, citations=1.0), _scenario("b", grounded=1.0), _scenario("new")
    )
    result = compare(before, after, baseline="runs/base")
    assert [(c.scenario, c.scorer) for c in result.worse] == [("a", "grounded")]
    assert [(c.scenario, c.scorer) for c in result.better] == [("a", "citations")]
    assert result.worse_scenarios == ["a"]
    assert result.only_before == ["gone"] and result.only_after == ["new"]
    assert result.means["grounded"] == (1.0, 0.95)


def test_an_unreadable_earlier_run_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(KeelError, match="cannot read the earlier run"):
        load_run(tmp_path / "nothing")
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(KeelError, match="not a Keel eval run"):
        load_run(tmp_path)


def test_an_unwritable_report_directory_is_one_message(tmp_path: Path) -> None:
    from keel.evals.report import write_run

    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    with pytest.raises(KeelError, match="cannot write the eval report"):
        write_run({"scenarios": []}, blocker / "run")


def test_the_report_lists_failures_first_with_spans_marked() -> None:
    from keel.evals.report import render_html

    text = "Subject: Hi\nUsage grew 37% <b>now</b>."
    bad = _scenario("b-bad", grounded=0.5)
    bad["scores"][0]["spans"] = [
        {"artefact": "draft:x", "text": "37%", "start": 23, "end": 26, "why": "invented"},
        {"artefact": "draft:x", "text": "", "start": -1, "end": -1, "why": "removed by the gate"},
    ]
    bad["artefacts"] = [{"key": "draft:x", "kind": "email", "text": text, "recipients": []}]
    run = _run(_scenario("a-good", grounded=1.0), bad)
    run.update(
        run_id="r1",
        seconds=1.0,
        dataset={"name": "d", "source": "d.yaml", "digest": "x"},
        gate={"passed": False, "missed": ["grounded: mean 0.750"], "path": "g.yaml"},
    )
    page = render_html(run)
    assert page.index("id='b-bad'") < page.index("id='a-good'")
    assert 'Usage grew <mark title="invented">37%</mark> &lt;b&gt;now&lt;/b&gt;.' in page
    assert "removed by the gate" in page and "grounded: mean 0.750" in page
