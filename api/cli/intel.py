"""CLI commands of the insight layer: ``keel priorities``, ``keel health``, ``keel backtest``.

Each parses its options, calls one service (:mod:`keel.api.services.portfolio`,
:mod:`~keel.api.services.accounts`, :mod:`~keel.api.services.backtest`) and prints.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keel.api.cli.common import console, make_app, progress
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.api.services.accounts import AccountView
    from keel.api.services.portfolio import PriorityList
    from keel.tools.priorities import PriorityItem

MIN_HORIZON, MAX_HORIZON = 7, 730

PRIORITIES_HELP = (
    "The accounts that need attention today, and why.\n\n"
    "Every active account is scored. Accounts flagged at risk need attention and come first; "
    "the others follow on watch. Each part is ranked by expected ARR loss (probability of "
    "churn or contraction within the horizon x ARR), with the days to renewal and their "
    "urgency in their own columns and a one-line reason from the top health factors. Then "
    "the top expansion opportunities: accounts with no open risk.\n\n"
    "--owner takes the CSM's e-mail or name as briefings show it, in any case.\n\n"
    "Examples:\n\n"
    "  keel priorities                         # top 10 as of the latest data\n"
    "  keel priorities --top 25 --owner 'Maya Chen'\n"
    "  keel priorities --as-of 2026-06-30 --json\n"
)
HEALTH_HELP = (
    "One account's health score and its explanation: each factor's contribution to the "
    "score's logit, in words and numbers (they add up to the logit exactly).\n\n"
    "Examples:\n\n"
    "  keel health ACME-001\n"
    "  keel health 'Acme Corp' --as-of 2026-06-30 --hypotheses\n"
)
BACKTEST_HELP = (
    "Backtest the health model: walk forward over the book's history fitting only on the "
    "past at each monthly cut, or score given observations out of time. Reports AUC, "
    "top-decile lift, precision and recall of risk flags, median lead time, calibration, for "
    "the multi-signal model and a usage-only baseline side by side.\n\n"
    "Examples:\n\n"
    "  keel backtest                                 # 180-day horizon\n"
    "  keel backtest --horizon 90 --json report.json\n"
    "  keel backtest --observations observation.csv  # columns: account_id, observation_date, "
    "is_churn\n"
)


ScoreAsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Score as of this day (default: the latest day in the data).",
        show_default=False,
    ),
]
HorizonOption = Annotated[int, typer.Option("--horizon", help="Risk horizon in days.")]


def _check_horizon(horizon: int | None) -> None:
    if horizon is not None and not MIN_HORIZON <= horizon <= MAX_HORIZON:
        raise KeelError(
            f"--horizon must be between {MIN_HORIZON} and {MAX_HORIZON} days "
            f"(typically 30, 90 or 180), got {horizon}"
        )


def _scanning() -> None:
    console.print("[dim]Matching indexed text against risk-language prototypes...[/]")


def _scan_note(note: str | None) -> None:
    if note:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


def priorities_command(
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many of each list.")] = 10,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner", help="Only this CSM's accounts (e-mail or name).", show_default=False
        ),
    ] = None,
    as_of: ScoreAsOfOption = None,
    horizon: HorizonOption = 180,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The accounts that need attention today, and why."""
    from keel.api.services.portfolio import PriorityQuery, priority_list

    _check_horizon(horizon)
    query = PriorityQuery(top=top, owner=owner, as_of=_date(as_of), horizon_days=horizon)
    # No scan message: a note goes into the listing itself (printed with it, or in its JSON).
    result = priority_list(make_app(), query)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    print_priorities(result)


def _risk_table(title: str, items: list[PriorityItem]) -> Table:
    from rich.markup import escape

    from keel.tools.priorities import owner_name

    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("#", "right"),
        ("account", "left"),
        ("owner", "left"),
        ("p(risk)", "right"),
        ("ARR", "right"),
        ("expected loss", "right"),
        ("renews in", "right"),
        ("urgency", "left"),
        ("flag", "left"),
        ("why", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in items:
        renewal = f"{item.days_to_renewal} d" if item.days_to_renewal is not None else "?"
        table.add_row(
            str(item.rank),
            f"{item.name} ({item.external_id})",
            owner_name(item.owner_csm),
            f"{item.probability:.0%}",
            f"{item.arr:,.0f}",
            f"{item.arr_at_risk:,.0f}",
            renewal,
            item.urgency_label,
            item.flag or "-",
            # Why it sits above a higher-risk account of its ARR band, when it does.
            item.reason + (f"\n[dim]{escape(item.order_note)}[/]" if item.order_note else ""),
        )
    return table


def print_priorities(result: PriorityList) -> None:
    from keel.tools.priorities import owner_name

    who = f" for {owner_name(result.owner)}" if result.owner else ""
    console.print(
        f"[bold]Priorities{who} as of {result.as_of}[/] (risk of churn or contraction within "
        f"{result.horizon_days} days)"
    )
    console.print(f"Coverage: {result.coverage}")
    console.print(f"Model: {result.model.note}")
    console.print(f"Flagged at risk: {result.flagged} ({result.flag_rule})")
    console.print(
        "Order: accounts flagged at risk need attention and come first, the others follow "
        "on watch; each part by expected ARR loss (p(risk) x ARR). Urgency is how soon the "
        "renewal is, shown beside it."
    )
    if result.text_note:
        console.print(f"[yellow]Note:[/] {result.text_note}")
    attention = [i for i in result.risks if i.needs_attention]
    watch = [i for i in result.risks if not i.needs_attention]
    if attention:
        console.print(_risk_table("Needs attention", attention))
    else:
        console.print("[bold]Needs attention:[/] none (no account is flagged at risk)")
    if watch:
        console.print(_risk_table("Watch (not flagged at risk)", watch))
    growth = Table(title="Expansion opportunities (no open risk)", title_justify="left")
    for column in ("#", "account", "owner", "ARR", "p(risk)", "why"):
        growth.add_column(column)
    for exp in result.expansions:
        growth.add_row(
            str(exp.rank),
            f"{exp.name} ({exp.external_id})",
            owner_name(exp.owner_csm),
            f"{exp.arr:,.0f}",
            f"{exp.probability:.0%}",
            exp.reason,
        )
    console.print(growth)


def health_command(
    account: Annotated[str, typer.Argument(help="External id, name or internal id.")],
    as_of: ScoreAsOfOption = None,
    horizon: HorizonOption = 180,
    hypotheses: Annotated[
        bool, typer.Option("--hypotheses", help="Also list risk and expansion hypotheses.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One account's health score and its explanation."""
    from keel.api.services.accounts import AccountQuery, account_view

    _check_horizon(horizon)
    query = AccountQuery(
        account=account, as_of=_date(as_of), horizon_days=horizon, hypotheses=hypotheses
    )
    view = account_view(make_app(), query, on_scan=None if as_json else _scanning)
    if as_json:
        payload = {"explanation": json.loads(view.health.explanation.model_dump_json())}
        if view.scan_note:
            payload["note"] = view.scan_note
        if view.hypotheses is not None:
            payload["hypotheses"] = json.loads(view.hypotheses.model_dump_json())
        typer.echo(json.dumps(payload, indent=2))
        return
    _scan_note(view.scan_note)
    print_health(account, view)


def print_health(account: str, view: AccountView) -> None:
    explanation = view.health.explanation
    console.print(f"[bold]{account}[/] as of {explanation.as_of}")
    console.print(explanation.summary)
    console.print(f"Model: {explanation.model.note}")
    if not view.text_evidence:
        from keel.tools.risk_language import TEXT_UNAVAILABLE

        console.print(f"[yellow]Note:[/] {TEXT_UNAVAILABLE}")
    table = Table(title="Contributions to the logit", title_justify="left")
    table.add_column("factor")
    table.add_column("logit", justify="right")
    table.add_column("detail")
    table.add_row("Baseline", f"{explanation.baseline:+.3f}", "intercept for segment and stage")
    for factor in explanation.factors:
        table.add_row(factor.label, f"{factor.contribution:+.3f}", factor.text)
    table.add_row("[bold]Total (logit)[/]", f"[bold]{explanation.logit:+.3f}[/]", "")
    console.print(table)
    extra = view.hypotheses
    if extra is not None:
        for title, items in (
            ("Risk hypotheses", extra.risk),
            ("Expansion hypotheses", extra.expansion),
        ):
            console.print(f"[bold]{title}[/]" + ("" if items else ": none"))
            for h in items:
                console.print(f"  - {h.claim}")
                for m in h.metrics:
                    console.print(f"      {m.text}")
                for r in h.records:
                    console.print(f"      {r.kind} {r.external_id} ({r.date}): {r.summary}")
                for s in h.similar_accounts:
                    console.print(
                        f"      similar: {s.name} ({s.external_id}) {s.similarity:.2f}, "
                        f"{s.outcome} {s.event_date}"
                    )


def backtest_command(
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon",
            help="Label horizon in days (30, 90 or 180; default 180). With --observations: "
            "the label window (default: inferred from the observation spacing).",
            show_default=False,
        ),
    ] = None,
    observations: Annotated[
        Path | None,
        typer.Option(
            "--observations",
            help="CSV of (account, date, label) to score out of time.",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the report as JSON here.", show_default=False),
    ] = None,
    text_path: Annotated[
        Path | None, typer.Option("--text", help="Write the text report here.", show_default=False)
    ] = None,
    truth_dir: Annotated[
        Path | None,
        typer.Option(
            "--truth-dir",
            help="Ground truth of a synthetic book (default: <data dir>/truth if present); "
            "used only to report where AI-product accounts rank.",
            show_default=False,
        ),
    ] = None,
    splits: Annotated[
        int, typer.Option("--splits", min=1, help="Out-of-time blocks scored (observations).")
    ] = 2,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Flag when p >= this.")
    ] = 0.5,
) -> None:
    """Backtest the health model against a usage-only baseline."""
    from keel.api.services.backtest import BacktestQuery, run_backtest
    from keel.tools.backtest import render_text

    _check_horizon(horizon)
    query = BacktestQuery(
        horizon_days=horizon,
        observations=observations,
        truth_dir=truth_dir,
        splits=splits,
        threshold=threshold,
    )
    with progress() as bar:
        task = bar.add_task("backtest cuts", total=None)
        run = run_backtest(
            make_app(),
            query,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_scan=_scanning,
        )
    _scan_note(run.scan_note)
    report = run.report
    text = render_text(report)
    console.print(text, highlight=False, markup=False)
    if json_path:
        report.write_json(json_path)
        console.print(f"JSON report written to {json_path}")
    if text_path:
        text_path.parent.mkdir(parents=True, exist_ok=True)
        text_path.write_text(text + "\n", encoding="utf-8")
        console.print(f"Text report written to {text_path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("priorities", help=PRIORITIES_HELP)(priorities_command)
    app.command("health", help=HEALTH_HELP)(health_command)
    app.command("backtest", help=BACKTEST_HELP)(backtest_command)
