"""`ragft` command line: a thin typer layer, one Workspace method per command.

Conventions (DESIGN.md contract): every command takes `-w/--workspace` and `--json`; with `--json` stdout
carries exactly one JSON document and nothing else (progress and logs go to stderr). A RagftError becomes
one line on stderr and its exit code (0 ok, 1 partial failure, 2 usage/config error). Heavy libraries are
imported inside commands so `--help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from ragft.errors import RagftError
from typer.core import TyperGroup


class _Group(TyperGroup):
    """Turns a RagftError raised by any (sub)command into one stderr line and its exit code.

    Done in the click group (not in `main`) so that `CliRunner` tests see the same behaviour as users.
    """

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except RagftError as exc:
            Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    cls=_Group,
    help="ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies over your documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

WorkspaceOpt = typer.Option(None, "-w", "--workspace", help="Workspace folder (default: $RAGFT_WORKSPACE, else ./ragft-workspace).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def open_workspace(path: Optional[Path]):
    from ragft.workspace import Workspace

    return Workspace(path)


def emit_json(data: Any) -> None:
    """The only way commands write JSON: one document, stdout, newline-terminated."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress_bar(enabled: bool, description: str):
    """A rich progress bar on stderr, or None when disabled (--json or not a terminal-worthy job)."""
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)


# --------------------------------------------------------------------------- knowledge base
@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    group: list[str] = typer.Option([], "--group", "-g", help="Access group(s); documents without a group are public."),
    subject: Optional[str] = typer.Option(None, "--subject", help="Data-subject id, for erasure with `ragft forget`."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Ingest documents (txt, md, html, pdf, docx, csv, json, jsonl). Unchanged files are skipped."""
    ws = open_workspace(workspace)
    bar = _progress_bar(not json_out, "ingesting")
    task = None

    def progress(done: int, total: int) -> None:
        nonlocal task
        if bar is None:
            return
        if task is None:
            task = bar.add_task("ingest", total=total)
        bar.update(task, completed=done, total=total)

    if bar is not None:
        with bar:
            report = ws.ingest(paths, groups=group, subject=subject, progress=progress)
    else:
        report = ws.ingest(paths, groups=group, subject=subject)
    if json_out:
        emit_json(report.to_dict())
    else:
        out.print(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"chunks {report.chunks}, failed {len(report.failed)}, skipped {len(report.skipped)} "
            f"({report.seconds:.1f} s)"
        )
        for f in report.failed:
            err.print(f"[red]failed[/red] {f.path}: {f.error}", highlight=False)
        for s in report.skipped:
            err.print(f"[yellow]skipped[/yellow] {s.path}: {s.reason}", highlight=False)
    raise typer.Exit(report.exit_code)


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "-k", help="Number of hits.", min=1, max=1000),
    mode: Optional[str] = typer.Option(None, "--mode", help="hybrid | bm25 | dense (default from ragft.toml)."),
    user: Optional[str] = typer.Option(None, "--user", help="Search as this user (their groups only)."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated groups to search as."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Search the knowledge base."""
    ws = open_workspace(workspace)
    group_list = [g.strip() for g in groups.split(",")] if groups is not None else None
    hits = ws.search(query, k=k, mode=mode, user=user, groups=group_list)
    if json_out:
        emit_json({"hits": [h.to_dict() for h in hits]})
        return
    if not hits:
        out.print("no results")
    for i, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())[:200]
        out.print(f"[bold]{i}.[/bold] {h.source}  [dim]{h.chunk_id}  score {h.score:.3f}[/dim]", highlight=False)
        out.print(f"   {snippet}", highlight=False)


@app.command()
def delete(
    doc_id: str = typer.Argument(..., help="Document id (see `ragft search --json`)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Delete one document: its chunks, full-text rows and vectors."""
    ws = open_workspace(workspace)
    report = ws.delete(doc_id)
    if json_out:
        emit_json(report.to_dict())
    else:
        out.print(f"deleted {report.documents} document(s), {report.chunks} chunk(s)")
        if report.tainted_adapters:
            out.print(f"adapters trained on it (tainted): {', '.join(report.tainted_adapters)}")


# --------------------------------------------------------------------------- entry point
def main() -> None:
    """Console-script entry point (usage errors exit 2, as click does)."""
    app()


if __name__ == "__main__":
    main()
