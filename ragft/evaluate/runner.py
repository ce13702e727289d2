"""The `ragft compare` runner: the same questions through every strategy, scored, summarised and decided.

Flow: the questions (qa.py) -> resolve the adapters ft/hybrid need (train them first with `train_missing`,
else skip the strategy with a message) -> for each strategy, one warm-up question (not timed, so model and
adapter loading do not land in the latency numbers), then every question in the same order through
`Workspace.ask` (the path the CLI and server use; with `batch_size` > 1, runs of consecutive questions through
`Workspace.ask_many`, which takes every decision as `ask` does, with up to `batch_size` generations at once),
`repeats` times with different seeds when the generator samples -> per-question scores (metrics.py,
faithfulness.py) -> per-strategy means with paired-bootstrap intervals -> paired tests and the decision (stats.py).

Failed generations are kept: the record carries the error, the strategy reports `n_failed`, and every mean is
taken over the questions that produced an answer, never with a silent 0 or NaN. Undefined scores (no
citations, no context, yes/no gold without a doc_id) are None and counted separately in `n_scored`.
"""

from __future__ import annotations

import math

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragft.config import ADAPTER_KIND, RETRIEVAL_STRATEGIES, STRATEGIES
from ragft.errors import ConfigError
from ragft.evaluate import metrics as M
from ragft.evaluate import stats
from ragft.evaluate.faithfulness import ClaimChecker, faithfulness, make_checker
from ragft.evaluate.qa import HELDOUT_FILE, QUESTIONS_FILE, QAItem, heldout_set, load_qa, resolve_sources, select, write_heldout
from ragft.citations import strip_markers
from ragft.wellformed import degenerate_reason

if TYPE_CHECKING:
    from ragft.evaluate.seams import EvalWorkspace
    from ragft.types import Answer

COST_ORDER = stats.COST_ORDER

Progress = Callable[[str, int, int], None]  # (strategy, done, total)
DEFAULT_BATCH_SIZE = 8
"""Questions per batched generation in `compare` (docs/benchmarks.md, ### Batched generation)."""


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
    degenerate: str | None = None  # why the answer is a fragment (ragft.wellformed), None when well-formed


@dataclass
class QuestionRecord:
    id: str
    question: str
    gold: str | None  # None: unanswerable from the documents (abstaining is correct)
    doc_id: str | None
    results: dict[str, StrategyRun] = field(default_factory=dict)
    repeats: dict[str, list[StrategyRun]] = field(default_factory=dict)  # answers 2..R with --repeats R

    def runs(self, strategy: str) -> list[StrategyRun]:
        """Every answer of `strategy` to this question (the first, then the repeats)."""
        first = self.results.get(strategy)
        return ([first] if first is not None else []) + self.repeats.get(strategy, [])


SCORE_KEYS = ("exact_match", "f1", "answer_correctness", "faithfulness", "citation_accuracy", "recall_at_k")
CI_KEYS = SCORE_KEYS + ("abstention_rate", "latency_ms_p50", "latency_ms_p95", "cost_per_1k")


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
    abstention_precision: float | None = None  # share of abstentions that were on unanswerable questions
    abstention_recall: float | None = None  # share of unanswerable questions it abstained on
    n_unanswerable: int = 0
    n_degenerate: int = 0
    ci: dict[str, list[float]] = field(default_factory=dict)  # metric -> [low, high], 95% paired bootstrap


@dataclass
class Comparison:
    """Result of `Workspace.compare`; `to_dict()` is results.json and the `--json` output."""

    strategies: dict[str, StrategySummary]
    recommendation: str | None
    questions: list[QuestionRecord]
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    freshness: list[dict[str, Any]] | None = None
    decision: stats.Decision | None = None
    named: bool = True  # the strategies were named by the caller (`--strategies`), not the configured default list

    def to_dict(self) -> dict[str, Any]:
        out = {
            "strategies": {k: asdict(v) for k, v in self.strategies.items()},
            "recommendation": self.recommendation,
            "decision": self.decision.to_dict() if self.decision else None,
            "significance": self.decision.significance() if self.decision else None,
            "skipped": self.skipped,
            "meta": self.meta,
            "questions": [_record_dict(q) for q in self.questions],
        }
        if self.freshness is not None:
            out["freshness"] = self.freshness
        return out

    @property
    def exit_code(self) -> int:
        """1 when any generation failed or a strategy the caller named was skipped (partial result), else 0. Not
        every skip: on a fresh workspace the default list's ft and hybrid have no adapter yet, and base and rag
        alone are the expected first run (each skip is still reported, with the command that fixes it)."""
        skipped = bool(self.skipped) and self.named
        return 1 if skipped or any(s.n_failed for s in self.strategies.values()) else 0


def _record_dict(q: QuestionRecord) -> dict[str, Any]:
    out = asdict(q)
    if not q.repeats:
        out.pop("repeats")
    return out


# --------------------------------------------------------------------------- scoring
def _chunk_texts(ws: "EvalWorkspace", chunk_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """chunk_id -> (doc_id, text) for the chunks given to the model."""
    if not chunk_ids:
        return {}
    return {c.chunk_id: (c.doc_id, c.text) for c in ws.store.get_chunks(list(chunk_ids))}


def score_answer(
    ans: "Answer", item: QAItem, strategy: str, contexts: dict[str, tuple[str, str]], checker: ClaimChecker
) -> dict[str, float | None]:
    """Per-question scores (docs/concepts.md, "How compare scores an answer", defines each one).

    - An abstention scores 0 on EM/F1/correctness for an answerable question and 1 for an unanswerable one
      (gold None); any answer to an unanswerable question scores 0 there.
    - A degenerate answer (a fragment, `ragft.wellformed.degenerate_reason`) gets faithfulness 0 and citation
      accuracy 0 wherever those are defined for the strategy: a fragment cannot be faithful or well cited.
    """
    cited = [(c.doc_id, c.text) for c in ans.citations]
    given = [contexts[cid] for cid in ans.retrieved if cid in contexts]
    can_cite = strategy in RETRIEVAL_STRATEGIES or bool(cited)
    degenerate = None if ans.abstained else degenerate_reason(ans.answer, item.question)
    faith: float | None = None
    if not ans.abstained:
        texts = [t for _, t in given] + [t for _, t in cited]
        if degenerate:
            faith = 0.0 if any(t.strip() for t in texts) else None
        else:
            faith = faithfulness(ans.answer, texts, checker).score
    if item.answer is None:
        right = float(bool(ans.abstained))
        return {"exact_match": right, "f1": right, "answer_correctness": right, "faithfulness": faith,
                "citation_accuracy": None, "recall_at_k": None}
    text = "" if ans.abstained else strip_markers(ans.answer)
    if ans.abstained:
        cit = None
    elif degenerate:
        cit = 0.0 if can_cite else None
    else:
        cit = M.citation_accuracy(cited, item.answer, item.doc_id)
    return {
        "exact_match": M.exact_match(text, item.answer),
        "f1": M.token_f1(text, item.answer),
        "answer_correctness": M.answer_correct(text, item.answer),
        "faithfulness": faith,
        "citation_accuracy": cit,
        "recall_at_k": M.retrieval_recall(given, item.answer, item.doc_id) if strategy in RETRIEVAL_STRATEGIES else None,
    }


def _question_rows(records: Sequence[QuestionRecord], strategy: str, value: Callable[[StrategyRun], float | None]) -> np.ndarray:
    """(questions, repeats) matrix of `value` over the successful runs; NaN for failures and undefined values."""
    return stats.as_matrix([[value(r) if r.error is None else None for r in q.runs(strategy)] for q in records])


def per_question(records: Sequence[QuestionRecord], strategy: str, cost_per_second: float | None,
                 token_prices: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """Every per-question series the summary and its intervals are computed from (questions x repeats)."""
    out = {k: _question_rows(records, strategy, lambda r, k=k: r.scores.get(k)) for k in SCORE_KEYS}
    out["abstention_rate"] = _question_rows(records, strategy, lambda r: float(r.abstained))
    out["latency_ms"] = _question_rows(records, strategy, lambda r: r.latency_ms)
    if token_prices is not None:  # remote: $ per 1k questions from tokens
        pin, pout = token_prices
        out["cost_per_1k"] = _question_rows(
            records, strategy,
            lambda r: None if r.tokens_in is None or r.tokens_out is None else 1000.0 * (r.tokens_in * pin + r.tokens_out * pout))
    elif cost_per_second is not None:  # local: $ per 1k questions from seconds
        out["cost_per_1k"] = _question_rows(
            records, strategy, lambda r: None if not M.is_finite(r.latency_ms) else 1000.0 * r.latency_ms / 1000.0 * cost_per_second)
    return out


def _mean(matrix: np.ndarray) -> tuple[float | None, int]:
    """Mean of the per-question means (each question weighs the same, however many repeats), and how many runs."""
    q = stats._question_means(matrix)
    defined = ~np.isnan(q)
    return (float(q[defined].mean()) if defined.any() else None), int((~np.isnan(matrix)).sum())


def summarise(
    strategy: str, records: Sequence[QuestionRecord], *, remote: bool, hour_usd: float, prices: Any, adapter: str | None,
    train_seconds: float | None,
) -> StrategySummary:
    """Means over successful runs; failures counted in n_failed; undefined scores counted in n_scored."""
    runs = [r for q in records for r in q.runs(strategy)]
    ok = [r for r in runs if r.error is None]
    series = per_question(records, strategy, None, None)
    means: dict[str, float | None] = {}
    n_scored: dict[str, int] = {}
    for key in SCORE_KEYS:
        means[key], n_scored[key] = _mean(series[key])
    latencies = [r.latency_ms for r in ok if M.is_finite(r.latency_ms)]
    mean_latency, _ = M.mean_defined(latencies)
    tin, _ = M.mean_defined(r.tokens_in for r in ok)
    tout, _ = M.mean_defined(r.tokens_out for r in ok)
    unans = [r for q in records if q.gold is None for r in q.runs(strategy) if r.error is None]
    abstained = [r for r in ok if r.abstained]
    right_abstentions = sum(r.abstained for r in unans)
    return StrategySummary(
        exact_match=means["exact_match"],
        f1=means["f1"],
        faithfulness=means["faithfulness"],
        citation_accuracy=means["citation_accuracy"],
        abstention_rate=(len(abstained) / len(ok)) if ok else None,
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
        abstention_precision=(right_abstentions / len(abstained)) if unans and abstained else None,
        abstention_recall=(right_abstentions / len(unans)) if unans else None,
        n_unanswerable=sum(q.gold is None for q in records),
        n_degenerate=sum(r.degenerate is not None for r in ok),
    )


def intervals(series: dict[str, dict[str, np.ndarray]], seed: int, n_boot: int = stats.N_BOOT) -> dict[str, dict[str, list[float]]]:
    """95% paired-bootstrap intervals for every metric of every strategy (one question resampling for all):
    means for the scores, abstention rate and cost; percentiles of the resampled latencies for p50/p95."""
    means = {s: {k: v for k, v in m.items() if k != "latency_ms"} for s, m in series.items()}
    out = stats.bootstrap_cis(means, seed, n_boot)
    n = next((len(a) for m in series.values() for a in m.values()), 0)
    if n == 0:
        return out
    idx = stats.bootstrap_indices(n, seed, n_boot)
    for s, m in series.items():
        lat = m.get("latency_ms")
        if lat is None or int((~np.isnan(lat)).sum()) < 2:
            continue
        for p in (50, 95):
            sample = lat[idx].reshape(n_boot, -1)  # every answer of the resampled questions
            with np.errstate(all="ignore"):
                values = np.nanpercentile(sample, p, axis=1)
            values = values[~np.isnan(values)]
            low, high = np.quantile(values, [0.025, 0.975])
            # rounded outward to 0.1 ms: rounding to nearest could cut off the point estimate at either end
            out[s][f"latency_ms_p{p}"] = [math.floor(float(low) * 10) / 10, math.ceil(float(high) * 10) / 10]
    return out


def decide(records: Sequence[QuestionRecord], series: dict[str, dict[str, np.ndarray]],
           summaries: dict[str, StrategySummary], seed: int) -> stats.Decision:
    """The decision (stats.decide) from the per-question correctness and F1 of every strategy."""
    def squeeze(m: np.ndarray) -> np.ndarray:
        return m[:, 0] if m.shape[1] == 1 else m

    names = [s for s in summaries if s in series]
    return stats.decide(
        {s: squeeze(series[s]["answer_correctness"]) for s in names},
        {s: squeeze(series[s]["f1"]) for s in names},
        {s: summaries[s].cost_per_1k for s in names},
        answerable=np.array([q.gold is not None for q in records]),
        abstained={s: squeeze(series[s]["abstention_rate"]) for s in names},
        seed=seed,
    )


# --------------------------------------------------------------------------- adapters
def _train_seconds(info: Any) -> float | None:
    for source in (getattr(info, "metrics", {}) or {}, getattr(info, "hyperparameters", {}) or {}):
        for key in ("train_seconds", "training_seconds", "train_runtime", "seconds"):
            if M.is_finite(source.get(key)):
                return float(source[key])
    return None


def resolve_adapter(
    ws: "EvalWorkspace", strategy: str, name: str | None, train_missing: bool
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
    try:
        usable = registry.newest_servable(kind)
        return usable.name, _train_seconds(usable), None
    except ConfigError as exc:
        if not train_missing:
            flag = "--adapter" if strategy == "ft" else "--hybrid-adapter"
            return None, None, f"{exc}; or pass {flag} NAME, or rerun with --train-missing"
    new_name = f"compare-{kind}"
    # Trained on QA synthesised from the documents, never on the evaluation questions (written just before).
    kwargs: dict[str, Any] = {"name": new_name, "raft": kind == "raft", "from_docs": True}
    if (ws.path / HELDOUT_FILE).is_file():
        kwargs["exclude_qa"] = ws.path / HELDOUT_FILE
    started = time.perf_counter()
    ws.finetune(**kwargs)
    info = registry.get(new_name)
    return new_name, _train_seconds(info) or (time.perf_counter() - started), None


# --------------------------------------------------------------------------- runner
def _run_one(ws: "EvalWorkspace", item: QAItem, strategy: str, adapter: str | None, k: int | None, checker: ClaimChecker) -> StrategyRun:
    started = time.perf_counter()
    try:
        ans = ws.ask(item.question, strategy, adapter=adapter, k=k)
    except Exception as exc:  # noqa: BLE001 - a failed generation is data: recorded, counted, shown
        return StrategyRun(error=f"{type(exc).__name__}: {exc}", latency_ms=(time.perf_counter() - started) * 1000)
    return _scored_run(ws, ans, item, strategy, checker, (time.perf_counter() - started) * 1000)


def _scored_run(ws: "EvalWorkspace", ans: "Answer", item: QAItem, strategy: str, checker: ClaimChecker,
                wall_ms: float) -> StrategyRun:
    """The run record of one answer, scored; `wall_ms` stands in when the answer carries no latency."""
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
    run.degenerate = None if run.abstained else degenerate_reason(ans.answer, item.question)
    try:
        run.scores = score_answer(ans, item, strategy, _chunk_texts(ws, ans.retrieved), checker)
    except Exception as exc:  # noqa: BLE001 - e.g. a judge server down: the answer exists, its scoring failed
        run.error = f"scoring failed: {type(exc).__name__}: {exc}"
    return run


def answer_and_score(ws: "EvalWorkspace", items: Sequence[QAItem], strategy: str, adapter: str | None = None, *,
                     checker: ClaimChecker, k: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                     repeat: int = 0, on_batch: Callable[[int, list[StrategyRun]], None] | None = None
                     ) -> list[StrategyRun]:
    """`items` answered in order by `strategy` (with `adapter`) and scored as `compare` does: one run per item, a
    failed generation kept as a run with `.error`, never raised. With `batch_size` > 1, up to `batch_size`
    questions decode together (`_run_many`): greedy answers all through one `Workspace.ask_many` (the bundled
    generator refills a finished answer's row with the next question, so the list has one tail), sampled ones
    one batch at a time, each batch seeded with `run_seed(seed, repeat, its first index)`; 1 is one `ask` each.
    `on_batch(index, [run])` follows every answer as it is ready. Also the f1 objective of `finetune --search`
    (ragft/finetune/objective.py)."""
    sampling = ws.settings.generator.temperature > 0
    batched = batch_size > 1 and hasattr(ws, "ask_many")
    step = 1 if not batched else batch_size if sampling else max(1, len(items))
    out: list[StrategyRun] = []
    for start in range(0, len(items), step):
        if sampling:  # one seed per batch, the same on every rerun with the same batch size
            _seed_everything(run_seed(seed, repeat, start))
        part = items[start:start + step]
        if len(part) > 1:
            out.extend(_run_many(ws, part, strategy, adapter, k, checker, batch_size, start, on_batch))
            continue
        out.append(_run_one(ws, part[0], strategy, adapter, k, checker))
        if on_batch is not None:
            on_batch(start, out[-1:])
    return out


def _run_many(ws: "EvalWorkspace", items: Sequence[QAItem], strategy: str, adapter: str | None, k: int | None,
              checker: ClaimChecker, batch_size: int, start: int,
              on_batch: Callable[[int, list[StrategyRun]], None] | None) -> list[StrategyRun]:
    """`items` in one `Workspace.ask_many`, each answer scored and reported (`on_batch(start + i, [run])`) as it is
    ready, its latency completed when all are; questions a failure left unanswered go one by one."""
    got: dict[int, tuple["Answer", StrategyRun]] = {}

    def ready(i: int, ans: "Answer") -> None:
        got[i] = (ans, _scored_run(ws, ans, items[i], strategy, checker, 0.0))
        if on_batch is not None:
            on_batch(start + i, [got[i][1]])

    try:
        ws.ask_many([it.question for it in items], strategy, adapter=adapter, k=k,
                    batch_size=min(batch_size, len(items)), on_answer=ready)
    except Exception:  # noqa: BLE001 - the rest is retried one by one below, each error recorded with its question
        pass
    runs = []
    for i, it in enumerate(items):
        if i in got:
            ans, run = got[i]
            run.latency_ms = ans.latency_ms if M.is_finite(ans.latency_ms) else run.latency_ms  # now with its share
        else:
            run = _run_one(ws, it, strategy, adapter, k, checker)
            if on_batch is not None:
                on_batch(start + i, [run])
        runs.append(run)
    return runs


def run_seed(seed: int, repeat: int, question: int) -> int:
    """The sampling seed of one answer: distinct per (run seed, repeat, question), the same on every rerun."""
    return (seed * 1_000_003 + repeat * 10_007 + question) % 2**31


def run_compare(
    ws: "EvalWorkspace",
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
    repeats: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Comparison:
    """Run `strategies` over the same questions in the same order; see the module docstring.

    `repeats` > 1 asks every question that many times with different sampling seeds, when the generator
    samples (temperature > 0); with greedy decoding the answers would be identical, so it runs once.
    `batch_size` > 1 answers that many consecutive questions with one batched generation (`Workspace.ask_many`);
    1 is the one-question-at-a-time path. Each answer's latency is then its share of its batch's time."""
    strategies = list(dict.fromkeys(s.strip() for s in strategies if s.strip()))
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ConfigError(f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {', '.join(STRATEGIES)}")
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    batched = batch_size > 1 and hasattr(ws, "ask_many")
    sampling = ws.settings.generator.temperature > 0
    n_repeats = repeats if sampling else 1
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
    total = len(items) * n_repeats
    for s in active:
        if warmup:  # loads the model/adapter outside the timed loop
            _run_one(ws, items[0], s, adapters[s], k, checker)
        done = 0
        for r in range(n_repeats):
            def keep(start: int, runs: list[StrategyRun], s: str = s, r: int = r) -> None:
                nonlocal done
                for rec, run in zip(records[start:start + len(runs)], runs):
                    if r == 0:
                        rec.results[s] = run
                    else:
                        rec.repeats.setdefault(s, []).append(run)
                    done += 1
                    if progress is not None:
                        progress(s, done, total)

            answer_and_score(ws, items, s, adapters[s], checker=checker, k=k, batch_size=batch_size, seed=seed,
                             repeat=r, on_batch=keep)

    remote = ws.settings.generator.kind == "openai"
    hour_usd = ws.settings.prices.gpu_hour_usd if _on_gpu() else ws.settings.prices.cpu_hour_usd
    prices = ws.settings.prices
    summaries = {
        s: summarise(s, records, remote=remote, hour_usd=hour_usd, prices=prices, adapter=adapters[s],
                     train_seconds=train_seconds[s])
        for s in active
    }
    token_prices = (prices.input_token_usd, prices.output_token_usd) if remote else None
    series = {s: per_question(records, s, hour_usd / 3600.0, token_prices) for s in active}
    for s, ci in intervals(series, seed).items():
        summaries[s].ci = ci
    decision = decide(records, series, summaries, seed) if active else None
    meta = {
        "qa": source,
        "questions": len(items),
        "unanswerable": sum(i.answer is None for i in items),
        "repeats": n_repeats,
        "repeats_requested": repeats,
        "seed": seed,
        "k": k or ws.settings.retrieval.k,
        "generator": ws.generator.name if active else ws.settings.generator.model,
        "temperature": ws.settings.generator.temperature,
        "remote_generator": remote,
        "hour_usd": hour_usd,
        "faithfulness_checker": checker.name,
        "heldout_file": str(ws.path / HELDOUT_FILE),
        "questions_file": str(ws.path / QUESTIONS_FILE),
        "warmup": warmup,
        "batch_size": batch_size if batched else 1,
        "bootstrap_resamples": stats.N_BOOT,
        "recommendation_rule": (
            f"highest answer correctness; among the strategies not significantly worse at alpha {stats.ALPHA} "
            "(exact McNemar), the cheapest per 1k questions, then base<rag<ft<hybrid"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if repeats > 1 and not sampling:
        meta["repeats_note"] = "generator.temperature = 0 (greedy): every repeat would give the same answer, ran once"
    recommendation = decision.recommended if decision else None
    return Comparison(summaries, recommendation, records, meta, skipped, decision=decision)


def _seed_everything(seed: int) -> None:
    """Seed torch's sampler (only matters at temperature > 0; greedy decoding is deterministic).

    Question sampling uses its own `random.Random(seed)`, so Python's global generator is left alone."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _on_gpu() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())
