"""`ragft compare`: the same held-out questions through every strategy, scored side by side.

Flow: load (or synthesise) the held-out QA set -> resolve the adapters ft/hybrid need (train them first with
`train_missing`, else skip the strategy with a message) -> for each strategy, one warm-up question (not timed,
so model and adapter loading do not land in the latency numbers), then every question in the same order
through `Workspace.ask` (the path the CLI and server use) -> per-question scores (metrics.py,
faithfulness.py) -> per-strategy aggregates -> recommendation.

Failed generations are kept: the record carries the error, the strategy reports `n_failed`, and every mean is
taken over the questions that produced an answer, never with a silent 0 or NaN. Undefined scores (no
citations, no context, yes/no gold without a doc_id) are None and counted separately in `n_scored`.

QA file: JSONL, one object per line with "question" and "answer" (strings), optional "doc_id", "source",
"context" and "id". "source" names the gold document by the end of its path ("clauses/payment.md") when the
answer is not a verbatim span of it (a drafted clause, a summary); it resolves to that document's id before
the run, so recall@k and citation accuracy check the document instead of looking for the answer text. Without a file, questions are synthesised from the documents (`synthesise_heldout`) and written to
`<workspace>/eval/heldout.jsonl`; training code reads `heldout_questions(ws_path)` to leave them out.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError, DataError
from ragft.evaluate import metrics as M
from ragft.evaluate.faithfulness import ClaimChecker, LlmJudge, OverlapChecker, faithfulness

if TYPE_CHECKING:
    from ragft.types import Answer, Chunk
    from ragft.workspace import Workspace

STRATEGIES = ("base", "rag", "ft", "hybrid")
RETRIEVAL_STRATEGIES = frozenset({"rag", "hybrid"})
ADAPTER_KIND = {"ft": "ft", "hybrid": "raft"}  # strategy -> adapter kind in the registry
COST_ORDER = {"base": 0, "rag": 1, "ft": 2, "hybrid": 3}  # final tie-break: the simpler setup
F1_TIE = 0.01  # F1 gap below which two strategies count as tied and the cheaper one wins
HELDOUT_FILE = Path("eval") / "heldout.jsonl"
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")

Progress = Callable[[str, int, int], None]  # (strategy, done, total)


# --------------------------------------------------------------------------- QA data
@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str
    doc_id: str | None = None
    context: str | None = None
    source: str | None = None


def load_qa(path: str | Path) -> list[QAItem]:
    """Parse a QA JSONL file; every malformed line is reported at once with its line number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"QA file {path} not found; pass --qa FILE.jsonl with lines {{\"question\": ..., \"answer\": ...}}")
    items: list[QAItem] = []
    problems: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {lineno}: expected an object, got {type(row).__name__}")
            continue
        bad = [k for k in ("question", "answer") if not isinstance(row.get(k), str) or not row[k].strip()]
        bad += [k for k in ("doc_id", "context", "source") if row.get(k) is not None and not isinstance(row[k], (str, int))]
        if bad:
            problems.append(f"line {lineno}: missing or non-string {', '.join(bad)}")
            continue
        items.append(
            QAItem(
                id=str(row.get("id", lineno)),
                question=row["question"].strip(),
                answer=row["answer"].strip(),
                doc_id=str(row["doc_id"]) if row.get("doc_id") is not None else None,
                context=str(row["context"]) if row.get("context") is not None else None,
                source=str(row["source"]) if row.get("source") is not None else None,
            )
        )
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DataError(f"{path}: {len(problems)} malformed line(s): {shown}. Each line needs string \"question\" and \"answer\".")
    if not items:
        raise DataError(f"{path}: no questions; each line needs {{\"question\": ..., \"answer\": ...}}")
    return items


def resolve_sources(items: Sequence[QAItem], documents: Sequence[Any]) -> list[QAItem]:
    """Give every item that names a gold `source` (and no `doc_id`) the id of the one document whose path ends
    with it, compared by whole path components ("payment.md" matches ".../clauses/payment.md", not
    ".../late-payment.md"). No match or several matches is a DataError naming the rows, before any model runs."""
    wanted = [i for i in items if i.source and not i.doc_id]
    if not wanted:
        return list(items)
    by_parts = [(Path(d.source).parts, d.doc_id) for d in documents]
    resolved: dict[str, str] = {}
    problems: list[str] = []
    for source in dict.fromkeys(i.source for i in wanted):
        tail = Path(source).parts
        hits = sorted({doc_id for parts, doc_id in by_parts if tail and parts[-len(tail):] == tail})
        if len(hits) == 1:
            resolved[source] = hits[0]
        else:
            problems.append(f"source {source!r} matches {'no document' if not hits else f'{len(hits)} documents'}")
    if problems:
        raise DataError(f"QA file: {'; '.join(problems)}; give the end of the document's path as `ragft documents` shows it "
                        "(e.g. \"clauses/payment.md\"), unique in the workspace, or a \"doc_id\"")
    return [QAItem(**{**asdict(i), "doc_id": resolved[i.source]}) if i.source and not i.doc_id else i for i in items]


def write_heldout(ws_path: Path, items: Sequence[QAItem]) -> Path:
    """Record the evaluation questions so training leaves them out (see `heldout_questions`)."""
    target = Path(ws_path) / HELDOUT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({k: v for k, v in asdict(i).items() if v is not None}, ensure_ascii=False) for i in items]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def heldout_questions(ws_path: str | Path) -> set[str]:
    """Normalised questions `compare` evaluates on in this workspace; training data must exclude them."""
    target = Path(ws_path) / HELDOUT_FILE
    if not target.is_file():
        return set()
    return {M.normalize_answer(i.question) for i in load_qa(target)}


_SENT = re.compile(r"(?<=[.!?])\s+")
_SPAN = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|\d+(?:[.,]\d+)?)\b|(?<=\s)([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")


def synthesise_heldout(ws: "Workspace", n: int, seed: int = 0) -> list[QAItem]:
    """Extractive cloze questions from the documents (no model, deterministic given `seed`).

    Per sampled chunk: one sentence of 8-40 words, one answer span in it (a number/year, else a capitalised
    name that does not start the sentence), and the question "Fill in the blank: <sentence with ____>".
    The gold answer is the span, `doc_id` the document, `context` the sentence. Cloze questions are easier
    than natural ones, so absolute scores run high; the comparison between strategies is what they are for.
    """
    rng = random.Random(seed)
    docs = sorted(d.doc_id for d in ws.store.list_documents())
    if not docs:
        raise ConfigError("no documents in the workspace to synthesise questions from; `ragft ingest` first or pass --qa")
    rng.shuffle(docs)
    items: list[QAItem] = []
    for doc_id in docs:
        chunks = ws.store.get_chunks([f"{doc_id}:{i}" for i in range(4)])
        sentences = [s for c in chunks for s in _SENT.split(" ".join(c.text.split())) if 8 <= len(s.split()) <= 40]
        rng.shuffle(sentences)
        for sent in sentences:
            spans = [m.group(0) for m in _SPAN.finditer(sent) if m.group(0).lower() not in M.YES_NO]
            if not spans:
                continue
            span = spans[0]
            question = "Fill in the blank: " + sent.replace(span, "____", 1)
            items.append(QAItem(id=f"synth-{len(items)}", question=question, answer=span, doc_id=doc_id, context=sent))
            break
        if len(items) >= n:
            break
    if not items:
        raise ConfigError("could not synthesise any question from the documents (no sentence with a number or name); pass --qa")
    return items


def heldout_set(ws: "Workspace", n: int, seed: int = 0) -> tuple[list[QAItem], str]:
    """The questions to use without --qa, and where they came from.

    1. the held-out split the fine-tuning step wrote next to its adapters (`adapters/<name>/heldout.jsonl`):
       questions synthesised like the training ones but never trained on;
    2. else pairs synthesised now with the generator (`ragft.finetune.synth`, the same quality filter);
    3. else (nothing passed the filter) extractive cloze questions (`synthesise_heldout`, no model).
    The result is written to `<workspace>/eval/heldout.jsonl` by the runner so later training excludes it.
    """
    from ragft.finetune.registry import AdapterRegistry

    seen: set[str] = set()
    items: list[QAItem] = []
    files = sorted(AdapterRegistry(ws.path).root.glob("*/heldout.jsonl"))
    for f in files:
        for item in load_qa(f):
            key = M.normalize_answer(item.question)
            if key not in seen:
                seen.add(key)
                items.append(item)
    if items:
        return items[:n], "held-out split of " + ", ".join(f.parent.name for f in files)
    chunks = _sample_chunks(ws, 3 * n, seed)
    try:
        from ragft.finetune.synth import synthesise_pairs
    except ImportError:
        synthesise_pairs = None  # type: ignore[assignment]
    if synthesise_pairs is not None and chunks:
        report = synthesise_pairs(ws.generator, chunks, n, seed=seed)
        items = [
            QAItem(id=f"synth-{i}", question=p.question, answer=p.answer, doc_id=p.oracle.doc_id, context=p.oracle.text)
            for i, p in enumerate(report.pairs)
        ]
        if items:
            return items, "synthesised with the generator (ragft.finetune.synth)"
    return synthesise_heldout(ws, n, seed), "extractive cloze questions from the documents"


def _sample_chunks(ws: "Workspace", n: int, seed: int) -> list["Chunk"]:
    """Up to `n` chunks spread over a seeded shuffle of the documents (the first chunks of each)."""
    docs = sorted(d.doc_id for d in ws.store.list_documents())
    random.Random(seed).shuffle(docs)
    out: list[Chunk] = []
    for start in range(0, len(docs), 64):
        out += ws.store.get_chunks([f"{d}:{i}" for d in docs[start : start + 64] for i in range(2)])
        if len(out) >= n:
            break
    return out[:n]


def select(items: Sequence[QAItem], limit: int | None, seed: int) -> list[QAItem]:
    """A seeded sample of `limit` items, kept in file order (all items when limit is None or larger)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


# --------------------------------------------------------------------------- results
@dataclass
class StrategyRun:
    """One strategy's answer to one question, with its scores (None = undefined) or its error."""

    answer: str | None = None
    abstained: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None


@dataclass
class QuestionRecord:
    id: str
    question: str
    gold: str
    doc_id: str | None
    results: dict[str, StrategyRun] = field(default_factory=dict)


SCORE_KEYS = ("exact_match", "f1", "answer_correctness", "faithfulness", "citation_accuracy", "recall_at_k")


@dataclass
class StrategySummary:
    """Aggregates of one strategy. The first eight fields are the DESIGN.md contract; the rest are extras."""

    exact_match: float | None
    f1: float | None
    faithfulness: float | None
    citation_accuracy: float | None
    abstention_rate: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    cost_per_1k: float | None
    answer_correctness: float | None = None
    recall_at_k: float | None = None
    tokens_in_mean: float | None = None
    tokens_out_mean: float | None = None
    training_cost_usd: float | None = None
    adapter: str | None = None
    n: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_scored: dict[str, int] = field(default_factory=dict)


@dataclass
class Comparison:
    """Result of `Workspace.compare`; `to_dict()` is results.json and the `--json` output."""

    strategies: dict[str, StrategySummary]
    recommendation: str | None
    questions: list[QuestionRecord]
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    freshness: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "strategies": {k: asdict(v) for k, v in self.strategies.items()},
            "recommendation": self.recommendation,
            "skipped": self.skipped,
            "meta": self.meta,
            "questions": [asdict(q) for q in self.questions],
        }
        if self.freshness is not None:
            out["freshness"] = self.freshness
        return out

    @property
    def exit_code(self) -> int:
        """1 when any generation failed or a requested strategy was skipped (partial result), else 0."""
        return 1 if self.skipped or any(s.n_failed for s in self.strategies.values()) else 0


# --------------------------------------------------------------------------- scoring
def _chunk_texts(ws: "Workspace", chunk_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """chunk_id -> (doc_id, text) for the chunks given to the model."""
    if not chunk_ids:
        return {}
    return {c.chunk_id: (c.doc_id, c.text) for c in ws.store.get_chunks(list(chunk_ids))}


def score_answer(
    ans: "Answer", item: QAItem, strategy: str, contexts: dict[str, tuple[str, str]], checker: ClaimChecker
) -> dict[str, float | None]:
    """Per-question scores. An abstention scores 0 on EM/F1/correctness (the question went unanswered)."""
    text = "" if ans.abstained else _MARKER.sub(" ", ans.answer)
    cited = [(c.doc_id, c.text) for c in ans.citations]
    given = [contexts[cid] for cid in ans.retrieved if cid in contexts]
    faith = None
    if not ans.abstained:
        faith = faithfulness(ans.answer, [t for _, t in given] + [t for _, t in cited], checker).score
    return {
        "exact_match": M.exact_match(text, item.answer),
        "f1": M.token_f1(text, item.answer),
        "answer_correctness": M.answer_correct(text, item.answer),
        "faithfulness": faith,
        "citation_accuracy": None if ans.abstained else M.citation_accuracy(cited, item.answer, item.doc_id),
        "recall_at_k": M.retrieval_recall(given, item.answer, item.doc_id) if strategy in RETRIEVAL_STRATEGIES else None,
    }


def summarise(
    strategy: str, runs: Sequence[StrategyRun], *, remote: bool, hour_usd: float, prices: Any, adapter: str | None,
    train_seconds: float | None,
) -> StrategySummary:
    """Means over successful runs; failures counted in n_failed; undefined scores counted in n_scored."""
    ok = [r for r in runs if r.error is None]
    means: dict[str, float | None] = {}
    n_scored: dict[str, int] = {}
    for key in SCORE_KEYS:
        means[key], n_scored[key] = M.mean_defined(r.scores.get(key) for r in ok)
    latencies = [r.latency_ms for r in ok if M.is_finite(r.latency_ms)]
    mean_latency, _ = M.mean_defined(latencies)
    tin, _ = M.mean_defined(r.tokens_in for r in ok)
    tout, _ = M.mean_defined(r.tokens_out for r in ok)
    return StrategySummary(
        exact_match=means["exact_match"],
        f1=means["f1"],
        faithfulness=means["faithfulness"],
        citation_accuracy=means["citation_accuracy"],
        abstention_rate=(sum(r.abstained for r in ok) / len(ok)) if ok else None,
        latency_ms_p50=M.percentile(latencies, 50),
        latency_ms_p95=M.percentile(latencies, 95),
        cost_per_1k=M.cost_per_1k(
            mean_seconds=None if mean_latency is None else mean_latency / 1000.0,
            mean_tokens_in=tin,
            mean_tokens_out=tout,
            remote=remote,
            hour_usd=hour_usd,
            input_token_usd=prices.input_token_usd,
            output_token_usd=prices.output_token_usd,
        ),
        answer_correctness=means["answer_correctness"],
        recall_at_k=means["recall_at_k"],
        tokens_in_mean=tin,
        tokens_out_mean=tout,
        training_cost_usd=M.training_cost(train_seconds, hour_usd),
        adapter=adapter,
        n=len(runs),
        n_ok=len(ok),
        n_failed=len(runs) - len(ok),
        n_scored=n_scored,
    )


def recommend(summaries: dict[str, StrategySummary]) -> str | None:
    """Best mean F1; strategies within F1_TIE of the best are tied and the cheapest per 1k questions wins
    (then the simpler setup: base < rag < ft < hybrid). None when no strategy produced an answer."""
    scored = {k: v for k, v in summaries.items() if v.f1 is not None}
    if not scored:
        return None
    best = max(v.f1 for v in scored.values())  # type: ignore[type-var]
    tied = [k for k, v in scored.items() if best - v.f1 <= F1_TIE]  # type: ignore[operator]
    return min(tied, key=lambda k: (scored[k].cost_per_1k if scored[k].cost_per_1k is not None else math.inf, COST_ORDER.get(k, 9)))


# --------------------------------------------------------------------------- adapters
def _train_seconds(info: Any) -> float | None:
    for source in (getattr(info, "metrics", {}) or {}, getattr(info, "hyperparameters", {}) or {}):
        for key in ("train_seconds", "training_seconds", "train_runtime", "seconds"):
            if M.is_finite(source.get(key)):
                return float(source[key])
    return None


def resolve_adapter(
    ws: "Workspace", strategy: str, name: str | None, train_missing: bool
) -> tuple[str | None, float | None, str | None]:
    """(adapter name, recorded training seconds, skip reason) for `strategy`.

    An explicit name must exist. Otherwise the newest servable adapter of the right kind ("ft" for ft,
    "raft" for hybrid) is used; with none, `train_missing` trains one from the documents, else the
    strategy is skipped with the command that would fix it.
    """
    kind = ADAPTER_KIND.get(strategy)
    if kind is None:
        return None, None, None
    from ragft.finetune.registry import AdapterRegistry

    registry = AdapterRegistry(ws.path)
    if name:
        info = registry.get(name)  # NotFoundError lists the known adapters
        return info.name, _train_seconds(info), None
    usable = [a for a in registry.list() if a.kind == kind and not (a.tainted and not a.approved)]
    if usable:
        return usable[-1].name, _train_seconds(usable[-1]), None
    if not train_missing:
        flag = "--adapter" if strategy == "ft" else "--hybrid-adapter"
        raft = " --raft" if kind == "raft" else ""
        return None, None, (
            f"no {kind!r} adapter in this workspace; train one with `ragft finetune --name NAME --from-docs{raft}`, "
            f"pass {flag} NAME, or rerun with --train-missing"
        )
    new_name = f"compare-{kind}"
    # Trained on QA synthesised from the documents, never on the evaluation questions (written just before).
    kwargs: dict[str, Any] = {"name": new_name, "raft": kind == "raft", "from_docs": True}
    if "exclude_qa" in inspect.signature(ws.finetune).parameters and (ws.path / HELDOUT_FILE).is_file():
        kwargs["exclude_qa"] = ws.path / HELDOUT_FILE
    started = time.perf_counter()
    ws.finetune(**kwargs)
    info = registry.get(new_name)
    return new_name, _train_seconds(info) or (time.perf_counter() - started), None


def make_checker(ws: "Workspace") -> ClaimChecker:
    cfg = ws.settings.compare
    if cfg.faithfulness == "overlap":
        return OverlapChecker(cfg.support_threshold)
    if not cfg.judge_model or not cfg.judge_base_url:
        raise ConfigError("compare.faithfulness = \"llm\" needs compare.judge_model and compare.judge_base_url in ragft.toml")
    from ragft.config import GeneratorSettings
    from ragft.models.registry import load_generator

    judge = load_generator(
        GeneratorSettings(kind="openai", model=cfg.judge_model, base_url=cfg.judge_base_url, api_key_env=cfg.judge_api_key_env)
    )
    return LlmJudge(judge)


# --------------------------------------------------------------------------- runner
def _run_one(ws: "Workspace", item: QAItem, strategy: str, adapter: str | None, k: int | None, checker: ClaimChecker) -> StrategyRun:
    started = time.perf_counter()
    try:
        ans = ws.ask(item.question, strategy, adapter=adapter, k=k)
    except Exception as exc:  # noqa: BLE001 - a failed generation is data: recorded, counted, shown
        return StrategyRun(error=f"{type(exc).__name__}: {exc}", latency_ms=(time.perf_counter() - started) * 1000)
    wall_ms = (time.perf_counter() - started) * 1000
    latency = ans.latency_ms if M.is_finite(ans.latency_ms) and ans.latency_ms > 0 else wall_ms
    run = StrategyRun(
        answer=ans.answer,
        abstained=bool(ans.abstained),
        citations=[c.to_dict() for c in ans.citations],
        retrieved=list(ans.retrieved),
        latency_ms=latency,
        tokens_in=ans.tokens_in,
        tokens_out=ans.tokens_out,
    )
    if not isinstance(ans.answer, str):
        run.error = f"generator returned {type(ans.answer).__name__}, not text"
        return run
    try:
        run.scores = score_answer(ans, item, strategy, _chunk_texts(ws, ans.retrieved), checker)
    except Exception as exc:  # noqa: BLE001 - e.g. a judge server down: the answer exists, its scoring failed
        run.error = f"scoring failed: {type(exc).__name__}: {exc}"
    return run


def run_compare(
    ws: "Workspace",
    qa: str | Path | None = None,
    strategies: Sequence[str] = STRATEGIES,
    adapter: str | None = None,
    hybrid_adapter: str | None = None,
    train_missing: bool = False,
    limit: int | None = None,
    seed: int = 0,
    k: int | None = None,
    warmup: bool = True,
    progress: Progress | None = None,
) -> Comparison:
    """Run `strategies` over the same questions in the same order; see the module docstring."""
    strategies = list(dict.fromkeys(s.strip() for s in strategies if s.strip()))
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ConfigError(f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {', '.join(STRATEGIES)}")
    _seed_everything(seed)
    if qa is not None:
        items, source = resolve_sources(load_qa(qa), ws.store.list_documents()), str(qa)
    else:
        items, source = heldout_set(ws, ws.settings.compare.heldout_questions, seed)
    items = select(items, limit, seed)
    write_heldout(ws.path, items)
    checker = make_checker(ws)

    adapters: dict[str, str | None] = {}
    train_seconds: dict[str, float | None] = {}
    skipped: dict[str, str] = {}
    for s in strategies:
        explicit = adapter if s == "ft" else hybrid_adapter if s == "hybrid" else None
        adapters[s], train_seconds[s], reason = resolve_adapter(ws, s, explicit, train_missing)
        if reason:
            skipped[s] = reason
    active = [s for s in strategies if s not in skipped]

    records = [QuestionRecord(i.id, i.question, i.answer, i.doc_id) for i in items]
    for s in active:
        if warmup:  # loads the model/adapter outside the timed loop
            _run_one(ws, items[0], s, adapters[s], k, checker)
        for n, (item, rec) in enumerate(zip(items, records), 1):
            rec.results[s] = _run_one(ws, item, s, adapters[s], k, checker)
            if progress is not None:
                progress(s, n, len(items))

    remote = ws.settings.generator.kind == "openai"
    hour_usd = ws.settings.prices.gpu_hour_usd if _on_gpu() else ws.settings.prices.cpu_hour_usd
    summaries = {
        s: summarise(
            s, [r.results[s] for r in records], remote=remote, hour_usd=hour_usd, prices=ws.settings.prices,
            adapter=adapters[s], train_seconds=train_seconds[s],
        )
        for s in active
    }
    meta = {
        "qa": source,
        "questions": len(items),
        "seed": seed,
        "k": k or ws.settings.retrieval.k,
        "generator": ws.generator.name if active else ws.settings.generator.model,
        "remote_generator": remote,
        "hour_usd": hour_usd,
        "faithfulness_checker": checker.name,
        "heldout_file": str(ws.path / HELDOUT_FILE),
        "warmup": warmup,
        "recommendation_rule": f"best mean F1; within {F1_TIE} F1 the cheapest per 1k questions, then base<rag<ft<hybrid",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return Comparison(summaries, recommend(summaries), records, meta, skipped)


def _seed_everything(seed: int) -> None:
    """Seed torch's sampler (only matters at temperature > 0; greedy decoding is deterministic).

    Question sampling uses its own `random.Random(seed)`, so Python's global generator is left alone."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _on_gpu() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


# --------------------------------------------------------------------------- freshness probe
_INVENTED = ("Vaskelund", "Quenthira", "Morrowgate", "Zelbrandt", "Orvanique", "Talmuresh")


def _doc_chunks(ws: "Workspace", doc_id: str) -> list["Chunk"]:
    out: list[Chunk] = []
    while True:
        batch = ws.store.get_chunks([f"{doc_id}:{i}" for i in range(len(out), len(out) + 32)])
        out += batch
        if len(batch) < 32:
            return out


def _new_fact(old: str, rng: random.Random) -> str:
    """A replacement that cannot already be in the corpus: a shifted number, else an invented name."""
    if re.fullmatch(r"\d{1,6}", old.strip()):
        return str(int(old) + rng.randint(3, 9))
    return rng.choice(_INVENTED)


def freshness_probe(ws: "Workspace", comparison: Comparison, k: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Change one fact after training and see which strategies answer with the new one.

    Picks the first evaluated question whose gold answer (not yes/no) occurs in a chunk that retrieval finds
    for it; in a throw-away copy of the workspace (the SQLite store and ragft.toml; adapters are read from
    the original), that document's chunks get the gold answer replaced by a new value and are re-embedded,
    then each compared strategy answers the question again. RAG and hybrid should say the new value; base
    and ft cannot know it (their knowledge is frozen at training time). The original workspace is untouched.
    """
    import shutil
    import tempfile
    from hashlib import sha256

    from ragft.types import Document
    from ragft.workspace import Workspace

    if ws.settings.store.backend != "sqlite":
        raise ConfigError("--freshness copies the workspace and needs store.backend = \"sqlite\"")
    rng = random.Random(seed)
    probe = None
    for rec in comparison.questions:
        if M.text_contains_answer("", rec.gold) is None:
            continue
        hits = [h for h in ws.search(rec.question, k=k or ws.settings.retrieval.k) if M.text_contains_answer(h.text, rec.gold)]
        if hits:
            probe = (rec, hits[0].doc_id)
            break
    if probe is None:
        return [{"strategy": s, "error": "no evaluated question has its answer in a retrievable chunk"} for s in comparison.strategies]
    rec, doc_id = probe
    old, new = rec.gold, _new_fact(rec.gold, rng)
    pattern = re.compile(re.escape(old), re.IGNORECASE)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ragft-freshness-") as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(ws.path, copy, ignore=shutil.ignore_patterns("adapters", "eval", "*.lock"))
        probe_ws = Workspace(copy, settings=ws.settings, embedder=ws.embedder, generator=ws.generator)
        try:
            doc = probe_ws.store.get_document(doc_id)
            chunks = [replace_text(c, pattern.sub(new, c.text)) for c in _doc_chunks(probe_ws, doc_id)]
            body = "\n".join(c.text for c in chunks)
            changed = Document(**{**asdict(doc), "content_hash": sha256(body.encode()).hexdigest()})  # type: ignore[arg-type]
            probe_ws.store.replace_document(changed, chunks, probe_ws.embedder.embed([c.text for c in chunks]))
            if (ws.path / "adapters").exists():  # adapters are read in place from the original workspace
                (copy / "adapters").symlink_to(ws.path.resolve() / "adapters", target_is_directory=True)
            for s, summary in comparison.strategies.items():
                run = _run_one(probe_ws, QAItem("freshness", rec.question, new, doc_id), s, summary.adapter, k, OverlapChecker())
                results.append({
                    "strategy": s, "question": rec.question, "doc_id": doc_id, "old": old, "new": new,
                    "answer": run.answer, "error": run.error,
                    "uses_new_fact": bool(run.answer and M.text_contains_answer(run.answer, new)),
                    "uses_old_fact": bool(run.answer and M.text_contains_answer(run.answer, old)),
                })
        finally:
            probe_ws.close()
    return results


def replace_text(chunk: "Chunk", text: str) -> "Chunk":
    from dataclasses import replace

    return replace(chunk, text=text)
