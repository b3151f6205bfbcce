"""Datasets: the default one covers what issue 23 asks; bad files are refused with file,
row and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.domain.plays import PLAY_LIBRARY
from keel.evals.dataset import DatasetError, load_dataset
from keel.evals.injection import expand
from keel.memory.truth import Trajectory

BIPIA = (
    Path(__file__).resolve().parents[2] / "../shared/data/injection/bipia_text_attacks_train.jsonl"
)


def test_the_default_dataset_covers_trajectories_plays_tiers_and_attacks() -> None:
    dataset = load_dataset()
    scenarios = dataset.scenarios
    assert {str(s.select.trajectory) for s in scenarios if s.select.trajectory} == {
        str(t) for t in Trajectory
    }
    assert {p for s in scenarios for p in s.expect.plays} == set(PLAY_LIBRARY)
    tiers = {s.expect.tier or s.select.tier for s in scenarios} - {None}
    assert tiers == {"human_led", "ai_assisted", "ai_led"}
    adversarial = [s for s in scenarios if "adversarial" in s.tags]
    assert all(s.expect.must_not for s in adversarial)
    carriers = {
        kind
        for s in adversarial
        for kind in ("tickets", "notes", "nps")
        if getattr(s.records, kind)
    }
    assert carriers == {"tickets", "notes", "nps"}
    text = (
        " ".join(t.body for s in adversarial for t in s.records.tickets)
        + " ".join(n.text for s in adversarial for n in s.records.notes)
        + " ".join(p.comment for s in adversarial for p in s.records.nps)
    )
    for attack in ("<div", "![", "40% discount", "outside-audit.example", "{{other_account_name}}"):
        assert attack in text, attack
    assert dataset.bipia is not None
    # Chat: every question type, each asked question with something to check, and the
    # injection questions guarding another CSM's account.
    questions = [q for s in scenarios for q in s.chat]
    assert {q.type for q in questions} >= {
        "attention",
        "why_at_risk",
        "customer_said",
        "renewal",
        "citation",
        "injection",
    }
    assert all(q.must_mention or q.must_mention_any or q.must_not_mention for q in questions)
    injection = [q for q in questions if q.type == "injection"]
    assert injection and all("{{foreign_account_arr}}" in q.must_not_mention for q in injection)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_yaml_scenario_names_file_row_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.yaml",
        "version: 1\nname: bad\nscenarios:\n"
        "  - id: fine\n"
        "  - id: wrong\n"
        "    expect: {plays: [send_flowers], hypotheses: [vibes]}\n"
        "    select: {min_severity: 3}\n"
        "  - id: fine\n",
    )
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert (
        f"{path}, row 5, field 'expect.plays': Value error, unknown play(s) send_flowers" in message
    )
    assert "row 5, field 'expect.hypotheses'" in message
    assert "row 5, field 'select.min_severity'" in message


def test_repeated_ids_version_and_broken_files_are_refused(tmp_path: Path) -> None:
    twice = _write(
        tmp_path, "twice.yaml", "version: 1\nname: t\nscenarios:\n  - id: a\n  - id: a\n"
    )
    with pytest.raises(DatasetError, match="row 5, field 'id': scenario id 'a' repeats row 4"):
        load_dataset(twice)
    future = _write(tmp_path, "v2.yaml", "version: 2\nname: t\n")
    with pytest.raises(DatasetError, match=r"field 'version'.*version 2 is not supported"):
        load_dataset(future)
    broken = _write(tmp_path, "broken.yaml", "version: 1\nscenarios: [\n")
    with pytest.raises(DatasetError, match="not valid YAML"):
        load_dataset(broken)
    with pytest.raises(DatasetError, match="cannot read it"):
        load_dataset(tmp_path / "missing.yaml")


def test_jsonl_datasets_report_the_line(tmp_path: Path) -> None:
    good = _write(
        tmp_path,
        "s.jsonl",
        '{"version": 1, "name": "lines", "book": {"accounts": 20, "seed": 3}}\n'
        '{"id": "one", "select": {"segment": "smb"}}\n\n'
        '{"id": "two", "expect": {"must_not": ["x"]}}\n',
    )
    dataset = load_dataset(good)
    assert [s.id for s in dataset.scenarios] == ["one", "two"]
    assert dataset.book.accounts == 20
    bad = _write(tmp_path, "b.jsonl", '{"id": "one"}\n{"id": "two", "colour": "red"}\n{oops\n')
    with pytest.raises(DatasetError, match=r"b.jsonl, row 3: not valid JSON"):
        load_dataset(bad)
    bad.write_text('{"id": "one"}\n{"id": "two", "colour": "red"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"row 2, field 'colour': Extra inputs"):
        load_dataset(bad)


def test_bipia_attacks_are_skipped_with_a_note_when_absent(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "d.yaml",
        "version: 1\nname: d\nscenarios: []\nbipia: {path: nowhere/attacks.jsonl}\n",
    )
    expanded = expand(load_dataset(path))
    assert expanded.scenarios == []
    assert expanded.notes[0].startswith("BIPIA attacks skipped: nowhere/attacks.jsonl not found")


@pytest.mark.skipif(not BIPIA.exists(), reason=f"BIPIA attacks not present at {BIPIA}")
def test_bipia_attacks_become_scenarios_planted_in_each_carrier() -> None:
    expanded = expand(load_dataset())
    attacks = [s for s in expanded.scenarios if "bipia" in s.tags]
    assert len(attacks) == 3
    assert [bool(s.records.tickets) for s in attacks] == [True, False, False]
    assert attacks[1].records.notes and attacks[2].records.nps
    assert "capital of Brazil" in attacks[0].records.tickets[0].body
    assert attacks[0].expect.must_not == ["What is the capital of Brazil?"]


def test_a_scenario_no_account_fits_is_one_clear_message(tmp_path: Path) -> None:
    from keel.errors import KeelError
    from keel.evals.runner import run_eval
    from keel.settings import Settings

    path = _write(
        tmp_path,
        "none.yaml",
        "version: 1\nname: none\nbook: {accounts: 5, seed: 3}\nscenarios:\n"
        "  - id: nobody\n    select: {external_id: acc-99999}\n",
    )
    with pytest.raises(KeelError, match="eval scenario 'nobody': no account of the eval book"):
        run_eval(settings=Settings(data_dir=tmp_path / "d"), dataset_path=path)
    wrong_tier = _write(
        tmp_path,
        "tier.yaml",
        "version: 1\nname: tier\nbook: {accounts: 5, seed: 3}\nscenarios:\n"
        "  - id: big\n    select: {segment: smb}\n"
        "    records: {account: {arr: 900000, segment: enterprise}}\n"
        "    expect: {tier: ai_led}\n",
    )
    with pytest.raises(KeelError, match=r"'big': account acc-\d+ is in the human_led tier"):
        run_eval(settings=Settings(data_dir=tmp_path / "d"), dataset_path=wrong_tier)
    assert not (tmp_path / "d").exists()
