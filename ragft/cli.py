"""`ragft` command line: a thin typer layer, one Workspace method per command.

Conventions (DESIGN.md contract): every command takes `-w/--workspace` and `--json`; with `--json` stdout
carries exactly one JSON document and nothing else (progress and logs go to stderr). A RagftError becomes
one line on stderr and its exit code (0 ok, 1 partial failure, 2 usage/config error). Heavy libraries are
imported inside commands so `--help` stays fast.
"""

from __future__ import annotations

import json
import os
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


# Model loading must not draw its own tqdm bars ("Loading weights") into the terminal or around --json output;
# long work shows ragft's own rich bars on stderr instead. Read by huggingface_hub/transformers at import.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(
    cls=_Group,
    help="ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies over your documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
def _console(stderr: bool = False) -> Console:
    """Rich console; when piped (a log, CI, `| less`) rich would assume 80 columns and squeeze wide tables such as
    `compare`'s into unreadable "0.…" cells, so non-terminals get 160 columns unless $COLUMNS says otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, width=width)


err = _console(stderr=True)
out = _console()


def _print_version(value: bool) -> None:
    if value:
        from ragft import __version__

        sys.stdout.write(f"ragft {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies over your documents."""


WorkspaceOpt = typer.Option(None, "-w", "--workspace", help="Workspace folder (default: $RAGFT_WORKSPACE, else ./ragft-workspace).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _comma_list(value: Optional[str]) -> Optional[list[str]]:
    """`--groups g1,g2` as a list; None when the option was not given (no filter), which differs from ""."""
    return [g.strip() for g in value.split(",")] if value is not None else None


def open_workspace(path: Optional[Path]):
    from ragft.workspace import Workspace

    return Workspace(path)


def emit_json(data: Any) -> None:
    """The only way commands write JSON: one document, stdout, newline-terminated."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class _Bars:
    """Rich progress bars on stderr, one per phase; every callback is a no-op when disabled (--json).

    `with _Bars(not json_out, "ingesting") as bars: ws.ingest(..., progress=bars.update)`: the library calls
    `update(done, total)`, or `update(phase, done, total)` for multi-phase work (eval, compare).
    """

    def __init__(self, enabled: bool, label: str) -> None:
        self.label = label
        self._tasks: dict[str, Any] = {}
        self._bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err, transient=True)

    def __enter__(self) -> "_Bars":
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, *args: Any) -> None:
        if self._bar is None:
            return
        phase, done, total = (self.label, *args) if len(args) == 2 else args
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(str(phase), total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)


# --------------------------------------------------------------------------- knowledge base
@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    group: list[str] = typer.Option([], "--group", "-g", help="Access group(s); documents without a group are public."),
    subject: Optional[str] = typer.Option(None, "--subject", help="Data-subject id, for erasure with `ragft forget`."),
    meta: list[str] = typer.Option([], "--meta", help="Your own KEY=VALUE tag on the documents (repeatable); reserved keys such as groups are refused."),
    workers: int = typer.Option(0, "--workers", min=0, max=64, help="Embed in N CPU worker processes for this run (sets [embedder] devices to N x \"cpu\"); 0 = as configured. Measure first: on few CPU cores one process using every core is usually as fast (docs/benchmarks.md ## Ingest)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Ingest documents (txt, md, html, pdf, docx, csv, json, jsonl). Unchanged files are skipped."""
    from ragft.errors import ConfigError

    pairs = [m.partition("=") for m in meta]
    bad = [m for m, (k, eq, _) in zip(meta, pairs) if not eq or not k]
    if bad:
        raise ConfigError(f"--meta takes KEY=VALUE, got {bad[0]!r}")
    ws = open_workspace(workspace)
    if workers:
        ws.settings.embedder.devices = ["cpu"] * workers  # this run only; ragft.toml is not rewritten
    with _Bars(not json_out, "ingesting") as bars:
        report = ws.ingest(paths, groups=group, subject=subject, progress=bars.update,
                           metadata={k: v for k, _, v in pairs})
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
    group_list = _comma_list(groups)
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
def documents(
    user: Optional[str] = typer.Option(None, "--user", help="Only documents this user may read."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated: only public documents and those in these groups."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List the ingested documents: id, source, groups, subject and your --meta tags (ids are what `delete` takes)."""
    group_list = _comma_list(groups)
    docs = open_workspace(workspace).documents(user=user, groups=group_list)
    if json_out:
        emit_json({"documents": [{"doc_id": d.doc_id, "source": d.source, "title": d.title, "groups": list(d.groups),
                                  "subject": d.subject, "meta": dict(d.metadata.get("user") or {})} for d in docs]})
        return
    if not docs:
        out.print("no documents (add some with `ragft ingest PATH`)")
    for d in docs:
        extra = "".join(f"  {k}: {v}" for k, v in (("groups", ", ".join(d.groups)), ("subject", d.subject)) if v)
        out.print(f"{d.doc_id}  {d.source}{extra}", highlight=False, markup=False)
    if docs:
        out.print(f"{len(docs)} document(s)", style="dim")


@app.command()
def delete(
    doc_id: str = typer.Argument(..., help="Document id (see `ragft documents`)."),
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


@app.command()
def reembed(
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Re-embed every chunk with the configured embedder (needed after changing embedder.model)."""
    ws = open_workspace(workspace)
    with _Bars(not json_out, "re-embedding") as bars:
        report = ws.reembed(progress=bars.update)
    if json_out:
        emit_json(report.to_dict())
    else:
        out.print(
            f"re-embedded {report.documents} document(s), {report.chunks} chunk(s) with {report.embedder} "
            f"({report.seconds:.1f} s)"
        )


# --------------------------------------------------------------------------- evaluation
eval_app = typer.Typer(help="Measure retrieval quality on public benchmarks or your own data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Path = typer.Option(..., "--beir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    mode: Optional[str] = typer.Option(None, "--mode", help="hybrid | bm25 | dense (default from ragft.toml)."),
    rerank: bool = typer.Option(False, "--rerank", help="Rerank with the cross-encoder set in retrieval.reranker."),
    k: int = typer.Option(10, "-k", help="Extra cut-off for nDCG/Recall/MRR@k (the @10/@100 figures are always given).", min=1, max=1000),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N queries.", min=1),
    workspace: Optional[Path] = typer.Option(None, "-w", "--workspace", help="Workspace to ingest into (default: a throwaway temporary one)."),
    json_out: bool = JsonOpt,
) -> None:
    """Ingest a BEIR corpus and report nDCG@10, Recall@100, MRR@10 and query latency."""
    import tempfile

    tmp = tempfile.TemporaryDirectory(prefix="ragft-eval-") if workspace is None else None
    ws = open_workspace(Path(tmp.name) if tmp is not None else workspace)
    try:
        with _Bars(not json_out, "evaluating") as bars:
            result = ws.eval_retrieval(beir, mode=mode, rerank=rerank, k=k, limit=limit, progress=bars.update)
    finally:
        ws.close()
        if tmp is not None:
            tmp.cleanup()
    data = result.to_dict()
    if json_out:
        emit_json(data)
        return
    out.print(
        f"{data['queries']} queries, mode {data['mode']}{' + rerank' if rerank else ''}: "
        f"nDCG@10 {data['ndcg@10']:.4f}  Recall@100 {data['recall@100']:.4f}  MRR@10 {data['mrr@10']:.4f}  "
        f"latency p50 {data['latency_ms_p50']:.1f} ms, p95 {data['latency_ms_p95']:.1f} ms",
        highlight=False,
    )


@app.command()
def compare(
    qa: Optional[Path] = typer.Option(None, "--qa", help="Held-out QA JSONL: {\"question\", \"answer\"} per line (+ optional doc_id, context). Default: synthesised from the documents."),
    strategies: str = typer.Option("base,rag,ft,hybrid", "--strategies", help="Comma-separated strategies to compare."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="Adapter for ft (default: the newest 'ft' adapter)."),
    hybrid_adapter: Optional[str] = typer.Option(None, "--hybrid-adapter", help="Adapter for hybrid (default: the newest 'raft' adapter)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write index.html and results.json into this folder."),
    train_missing: bool = typer.Option(False, "--train-missing", help="Train the adapters ft/hybrid need when none exist (else those strategies are skipped)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use a seeded sample of N questions.", min=1),
    seed: int = typer.Option(0, "--seed", help="Seed for question sampling and generation."),
    k: Optional[int] = typer.Option(None, "-k", help="Chunks given to rag/hybrid (default from ragft.toml).", min=1, max=100),
    freshness: bool = typer.Option(False, "--freshness", help="Also change one fact in a copy of the workspace and report which strategies pick it up."),
    repeats: int = typer.Option(1, "--repeats", help="Ask every question R times with different seeds (only when generator.temperature > 0); intervals account for it.", min=1),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run base, RAG, fine-tuned and hybrid on the same held-out questions and compare them."""
    ws = open_workspace(workspace)
    kwargs: dict[str, Any] = dict(
        qa=qa, strategies=[s for s in strategies.split(",") if s.strip()], adapter=adapter, report=report,
        train_missing=train_missing, limit=limit, seed=seed, hybrid_adapter=hybrid_adapter, k=k, freshness=freshness,
        repeats=repeats,
    )
    try:
        with _Bars(not json_out, "comparing") as bars:
            result = ws.compare(progress=bars.update, **kwargs)
    finally:
        ws.close()
    if json_out:
        emit_json(result.to_dict())
    else:
        from ragft.evaluate.report import print_summary

        print_summary(result, out, err)
    raise typer.Exit(result.exit_code)


# --------------------------------------------------------------------------- answering
@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    strategy: str = typer.Option("rag", "--strategy", "-s", help="base | rag | ft | hybrid."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="Adapter name for ft/hybrid (default: newest of its kind)."),
    user: Optional[str] = typer.Option(None, "--user", help="Answer as this user (their groups' documents only)."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated groups to answer as."),
    k: Optional[int] = typer.Option(None, "-k", help="Chunks to retrieve (default retrieval.k).", min=1, max=100),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Answer a question with citations; streams the answer to the terminal unless --json."""
    ws = open_workspace(workspace)
    group_list = _comma_list(groups)
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    try:
        result = ws.ask(question, strategy=strategy, adapter=adapter, user=user, groups=group_list, k=k,
                        on_token=None if json_out else on_token)
    finally:
        ws.close()
    if json_out:
        emit_json(result.to_dict())
        return
    if streamed:
        sys.stdout.write("\n")
        # The streamed text is the raw generation; show the final form when post-processing changed it.
        if " ".join("".join(streamed).split()) != result.answer:
            out.print(f"[dim]answer:[/dim] {result.answer}", highlight=False)
    else:
        out.print(result.answer, highlight=False)
    if result.abstained:
        err.print("[yellow]abstained[/yellow]: the retrieved sources do not support an answer", highlight=False)
    for c in result.citations:
        snippet = " ".join(c.text.split())[:160]
        out.print(f"[bold][{c.n}][/bold] {c.source}  [dim]{snippet}[/dim]", highlight=False)
    err.print(f"[dim]{result.strategy} · {result.model} · {result.latency_ms:.0f} ms[/dim]", highlight=False)


sources_app = typer.Typer(help="Live structured sources (SQL) queried at answer time.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("add-sql")
def sources_add_sql(
    name: str = typer.Argument(..., help="A short name; citations read sql:NAME/TABLE#key."),
    url: str = typer.Argument(..., help="SQLAlchemy URL without password, e.g. sqlite:///inventory.sqlite."),
    table: list[str] = typer.Option([], "--table", "-t", help="Table(s) to query (default: all)."),
    password_env: str = typer.Option("", "--password-env", help="Environment variable holding the password."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Register a live SQL source (read-only; rows fetched at answer time, never copied)."""
    ws = open_workspace(workspace)
    info = ws.add_sql_source(name, url, table, password_env=password_env)
    if json_out:
        emit_json(info)
        return
    out.print(f"added source {name}: " + "; ".join(f"{t}({', '.join(c)})" for t, c in info["columns"].items()),
              highlight=False)


@sources_app.command("list")
def sources_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List registered live sources."""
    rows = open_workspace(workspace).list_sources()
    if json_out:
        emit_json({"sources": rows})
        return
    if not rows:
        out.print("no sources")
    for r in rows:
        out.print(f"{r['name']}  {r['url']}  tables: {', '.join(r['tables']) or 'all'}", highlight=False)


@sources_app.command("remove")
def sources_remove(
    name: str = typer.Argument(..., help="Source name."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Unregister a live source (the database itself is not touched)."""
    info = open_workspace(workspace).remove_source(name)
    if json_out:
        emit_json(info)
    else:
        out.print(f"removed source {name}")


store_app = typer.Typer(help="Store backends: schema migrations, copying the embedded store to PostgreSQL.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def store_copy(
    to: str = typer.Option(..., "--to", help="PostgreSQL DSN, e.g. postgresql://ragft@db/ragft (password via PGPASSWORD or [store] password_env)."),
    batch: int = typer.Option(64, "--batch", help="Documents read per batch (each document is still its own transaction)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Copy documents, chunks and vectors from the workspace's SQLite store into PostgreSQL + pgvector (idempotent)."""
    ws = open_workspace(workspace)
    with _Bars(not json_out, "copying") as bars:
        report = ws.store_copy(to, batch_docs=batch, progress=bars.update)
    if json_out:
        emit_json(report)
        return
    out.print(f"copied {report['documents']} document(s), {report['chunks']} chunk(s); "
              f"{report['skipped']} already up to date ({report['seconds']:.1f} s)", highlight=False)
    out.print(f"to use it, put this in {ws.path / 'ragft.toml'}:\n\n{report['config']}", highlight=False)


@store_app.command("migrate")
def store_migrate(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """Apply pending schema migrations of the configured store (SQLite or PostgreSQL)."""
    info = open_workspace(workspace).store_migrate()
    if json_out:
        emit_json(info)
        return
    applied = ", ".join(info["applied"]) or "none (up to date)"
    out.print(f"{info['backend']}: applied {applied}; schema at {info['migrations'][-1] if info['migrations'] else '-'}",
              highlight=False)


# --------------------------------------------------------------------------- fine-tuning (ragft/finetune/)
@app.command()
def finetune(
    name: Optional[str] = typer.Option(None, "--name", help="Adapter name (letters, digits, . _ -)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training rows: QA JSONL ({question, answer}), chat JSONL ({messages}) or CSV."),
    from_docs: bool = typer.Option(False, "--from-docs", help="Synthesise QA pairs from the workspace's chunks with the generator."),
    raft: bool = typer.Option(False, "--raft", help="Retrieval-aware examples (oracle + distractor chunks) for --strategy hybrid."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the data (default: train.epochs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run of --name from its last checkpoint."),
    retrain: Optional[str] = typer.Option(None, "--retrain", help="Retrain adapter NAME with its recorded settings, without erased documents."),
    exclude_qa: Optional[Path] = typer.Option(None, "--exclude-qa", help="QA file (e.g. your evaluation set) whose questions never enter training."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", min=1, help="LoRA rank (default: train.lora_r)."),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", min=1, help="LoRA alpha."),
    lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout", min=0.0, max=0.99, help="LoRA dropout."),
    target_modules: Optional[str] = typer.Option(None, "--target-modules", help="Comma-separated module names, e.g. q_proj,v_proj."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate", min=0.0, help="AdamW learning rate."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Examples per device step."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", min=1, help="Gradient accumulation steps."),
    max_length: Optional[int] = typer.Option(None, "--max-length", min=32, help="Max tokens per example."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", min=1, help="Checkpoint every N optimiser steps."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Train a LoRA adapter on your QA data or on questions synthesised from your documents (--raft: for hybrid)."""
    from ragft.errors import ConfigError

    if retrain is not None and name is not None and name != retrain:
        raise ConfigError(f"--retrain {retrain} and --name {name} disagree; --retrain keeps the adapter's name")
    adapter = retrain or name
    if adapter is None:
        raise ConfigError("pass --name NAME (or --retrain NAME)")
    ws = open_workspace(workspace)
    overrides = {
        "lora_r": lora_r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout, "learning_rate": learning_rate,
        "batch_size": batch_size, "grad_accum": grad_accum, "max_length": max_length, "seed": seed, "save_steps": save_steps,
        "target_modules": [m.strip() for m in target_modules.split(",") if m.strip()] if target_modules else None,
    }
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = None if json_out else Progress(
        TextColumn(f"training {adapter}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
    )
    task = None

    def progress(step: int, total: int, loss: Optional[float], tokens_per_s: float) -> None:
        nonlocal task
        if bar is None:
            return
        info = f"loss {loss:.3f} · {tokens_per_s:.0f} tok/s" if loss is not None else f"{tokens_per_s:.0f} tok/s"
        if task is None:
            task = bar.add_task("train", total=total, info=info)
        bar.update(task, completed=step, total=total, info=info)

    kwargs = dict(data=data, from_docs=from_docs, raft=raft, epochs=epochs, resume=resume, retrain=retrain is not None,
                  exclude_qa=exclude_qa, overrides=overrides)
    if bar is not None:
        with bar:
            report = ws.finetune(adapter, progress=progress, **kwargs)
    else:
        report = ws.finetune(adapter, **kwargs)
    if json_out:
        emit_json(report.to_dict())
        return
    final = f"{report.train_loss[-1]:.3f}" if report.train_loss else "n/a"
    val = f", val loss {report.val_loss[-1]:.3f}" if report.val_loss else ""
    out.print(f"trained {report.kind} adapter {report.adapter}: {report.steps} steps, train loss {final}{val}, "
              f"{report.tokens_per_s:.0f} tokens/s, {report.seconds:.0f} s -> {report.path}", highlight=False)
    for note in report.notes:
        err.print(f"note: {note}", highlight=False, markup=False)


models_app = typer.Typer(help="Generators and embedders: bundled offline models and the configured ones.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List bundled models (installed? converted into the cache?) and the generator/embedder this workspace uses."""
    info = open_workspace(workspace).models()
    if json_out:
        emit_json(info)
        return
    gen = info["generator"]
    where = f" at {gen['base_url']}" if gen["base_url"] else ""
    out.print(f"generator: {gen['model']} ({gen['kind']}{where})   embedder: {info['embedder']}", highlight=False)
    for m in info["bundled_generators"]:
        state = ("cached" if m["cached"] else "installed (first use converts, ~30-90 s)") if m["installed"] else "not installed"
        out.print(f"  {m['name']}{' (default)' if m['default'] else ''}: {state}", highlight=False, markup=False)
    for m in info["bundled_embedders"]:
        out.print(f"  {m['name']} ({m['dim']}-d embedder){' (default)' if m['default'] else ''}", highlight=False, markup=False)


adapters_app = typer.Typer(help="LoRA adapters trained in this workspace (registry with lineage).", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")


@adapters_app.command("list")
def adapters_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List adapters: kind, base model, metrics, lineage and taint status."""
    rows = open_workspace(workspace).adapters()
    if json_out:
        emit_json({"adapters": [a.to_dict() for a in rows]})
        return
    if not rows:
        out.print("no adapters; train one with `ragft finetune --name NAME --from-docs`")
    for a in rows:
        status = "TAINTED" + (" (approved)" if a.approved else "") if a.tainted else "ok"
        loss = a.metrics.get("final_val_loss") or a.metrics.get("final_train_loss")
        out.print(f"{a.name}  [{a.kind}]  base {a.base_model}  {a.created}  loss {loss}  "
                  f"docs {len(a.lineage.get('documents', []))}  {status}", highlight=False, markup=False)


@adapters_app.command("approve")
def adapters_approve(
    name: str = typer.Argument(..., help="Adapter name."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Allow serving a tainted adapter anyway (an operator decision, recorded in the audit log)."""
    info = open_workspace(workspace).approve_adapter(name)
    if json_out:
        emit_json(info.to_dict())
    else:
        out.print(f"approved {name} (tainted by {', '.join(info.tainted_by) or 'nothing'})", highlight=False)


# --------------------------------------------------------------------------- governance (ragft/governance/)
@app.command()
def forget(
    subject: str = typer.Option(..., "--subject", help="Data-subject id given at ingest (`ragft ingest --subject ID`)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Erase a data subject: documents, chunks, full-text rows, vectors, derived training rows; compact the store;
    list adapters trained on the data (tainted: refused until retrained or approved)."""
    report = open_workspace(workspace).forget(subject)
    if json_out:
        emit_json(report.to_dict())
        return
    out.print(f"erased {report.documents} document(s), {report.chunks} chunk(s) of subject {subject}", highlight=False)
    if report.tainted_adapters:
        out.print(f"tainted adapters (retrain with `ragft finetune --retrain NAME`): {', '.join(report.tainted_adapters)}",
                  highlight=False)


users_app = typer.Typer(help="Users, groups and API keys (keys are shown once and stored hashed).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups the user may read."),
    admin: bool = typer.Option(False, "--admin", help="May delete any document over HTTP, public ones included, and upload public documents."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Create a user and print their API key (shown this once; only its hash is stored)."""
    new = open_workspace(workspace).users.add(name, [g.strip() for g in groups.split(",") if g.strip()], admin=admin)
    if json_out:
        emit_json(new.to_dict())
        return
    out.print(f"user {new.user}{' (admin)' if new.admin else ''} "
              f"(groups: {', '.join(new.groups) or 'none: public documents only'})", highlight=False)
    out.print(f"API key (shown once, store it now): {new.api_key}", highlight=False)


@users_app.command("list")
def users_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List users, their groups and whether they are revoked or admins (never keys or hashes)."""
    rows = [u.public() for u in open_workspace(workspace).users.list()]
    if json_out:
        emit_json({"users": rows})
        return
    if not rows:
        out.print("no users (the server accepts requests without a key until one exists)")
    for r in rows:
        state = "revoked" if r["revoked"] else "active"
        out.print(f"{r['user']}  [{state}{', admin' if r['admin'] else ''}]  groups: {', '.join(r['groups']) or '-'}",
                  highlight=False, markup=False)  # markup=False: "[active]" is not a rich style tag


@users_app.command("revoke")
def users_revoke(
    name: str = typer.Argument(..., help="User name."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Revoke a user's API key at once (the record stays for the audit trail)."""
    user = open_workspace(workspace).users.revoke(name)
    if json_out:
        emit_json(user.public())
    else:
        out.print(f"revoked {name}", highlight=False)


audit_app = typer.Typer(help="The hash-chained audit log (audit.jsonl).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """Check every record's hash chain and the head file; exit 1 when anything was edited, deleted or moved."""
    report = open_workspace(workspace).audit.verify()
    if json_out:
        emit_json(report.to_dict())
    elif report.ok:
        out.print(f"audit log ok: {report.records} record(s), head {report.head_hash[:16]}", highlight=False)
    else:
        err.print(f"audit log BROKEN at line {report.first_bad_line}: {report.reason} "
                  f"({report.records} record(s) verified before it)", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("export")
def audit_export(
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write JSONL here (default: stdout)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Export every audit record as JSONL (to stdout, or --out FILE)."""
    log = open_workspace(workspace).audit
    if out_file is None:
        log.export(sys.stdout)
        sys.stdout.flush()
        return
    with open(out_file, "w", encoding="utf-8") as fh:
        n = log.export(fh)
    if json_out:
        emit_json({"records": n, "out": str(out_file)})
    else:
        out.print(f"exported {n} record(s) to {out_file}", highlight=False)


# --------------------------------------------------------------------------- advice (ragft/advise.py)
def _stdin_is_tty() -> bool:
    """Seam for tests: the questionnaire only runs when a person can answer it."""
    return sys.stdin.isatty()


def _questionnaire() -> dict[str, Any]:
    """Ask the advise questions one by one (only in a terminal, only when no flag was given)."""
    from typing import Literal

    from ragft.advise import QUESTIONS

    answers: dict[str, Any] = {}
    for q in QUESTIONS:
        if q.kind is bool:
            answers[q.field] = typer.confirm(q.text, default=q.default)
            continue
        kind = Literal[q.choices] if q.choices else (str if q.optional else q.kind)  # typer prompts take annotations
        value = typer.prompt(q.text, default=q.default, type=kind)
        if q.optional:
            value = None if str(value).strip().lower() in ("", "none") else value
        answers[q.field] = value
    return answers


@app.command()
def advise(
    update_frequency: Optional[str] = typer.Option(None, "--update-frequency", help="How often the documents change: daily | weekly | monthly | rarely (default weekly)."),
    docs: Optional[int] = typer.Option(None, "--docs", help="Documents in the corpus (default 1000)."),
    queries_per_day: Optional[float] = typer.Option(None, "--queries-per-day", help="Expected questions per day (default 100)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="high | normal (high = wrong answers are costly)."),
    budget: Optional[float] = typer.Option(None, "--budget", help="Monthly budget in USD (default: no limit)."),
    compliance: Optional[str] = typer.Option(None, "--compliance", help="Comma-separated regimes that apply: gdpr, hipaa, ccpa."),
    latency_ms: Optional[float] = typer.Option(None, "--latency-ms", help="Target answer latency (p95) in ms."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="cpu | gpu available for training and serving (default cpu)."),
    citations: Optional[bool] = typer.Option(None, "--citations/--no-citations", help="Answers must cite their sources."),
    style: Optional[bool] = typer.Option(None, "--style/--no-style", help="Output must follow a domain-specific style or terminology."),
    serving: Optional[str] = typer.Option(None, "--serving", help="self-hosted | api generator (default from ragft.toml generator.kind)."),
    training_examples: Optional[int] = typer.Option(None, "--training-examples", help="Training examples available (default 2 per document)."),
    horizon_months: Optional[float] = typer.Option(None, "--horizon-months", help="Months to amortise one-off costs over (default 12)."),
    from_report: Optional[Path] = typer.Option(None, "--from-report", help="A `ragft compare --report DIR` folder: measured F1, latency and cost replace assumptions."),
    details: bool = typer.Option(False, "--details", help="Also print every cost line with its formula and inputs."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Recommend base, RAG, fine-tuning or hybrid, with reasons, a cost model and break-even points.

    Asks the questions interactively when run in a terminal without flags.
    """
    from ragft.advise import make_inputs, print_advice

    values: dict[str, Any] = dict(
        update_frequency=update_frequency, docs=docs, queries_per_day=queries_per_day, precision=precision,
        budget_usd=budget, compliance=compliance, latency_ms=latency_ms, hardware=hardware, citations=citations,
        style=style, serving=serving, training_examples=training_examples, horizon_months=horizon_months,
    )
    if all(v is None for v in values.values()) and from_report is None and not json_out and _stdin_is_tty():
        values = _questionnaire()
    inputs = make_inputs(**values)  # validated before the workspace is touched: bad flags exit 2
    ws = open_workspace(workspace)
    result = ws.advise(inputs, from_report=from_report)
    if json_out:
        emit_json(result.to_dict())
    else:
        print_advice(result, out, details=details)


# --------------------------------------------------------------------------- service (ragft/server/)
@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default server.host, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Port (default server.port, 8000)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Serve the OpenAI-compatible API (/v1/chat/completions, /v1/models), the document API and the web UI at /.

    A bearer API key is required once the workspace has users (`ragft users add`). SIGTERM/Ctrl-C finish
    in-flight answers before exiting.
    """
    import uvicorn

    from ragft.server import create_app

    ws = open_workspace(workspace)
    bind_host = host or ws.settings.server.host
    bind_port = port or ws.settings.server.port
    url = f"http://{bind_host}:{bind_port}/"
    if json_out:
        emit_json({"url": url, "workspace": str(ws.path), "auth": ws.users.exists()})
    else:
        err.print(f"serving {ws.path} at {url} (auth {'on' if ws.users.exists() else 'off: no users yet'})", highlight=False)
    uvicorn.run(create_app(ws), host=bind_host, port=bind_port, log_level="warning" if json_out else "info",
                timeout_graceful_shutdown=120)


# --------------------------------------------------------------------------- entry point
def main() -> None:
    """Console-script entry point (usage errors exit 2, as click does)."""
    app()


if __name__ == "__main__":
    main()
