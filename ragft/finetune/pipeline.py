"""`Workspace.finetune`: build the dataset, train, register — and resume or retrain by name.

Data sources (exactly one of `data` / `from_docs`; `raft` switches the example format):
- `--data FILE`: user QA / chat rows (data.py). Lineage = the row's `doc_id` when given, else the documents
  whose chunk text contains the answer as a span (`lineage.documents_method = "answer-match"`; yes/no and
  answers under 3 characters match nothing). Chat rows carry no document link (`"none"` when no row matched).
- `--from-docs`: QA pairs synthesised from the chunks (synth.py: answer spans by rules, template questions; the
  generator only rewrites questions when given calls); lineage = the source documents of the chunks used
  (`"chunks"`). A held-out share never enters training (`heldout.jsonl`).
- `--raft`: each grounded pair becomes a RAFT example (raft.py); lineage adds the distractor documents.

Run state lives in `adapters/.runs/<name>/` (run.json, train/val JSONL, checkpoints) until the adapter is
registered; then it is deleted, because it holds document text and erasure must not miss a copy.
`--resume` reuses that state exactly (same data, same settings), so the step count matches an uninterrupted run.
`--retrain NAME` rebuilds the data from the current store with the recorded settings: erased documents are gone
from the store, and user rows whose lineage touched them are dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.config import LORA_OVERRIDE_KEYS, TRAIN_OVERRIDE_KEYS
from ragft.errors import ConfigError, DataError, NotFoundError
from ragft.finetune import TrainExample, TrainReport
from ragft.finetune.data import (QAPair, dataset_sha256, load_rows, normalise_question, qa_to_example, read_answer_keys,
                                 read_questions, split_heldout)
from ragft.finetune.raft import GroundedQA, build_raft_examples, find_span, ground_pairs
from ragft.finetune.registry import AdapterInfo, AdapterRegistry, validate_name
from ragft.models.compute import compute_thread
from ragft.prompting import closed_book_messages, get_format
from ragft.types import Chunk

if TYPE_CHECKING:
    from ragft.config import GeneratorSettings, TrainSettings
    from ragft.finetune.train import LoraArgs, Progress, TrainArgs, TrainResult
    from ragft.models.base import Generator
    from ragft.store.base import Store

RUNS_DIR = ".runs"
ROW_LINEAGE = "lineage.json"  # in the adapter folder: row hash -> document ids, so a retrain drops erased rows
EVAL_HELDOUT = "eval/heldout.jsonl"  # written by `ragft compare` (evaluate/compare.py)
HELDOUT_FILE = "heldout.jsonl"  # synthesised pairs never trained on; ends up next to the adapter
LoadModel = Callable[[str], tuple[Any, Any]]

RAFT_MICRO_BATCH = 2
"""Per-device batch for RAFT training unless --batch-size is given (gradient accumulation keeps the effective batch)."""


def _write_jsonl(path: Path, examples: Sequence[TrainExample]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_record(), ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[TrainExample]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            out.append(TrainExample(prompt=tuple(r["prompt"]), completion=r["completion"], doc_ids=tuple(r["doc_ids"])))
    return out


def row_key(ex: TrainExample) -> str:
    """A content hash of one example's prompt and target (no text is stored, only this key)."""
    record = {"prompt": [dict(m) for m in ex.prompt], "completion": ex.completion}
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def _answer_docs(answer: str, chunks: Sequence[Chunk]) -> list[str]:
    """Documents whose chunks contain `answer` as a span (lineage for user rows without a doc_id)."""
    a = answer.strip().lower()
    if len(a) < 3 or a in {"yes", "no"}:
        return []
    return sorted({c.doc_id for c in chunks if a in c.text.lower() and find_span(c.text, answer)})


@dataclass
class FinetuneParts:
    """What fine-tuning uses, built by `Workspace.finetune` (explicit collaborators, no workspace).

    Args:
        store: the chunks to train on (`--from-docs`, RAFT contexts, answer-match lineage).
        registry: where adapters and their run state live.
        train, generator_settings: the `[train]` and `[generator]` settings.
        prompt_format: `answer.prompt_format` (RAFT examples are laid out as the answer path prompts).
        generator: factory of the generator that synthesises QA pairs (`--from-docs`; loaded only then).
        eval_heldout: the questions `ragft compare` evaluates on; they never enter training.
    """

    store: "Store"
    registry: AdapterRegistry
    train: "TrainSettings"
    generator_settings: "GeneratorSettings"
    prompt_format: str
    generator: Callable[[], "Generator"]
    eval_heldout: Path


def _sources(store: "Store") -> dict[str, str]:
    return {d.doc_id: d.source for d in store.list_documents()}


def build_dataset(
    parts: FinetuneParts,
    *,
    data: str | None,
    from_docs: bool,
    raft: bool,
    exclude: set[str],
    drop_docs: set[str] = frozenset(),  # type: ignore[assignment]
    notes: list[str],
    heldout_path: Path | None = None,
    row_docs: dict[str, list[str]] | None = None,
    exclude_answers: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    synth_progress: Callable[[int, int], None] | None = None,
) -> tuple[list[TrainExample], str]:
    """(examples, documents_method). Raises DataError/ConfigError with a fix when nothing usable is left.
    `synth_progress(done, total)` follows QA synthesis (`--from-docs`), the long silent step before training."""
    t = parts.train
    if bool(data) == bool(from_docs):
        raise ConfigError("pass exactly one of --data FILE.jsonl or --from-docs")
    chunks = list(parts.store.iter_chunks())
    if data:
        rows = load_rows(data)
        pairs = [r for r in rows if isinstance(r, QAPair)]
        chats = [r for r in rows if isinstance(r, TrainExample)]
        leaked = [p for p in pairs if normalise_question(p.question) in exclude]
        if leaked:
            notes.append(f"{len(leaked)} row(s) left out: their question is in the evaluation set (lines "
                         + ", ".join(str(p.line) for p in leaked[:10]) + ")")
        pairs = [p for p in pairs if normalise_question(p.question) not in exclude]
        if raft:
            if chats:
                notes.append(f"{len(chats)} chat row(s) left out: RAFT needs question/answer rows")
            grounded, missing = ground_pairs([(p.question, p.answer, p.doc_id, f"line {p.line}") for p in pairs], chunks)
            if missing:
                notes.append(f"{len(missing)} row(s) left out of RAFT: no chunk contains the answer as a span "
                             f"({', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''})")
            return _raft(parts, grounded, chunks, exclude, drop_docs), "chunks"
        examples = [qa_to_example(p, [p.doc_id] if p.doc_id else _answer_docs(p.answer, chunks)) for p in pairs] + chats
        if row_docs:  # a retrain: rows keep the documents they were linked to, even once those are erased
            examples = [replace(e, doc_ids=tuple(sorted(set(e.doc_ids) | set(row_docs.get(row_key(e), ())))))
                        for e in examples]
        before = len(examples)
        examples = [e for e in examples if not set(e.doc_ids) & drop_docs]
        if before != len(examples):
            notes.append(f"{before - len(examples)} row(s) left out: linked to erased documents")
        if not examples:
            raise DataError(f"{data}: no training rows left after leaving out evaluation questions and erased documents")
        method = "answer-match" if any(e.doc_ids for e in examples) else "none"
        return examples, method
    # --from-docs
    if not chunks:
        raise ConfigError("the workspace has no documents; run `ragft ingest PATH` before `ragft finetune --from-docs`")
    from ragft.finetune.synth import synthesise_pairs

    synth = synthesise_pairs(parts.generator(), chunks, t.synth_questions, seed=t.seed, exclude=exclude,
                             exclude_answers=exclude_answers, progress=synth_progress)
    notes.append(f"synthesised {len(synth.pairs)} QA pair(s) from {synth.attempts} chunk(s) in {synth.seconds:.1f} s; rejected: "
                 + (", ".join(f"{k} {v}" for k, v in synth.rejected.most_common()) or "none"))
    if len(synth.pairs) < 2:
        why = ", ".join(f"{k} {v}" for k, v in synth.rejected.most_common()) or "no reply rejected"
        raise DataError(f"only {len(synth.pairs)} usable QA pair(s) could be synthesised from {synth.attempts} chunk(s) "
                        f"(rejected: {why}); provide --data FILE.jsonl with question/answer rows instead")
    train_pairs, heldout = split_heldout(synth.pairs, t.heldout_fraction, t.seed)
    if heldout_path is not None:
        heldout_path.parent.mkdir(parents=True, exist_ok=True)
        with heldout_path.open("w", encoding="utf-8") as fh:
            for p in heldout:
                fh.write(json.dumps({"question": p.question, "answer": p.answer, "doc_id": p.oracle.doc_id,
                                     "chunk_id": p.oracle.chunk_id}, ensure_ascii=False) + "\n")
        notes.append(f"{len(heldout)} held-out pair(s) kept out of training: {heldout_path}")
    if raft:
        return _raft(parts, train_pairs, chunks, exclude, drop_docs), "chunks"
    return [TrainExample(prompt=tuple(closed_book_messages(p.question)), completion=p.answer,
                         doc_ids=(p.oracle.doc_id,), origin=p.origin) for p in train_pairs], "chunks"


def _raft(parts: FinetuneParts, grounded: list[GroundedQA], chunks: list[Chunk], exclude: set[str],
          drop_docs: set[str]) -> list[TrainExample]:
    t = parts.train
    pool = [c for c in chunks if c.doc_id not in drop_docs]
    grounded = [g for g in grounded if g.oracle.doc_id not in drop_docs]
    rs = build_raft_examples(grounded, pool, distractors=t.raft_distractors, oracle_share=t.raft_oracle_share,
                             seed=t.seed, exclude=exclude, chunk_words=t.raft_chunk_words,
                             layout=get_format(parts.prompt_format), sources=_sources(parts.store))
    if not rs.examples:
        raise DataError("no RAFT examples: no question/answer row has its answer as a span of a workspace chunk; "
                        "ingest the documents the answers come from, or use --from-docs")
    return rs.examples


@dataclass
class _Plan:
    """The resolved request: what to train on and with which settings (a retrain fills it from the registry)."""

    data: str | None
    from_docs: bool
    raft: bool
    epochs: float | None
    exclude_qa: str | None
    overrides: dict[str, Any]
    drop_docs: set[str] = field(default_factory=set)
    row_docs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "raft" if self.raft else "ft"


@dataclass
class _Run:
    """The prepared run state (also what `run.json` + train/val JSONL hold, for --resume and DDP ranks)."""

    args: "TrainArgs"
    lora: "LoraArgs"
    train: list[TrainExample]
    val: list[TrainExample]
    kind: str
    source: dict[str, Any]
    method: str
    base_model: str


def run_finetune(
    parts: FinetuneParts,
    name: str,
    data: str | None = None,
    from_docs: bool = False,
    raft: bool = False,
    epochs: float | None = None,
    resume: bool = False,
    retrain: bool = False,
    progress: "Progress | None" = None,
    exclude_qa: str | None = None,
    overrides: dict[str, Any] | None = None,
    load_model: LoadModel | None = None,
    synth_progress: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Train adapter `name`: resolve the request -> prepare the run state -> train -> register (module docstring).
    `progress` follows training steps, `synth_progress(done, total)` QA synthesis (`--from-docs`).

    Under `accelerate launch` every process runs this function. Only the main one builds the dataset and writes
    run state; the others wait, then read that state exactly as --resume does (so all shard the same rows).
    """
    from ragft.finetune.train import ProcessGroup

    validate_name(name)
    registry = parts.registry
    run_dir = registry.root / RUNS_DIR / name
    notes: list[str] = []
    group = ProcessGroup.from_env()
    t0 = time.perf_counter()
    plan = _Plan(data=data, from_docs=from_docs, raft=raft, epochs=epochs, exclude_qa=exclude_qa,
                 overrides={k: v for k, v in (overrides or {}).items() if v is not None})
    _check_name(registry, name, run_dir, resume=resume, retrain=retrain)
    if not resume and group.is_main:
        if retrain:
            plan = _resolve_retrain(parts, name, plan, notes)
        run = _prepare(parts, plan, run_dir, notes, retrain=retrain, synth_progress=synth_progress)
    group.barrier()  # the run state exists on disk before any other process reads it
    if resume or not group.is_main:
        run = _load_run(run_dir)
        notes.extend(_load_notes(run_dir))
    # the base model loads and trains on the compute thread, where the generator computes too (synthesis before,
    # answers after, in one process): one OpenMP team for the process (models/compute.py)
    stop = threading.Event()
    result = compute_thread().run(_train, parts, run, run_dir, registry.adapter_dir(name), resume=resume,
                                  progress=progress, load_model=load_model, stop=stop, cancel=stop)
    if result.dropped_too_long:
        notes.append(f"{result.dropped_too_long} example(s) longer than max_length={run.args.max_length} tokens left "
                     "out; raise --max-length to keep them")
    assert result.is_main_process == group.is_main, "launcher rank and Trainer rank disagree"
    return _register(registry, name, run, result, run_dir, notes, seconds=round(time.perf_counter() - t0, 2))


def _check_name(registry: AdapterRegistry, name: str, run_dir: Path, *, resume: bool, retrain: bool) -> None:
    """Refuse before any work (on every process alike): nothing to resume, nothing to retrain, or a taken name."""
    if resume:
        if not (run_dir / "run.json").is_file():
            raise NotFoundError(f"no interrupted run named {name!r} to resume (looked in {run_dir}); start it without --resume")
    elif retrain:
        registry.get(name)  # NotFoundError on every process alike, before any waits
    elif registry.exists(name):
        raise ConfigError(f"adapter {name!r} already exists; choose another --name, or `ragft finetune --retrain {name}`")


def _resolve_retrain(parts: FinetuneParts, name: str, plan: _Plan, notes: list[str]) -> _Plan:
    """A retrain's request: the recorded data source and hyperparameters (explicit overrides still win), minus
    the documents erased since (tainted lineage, or no longer in the store)."""
    info = parts.registry.get(name)
    source = dict(info.hyperparameters.get("source", {}))
    hp = info.hyperparameters
    present = {d.doc_id for d in parts.store.list_documents()}
    drop_docs = set(info.tainted_by) | (set(info.lineage.get("documents", [])) - present)
    notes.append(f"retrain of {name}: {len(drop_docs)} erased document(s) excluded")
    lineage_file = parts.registry.adapter_dir(name) / ROW_LINEAGE
    row_docs = json.loads(lineage_file.read_text(encoding="utf-8")) if lineage_file.is_file() else {}
    return _Plan(
        data=source.get("data"), from_docs=bool(source.get("from_docs")), raft=bool(source.get("raft")),
        epochs=plan.epochs if plan.epochs is not None else hp.get("epochs"),
        exclude_qa=plan.exclude_qa or source.get("exclude_qa"),
        overrides={**{k: hp.get(k) for k in (*TRAIN_OVERRIDE_KEYS, "epochs")}, **plan.overrides},
        drop_docs=drop_docs, row_docs=row_docs,
    )


def _prepare(parts: FinetuneParts, plan: _Plan, run_dir: Path, notes: list[str], *, retrain: bool,
             synth_progress: Callable[[int, int], None] | None = None) -> _Run:
    """Build the dataset, resolve TrainArgs/LoraArgs, split train/val and write the run state to `run_dir`."""
    from ragft.finetune.train import TrainArgs, lora_from_settings

    t = parts.train
    data = plan.data
    source = {"data": str(Path(data).resolve()) if data and not retrain else data, "from_docs": plan.from_docs,
              "raft": plan.raft, "exclude_qa": plan.exclude_qa}
    exclude = read_questions(plan.exclude_qa) if plan.exclude_qa else set()
    if parts.eval_heldout.is_file():  # the questions `ragft compare` evaluates on never enter training
        exclude |= read_questions(parts.eval_heldout)
    # ... nor the facts they ask for, under another wording: (document, answer) pairs of the evaluation set
    exclude_answers = read_answer_keys(parts.eval_heldout) | (read_answer_keys(plan.exclude_qa) if plan.exclude_qa else set())
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    examples, method = build_dataset(parts, data=data, from_docs=plan.from_docs, raft=plan.raft, exclude=exclude,
                                     drop_docs=plan.drop_docs, notes=notes, heldout_path=run_dir / HELDOUT_FILE,
                                     row_docs=plan.row_docs, exclude_answers=exclude_answers,
                                     synth_progress=synth_progress)
    # None = "not given" (the CLI passes every flag): drop them so the RAFT defaults below can apply.
    overrides = plan.overrides
    train_overrides = {k: v for k, v in overrides.items() if k not in LORA_OVERRIDE_KEYS and v is not None}
    train_overrides["epochs"] = plan.epochs
    if plan.raft:
        train_overrides.setdefault("max_length", max(t.max_length, t.raft_max_length))
        if "batch_size" not in train_overrides and t.batch_size > RAFT_MICRO_BATCH:
            # RAFT rows carry their sources (~3x longer): at 8 x 768 tokens the 49k-vocab logits and their
            # gradients took 12.7 GB and were OOM-killed. Same effective batch, smaller micro-batches.
            accum = train_overrides.get("grad_accum", t.grad_accum)
            train_overrides["grad_accum"] = accum * math.ceil(t.batch_size / RAFT_MICRO_BATCH)
            train_overrides["batch_size"] = RAFT_MICRO_BATCH
    args = TrainArgs.from_settings(t, **{k: v for k, v in train_overrides.items() if k in TrainArgs.__dataclass_fields__})
    lora = lora_from_settings(t, **{LORA_OVERRIDE_KEYS[k]: v for k, v in overrides.items() if k in LORA_OVERRIDE_KEYS})
    train, val = split_heldout(examples, t.val_fraction, t.seed) if len(examples) >= 4 else (examples, [])
    _write_jsonl(run_dir / "train.jsonl", train)
    _write_jsonl(run_dir / "val.jsonl", val)
    run = _Run(args=args, lora=lora, train=train, val=val, kind=plan.kind, source=source, method=method,
               base_model=parts.generator_settings.model)
    state = {"kind": run.kind, "source": source, "documents_method": method, "base_model": run.base_model,
             "train_args": asdict(args), "lora": {**asdict(lora), "target_modules": list(lora.target_modules)},
             "notes": notes}
    (run_dir / "run.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    return run


def _load_run(run_dir: Path) -> _Run:
    """The run state `_prepare` wrote to `run_dir` (for --resume, and for non-main processes under DDP)."""
    from ragft.finetune.train import LoraArgs, TrainArgs

    state = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    args = TrainArgs(**state["train_args"])
    lora = LoraArgs(**{**state["lora"], "target_modules": tuple(state["lora"]["target_modules"])})
    return _Run(args=args, lora=lora, train=_read_jsonl(run_dir / "train.jsonl"), val=_read_jsonl(run_dir / "val.jsonl"),
                kind=state["kind"], source=state["source"], method=state["documents_method"],
                base_model=state["base_model"])


def _load_notes(run_dir: Path) -> list[str]:
    return list(json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("notes", []))


def _train(parts: FinetuneParts, run: _Run, run_dir: Path, adapter_dir: Path, *, resume: bool,
           progress: "Progress | None", load_model: LoadModel | None, stop: threading.Event) -> "TrainResult":
    """Load the base model and train the LoRA adapter into `adapter_dir` (checkpoints in `run_dir`); training
    ends at its next step once `stop` is set."""
    from ragft.finetune.train import train_lora

    if parts.generator_settings.kind != "bundled":
        raise ConfigError("fine-tuning needs a local generator (generator.kind = \"bundled\"); a remote API model cannot be trained here")
    if load_model is None:
        from ragft.models.weights import load_causal_lm as load_model  # type: ignore[assignment]
    from ragft.models.weights import resolve_placement

    gs = parts.generator_settings
    placement = resolve_placement(gs.device, gs.dtype)  # ConfigError for a GPU torch cannot see, before loading
    model, tokenizer = load_model(run.base_model)  # float32 on CPU: the Trainer places it (mixed precision on GPUs)
    return train_lora(model, tokenizer, run.train, run.val, run_dir, adapter_dir, run.args, run.lora, resume=resume,
                      progress=progress, placement=placement, stop=stop)


def _register(registry: AdapterRegistry, name: str, run: _Run, result: "TrainResult", run_dir: Path,
              notes: list[str], *, seconds: float) -> TrainReport:
    """The report; on the main process also the registry record, the row lineage and the run-state cleanup."""
    adapter_dir = registry.adapter_dir(name)
    args, lora, train, val = run.args, run.lora, run.train, run.val
    all_examples = list(train) + list(val)
    doc_ids = sorted({d for ex in all_examples for d in ex.doc_ids})
    lineage = {"documents": doc_ids, "dataset_sha256": dataset_sha256(all_examples), "documents_method": run.method}
    report = TrainReport(
        adapter=name, path=str(adapter_dir.resolve()), steps=result.steps, train_loss=result.train_loss,
        val_loss=result.val_loss, tokens_per_s=result.tokens_per_s, lineage=lineage, kind=run.kind,
        examples=len(train), val_examples=len(val), seconds=seconds,
        resumed_from_step=result.resumed_from_step, stopped_early=result.stopped_early, notes=notes,
        world_size=result.world_size,
    )
    if result.is_main_process:  # the registry record, row lineage and run-state cleanup: once, by rank 0
        hyper = {**{k: v for k, v in asdict(args).items()}, "lora_r": lora.r, "lora_alpha": lora.alpha,
                 "lora_dropout": lora.dropout, "target_modules": list(lora.target_modules), "source": run.source}
        metrics = {"final_train_loss": result.train_loss[-1] if result.train_loss else None,
                   "final_val_loss": result.val_loss[-1] if result.val_loss else None,
                   "tokens_per_s": result.tokens_per_s, "seconds": result.seconds, "steps": result.steps,
                   "examples": len(train), "val_examples": len(val), "world_size": result.world_size}
        registry.register(AdapterInfo(name=name, path=report.path, kind=run.kind, base_model=run.base_model,  # type: ignore[arg-type]
                                      hyperparameters=hyper, metrics=metrics, lineage=lineage))
        rows = {row_key(ex): list(ex.doc_ids) for ex in all_examples if ex.doc_ids}
        (adapter_dir / ROW_LINEAGE).write_text(json.dumps(rows, sort_keys=True), encoding="utf-8")
        if (run_dir / HELDOUT_FILE).is_file():
            shutil.move(str(run_dir / HELDOUT_FILE), str(adapter_dir / HELDOUT_FILE))
            notes[:] = [n.replace(str(run_dir / HELDOUT_FILE), str(adapter_dir / HELDOUT_FILE)) for n in notes]
        shutil.rmtree(run_dir, ignore_errors=True)  # holds document text: no stray copy after erasure
    return report
