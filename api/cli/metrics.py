"""``keel metrics``: the operating metrics a CS leader tracks, from the nightly runs."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from keel.api.cli.common import console, make_app

METRICS_HELP = (
    "The operating metrics as of the latest nightly run: coverage, risk-flag accuracy on "
    "flags whose window has closed, median time from first signal to first approved action, "
    "intervention success by play (recovered within 30/60/90 days, renewal outcomes) beside "
    "flagged accounts that got no intervention, accounts per CSM, and drafts approved / "
    "edited / rejected. Every rate shows its counts; a window still open is not judged.\n\n"
    "Example:\n\n  keel metrics\n"
)


def _rate(rate: object) -> str:
    from keel.api.services.metrics import Rate

    assert isinstance(rate, Rate)
    if rate.n == 0:
        shown = "n/a (0 judged)"
    else:
        assert rate.rate is not None
        shown = f"{rate.rate:.0%} ({rate.hits}/{rate.n})"
    extra = []
    if rate.open:
        extra.append(f"{rate.open} open")
    if rate.unmeasured:
        extra.append(f"{rate.unmeasured} unmeasured")
    return shown + (f", {', '.join(extra)}" if extra else "")


def metrics_command() -> None:
    from keel.api.services.metrics import operating_metrics
    from keel.memory.interventions import WINDOWS

    with make_app() as app:
        m = operating_metrics(app)
    if m.as_of is None:
        console.print("No nightly runs yet: run keel nightly.")
        return
    console.print(f"Operating metrics as of {m.as_of} ({m.runs} nightly run(s))")
    console.print(f"Coverage (briefed in the last run / active accounts): {_rate(m.coverage)}")
    f = m.flags
    console.print(
        f"Risk-flag accuracy ({f.window_days}-day windows closed, judged by the renewal "
        f"decided in the window): precision {_rate(f.precision)}, accuracy "
        f"{_rate(f.accuracy)}; {f.undecided} account-nights with no renewal decided "
        "in the window (not judged)"
    )
    if m.signal_to_action_days is None:
        console.print("Median time from first signal to first approved action: n/a (0)")
    else:
        console.print(
            f"Median time from first signal to first approved action: "
            f"{m.signal_to_action_days:.1f} days (n={m.signal_to_action_n})"
        )
    table = Table(
        "play",
        "sent",
        "AI-led",
        "flagged",
        *(f"recovered ≤{w} d" for w in WINDOWS),
        "renewed/expanded",
        title="Intervention success by play (recovery among those flagged when sent)",
    )
    for p in m.plays:
        table.add_row(
            escape(p.play_id),
            str(p.interventions),
            str(p.ai_led),
            str(p.flagged_at_send),
            *(_rate(p.recovery[w]) for w in WINDOWS),
            _rate(p.renewal_success),
        )
    table.add_row(
        "(flagged, no intervention)",
        "-",
        "-",
        "-",
        *(_rate(m.no_intervention[w]) for w in WINDOWS),
        "-",
    )
    console.print(table)
    console.print(
        "The last row is a comparison, not a control group: the planner chose whom to act on."
    )
    console.print(
        "Accounts per CSM: " + ", ".join(f"{escape(o)} {n}" for o, n in m.accounts_per_csm.items())
    )
    console.print("Drafts: " + ", ".join(f"{k} {v}" for k, v in m.drafts.items()))


def register(app: typer.Typer) -> None:
    """Add ``keel metrics`` to ``app``."""
    app.command("metrics", help=METRICS_HELP)(metrics_command)
