"""What the CLI shows: human text for each command's typed result, JSON emission, progress bars, the advise
questionnaire. `ragft/cli.py` parses options, calls one Workspace method and hands the result to a `show_*`
function here (or to `emit_json` under `--json`), so commands stay a few lines and rendering lives in one place.

Text goes to stdout (`out`), warnings, notes and progress to stderr (`err`); under `--json` nothing but the one
JSON document reaches stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ragft.finetune import TrainReport
    from ragft.finetune.registry import AdapterInfo
    from ragft.governance.audit import VerifyReport
    from ragft.ingest import ReembedReport
    from ragft.question_file import AskedFile
    from ragft.types import Answer, DeleteReport, Document, Hit, IngestReport


def _console(stderr: bool = False) -> Console:
    """Rich console; when piped (a log, CI, `| less`) rich would assume 80 columns and squeeze wide tables such as
    `compare`'s into unreadable "0.…" cells, so non-terminals get 160 columns unless $COLUMNS says otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, width=width)


err = _console(stderr=True)
out = _console()


def emit_json(data: Any) -> None:
    """The only way commands write JSON: one document, stdout, newline-terminated."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


LINE_EVERY = 10.0
"""Seconds between two progress lines of a task when stderr is no terminal (`_Lines`)."""


class _Lines:
    """What stands in for a rich `Progress` when stderr is no terminal (a log file, CI, `2> file`), where a bar
    draws nothing: a plain line per task every `every` seconds of work and one when it ends, so work shorter
    than `every` prints nothing. Why: `compare --limit 6` sat silent for 60 s in a log and a RAFT training
    under --json for 14 minutes, though the CLI contract puts progress on stderr."""

    def __init__(self, every: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self._clock = LINE_EVERY if every is None else every, clock
        self._tasks: dict[int, dict[str, Any]] = {}
        self._next = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        for task_id in list(self._tasks):
            self.remove_task(task_id)

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        task_id, self._next = self._next, self._next + 1
        now = self._clock()
        self._tasks[task_id] = {"description": description, "total": total, "done": 0, "start": now, "last": now,
                                "said": False, "fields": fields}
        return task_id

    def update(self, task_id: int, completed: float | None = None, total: float | None = None,
               visible: bool = True, **fields: Any) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        task["fields"].update(fields)
        task["total"] = total if total is not None else task["total"]
        task["done"] = completed if completed is not None else task["done"]
        if not visible:
            self.remove_task(task_id)
        elif task["total"] and task["done"] >= task["total"]:
            self.remove_task(task_id)
        elif self._clock() - task["last"] >= self.every:
            self._say(task, ended=False)

    def remove_task(self, task_id: int) -> None:
        task = self._tasks.pop(task_id, None)
        if task is not None and (task["said"] or self._clock() - task["start"] >= self.every):
            self._say(task, ended=True)

    def _say(self, task: dict[str, Any], ended: bool) -> None:
        now = self._clock()
        elapsed = now - task["start"]
        done, total = task["done"], task["total"]
        parts = [task["description"] + ":"]
        if total:
            parts.append(f"{done:g}/{total:g}")
        info = task["fields"].get("info")
        if info:
            parts.append(f"· {info}")
        parts.append(f"· {elapsed:.0f} s")
        if not ended and total and done:
            parts.append(f"· about {elapsed / done * (total - done):.0f} s left")
        sys.stderr.write(" ".join(parts) + "\n")
        sys.stderr.flush()
        task["said"], task["last"] = True, now


class _StderrBars:
    """Progress on stderr, started and stopped as a context manager, under --json too (stdout holds only the JSON):
    a rich `Progress` in a terminal, plain timed lines (`_Lines`) otherwise; absent (every call a no-op) when
    disabled."""

    def __init__(self, enabled: bool, columns: Callable[[], tuple[Any, ...]]) -> None:
        """`columns` builds the rich columns of the terminal bar (rich is imported only for a terminal)."""
        self._bar: Any = None
        if enabled and err.is_terminal:
            from rich.progress import Progress

            self._bar = Progress(*columns(), console=err, transient=True)
        elif enabled:
            self._bar = _Lines()

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def __enter__(self) -> "_StderrBars":
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    @contextmanager
    def loading(self, label: str) -> Iterator[None]:
        """A line for a step of unknown length (a model loading) while it runs: `Workspace.loading`."""
        if self._bar is None:
            yield
            return
        task = self._bar.add_task(label, total=None, info="")
        try:
            yield
        finally:
            self._bar.remove_task(task)


def _bar_columns() -> tuple[Any, ...]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()


def _train_columns() -> tuple[Any, ...]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


class Bars(_StderrBars):
    """Progress bars, one per phase.

    `with Bars("ingesting") as bars: ws.ingest(..., progress=bars.update)`: the library calls
    `update(done, total)` (the `ragft.types.Progress` protocol), or `update(phase, done, total)` for multi-phase
    work (eval, compare).
    """

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self._tasks: dict[str, Any] = {}
        super().__init__(enabled, _bar_columns)

    def update(self, *args: Any) -> None:
        if self._bar is None:
            return
        phase, done, total = (self.label, *args) if len(args) == 2 else args
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(str(phase), total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)


class TrainBar(_StderrBars):
    """The fine-tuning bars, each with elapsed time and ETA: `synth(done, total)` follows QA synthesis
    (`--from-docs`, `Workspace.finetune`'s `synth_progress`), `update(step, total, loss, tokens_per_s)` training
    (its `progress`)."""

    def __init__(self, adapter: str, enabled: bool = True) -> None:
        self.adapter = adapter
        self._task = None
        self._synth_task = None
        super().__init__(enabled, _train_columns)

    def synth(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._synth_task is None:
            self._synth_task = self._bar.add_task("synthesising QA pairs", total=total, info="")
        self._bar.update(self._synth_task, completed=done, total=total)

    def update(self, step: int, total: int, loss: float | None, tokens_per_s: float) -> None:
        if self._bar is None:
            return
        info = f"loss {loss:.3f} · {tokens_per_s:.0f} tok/s" if loss is not None else f"{tokens_per_s:.0f} tok/s"
        if self._task is None:
            if self._synth_task is not None:  # synthesis is over once training steps
                self._bar.update(self._synth_task, visible=False)
            self._task = self._bar.add_task(f"training {self.adapter}", total=total, info=info)
        self._bar.update(self._task, completed=step, total=total, info=info)


# --------------------------------------------------------------------------- knowledge base
def show_ingest(report: "IngestReport") -> None:
    out.print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"chunks {report.chunks}, failed {len(report.failed)}, skipped {len(report.skipped)} "
        f"({report.seconds:.1f} s)"
    )
    for f in report.failed:
        err.print(f"[red]failed[/red] {f.path}: {f.error}", highlight=False)
    for s in report.skipped:
        err.print(f"[yellow]skipped[/yellow] {s.path}: {s.reason}", highlight=False)


def warn_nothing_ingested(report: "IngestReport", paths: "Sequence[Path]") -> None:
    """One warning line on stderr when a run found no file at all, or skipped every file it found: "added 0,
    ..., skipped 0" alone read as success for an empty or mistyped folder."""
    if report.added or report.updated or report.unchanged or report.failed:
        return
    where = ", ".join(str(p) for p in paths)
    if report.skipped:
        kinds = sorted({p.suffix.lower() or p.name for p in (Path(s.path) for s in report.skipped)})
        from ragft.documents.loaders import LOADERS

        err.print(f"warning: nothing was ingested: every file under {where} was skipped ({', '.join(kinds)}; "
                  f"supported: {', '.join(sorted(LOADERS))})", highlight=False, markup=False)
    else:
        err.print(f"warning: no files found under {where}; nothing was ingested", highlight=False, markup=False)


def show_hits(hits: "list[Hit]") -> None:
    if not hits:
        out.print("no results")
    for i, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())[:200]
        out.print(f"[bold]{i}.[/bold] {h.source}  [dim]{h.chunk_id}  score {h.score:.3f}[/dim]", highlight=False)
        out.print(f"   {snippet}", highlight=False)


def show_documents(docs: "list[Document]") -> None:
    if not docs:
        out.print("no documents (add some with `ragft ingest PATH`)")
    from ragft.governance.output import printable

    for d in docs:  # names are user data: no line breaks or bidi overrides reach the terminal (spoofed listings)
        extra = "".join(f"  {k}: {printable(v)}" for k, v in (("groups", ", ".join(d.groups)), ("subject", d.subject or "")) if v)
        out.print(f"{d.doc_id}  {printable(d.source)}{extra}", highlight=False, markup=False)
    if docs:
        out.print(f"{len(docs)} document(s)", style="dim")


def show_delete(report: "DeleteReport") -> None:
    out.print(f"deleted {report.documents} document(s), {report.chunks} chunk(s)")
    if report.tainted_adapters:
        out.print(f"adapters trained on it (tainted): {', '.join(report.tainted_adapters)}")


def show_forget(report: "DeleteReport", subject: str) -> None:
    out.print(f"erased {report.documents} document(s), {report.chunks} chunk(s) of subject {subject}", highlight=False)
    if not report.documents:
        err.print(f"warning: no document of subject {subject!r} here: nothing was erased (a subject is the id given "
                  "at ingest: `ragft ingest --subject ID`)", highlight=False, markup=False)
    if report.tainted_adapters:
        out.print(f"tainted adapters (retrain with `ragft finetune --retrain NAME`): {', '.join(report.tainted_adapters)}",
                  highlight=False)


def show_reembed(report: "ReembedReport") -> None:
    out.print(
        f"re-embedded {report.documents} document(s), {report.chunks} chunk(s) with {report.embedder} "
        f"({report.seconds:.1f} s)"
    )


def show_retrieval_eval(data: dict[str, Any], rerank: bool) -> None:
    out.print(
        f"{data['queries']} queries, mode {data['mode']}{' + rerank' if rerank else ''}: "
        f"nDCG@10 {data['ndcg@10']:.4f}  Recall@100 {data['recall@100']:.4f}  MRR@10 {data['mrr@10']:.4f}  "
        f"latency p50 {data['latency_ms_p50']:.1f} ms, p95 {data['latency_ms_p95']:.1f} ms",
        highlight=False,
    )


def show_compare(comparison: Any, wide: bool) -> None:
    """`compare`'s terminal view. Default: a compact table (the metrics a decision rests on, under ~100 columns);
    `--wide`: every metric (ragft/evaluate/report.py `print_summary`, as in the report). The lines after the
    table (recommendation, skips, failures, report path) are print_summary's in both cases."""
    from ragft.evaluate.report import print_summary

    if wide:
        print_summary(comparison, out, err)
        return
    from rich.table import Table

    def f(v: float | None, digits: int = 3) -> str:
        return "—" if v is None else f"{v:.{digits}f}"

    table = Table(title=f"ragft compare — {comparison.meta.get('questions', 0)} questions",
                  caption="--wide (or --report) for EM, recall@k, p95, training cost and failures")
    for col in ("strategy", "F1", "correct", "faithful", "cit.acc", "abstain", "p50 ms", "$/1k q"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for name, st in comparison.strategies.items():
        table.add_row(name + (f" ({st.adapter})" if st.adapter else ""), f(st.f1), f(st.answer_correctness),
                      f(st.faithfulness), f(st.citation_accuracy), f(st.abstention_rate), f(st.latency_ms_p50, 0),
                      f(st.cost_per_1k, 4))
    out.print(table)
    print_summary(comparison, _WithoutTables(out), err)


class _WithoutTables:
    """A console for print_summary's text lines only: its wide table is replaced by the compact one above."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        from rich.table import Table

        if objects and isinstance(objects[0], Table):
            return
        self._console.print(*objects, **kwargs)


# --------------------------------------------------------------------------- answering
def stream_token(piece: str) -> None:
    """`ask`'s `on_token`: the answer as it is generated, straight to the terminal."""
    sys.stdout.write(piece)
    sys.stdout.flush()


def show_answer(result: "Answer", streamed: list[str], where: str = "") -> None:
    """After `ask`: the final answer (when streaming showed a raw form that post-processing changed), abstention,
    citations and a status line. `where` ("questions.txt:3") leads the lines that go to stderr, so that they still
    say which question they are about when stdout goes elsewhere."""
    from rich.markup import escape  # answers, sources and document text are literal: "[/b]" in one is no style

    if streamed:
        sys.stdout.write("\n")
        # The streamed text is the raw generation; show the final form when post-processing changed it.
        if " ".join("".join(streamed).split()) != result.answer:
            out.print(f"[dim]answer:[/dim] {escape(result.answer)}", highlight=False)
    else:
        out.print(result.answer, highlight=False, markup=False)
    lead = f"{where} " if where else ""
    if result.abstained:
        err.print(f"{escape(lead)}[yellow]abstained[/yellow]: the retrieved sources do not support an answer",
                  highlight=False)
    for c in result.citations:
        snippet = " ".join(c.text.split())[:160]
        out.print(f"[bold][{c.n}][/bold] {escape(c.source)}  [dim]{escape(snippet)}[/dim]", highlight=False)
    err.print(f"[dim]{escape(lead)}{result.strategy} · {result.model} · {result.latency_ms:.0f} ms[/dim]", highlight=False)


def show_asked_file(path: str, result: "AskedFile") -> None:
    """After `ask --questions`: each question (with its line) and its answer as `show_answer` prints it, then
    the lines that failed and a summary."""
    from rich.markup import escape

    for q, answer in result.answers:
        out.print(f"[bold]{escape(path)}:{q.line}[/bold] {escape(q.question)}", highlight=False)
        show_answer(answer, [], where=f"{path}:{q.line}")
        out.print()
    from ragft.question_file import INTERRUPTED

    left = [b.line for b in result.failed if b.error == INTERRUPTED]
    for b in result.failed:
        if b.error != INTERRUPTED:
            err.print(f"[red]failed[/red] {escape(path)}:{b.line}: {escape(b.error)}", highlight=False)
    if left:
        err.print(f"[yellow]interrupted[/yellow]: {len(left)} questions not answered, from line {left[0]}", highlight=False)
    err.print(f"{len(result.answers)} answered, {len(result.failed) - len(left)} failed in {result.seconds:.1f} s",
              highlight=False)


# --------------------------------------------------------------------------- sources and store
def show_source_added(name: str, info: dict[str, Any]) -> None:
    columns = "; ".join(f"{t}({', '.join(c)})" for t, c in info["columns"].items())
    previous = info.get("previous")
    if previous is None:
        out.print(f"added source {name}: {columns}", highlight=False, markup=False)
        return
    was = ", ".join(previous.get("tables") or []) or "all"
    out.print(f"replaced source {name} (tables were: {was}): {columns}", highlight=False, markup=False)


def show_rows(rows: Sequence[Any], empty: str, line: Callable[[Any], str]) -> None:
    """One plain line per row (`line(row)`), or `empty` when there are none. Markup is off: names, URLs and
    "[state]" tags are the user's literal text, not rich styles."""
    if not rows:
        out.print(empty)
    for r in rows:
        out.print(line(r), highlight=False, markup=False)


def show_sources(rows: list[dict[str, Any]]) -> None:
    show_rows(rows, "no sources", lambda r: f"{r['name']}  {r['url']}  tables: {', '.join(r['tables']) or 'all'}  "
                                            f"groups: {', '.join(r.get('groups') or []) or 'public'}")


def show_quarantine(rows: list[dict[str, Any]]) -> None:
    from ragft.governance.output import printable

    show_rows(rows, "no flagged chunks", lambda r: f"{r['doc_id']}  {printable(r['source'])}  "
              f"{len(r['flagged_chunks'])} flagged chunk(s): {'approved' if r['approved'] else 'quarantined'}")


def show_store_copy(report: dict[str, Any], toml_path: Any) -> None:
    out.print(f"copied {report['documents']} document(s), {report['chunks']} chunk(s); "
              f"{report['skipped']} already up to date ({report['seconds']:.1f} s)", highlight=False)
    out.print(f"to use it, put this in {toml_path}:\n\n{report['config']}", highlight=False)


def show_store_migrate(info: dict[str, Any]) -> None:
    applied = ", ".join(info["applied"]) or "none (up to date)"
    out.print(f"{info['backend']}: applied {applied}; schema at {info['migrations'][-1] if info['migrations'] else '-'}",
              highlight=False)


# --------------------------------------------------------------------------- models and adapters
def show_train_report(report: "TrainReport") -> None:
    final = f"{report.train_loss[-1]:.3f}" if report.train_loss else "n/a"
    val = f", val loss {report.val_loss[-1]:.3f}" if report.val_loss else ""
    out.print(f"trained {report.kind} adapter {report.adapter}: {report.steps} steps, train loss {final}{val}, "
              f"{report.tokens_per_s:.0f} tokens/s, {report.seconds:.0f} s -> {report.path}", highlight=False)
    for note in report.notes:
        err.print(f"note: {note}", highlight=False, markup=False)


def show_models(info: dict[str, Any]) -> None:
    gen = info["generator"]
    where = f" at {gen['base_url']}" if gen["base_url"] else ""
    out.print(f"generator: {gen['model']} ({gen['kind']}{where})   embedder: {info['embedder']}", highlight=False)
    for m in info["bundled_generators"]:
        state = ("cached" if m["cached"] else "installed (first use converts, ~30-90 s)") if m["installed"] else "not installed"
        out.print(f"  {m['name']}{' (default)' if m['default'] else ''}: {state}", highlight=False, markup=False)
    for m in info["bundled_embedders"]:
        out.print(f"  {m['name']} ({m['dim']}-d embedder){' (default)' if m['default'] else ''}", highlight=False, markup=False)


def show_adapters(rows: "list[AdapterInfo]") -> None:
    def line(a: "AdapterInfo") -> str:
        status = "TAINTED" + (" (approved)" if a.approved else "") if a.tainted else "ok"
        loss = a.metrics.get("final_val_loss") or a.metrics.get("final_train_loss")
        return (f"{a.name}  [{a.kind}]  base {a.base_model}  {a.created}  loss {loss}  "
                f"docs {len(a.lineage.get('documents', []))}  {status}")

    show_rows(rows, "no adapters; train one with `ragft finetune --name NAME --from-docs`", line)


# --------------------------------------------------------------------------- governance
def show_new_user(new: Any) -> None:
    out.print(f"user {new.user}{' (admin)' if new.admin else ''} "
              f"(groups: {', '.join(new.groups) or 'none: public documents only'})", highlight=False)
    out.print(f"API key (shown once, store it now): {new.api_key}", highlight=False)


def show_users(rows: list[dict[str, Any]]) -> None:
    show_rows(rows, "no users (the server accepts requests without a key until one exists)",
              lambda r: f"{r['user']}  [{'revoked' if r['revoked'] else 'active'}{', admin' if r['admin'] else ''}]  "
                        f"groups: {', '.join(r['groups']) or '-'}")


def show_audit_verify(report: "VerifyReport") -> None:
    if report.ok:
        out.print(f"audit log ok: {report.records} record(s), head {report.head_hash[:16]}", highlight=False)
    else:
        err.print(f"audit log BROKEN at line {report.first_bad_line}: {report.reason} "
                  f"({report.records} record(s) verified before it)", highlight=False)


# --------------------------------------------------------------------------- advice
def questionnaire() -> dict[str, Any]:
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
