"""`ragft` command line: a thin typer layer, one Workspace method per command.

Rendering lives in `ragft/cli_views.py`: a command parses options, calls one Workspace method and passes the
typed result to `emit_json` (--json) or a `show_*` view.

Conventions (DESIGN.md contract): every command takes `-w/--workspace` and `--json`; with `--json` stdout
carries exactly one JSON document and nothing else (progress and logs go to stderr). A RagftError or usage
error becomes one line on stderr, or one `{"error": {...}}` object on stdout under --json, and its exit code
(0 ok, 1 partial failure, 2 usage/config error, 130 interrupted): `ragft/cli_errors.py`. Heavy libraries are
imported inside commands so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ragft import cli_adapters
from ragft import cli_admin as admin
from ragft import cli_views as views
from ragft.cli_admin import JsonOpt, WorkspaceOpt
from ragft.cli_errors import (ErrorHandlingGroup, FastHelpGroup, Interrupted, arguments_in_capitals, flags_without_type_label,
                              notices_to_stderr)
from ragft.cli_views import Bars, emit_json, err, out
from ragft.vocab import RETRIEVAL_MODES, STRATEGIES


flags_without_type_label()
arguments_in_capitals()

# Model loading must not draw its own tqdm bars ("Loading weights") into the terminal or around --json output;
# long work shows ragft's own rich bars on stderr instead. Read by huggingface_hub/transformers at import.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

MODES_HELP = " | ".join(RETRIEVAL_MODES)
STRATEGIES_HELP = " | ".join(STRATEGIES)

app = typer.Typer(
    rich_markup_mode=None,  # help texts are plain: with Rich markup, "[embedder]" or "ragft[search]" vanished as tags
    cls=ErrorHandlingGroup,
    help="ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies over your documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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




def _comma_list(value: Optional[str]) -> Optional[list[str]]:
    """`--groups g1,g2` as a list; None when the option was not given (no filter), which differs from ""."""
    return [g.strip() for g in value.split(",")] if value is not None else None


def open_workspace(path: Optional[Path]):
    """The workspace a command works on (tests replace this to inject a fast embedder)."""
    return admin.open_workspace(path)




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
    # A path that does not exist is a usage error (exit 2, DESIGN.md), caught before anything is opened or written;
    # files that exist but fail to parse are partial failures (exit 1) reported by ingest itself.
    missing = [str(p) for p in paths if not (p.expanduser().exists() or p.expanduser().is_symlink())]
    if missing:
        where = f" (relative paths are read from {Path.cwd()})" if any(not Path(m).is_absolute() for m in missing) else ""
        raise ConfigError(f"no such file or folder: {', '.join(missing)}{where}; check the path")
    ws = open_workspace(workspace)
    if workers:
        ws.settings.embedder.devices = ["cpu"] * workers  # this run only; ragft.toml is not rewritten
    with Bars("ingesting") as bars:
        ws.loading = bars.loading  # the embedder's load (~10-20 s) shows as its own line, not a bar stuck at 0
        report = ws.ingest(paths, groups=group, subject=subject, progress=bars.update,
                           metadata={k: v for k, _, v in pairs})
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_ingest(report)
    views.warn_nothing_ingested(report, paths)
    raise typer.Exit(report.exit_code)


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "-k", help="Number of hits.", min=1, max=1000),
    mode: Optional[str] = typer.Option(None, "--mode", help=f"{MODES_HELP} (default from ragft.toml)."),
    user: Optional[str] = typer.Option(None, "--user", help="Search as this user (their groups only)."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated groups to search as."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Search the knowledge base."""
    if not query.strip():  # as `ask` refuses an empty question: "no results" would read as an empty knowledge base
        from ragft.errors import ConfigError

        raise ConfigError("the query is empty; pass the text to look for as the argument")
    admin.note_new_workspace(workspace)
    ws = open_workspace(workspace)
    group_list = _comma_list(groups)
    hits = ws.search(query, k=k, mode=mode, user=user, groups=group_list)
    if json_out:
        emit_json({"hits": [h.to_dict() for h in hits]})
    else:
        views.show_hits(hits)


@app.command()
def documents(
    user: Optional[str] = typer.Option(None, "--user", help="Only documents this user may read."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated: only public documents and those in these groups."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List the ingested documents: id, source, groups, subject and your --meta tags (ids are what `delete` takes)."""
    group_list = _comma_list(groups)
    docs = admin.open_listing(workspace).documents(user=user, groups=group_list)
    if json_out:
        emit_json({"documents": [d.view().to_dict() for d in docs]})
    else:
        views.show_documents(docs)


@app.command()
def delete(
    doc_id: str = typer.Argument(..., help="Document id (see `ragft documents`)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Delete one document: its chunks, full-text rows and vectors."""
    admin.note_new_workspace(workspace)
    ws = open_workspace(workspace)
    report = ws.delete(doc_id)
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_delete(report)


@app.command()
def reembed(
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Re-embed every chunk with the configured embedder (needed after changing embedder.model)."""
    ws = open_workspace(workspace)
    with Bars("re-embedding") as bars:
        ws.loading = bars.loading
        report = ws.reembed(progress=bars.update)
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_reembed(report)


# --------------------------------------------------------------------------- evaluation
eval_app = typer.Typer(cls=FastHelpGroup, help="Measure retrieval quality on public benchmarks or your own data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Path = typer.Option(..., "--beir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    mode: Optional[str] = typer.Option(None, "--mode", help=f"{MODES_HELP} (default from ragft.toml)."),
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
        with Bars("evaluating") as bars:
            result = ws.eval_retrieval(beir, mode=mode, rerank=rerank, k=k, limit=limit, progress=bars.update)
    finally:
        ws.close()
        if tmp is not None:
            tmp.cleanup()
    data = result.to_dict()
    if json_out:
        emit_json(data)
    else:
        views.show_retrieval_eval(data, rerank)


@app.command()
def compare(
    qa: Optional[Path] = typer.Option(None, "--qa", help="Held-out QA JSONL: {\"question\", \"answer\"} per line (+ optional doc_id, context). Default: synthesised from the documents."),
    strategies: Optional[str] = typer.Option(None, "--strategies", help="Comma-separated strategies to compare (default: [compare] strategies in ragft.toml, all four unless changed)."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="Adapter for ft (default: the newest 'ft' adapter)."),
    hybrid_adapter: Optional[str] = typer.Option(None, "--hybrid-adapter", help="Adapter for hybrid (default: the newest 'raft' adapter)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write index.html and results.json into this folder."),
    train_missing: bool = typer.Option(False, "--train-missing", help="Train the adapters ft/hybrid need when none exist (else those strategies are skipped, and the exit code is 1 when --strategies named them)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use a seeded sample of N questions.", min=1),
    seed: int = typer.Option(0, "--seed", help="Seed for question sampling and generation."),
    k: Optional[int] = typer.Option(None, "-k", help="Chunks given to rag/hybrid (default from ragft.toml).", min=1, max=100),
    freshness: bool = typer.Option(False, "--freshness", help="Also change one fact in a copy of the workspace and report which strategies pick it up."),
    wide: bool = typer.Option(False, "--wide", help="Print every metric (EM, recall@k, p95, training cost, failures); the default table fits ~100 columns."),
    repeats: int = typer.Option(1, "--repeats", help="Ask every question R times with different seeds (only when generator.temperature > 0); intervals account for it.", min=1),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="The most questions decoded together, a finished answer's place taken by the next question (default 8, measured in docs/benchmarks.md); 1 = one at a time.", min=1),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run base, RAG, fine-tuned and hybrid on the same held-out questions and compare them."""
    admin.note_new_workspace(workspace)
    ws = open_workspace(workspace)
    kwargs: dict[str, Any] = dict(
        qa=qa, strategies=None if strategies is None else [s for s in strategies.split(",") if s.strip()],
        adapter=adapter, report=report,
        train_missing=train_missing, limit=limit, seed=seed, hybrid_adapter=hybrid_adapter, k=k, freshness=freshness,
        repeats=repeats, batch_size=batch_size,
    )
    try:
        with Bars("comparing") as bars:
            result = ws.compare(progress=bars.update, **kwargs)
    finally:
        ws.close()
    if json_out:
        emit_json(result.to_dict())
    else:
        views.show_compare(result, wide)
    raise typer.Exit(result.exit_code)


# --------------------------------------------------------------------------- answering
@app.command()
def ask(
    question: Optional[str] = typer.Argument(None, help="The question (or --questions FILE)."),
    questions: Optional[str] = typer.Option(None, "--questions", help="Answer every question of this file in one process (one per line: plain text, or JSON lines with a \"question\" field as `compare --qa` reads them; - = stdin); --json prints {answers: [...], failed: [{line, error}]}, exit 1 when a line failed."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="With --questions: the most questions decoded together, a finished answer's place taken by the next one (default 8, as compare); 1 = one at a time."),
    strategy: str = typer.Option("rag", "--strategy", "-s", help=f"{STRATEGIES_HELP}."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="Adapter name for ft/hybrid (default: newest of its kind)."),
    user: Optional[str] = typer.Option(None, "--user", help="Answer as this user (their groups' documents only)."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Comma-separated groups to answer as."),
    k: Optional[int] = typer.Option(None, "-k", help="Chunks to retrieve (default retrieval.k).", min=1, max=100),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Answer a question with citations; streams the answer to the terminal unless --json. --questions FILE
    answers many."""
    from ragft.errors import ConfigError

    if (question is None) == (questions is None):
        raise ConfigError("pass one QUESTION, or --questions FILE (one question per line), not both"
                          if question is not None else "pass the QUESTION to answer, or --questions FILE (one question per line)")
    if questions is not None:
        _ask_file(questions, strategy, adapter, user, groups, k, batch_size, workspace, json_out)
        return
    if batch_size is not None:
        raise ConfigError("--batch-size applies to --questions FILE; one QUESTION is answered alone")
    if not question.strip():  # before the workspace is opened (Workspace.ask says the same): nothing is created
        raise ConfigError("the question is empty; pass the question text as the argument")
    admin.note_new_workspace(workspace)
    ws = open_workspace(workspace)
    group_list = _comma_list(groups)
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        views.stream_token(piece)

    try:
        result = ws.ask(question, strategy=strategy, adapter=adapter, user=user, groups=group_list, k=k,
                        on_token=None if json_out else on_token)
    finally:
        ws.close()
    if json_out:
        emit_json(result.to_dict())
    else:
        views.show_answer(result, streamed)


def _ask_file(path: str, strategy: str, adapter: Optional[str], user: Optional[str], groups: Optional[str],
              k: Optional[int], batch_size: Optional[int], workspace: Optional[Path], json_out: bool) -> None:
    """`ask --questions FILE` (ragft/question_file.py): one process, the generations shared."""
    from ragft.evaluate.runner import DEFAULT_BATCH_SIZE
    from ragft.question_file import ask_file, read_question_file

    items, bad = read_question_file(path, sys.stdin.buffer.read)
    ws = open_workspace(workspace)
    try:
        with Bars("answering") as bars:
            result = ask_file(ws, items, bad, strategy=strategy, adapter=adapter, user=user,
                              groups=_comma_list(groups), k=k, batch_size=batch_size or DEFAULT_BATCH_SIZE,
                              progress=bars.update)
    finally:
        ws.close()
    if json_out:
        emit_json(result.to_dict())
    else:
        views.show_asked_file(path, result)
    raise typer.Exit(result.exit_code)


app.add_typer(admin.sources_app, name="sources")
app.add_typer(admin.quarantine_app, name="quarantine")
app.add_typer(admin.store_app, name="store")


# --------------------------------------------------------------------------- fine-tuning (ragft/finetune/)
@app.command()
def finetune(
    name: Optional[str] = typer.Option(None, "--name", help="Adapter name (letters, digits, . _ -)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training rows: QA JSONL ({question, answer}), chat JSONL ({messages}) or CSV."),
    from_docs: bool = typer.Option(False, "--from-docs", help="Synthesise QA pairs from the workspace's chunks (answer spans first, then a question around each)."),
    raft: bool = typer.Option(False, "--raft", help="Retrieval-aware examples (oracle + distractor chunks) for --strategy hybrid."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the data (default: train.epochs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run of --name from its last checkpoint (with --search: the interrupted search)."),
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
    search: bool = typer.Option(False, "--search", help="Search hyperparameters (Optuna TPE, median pruning on validation loss); register the best trial. Needs ragft[search]."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Trials of --search (default 8)."),
    space: Optional[str] = typer.Option(None, "--space", help="Space of --search, e.g. lr=1e-4:2e-3:log,lora_r=4|8|16,epochs=1:3 (the default)."),
    objective: Optional[str] = typer.Option(None, "--objective", help="What --search optimises: loss (validation loss, the default) or f1 (mean token F1 of each trial's answers to --qa, strategy ft, hybrid with --raft; pruning still uses the validation loss)."),
    qa: Optional[Path] = typer.Option(None, "--qa", help="Held-out QA JSONL that --objective f1 scores (its questions never enter training)."),
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
    searching = search or trials is not None or space is not None or objective is not None or qa is not None
    if searching:  # flag errors before the workspace is opened
        from ragft.finetune.objective import check_objective

        if not search:
            raise ConfigError("--trials, --space, --objective and --qa belong to --search; add --search")
        check_objective(objective, qa, resume=resume)
    ws = open_workspace(workspace)
    overrides = {
        "lora_r": lora_r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout, "learning_rate": learning_rate,
        "batch_size": batch_size, "grad_accum": grad_accum, "max_length": max_length, "seed": seed, "save_steps": save_steps,
        "target_modules": [m.strip() for m in target_modules.split(",") if m.strip()] if target_modules else None,
    }
    if searching:
        return _finetune_search(ws, adapter, retrain=retrain, epochs=epochs, workspace=workspace,
                                json_out=json_out, data=data, from_docs=from_docs, raft=raft, trials=trials,
                                space=space, resume=resume, exclude_qa=exclude_qa, overrides=overrides,
                                objective=objective, qa=qa)
    kwargs = dict(data=data, from_docs=from_docs, raft=raft, epochs=epochs, resume=resume, retrain=retrain is not None,
                  exclude_qa=exclude_qa, overrides=overrides)
    try:
        with views.TrainBar(adapter) as bar:
            ws.loading = bar.loading
            report = ws.finetune(adapter, progress=bar.update if bar.enabled else None,
                                 synth_progress=bar.synth if bar.enabled else None, **kwargs)
    except KeyboardInterrupt:
        raise Interrupted(_finetune_interrupted(ws, adapter, workspace)) from None
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_train_report(report)


def _finetune_search(ws, adapter: str, *, retrain: Optional[str], epochs: Optional[float],  # type: ignore[no-untyped-def]
                     workspace: Optional[Path], json_out: bool, **kwargs: Any) -> None:
    """`finetune --search`: one stderr line per finished trial (with the study's ETA), then the best trial."""
    from ragft.errors import ConfigError
    from ragft.finetune.objective import describe
    from ragft.finetune.search import format_trial

    if retrain is not None or epochs is not None:
        raise ConfigError("--search picks the settings itself: drop " + ("--retrain" if retrain else "--epochs")
                          + " (search epochs with --space epochs=1:3)")
    for k in ("data", "exclude_qa", "qa"):
        kwargs[k] = str(kwargs[k]) if kwargs[k] is not None else None
    try:
        result = ws.finetune_search(adapter, trial_progress=lambda *a: err.print(format_trial(*a), markup=False,
                                                                                 highlight=False), **kwargs)
    except KeyboardInterrupt:
        where = f" -w {workspace}" if workspace is not None else ""
        raise Interrupted(f"interrupted; finished trials are kept: continue with `ragft finetune --name {adapter} "
                          f"--search --resume{where}`") from None
    if json_out:
        emit_json(result.to_dict())
        return
    best = result.best
    out.print(f"best trial #{best['trial']}: " + " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                                         for k, v in best["params"].items())
              + f"  {describe(best['metric'], best['objective'], best['ci'])}  ({len(result.trials)} trials, {result.seconds:.0f} s)",
              markup=False, highlight=False)
    views.show_train_report(result.report)


def _finetune_interrupted(ws, adapter: str, workspace: Optional[Path]) -> str:  # type: ignore[no-untyped-def]
    """The one line after Ctrl-C in `finetune`: `--resume` once the run state exists, else start again."""
    where = f" -w {workspace}" if workspace is not None else ""
    if ws.finetune_resumable(adapter):
        return (f"interrupted; continue from the last checkpoint with `ragft finetune --name {adapter} --resume{where}` "
                "(checkpoints every train.save_steps steps; without one yet, training restarts on the same data)")
    return (f"interrupted before training started (nothing was saved); run the same command again, "
            f"then `ragft finetune --name {adapter} --resume{where}` continues a later interruption")


app.add_typer(admin.models_app, name="models")


adapters_app = typer.Typer(cls=FastHelpGroup, help="LoRA adapters trained in this workspace (registry with lineage).", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")
cli_adapters.register(adapters_app)  # serve-name, export, check (remote engines)


@adapters_app.command("list")
def adapters_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List adapters: kind, base model, metrics, lineage and taint status."""
    rows = admin.open_listing(workspace).adapters()
    if json_out:
        emit_json({"adapters": [a.to_dict() for a in rows]})
    else:
        views.show_adapters(rows)


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
    admin.note_new_workspace(workspace)
    report = open_workspace(workspace).forget(subject)
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_forget(report, subject)


app.add_typer(admin.users_app, name="users")
app.add_typer(admin.audit_app, name="audit")


# --------------------------------------------------------------------------- advice (ragft/advise.py)
def _stdin_is_tty() -> bool:
    """Seam for tests: the questionnaire only runs when a person can answer it."""
    return sys.stdin.isatty()




@app.command()
def advise(
    update_frequency: Optional[str] = typer.Option(None, "--update-frequency", help="How often the documents change: daily | weekly | monthly | rarely (default weekly)."),
    docs: Optional[int] = typer.Option(None, "--docs", help="Documents in the corpus (default: the workspace's count when it holds documents, else 1000)."),
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
        values = views.questionnaire()
    inputs = make_inputs(**values)  # validated before the workspace is touched: bad flags exit 2
    ws = admin.open_listing(workspace, warn=False)  # advice needs no workspace; it counts the documents of one
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
    in-flight answers before exiting. The models load in the background as it starts.
    """
    import threading

    import uvicorn

    from ragft.server import create_app
    from ragft.server.app import warm_up

    admin.note_new_workspace(workspace)
    ws = open_workspace(workspace)
    cli_adapters.check_before_serve(ws)  # kind = openai: the engine must serve every servable adapter
    bind_host = host or ws.settings.server.host
    bind_port = port or ws.settings.server.port
    url = f"http://{bind_host}:{bind_port}/"
    if json_out:
        emit_json({"url": url, "workspace": str(ws.path), "auth": ws.users.exists()})
    else:
        err.print(f"serving {ws.path} at {url} (auth {'on' if ws.users.exists() else 'off: no users yet'})", highlight=False)
    app = create_app(ws)
    threading.Thread(target=warm_up, args=(ws,), name="ragft-warm-up", daemon=True).start()
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning" if json_out else "info",
                timeout_graceful_shutdown=120)


# --------------------------------------------------------------------------- entry point
def main() -> None:
    """Console-script entry point (usage errors exit 2, as click does)."""
    notices_to_stderr()
    app()


if __name__ == "__main__":
    main()
