"""The human side of `ragft advise`: the interactive questionnaire and the terminal view of an `Advice`.

Kept apart from ragft/advise.py (the rules and the decision) so that module stays about the recommendation;
`ragft.advise` re-exports these names for callers that import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragft.advise import COMPLIANCE, FREQUENCIES

if TYPE_CHECKING:
    from ragft.advise import Advice


@dataclass(frozen=True)
class Question:
    """One interactive question; `field` is the AdviceInputs field it fills. Optional numbers accept 'none'."""

    field: str
    text: str
    default: Any
    choices: tuple[str, ...] = ()
    kind: type = str
    optional: bool = False


QUESTIONS: tuple[Question, ...] = (
    Question("update_frequency", "How often do the documents change?", "weekly", FREQUENCIES),
    Question("docs", "How many documents?", 1000, kind=int),
    Question("queries_per_day", "Questions per day?", 100.0, kind=float),
    Question("precision", "Precision need (high = wrong answers are costly)", "normal", ("high", "normal")),
    Question("budget_usd", "Monthly budget in USD ('none' = no limit)", "none", kind=float, optional=True),
    Question("compliance", f"Compliance regimes, comma-separated ({', '.join(sorted(COMPLIANCE))}, or 'none')", "none"),
    Question("latency_ms", "Latency target in ms ('none' = no target)", "none", kind=float, optional=True),
    Question("hardware", "Hardware for training/serving", "cpu", ("cpu", "gpu")),
    Question("citations", "Must answers cite their sources?", False, kind=bool),
    Question("style", "Must output follow a domain-specific style or terminology?", False, kind=bool),
)


def print_advice(advice: "Advice", out: Any, details: bool = False) -> None:
    """The human view: the recommendation, a costs table in ranked order, the reasons and the break-even points."""
    from rich.markup import escape
    from rich.table import Table

    out.print(f"recommended strategy: [bold]{advice.strategy}[/bold]", highlight=False)
    for warning in advice.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    table = Table(title="ranked strategies and costs (USD)", title_justify="left")
    for col in ("strategy", "score", "one-off", "monthly", "amortised/mo", "per 1k queries", "latency ms", "train h/run"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for r in advice.ranking:
        c = advice.costs[r.strategy]
        mark = "*" if c.measured else ""
        table.add_row(
            r.strategy, f"{r.score:+.2f}", f"{c.one_off_usd:,.2f}", f"{c.monthly_usd:,.2f}", f"{c.amortised_monthly_usd:,.2f}",
            f"{c.per_query_usd * 1000:,.4f}{mark}", "-" if c.latency_ms is None else f"{c.latency_ms:,.0f}{mark}",
            "-" if c.train_hours_per_run is None else f"{c.train_hours_per_run:,.2f}",
        )
    out.print(table)
    if any(c.measured for c in advice.costs.values()):
        out.print(f"* measured by ragft compare ({advice.report.path if advice.report else ''})", highlight=False)
    out.print("[bold]reasons[/bold]")
    for f in advice.findings:
        deltas = ", ".join(f"{s} {d:+.2f}" for s, d in f.deltas.items()) or "no change"
        out.print(f"- {escape(f.reason)} [dim]({f.rule}: {deltas})[/dim]", highlight=False)
    be = advice.break_even
    out.print("[bold]break-even[/bold]")
    out.print(f"- {be['ft_vs_rag']['note']}", highlight=False)
    by_f = ", ".join(f"{f}: {s}" for f, s in be["recommendation_by_update_frequency"].items())
    out.print(f"- recommendation by update frequency: {by_f}", highlight=False)
    for flip in be["update_frequency_flips"]:
        out.print(f"  flips from {flip['from_strategy']} ({flip['from_frequency']}) to {flip['to_strategy']} "
                  f"({flip['to_frequency']})", highlight=False)
    if details:
        out.print("[bold]cost lines[/bold]")
        for s, c in advice.costs.items():
            for line in c.lines:
                shown = ", ".join(f"{k}={v}" for k, v in line.inputs.items())
                out.print(f"- {s} {line.item} ({line.kind}): ${line.usd:,.4f} = {escape(line.formula)} "
                          f"[dim]{escape('[' + shown + ']')}[/dim]", highlight=False)
