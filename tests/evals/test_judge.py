"""The optional judge: its reading of a reply, its cache (a run replays offline), its
agreement with the team's labels, and the maths of that agreement.

The judge's model is the local OpenAI-compatible test server (tests/openai_server.py):
each test scripts what the "model" answers and reads back what it was asked.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import cohen_kappa_score

from keel.errors import KeelError
from keel.evals.agreement import accuracy, agreement, cohen_kappa, within_one
from keel.evals.judge import (
    CRITERIA,
    JUDGE_TEMPERATURE,
    SKIPPED_NOTE,
    Judge,
    JudgeConfig,
    judge_config,
    judge_run,
    load_labels,
    parse_verdict,
    prompt_digest,
)
from keel.evals.report import render_html
from keel.settings import Settings
from tests.openai_server import OpenAIServer, error, json_reply, reply


def ratings(clarity: int, tone: int, empathy: int, actionability: int) -> dict[str, Any]:
    scores = dict(zip(CRITERIA, (clarity, tone, empathy, actionability), strict=True))
    return {k: {"score": v, "reason": f"{k} is {v}"} for k, v in scores.items()}


def config_for(server: OpenAIServer, model: str = "judge-model") -> JudgeConfig:
    return JudgeConfig(model=model, base_url=server.base_url, api_key="test")


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- agreement maths -------------------------------------------------------------------------


def test_kappa_by_hand() -> None:
    people, judge = [1, 1, 2, 2], [1, 2, 2, 2]
    # observed agreement 3/4; chance (2*1 + 2*3)/16 = 1/2; kappa (3/4 - 1/2)/(1 - 1/2)
    assert accuracy(people, judge) == 0.75
    assert cohen_kappa(people, judge) == pytest.approx(0.5)
    assert within_one(people, judge) == 1.0
    assert cohen_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == 1.0
    # Always the opposite end: worse than chance.
    assert cohen_kappa([1, 5, 1, 5], [5, 1, 5, 1]) == pytest.approx(-1.0)


def test_kappa_matches_scikit_learn_unweighted_and_quadratic() -> None:
    rng = random.Random(7)
    for _ in range(25):
        people = [rng.randint(1, 5) for _ in range(20)]
        judge = [min(5, max(1, p + rng.choice([-2, -1, 0, 0, 0, 1]))) for p in people]
        assert cohen_kappa(people, judge) == pytest.approx(cohen_kappa_score(people, judge))
        assert cohen_kappa(people, judge, weights="quadratic") == pytest.approx(
            cohen_kappa_score(people, judge, weights="quadratic")
        )


def test_agreement_edge_cases() -> None:
    # Both raters always say 4: chance agreement is total; 0/0 reads as full agreement.
    assert cohen_kappa([4, 4, 4], [4, 4, 4]) == 1.0
    # Observed 1/2, chance 1/4 (only a 3 against a 3 matches): (1/2 - 1/4) / (3/4).
    assert agreement([3, 4], [3, 5]) == {
        "n": 2,
        "accuracy": 0.5,
        "within_one": 1.0,
        "kappa": pytest.approx(1 / 3, abs=1e-4),
        "weighted_kappa": pytest.approx(
            cohen_kappa_score([3, 4], [3, 5], weights="quadratic"), abs=1e-4
        ),
    }
    with pytest.raises(ValueError, match="2 human ratings but 1 judge"):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="no ratings"):
        cohen_kappa([], [])
    with pytest.raises(ValueError, match=r"outside 1-5: \[0, 6\]"):
        within_one([0, 3], [6, 3])


# --- reading a reply -------------------------------------------------------------------------


def test_parse_verdict_reads_the_shapes_judges_write() -> None:
    nested = parse_verdict(json.dumps(ratings(4, 5, 3, 2)))
    assert nested.error is None
    assert [nested.score(c) for c in CRITERIA] == [4, 5, 3, 2]
    assert nested.ratings["tone"].reason == "tone is 5"
    flat = parse_verdict(
        'Here you go:\n```json\n{"ratings": {"clarity": "4/5", "clarity_reason": "short", '
        '"tone": 3, "empathy": 2.0, "actionability": "5"}}\n```'
    )
    assert flat.error is None, flat.error
    assert [flat.score(c) for c in CRITERIA] == [4, 3, 2, 5]
    assert flat.ratings["clarity"].reason == "short"


def test_parse_verdict_names_what_it_cannot_use() -> None:
    partial = parse_verdict('{"clarity": 7, "tone": "great", "empathy": 3, "actionability": true}')
    assert partial.score("empathy") == 3
    assert partial.score("clarity") is None
    assert partial.error is not None
    for part in ("clarity: 7", "tone: 'great'", "actionability: True"):
        assert part in partial.error
    assert "empathy" not in partial.error
    missing = parse_verdict('{"clarity": 4}')
    assert missing.error is not None and "tone: missing" in missing.error
    prose = parse_verdict("The draft is quite good overall.")
    assert prose.ratings == {}
    assert prose.error is not None and "no JSON object" in prose.error


# --- asking through openevals, and the cache -----------------------------------------------


def test_the_judge_asks_the_pinned_model_once_and_replays_from_the_cache(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    openai_server.script.push(json_reply(ratings(4, 4, 2, 5)))
    judge = Judge(config_for(openai_server), cache)
    verdict = judge.rate("Account: Acme. Play: save_plan.", "Subject: Hi\n\nHi Ana, ...")
    assert verdict.error is None and not verdict.cached
    assert [verdict.score(c) for c in CRITERIA] == [4, 4, 2, 5]
    (request,) = openai_server.script.requests
    assert request["model"] == "judge-model"
    assert request["temperature"] == JUDGE_TEMPERATURE
    # The verdict's schema is the response format: an endpoint that decodes under a
    # schema (keel local-model serve) can only answer with a verdict's shape.
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == list(CRITERIA)
    prompt = request["messages"][-1]["content"]
    assert "Hi Ana, ..." in prompt and "Account: Acme" in prompt
    assert "actionability" in prompt
    (entry,) = cache.glob("*.json")
    stored = json.loads(entry.read_text())
    assert stored["model"] == "judge-model" and stored["prompt_digest"] == prompt_digest()

    # The same draft again: read back, the model is not asked.
    again = judge.rate("Account: Acme. Play: save_plan.", "Subject: Hi\n\nHi Ana, ...")
    assert again.cached and [again.score(c) for c in CRITERIA] == [4, 4, 2, 5]
    assert len(openai_server.script.requests) == 1
    assert (judge.calls, judge.hits) == (1, 1)

    # Offline: no endpoint at all, the same cache, the same verdict.
    offline = Judge(JudgeConfig(model="judge-model", base_url=dead_url()), cache)
    replayed = offline.rate("Account: Acme. Play: save_plan.", "Subject: Hi\n\nHi Ana, ...")
    assert replayed.cached and replayed.error is None
    assert [replayed.score(c) for c in CRITERIA] == [4, 4, 2, 5]


def test_the_cache_key_is_prompt_output_and_model(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    openai_server.script.push(*(json_reply(ratings(3, 3, 3, 3)) for _ in range(3)))
    Judge(config_for(openai_server), cache).rate("situation", "draft one")
    Judge(config_for(openai_server), cache).rate("situation", "draft two")  # another output
    Judge(config_for(openai_server, "other-model"), cache).rate("situation", "draft one")
    assert len(openai_server.script.requests) == 3
    assert len(list(cache.glob("*.json"))) == 3
    same = Judge(config_for(openai_server), cache)
    assert same.key("situation", "draft one") != same.key("situation", "draft two")
    assert same.key("s", "d") == Judge(config_for(openai_server), tmp_path / "x").key("s", "d")


def test_a_failed_call_is_not_cached_an_unreadable_reply_is(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    judge = Judge(config_for(openai_server), cache)
    openai_server.script.push(error(500), error(500), error(500))  # the client retries twice
    down = judge.rate("situation", "draft")
    assert down.error is not None and down.error.startswith("the judge did not answer")
    assert not list(cache.glob("*.json"))

    openai_server.script.push(reply("I would rate this draft highly."))
    unreadable = judge.rate("situation", "draft")
    assert unreadable.error is not None and "no JSON object" in unreadable.error
    assert len(list(cache.glob("*.json"))) == 1
    asked = len(openai_server.script.requests)
    replay = judge.rate("situation", "draft")
    assert replay.cached and replay.error == unreadable.error
    assert len(openai_server.script.requests) == asked


# --- a run, the labels, the agreement ---------------------------------------------------------

LABELS = """
version: 1
drafts:
  - id: a
    situation: "Account: A."
    draft: "Draft A"
    labels: {clarity: 5, tone: 5, empathy: 4, actionability: 5}
  - id: b
    situation: "Account: B."
    draft: "Draft B"
    labels: {clarity: 2, tone: 1, empathy: 1, actionability: 2}
  - id: c
    situation: "Account: C."
    draft: "Draft C"
    labels: {clarity: 3, tone: 4, empathy: 2, actionability: 1}
"""


def run_data() -> dict[str, Any]:
    draft = {
        "key": "draft:save_plan",
        "audience": "customer",
        "play": "save_plan",
        "recipient_name": "Ana Ruiz",
        "text": "Subject: Your exports\n\nHi Ana, ...",
    }
    internal = {**draft, "key": "draft:internal_escalation", "audience": "internal"}
    briefing = {"key": "briefing", "audience": "internal", "text": "Briefing"}
    return {
        "scenarios": [
            {
                "id": "s1",
                "description": "Exports slow",
                "account_name": "Acme Ltd",
                "artefacts": [briefing, draft, internal],
            }
        ]
    }


def test_judge_run_rates_customer_drafts_and_measures_agreement(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.yaml"
    labels.write_text(LABELS)
    openai_server.script.push(
        json_reply(ratings(4, 5, 3, 4)),  # the run's one customer draft
        json_reply(ratings(5, 5, 4, 5)),  # a: all as labelled
        json_reply(ratings(3, 1, 2, 2)),  # b: clarity and empathy one off
        json_reply({"clarity": 3, "tone": 4, "empathy": 2}),  # c: actionability missing
    )
    judged = judge_run(
        run_data(), config_for(openai_server), cache_dir=tmp_path / "c", labels_path=labels
    )
    assert judged["model"] == "judge-model" and judged["temperature"] == 0.0
    assert judged["prompt_digest"] == prompt_digest()
    (draft,) = judged["drafts"]  # the internal draft and the briefing are not judged
    assert draft["artefact"] == "draft:save_plan" and draft["scenario"] == "s1"
    assert judged["means"] == {"clarity": 4.0, "tone": 5.0, "empathy": 3.0, "actionability": 4.0}
    asked = openai_server.script.requests[0]["messages"][-1]["content"]
    assert "Acme Ltd" in asked and "Ana Ruiz" in asked and "save_plan" in asked

    criteria = judged["agreement"]["criteria"]
    assert criteria["tone"]["accuracy"] == 1.0 and criteria["tone"]["kappa"] == 1.0
    assert criteria["clarity"]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert criteria["clarity"]["within_one"] == 1.0
    assert criteria["clarity"]["kappa"] == pytest.approx(
        cohen_kappa_score([5, 2, 3], [5, 3, 3]), abs=1e-4
    )
    assert criteria["actionability"]["n"] == 2 and criteria["actionability"]["unrated"] == 1
    assert "actionability: missing" in judged["agreement"]["errors"]["c"]
    assert (judged["calls"], judged["cached"]) == (4, 0)

    # Replayed with the endpoint gone: every verdict from the cache, the same numbers.
    again = judge_run(
        run_data(),
        JudgeConfig(model="judge-model", base_url=dead_url()),
        cache_dir=tmp_path / "c",
        labels_path=labels,
    )
    assert (again["calls"], again["cached"]) == (0, 4)
    assert again["agreement"]["criteria"] == criteria and again["means"] == judged["means"]

    html = render_html(
        {"dataset": {"name": "d", "source": "d.yaml", "digest": "x"}, "scenarios": []}
        | {"judge": judged}
    )
    assert "judge-model" in html and "tone 5 (tone is 5)" in html


def test_no_model_no_judge() -> None:
    settings = Settings(openai_api_key=None, llm_base_url=None)
    assert judge_config(settings) is None
    assert judge_run(run_data(), None) == {"skipped": SKIPPED_NOTE}
    assert "no model is configured" in SKIPPED_NOTE
    config = judge_config(settings, base_url="http://127.0.0.1:9/v1", model="m")
    assert config is not None and (config.model, config.base_url) == ("m", "http://127.0.0.1:9/v1")
    configured = judge_config(Settings(llm_base_url="http://x/v1", llm_model="local"))
    assert configured is not None and configured.model == "local"


def test_the_teams_labels_load_and_span_the_scale() -> None:
    labelled = load_labels()
    assert 18 <= len(labelled) <= 30
    assert len({item.id for item in labelled}) == len(labelled)
    for criterion in CRITERIA:
        used = {item.labels[criterion] for item in labelled}
        # Agreement means little on a criterion the team rated almost all alike.
        assert {1, 5} <= used, (criterion, used)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\n", "needs a non-empty 'drafts' list"),
        ("drafts: [{id: a, situation: s, draft: d}]", "drafts[0] (a): field 'labels'"),
        (
            "drafts: [{id: a, situation: s, draft: d, labels: {clarity: 5, tone: 5, "
            "empathy: 6, actionability: 1}}]",
            "drafts[0] (a): labels.empathy must be 1-5, got 6",
        ),
        ("drafts: [{id: a, situation: s, draft: ''}]", "drafts[0]: field 'draft'"),
        ("drafts: [: bad", "not valid YAML"),
    ],
)
def test_bad_labels_name_the_row_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text(text)
    with pytest.raises(KeelError, match=r"labels\.yaml") as caught:
        load_labels(path)
    assert message in str(caught.value)


# --- keel eval --judge -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.service
def test_keel_eval_judge_records_the_judge_beside_the_scores(
    openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from keel.api.cli.main import _register, app

    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "user-keel-data"))
    for name in ("OPENAI_API_KEY", "KEEL_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # A judge that rates everything 4: agreement is the share of the team's 4s, kappa 0.
    openai_server.script.default = json_reply(ratings(4, 4, 4, 4))
    _register()
    mini = Path(__file__).with_name("data") / "mini.yaml"
    gate = Path(__file__).with_name("data") / "gate.yaml"
    out = tmp_path / "run"
    args = ["eval", "--dataset", str(mini), "--gate", str(gate), "--out", str(out), "--judge"]
    judge_args = ["--judge-base-url", openai_server.base_url, "--judge-model", "judge-model"]
    result = CliRunner().invoke(app, [*args, *judge_args, "--judge-cache", str(tmp_path / "jc")])
    assert result.exit_code == 0, result.output
    assert "Judge judge-model" in result.output and "kappa" in result.output

    data = json.loads((out / "run.json").read_text())
    judged = data["judge"]
    assert judged["model"] == "judge-model" and judged["temperature"] == 0.0
    assert judged["drafts"], "the offline model's customer drafts were judged"
    assert all(d["ratings"]["tone"]["score"] == 4 for d in judged["drafts"])
    labelled = load_labels()
    fours = sum(item.labels["empathy"] == 4 for item in labelled) / len(labelled)
    empathy = judged["agreement"]["criteria"]["empathy"]
    assert empathy["accuracy"] == pytest.approx(fours, abs=1e-4)
    assert empathy["kappa"] == 0.0 and empathy["n"] == len(labelled)
    assert "Judge" in (out / "report.html").read_text()
    # The judge is informative: the deterministic gate decided alone.
    assert data["gate"]["passed"]

    # No model configured: the run says the judge was skipped, and why.
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run2")])
    assert result.exit_code == 0, result.output
    assert "judge skipped: no model is configured" in result.output
