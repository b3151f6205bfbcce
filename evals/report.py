"""Writing a run: ``run.json`` (everything) and ``report.html`` (for people).

The HTML report lists scenarios failures first; each shows its scores and reasons, then
every draft and the briefing with the offending spans marked (hover for why). It is one
self-contained file: no script, no external asset.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Final

from keel.errors import KeelError
from keel.evals.compare import RUN_FILE

REPORT_FILE: Final = "report.html"
_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}.bad{color:#a00;font-weight:600}
.ok{color:#070}pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:.6em}
mark{background:#fdd;border-bottom:2px solid #c00}section{border-top:2px solid #888;
margin-top:1.5em}.muted{color:#666}
"""


def write_run(data: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``run.json`` and ``report.html`` under ``out_dir``; return both paths.

    Raises:
        KeelError: the directory cannot be created or written.
    """
    run_path = out_dir / RUN_FILE
    report_path = out_dir / REPORT_FILE
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        run_path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        report_path.write_text(render_html(data), encoding="utf-8")
    except OSError as exc:
        raise KeelError(f"{out_dir}: cannot write the eval report ({exc.strerror or exc})") from exc
    return run_path, report_path


def worst(scenario: dict[str, Any]) -> float:
    """The scenario's lowest applicable score (1.0 when none applies)."""
    values = [float(s["score"]) for s in scenario["scores"] if s["applicable"]]
    return min(values) if values else 1.0


def mark_spans(text: str, spans: list[dict[str, Any]]) -> str:
    """``text`` as HTML with each located span in a ``<mark>`` whose title says why; a span
    inside another (a number inside an uncited sentence) is marked inside it."""
    located = sorted(
        {
            (int(s["start"]), int(s["end"]), str(s["why"]))
            for s in spans
            if 0 <= s["start"] < s["end"] <= len(text)
        },
        key=lambda s: (s[0], -s[1]),
    )
    return _render(text, 0, len(text), located)


def _render(text: str, start: int, end: int, spans: list[tuple[int, int, str]]) -> str:
    out, pos, i = [], start, 0
    while i < len(spans):
        a, b, why = spans[i]
        b = min(b, end)
        inner = []
        i += 1
        while i < len(spans) and spans[i][0] < b:
            inner.append(spans[i])
            i += 1
        if a < pos:  # overlaps what is already marked: leave it plain
            continue
        out.append(html.escape(text[pos:a]))
        title = html.escape(why, quote=True)
        out.append(f'<mark title="{title}">{_render(text, a, b, inner)}</mark>')
        pos = b
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def render_html(data: dict[str, Any]) -> str:
    e = html.escape
    gate = data.get("gate") or {}
    verdict = (
        '<span class="ok">passed</span>'
        if gate.get("passed")
        else '<span class="bad">missed</span>'
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Keel eval {e(str(data.get('run_id')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Keel eval: {e(str(data['dataset']['name']))}</h1>",
        "<table>",
        f"<tr><th>run</th><td>{e(str(data.get('run_id')))} ({data.get('seconds')} s)</td></tr>",
        f"<tr><th>model</th><td>{e(str(data.get('model')))}</td></tr>",
        f"<tr><th>prompts digest</th><td>{e(str(data.get('prompts_digest')))}</td></tr>",
        f"<tr><th>policy digest</th><td>{e(str(data.get('policy_digest')))}</td></tr>",
        f"<tr><th>dataset</th><td>{e(str(data['dataset']['source']))} "
        f"({e(str(data['dataset']['digest']))})</td></tr>",
        f"<tr><th>gate</th><td>{verdict} {e(str(gate.get('path', '')))}</td></tr>",
        "</table>",
    ]
    for missed in gate.get("missed") or []:
        parts.append(f"<p class='bad'>{e(missed)}</p>")
    for note in data.get("notes") or []:
        parts.append(f"<p class='muted'>{e(note)}</p>")
    parts.append(_summary(data))
    parts.append(_model_stats(data.get("model_stats")))
    parts.append(_comparison(data.get("comparison")))
    parts.append(_judge(data.get("judge")))
    parts.append("<h2>Scenarios (failures first)</h2>")
    for scenario in sorted(data["scenarios"], key=lambda s: (worst(s), s["id"])):
        parts.append(_scenario(scenario))
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(data: dict[str, Any]) -> str:
    comparison = (data.get("comparison") or {}).get("means") or {}
    rows = [
        "<h2>Scorers</h2><table><tr><th>scorer</th><th>mean</th><th>min</th><th>n</th>"
        "<th>before</th></tr>"
    ]
    for scorer, values in (data.get("summary") or {}).items():
        before = (comparison.get(scorer) or [None])[0]
        rows.append(
            f"<tr><td>{html.escape(scorer)}</td><td>{_num(values.get('mean'))}</td>"
            f"<td>{_num(values.get('min'))}</td><td>{values.get('n')}</td><td>{_num(before)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _model_stats(stats: dict[str, Any] | None) -> str:
    """How the model held up: structured answers by schema, and the time per draft."""
    if not stats:
        return ""
    structured = stats.get("structured") or {}
    rows = [
        "<h2>The model</h2><p>"
        f"{stats.get('scenarios')} scenarios ({stats.get('reviews_failed')} reviews failed a "
        f"step), {stats.get('drafts')} drafts: {_num(stats.get('seconds_per_draft'))} s per "
        f"draft, {_num(stats.get('seconds_per_scenario'))} s per scenario; "
        f"{stats.get('chat_answers', 0)} chat answers, "
        f"{_num(stats.get('seconds_per_chat_answer'))} s each. Structured answers: success "
        f"{_num(structured.get('success_rate'))}, repair rate "
        f"{_num(structured.get('repair_rate'))}.</p>",
        "<table><tr><th>schema</th><th>first try</th><th>after repair</th><th>failed</th></tr>",
    ]
    for schema, counts in (structured.get("by_schema") or {}).items():
        rows.append(
            f"<tr><td>{html.escape(schema)}</td><td>{counts.get('first_try')}</td>"
            f"<td>{counts.get('repaired')}</td><td>{counts.get('failed')}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _comparison(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return ""
    e = html.escape
    parts = [f"<h2>Compared with {e(str(comparison['baseline']))}</h2>"]
    for title, key in (("Worse", "worse"), ("Better", "better")):
        changes = comparison.get(key) or []
        parts.append(f"<h3>{title} ({len(changes)})</h3>")
        if changes:
            parts.append(
                "<table><tr><th>scenario</th><th>scorer</th><th>before</th><th>after</th>"
                "<th>reason now</th></tr>"
            )
            for c in changes:
                parts.append(
                    f"<tr><td>{e(c['scenario'])}</td><td>{e(c['scorer'])}</td><td>{_num(c['before'])}</td>"
                    f"<td>{_num(c['after'])}</td><td>{e(c['reason'])}</td></tr>"
                )
            parts.append("</table>")
    return "".join(parts)


def _judge(judged: dict[str, Any] | None) -> str:
    """The optional judge: pinned model and prompt, mean ratings, agreement, each verdict."""
    if not judged:
        return ""
    e = html.escape
    if judged.get("skipped"):
        return f"<h2>Judge</h2><p class='muted'>{e(judged['skipped'])}</p>"
    agreement = judged["agreement"]
    parts = [
        "<h2>Judge</h2>",
        f"<p class='muted'>{e(str(judged['model']))} @ {e(str(judged['base_url']))}, "
        f"temperature {judged['temperature']}, prompt {e(judged['prompt_version'])} "
        f"{e(judged['prompt_digest'])}; {judged['calls']} calls, {judged['cached']} cached. "
        "Informative only: the gate does not read it.</p>",
        "<table><tr><th>criterion</th><th>drafts mean</th><th>accuracy</th><th>within 1</th>"
        "<th>kappa</th><th>weighted kappa</th><th>labelled drafts rated</th></tr>",
    ]
    for criterion, mean in judged["means"].items():
        a = agreement["criteria"].get(criterion) or {}
        parts.append(
            f"<tr><td>{e(criterion)}</td><td>{_num(mean)}</td><td>{_num(a.get('accuracy'))}</td>"
            f"<td>{_num(a.get('within_one'))}</td><td>{_num(a.get('kappa'))}</td>"
            f"<td>{_num(a.get('weighted_kappa'))}</td>"
            f"<td>{a.get('n', 0)}/{agreement['drafts']}</td></tr>"
        )
    parts.append("</table><table><tr><th>draft</th><th>ratings (reason)</th></tr>")
    for d in judged["drafts"]:
        rated = "; ".join(
            f"{k} {r['score'] if r['score'] is not None else '?'} ({r['reason']})"
            for k, r in d["ratings"].items()
        )
        shown = e(rated) + (f" <span class='bad'>{e(d['error'])}</span>" if d["error"] else "")
        parts.append(
            f"<tr><td>{e(str(d['scenario']))} {e(str(d['artefact']))}</td><td>{shown}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _scenario(scenario: dict[str, Any]) -> str:
    e = html.escape
    low = worst(scenario)
    parts = [
        f"<section id='{e(scenario['id'])}'><h3 class='{'bad' if low < 1 else 'ok'}'>"
        f"{e(scenario['id'])} ({low:.2f})</h3>",
        f"<p>{e(scenario.get('description', ''))}</p>",
        f"<p class='muted'>account {e(str(scenario.get('account')))} "
        f"{e(str(scenario.get('account_name')))}, "
        f"{e(str(scenario.get('segment')))}, tier {e(str(scenario.get('tier')))}; hypotheses: "
        f"{e(', '.join(scenario.get('hypotheses') or []) or 'none')}; plays: "
        f"{e(', '.join(scenario.get('plays') or []) or 'none')}</p>",
    ]
    for error in scenario.get("errors") or []:
        parts.append(f"<p class='bad'>error: {e(error)}</p>")
    parts.append("<table><tr><th>scorer</th><th>score</th><th>reason</th></tr>")
    for s in sorted(scenario["scores"], key=lambda s: (not s["applicable"], s["score"])):
        cls = "muted" if not s["applicable"] else ("bad" if s["score"] < 1 else "ok")
        shown = f"{s['score']:.2f}" if s["applicable"] else "n/a"
        parts.append(
            f"<tr class='{cls}'><td>{e(s['scorer'])}</td><td>{shown}</td>"
            f"<td>{e(s['reason'])}</td></tr>"
        )
    parts.append("</table>")
    spans = [span for s in scenario["scores"] for span in s["spans"]]
    for artefact in scenario.get("artefacts") or []:
        own = [s for s in spans if s["artefact"] == artefact["key"]]
        to = ", ".join(artefact.get("recipients") or []) or artefact.get("recipient_name") or ""
        parts.append(
            f"<h4>{e(artefact['key'])} <span class='muted'>({e(artefact['kind'])}, "
            f"{e(artefact.get('status') or '')}{', to ' + e(to) if to else ''})</span></h4>"
        )
        parts.append(f"<pre>{mark_spans(artefact['text'], own)}</pre>")
        unplaced = [s for s in own if s["start"] < 0]
        for s in unplaced:
            parts.append(f"<p class='bad'>{e(s['text'])}: {e(s['why'])}</p>")
    for index, answer in enumerate(scenario.get("chat") or []):
        key = f"chat:{index + 1}"
        own = [s for s in spans if s["artefact"] == key]
        parts.append(
            f"<h4>{e(key)} <span class='muted'>({e(str(answer.get('type')))}, "
            f"{answer.get('seconds')} s)</span>: {e(str(answer.get('question')))}</h4>"
        )
        if answer.get("error"):
            parts.append(f"<p class='bad'>error: {e(str(answer['error']))}</p>")
        parts.append(f"<pre>{mark_spans(str(answer.get('text') or ''), own)}</pre>")
    parts.append("</section>")
    return "\n".join(parts)


def _num(value: Any) -> str:
    return "" if value is None else f"{float(value):.3f}"
