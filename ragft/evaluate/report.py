"""The `compare --report DIR` output: `results.json` (the Comparison serialised) and a self-contained
`index.html` (no network: inline SVG plots drawn here, inline CSS and a few lines of JS for the filters).

The plots are plain SVG written by hand rather than matplotlib: a few dozen lines, deterministic bytes, no
font cache or backend set-up, and they scale with the page. Two plots: accuracy (mean F1 and answer
correctness, each with its 95% interval as an error bar) against estimated cost per 1,000 questions, and the
per-question latency of each strategy (every question a dot, p50 and p95 marked). Above them, the decision
sentence (`decision.reason`) and the paired tests behind it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragft.evaluate.compare import Comparison

COLOURS = {"base": "#7f7f7f", "rag": "#1f77b4", "ft": "#ff7f0e", "hybrid": "#2ca02c"}
_FALLBACK = ("#9467bd", "#8c564b", "#e377c2", "#17becf")


def colour(strategy: str, i: int = 0) -> str:
    return COLOURS.get(strategy, _FALLBACK[i % len(_FALLBACK)])


def _nice_max(value: float) -> float:
    """A round axis end at or above `value` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    return next(m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= value)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def accuracy_cost_svg(strategies: dict[str, dict[str, Any]], width: int = 520, height: int = 320) -> str:
    """Scatter: x = cost per 1k questions ($), y = accuracy (0..1); filled = F1, hollow = answer correctness;
    vertical bars = their 95% paired-bootstrap intervals (`strategies.<s>.ci`)."""
    left, right, top, bottom = 60, 20, 20, 45
    pw, ph = width - left - right, height - top - bottom
    costs = [s["cost_per_1k"] for s in strategies.values() if s.get("cost_per_1k") is not None]
    xmax = _nice_max(max(costs) * 1.1 if costs else 1.0)
    X = lambda c: left + pw * c / xmax  # noqa: E731
    Y = lambda a: top + ph * (1 - a)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="accuracy vs cost">']
    for t in range(6):
        a = t / 5
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(a):.1f}" y2="{Y(a):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{Y(a) + 4:.1f}" font-size="11" text-anchor="end">{a:.1f}</text>')
    for t in range(5):
        c = xmax * t / 4
        parts.append(f'<text x="{X(c):.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle">${_fmt(c)}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#333"/>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="12" text-anchor="middle">estimated cost per 1,000 questions (USD)</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2})">accuracy</text>')
    for i, (name, s) in enumerate(strategies.items()):
        if s.get("cost_per_1k") is None:
            continue
        x, col = X(s["cost_per_1k"]), colour(name, i)
        ci = s.get("ci") or {}
        for metric, dx, dash in (("f1", -3, ""), ("answer_correctness", 3, ' stroke-dasharray="3 2"')):
            if s.get(metric) is not None and ci.get(metric):  # 95% interval as an error bar
                lo, hi = ci[metric]
                parts.append(f'<g class="errorbar" stroke="{col}" stroke-width="1.5"{dash}>'
                             f'<line x1="{x + dx:.1f}" x2="{x + dx:.1f}" y1="{Y(hi):.1f}" y2="{Y(lo):.1f}"/>'
                             f'<line x1="{x + dx - 4:.1f}" x2="{x + dx + 4:.1f}" y1="{Y(hi):.1f}" y2="{Y(hi):.1f}"/>'
                             f'<line x1="{x + dx - 4:.1f}" x2="{x + dx + 4:.1f}" y1="{Y(lo):.1f}" y2="{Y(lo):.1f}"/>'
                             f'<title>{escape(name)} {metric} 95% CI [{lo:.3f}, {hi:.3f}]</title></g>')
        if s.get("f1") is not None:
            parts.append(f'<circle cx="{x:.1f}" cy="{Y(s["f1"]):.1f}" r="6" fill="{col}"><title>{escape(name)} F1 {s["f1"]:.3f}</title></circle>')
            parts.append(f'<text x="{x + 9:.1f}" y="{Y(s["f1"]) + 4:.1f}" font-size="12" fill="{col}">{escape(name)}</text>')
        if s.get("answer_correctness") is not None:
            parts.append(f'<circle cx="{x:.1f}" cy="{Y(s["answer_correctness"]):.1f}" r="6" fill="none" stroke="{col}" stroke-width="2"><title>{escape(name)} correctness {s["answer_correctness"]:.3f}</title></circle>')
    parts.append(f'<circle cx="{left + pw - 150}" cy="{top + 8}" r="5" fill="#555"/><text x="{left + pw - 140}" y="{top + 12}" font-size="11">F1</text>')
    parts.append(f'<circle cx="{left + pw - 105}" cy="{top + 8}" r="5" fill="none" stroke="#555" stroke-width="2"/><text x="{left + pw - 95}" y="{top + 12}" font-size="11">correctness</text>')
    parts.append("</svg>")
    return "".join(parts)


def latency_svg(latencies: dict[str, Sequence[float]], p50: dict[str, float | None], p95: dict[str, float | None], width: int = 520) -> str:
    """One row per strategy: every question's latency as a dot, p50 as a bar, p95 as a tick."""
    row, left, right, top, bottom = 44, 70, 40, 15, 40
    height = top + bottom + row * max(1, len(latencies))
    pw = width - left - right
    values = [v for vs in latencies.values() for v in vs]
    xmax = _nice_max(max(values) * 1.05 if values else 1.0)
    X = lambda ms: left + pw * ms / xmax  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="latency distribution">']
    for t in range(5):
        ms = xmax * t / 4
        parts.append(f'<line x1="{X(ms):.1f}" x2="{X(ms):.1f}" y1="{top}" y2="{height - bottom}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{X(ms):.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle">{_fmt(ms)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="12" text-anchor="middle">latency per question (ms)</text>')
    for i, (name, vs) in enumerate(latencies.items()):
        y, col = top + row * i + row / 2, colour(name, i)
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{escape(name)}</text>')
        for j, v in enumerate(vs):
            jitter = ((j * 7919) % 11 - 5) * 1.6  # deterministic vertical spread so dots don't hide each other
            parts.append(f'<circle cx="{X(v):.1f}" cy="{y + jitter:.1f}" r="3" fill="{col}" fill-opacity="0.55"/>')
        if p50.get(name) is not None:
            parts.append(f'<line x1="{X(p50[name]):.1f}" x2="{X(p50[name]):.1f}" y1="{y - 13:.1f}" y2="{y + 13:.1f}" stroke="#000" stroke-width="2.5"><title>p50 {p50[name]:.0f} ms</title></line>')
        if p95.get(name) is not None:
            parts.append(f'<line x1="{X(p95[name]):.1f}" x2="{X(p95[name]):.1f}" y1="{y - 9:.1f}" y2="{y + 9:.1f}" stroke="#d62728" stroke-width="2"><title>p95 {p95[name]:.0f} ms</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per (question, strategy) for the per-question table."""
    rows = []
    for q in data["questions"]:
        for name, r in q["results"].items():
            scores = r.get("scores") or {}
            status = "failed" if r.get("error") else (
                "correct" if scores.get("answer_correctness") == 1.0 else "abstained" if r.get("abstained") else "wrong")
            rows.append({"q": q, "strategy": name, "r": r, "s": scores, "status": status})
    return rows


def render_html(data: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("ragft.evaluate", "templates"), autoescape=select_autoescape(["html", "j2"]))
    strategies = data["strategies"]
    latencies = {
        name: [r["results"][name]["latency_ms"] for r in data["questions"]
               if name in r["results"] and not r["results"][name].get("error") and r["results"][name].get("latency_ms") is not None]
        for name in strategies
    }
    plots = {
        "accuracy_cost": accuracy_cost_svg(strategies),
        "latency": latency_svg(latencies, {k: v["latency_ms_p50"] for k, v in strategies.items()},
                               {k: v["latency_ms_p95"] for k, v in strategies.items()}),
    }
    return env.get_template("report.html.j2").render(data=data, plots=plots, rows=_rows(data), colour=colour)


def write_report(comparison: "Comparison", out_dir: str | Path) -> dict[str, Path]:
    """Write `results.json` and `index.html` into `out_dir` (created); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = comparison.to_dict()
    results = out / "results.json"
    results.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_html(data), encoding="utf-8")
    return {"results": results, "index": index}


LAST_REPORT_FILE = "last_report"  # in the workspace: the folder of the latest `compare --report` (for the server)


def publish_report(comparison: "Comparison", out_dir: str | Path, workspace: Path,
                   doc_groups: Mapping[str, Iterable[str]], source_groups: Mapping[str, Iterable[str]]) -> Path:
    """`write_report`, then `access.json` beside it (the groups of every document and live source its runs
    touched, which a reader must all hold: governance/reports.py; the server enforces it), then the workspace's
    pointer to it (the server's /v1/report and the web UI serve the latest report). Returns the index page."""
    from ragft.governance.reports import report_access, write_access

    out = Path(out_dir)
    comparison.meta["report"] = str(out / "index.html")
    paths = write_report(comparison, out)
    write_access(out, report_access(comparison.to_dict(), doc_groups, source_groups))
    (workspace / LAST_REPORT_FILE).write_text(str(out.resolve()), encoding="utf-8")
    return paths["index"]


def print_summary(comparison: "Comparison", out: Any, err: Any) -> None:
    """The terminal view: one rich table row per strategy, then recommendation, skips and report path."""
    from rich.table import Table

    def f(v: float | None, digits: int = 3) -> str:
        return "—" if v is None else f"{v:.{digits}f}"

    table = Table(title=f"ragft compare — {comparison.meta.get('questions', 0)} questions ({comparison.meta.get('qa', '')})")
    for col in ("strategy", "EM", "F1", "correct", "faithful", "cit.acc", "recall@k", "abstain", "p50 ms", "p95 ms", "$/1k q", "train $", "failed"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for name, s in comparison.strategies.items():
        table.add_row(
            name + (f" ({s.adapter})" if s.adapter else ""), f(s.exact_match), f(s.f1), f(s.answer_correctness),
            f(s.faithfulness), f(s.citation_accuracy), f(s.recall_at_k), f(s.abstention_rate),
            f(s.latency_ms_p50, 0), f(s.latency_ms_p95, 0), f(s.cost_per_1k, 4), f(s.training_cost_usd, 4),
            f"[red]{s.n_failed}[/red]" if s.n_failed else "0",
        )
    out.print(table)
    if comparison.decision is not None and comparison.decision.recommended is not None:
        for line in decision_lines(comparison):
            out.print(line, highlight=False)
    else:
        out.print(f"recommendation: [bold]{comparison.recommendation or 'none'}[/bold] ({comparison.meta.get('recommendation_rule', '')})", highlight=False)
    for name, reason in comparison.skipped.items():
        err.print(f"[yellow]skipped {name}[/yellow]: {reason}", highlight=False)
    for s_name, s in comparison.strategies.items():
        if s.n_failed:
            first = next((q.results[s_name].error for q in comparison.questions if q.results.get(s_name) and q.results[s_name].error), "")
            err.print(f"[red]{s_name}: {s.n_failed} failed generation(s)[/red], first: {first}", highlight=False)
    for probe in comparison.freshness or []:
        out.print(f"freshness {probe['strategy']}: {'new fact' if probe.get('uses_new_fact') else 'old/other'} — {probe.get('answer') or probe.get('error')}", highlight=False)
    if comparison.meta.get("report"):
        out.print(f"report: {comparison.meta['report']}", highlight=False)


def decision_lines(comparison: "Comparison") -> list[str]:
    """The decision for a terminal (rich markup): the recommendation and its reason, each strategy's 95%
    intervals, and the paired test of the best against each other strategy. Any terminal view can print these."""
    d = comparison.decision
    if d is None or d.recommended is None:
        return [f"recommendation: [bold]{comparison.recommendation or 'none'}[/bold]"]
    verdict = {"significant": "significant", "undecided": "[yellow]undecided: too few questions[/yellow]"}.get(
        d.verdict or "", "[yellow]not significant[/yellow]")
    lines = [f"recommendation: [bold]{d.recommended}[/bold] ({verdict}) — {d.reason}"]
    for name, s in comparison.strategies.items():
        shown = ", ".join(f"{m} [{lo:.3f}, {hi:.3f}]" for m, (lo, hi) in s.ci.items()
                          if m in ("answer_correctness", "f1", "faithfulness", "citation_accuracy"))
        if shown:
            lines.append(f"  {name} 95% CI: {shown}")
    for t in d.tests:
        lines.append(f"  {d.best} vs {t.other}: {t.b} vs {t.c} questions only one got right, McNemar p = {t.p_value:.3g}"
                     f"{'' if t.p_f1 is None else f', F1 permutation p = {t.p_f1:.3g}'}"
                     f"{'' if t.n_needed is None else f', ~{t.n_needed} questions to separate'}")
    return lines
