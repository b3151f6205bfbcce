"""CLI command ``keel eval``: score drafts and briefings on a dataset of scenarios."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from keel.api.cli.common import console, progress

if TYPE_CHECKING:
    from keel.evals.runner import EvalRun

LOWEST_SHOWN = 6
EVAL_HELP = (
    "Run the eval suite: every scenario of a dataset through the review graph, in a "
    "temporary workspace (never your keel-data), on the configured model (the offline "
    "model unless OPENAI_API_KEY / KEEL_LLM_BASE_URL are set). Deterministic scorers judge "
    "grounded numbers, citations, policy, personalisation, hypotheses and the play. Writes "
    "run.json and report.html, compares with an earlier run, and exits 1 when the gate's "
    "per-scorer minimums are missed."
)
EVAL_EPILOG = (
    "Examples:\n\n"
    "  keel eval                                      (default dataset and gate)\n\n"
    "  keel eval --out runs/base                      (keep this run as a baseline)\n\n"
    "  keel eval --compare runs/base --out runs/new   (what got better or worse)\n\n"
    "  keel eval --dataset my.yaml --gate strict.yaml\n\n"
    "  keel eval --judge                              (adds the LLM judge's ratings)\n\n"
    "  keel eval --model http://127.0.0.1:8765/v1     (the suite on a local endpoint)"
)


def register(app: typer.Typer) -> None:
    @app.command(name="eval", help=EVAL_HELP, epilog=EVAL_EPILOG)
    def eval_command(
        dataset: Path | None = typer.Option(
            None, "--dataset", help="Dataset (YAML or JSONL); the bundled default when omitted."
        ),
        compare: Path | None = typer.Option(
            None, "--compare", help="An earlier run's directory or run.json to compare with."
        ),
        gate: Path | None = typer.Option(
            None, "--gate", help="Per-scorer minimums (YAML); the bundled default when omitted."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Where run.json and report.html go (default keel-evals/<time>)."
        ),
        judge: bool = typer.Option(
            False,
            "--judge",
            help="Also have an LLM judge rate each customer draft (clarity, tone, empathy, "
            "actionability, 1-5) and measure its agreement with the team's labels; on the "
            "configured model unless --judge-model/--judge-base-url say otherwise; verdicts "
            "are cached, so a run replays offline. Informative: the gate ignores it.",
        ),
        judge_model: str | None = typer.Option(
            None, "--judge-model", help="The judge's model name (default KEEL_LLM_MODEL)."
        ),
        judge_base_url: str | None = typer.Option(
            None,
            "--judge-base-url",
            help="The judge's OpenAI-compatible endpoint (default KEEL_LLM_BASE_URL).",
        ),
        judge_cache: Path | None = typer.Option(
            None,
            "--judge-cache",
            help="The judge's verdict cache (default keel-evals/judge-cache).",
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            help="The model under test: 'offline', an OpenAI-compatible endpoint URL (e.g. "
            "http://127.0.0.1:8765/v1 from `keel local-model serve`), NAME@URL, or a model "
            "name on the configured endpoint. Default: the configured model.",
        ),
        scenario: list[str] | None = typer.Option(
            None,
            "--scenario",
            help="Run only this scenario (repeat for more); it keeps the account the whole "
            "dataset gives it.",
        ),
    ) -> None:
        from keel.evals.model_choice import settings_for_model
        from keel.evals.report import write_run
        from keel.evals.runner import run_eval
        from keel.settings import Settings

        settings = settings_for_model(Settings(), model)

        with progress() as bar:
            task = bar.add_task("scenarios", total=None)

            def step(scenario: str, done: int, total: int) -> None:
                bar.update(task, total=total, completed=done, description=scenario or "scored")

            run = run_eval(
                settings=settings,
                dataset_path=dataset,
                compare_with=compare,
                gate_path=gate,
                progress=step,
                only=scenario,
            )
        if judge:
            from keel.evals.judge import DEFAULT_CACHE, judge_config, judge_run

            config = judge_config(settings, model=judge_model, base_url=judge_base_url)
            if config is not None:
                console.print(f"Judging the drafts with {config.label} ...", highlight=False)
            run.data["judge"] = judge_run(run.data, config, cache_dir=judge_cache or DEFAULT_CACHE)
        target = out or Path("keel-evals") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_path, report_path = write_run(run.data, target)
        print_run(run)
        console.print(f"Wrote {run_path} and {report_path}")
        if not run.passed:
            raise typer.Exit(1)


def print_run(run: EvalRun) -> None:
    """The summary a person reads after a run: scorers, comparison, gate."""
    data = run.data
    console.print(
        f"[bold]{data['dataset']['name']}[/]: {len(data['scenarios'])} scenarios, model "
        f"{data['model']}, prompts {data['prompts_digest']}, {data['seconds']} s"
    )
    for note in data.get("notes") or []:
        console.print(f"  note: {note}", highlight=False)
    before = run.comparison.means if run.comparison else {}
    table = Table(title="Scores (applicable scenarios)")
    for column in ("scorer", "mean", "min", "n", *(["before"] if run.comparison else [])):
        table.add_column(column, justify="left" if column == "scorer" else "right")
    for scorer, values in data["summary"].items():
        row = [scorer, _num(values["mean"]), _num(values["min"]), str(values["n"])]
        if run.comparison:
            row.append(_num((before.get(scorer) or (None, None))[0]))
        table.add_row(*row)
    console.print(table)
    stats = data.get("model_stats") or {}
    structured = stats.get("structured") or {}
    if structured.get("asked"):
        console.print(
            f"Structured answers: {structured['asked']} asked, {structured['first_try']} usable "
            f"at once, {structured['repaired']} after repair, {structured['failed']} failed "
            f"(success {_num(structured['success_rate'])}, repair rate "
            f"{_num(structured['repair_rate'])}); {stats.get('drafts', 0)} drafts, "
            f"{_num(stats.get('seconds_per_scenario'))} s/scenario, "
            f"{_num(stats.get('seconds_per_draft'))} s/draft",
            highlight=False,
        )
    lowest = sorted(w for w in map(_worst, data["scenarios"]) if w is not None and w[0] < 1)
    shown = [f"{ident} ({scorer} {score:.2f})" for score, ident, scorer in lowest]
    if shown:
        more = f", and {len(shown) - LOWEST_SHOWN} more" if len(shown) > LOWEST_SHOWN else ""
        console.print(f"Lowest: {', '.join(shown[:LOWEST_SHOWN])}{more}", highlight=False)
    failed = [s for s in data["scenarios"] if s["errors"]]
    for scenario in failed[:LOWEST_SHOWN]:
        console.print(
            f"[red]failed[/] {scenario['id']}: {'; '.join(scenario['errors'])}", highlight=False
        )
    if run.comparison is not None:
        comparison = run.comparison
        console.print(
            f"Compared with {comparison.baseline} ({comparison.baseline_model}, prompts "
            f"{comparison.baseline_prompts}): {len(comparison.better)} better, "
            f"{len(comparison.worse)} worse",
            highlight=False,
        )
        for change in comparison.worse:
            console.print(
                f"  [red]worse[/] {change.scenario} {change.scorer}: {change.before:.2f} -> "
                f"{change.after:.2f}  {change.reason}",
                highlight=False,
            )
        for change in comparison.better:
            console.print(
                f"  [green]better[/] {change.scenario} {change.scorer}: {change.before:.2f} -> "
                f"{change.after:.2f}",
                highlight=False,
            )
    if data.get("judge"):
        print_judge(data["judge"])
    if run.passed:
        console.print(f"[green]Gate passed[/] ({run.gate_path})")
    else:
        console.print(f"[red]Gate missed[/] ({run.gate_path}):")
        for line in run.gate_missed:
            console.print(f"  {line}", highlight=False)


def print_judge(judged: dict[str, Any]) -> None:
    """The judge's part of a run: its pinned model, mean ratings, agreement with people."""
    if judged.get("skipped"):
        console.print(f"[yellow]{judged['skipped']}[/]", highlight=False)
        return
    console.print(
        f"Judge {judged['model']} @ {judged['base_url']} (temperature {judged['temperature']}, "
        f"prompt {judged['prompt_version']} {judged['prompt_digest']}): {judged['calls']} "
        f"calls, {judged['cached']} from the cache {judged['cache']}",
        highlight=False,
    )
    table = Table(title="Judge (1-5) and its agreement with the team's labels")
    for column in ("criterion", "drafts mean", "accuracy", "within 1", "kappa", "w. kappa", "n"):
        table.add_column(column, justify="left" if column == "criterion" else "right")
    agreement = judged["agreement"]["criteria"]
    for criterion, mean in judged["means"].items():
        a = agreement.get(criterion) or {}
        table.add_row(
            criterion,
            _num(mean),
            _num(a.get("accuracy")),
            _num(a.get("within_one")),
            _num(a.get("kappa")),
            _num(a.get("weighted_kappa")),
            f"{a.get('n', 0)}/{judged['agreement']['drafts']}",
        )
    console.print(table)
    unread = [d for d in judged["drafts"] if d["error"]]
    unread_labels = judged["agreement"]["errors"]
    if unread or unread_labels:
        console.print(
            f"  the judge left {len(unread)} draft(s) and {len(unread_labels)} labelled "
            "draft(s) (partly) unrated; reasons in run.json",
            highlight=False,
        )


def _worst(scenario: dict[str, Any]) -> tuple[float, str, str] | None:
    """(lowest applicable score, scenario id, its scorer), or None when nothing applies."""
    applicable = [x for x in scenario["scores"] if x["applicable"]]
    if not applicable:
        return None
    low = min(applicable, key=lambda x: x["score"])
    return float(low["score"]), str(scenario["id"]), str(low["scorer"])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
