"""The terminal view of `ragft advise`: the recommendation, warnings, ranked costs, reasons and break-even points.

Kept apart from ragft/advise.py (the rules and the decision), which re-exports `print_advice`; this module imports
nothing from it (the dependency runs one way), so `advice` is typed by its documented shape.
"""

from __future__ import annotations

from typing import Any


def print_advice(advice: Any, out: Any, details: bool = False) -> None:
    """The human view of a `ragft.advise.Advice`: the recommendation, a costs table in ranked order, the
    reasons and the break-even points, on a rich console `out`."""
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
