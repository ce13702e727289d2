"""Cost model for the four strategies (base, rag, ft, hybrid), with the arithmetic shown.

Every cost is a `CostLine` that carries its formula and the numbers that went into it, so `ragft advise` can show
its working and a test can recompute each line by hand. Three kinds of cost:

- one-off: embedding the corpus (rag, hybrid) and the first training run (ft, hybrid);
- monthly: re-indexing changed documents, re-training on updates, inference for every query (the RAG prompt is
  longer: k retrieved chunks), storage of the index and the adapter;
- amortised monthly = monthly + one-off / horizon months — the number strategies are compared on.

Work is priced as machine time: tokens / measured tokens-per-second x $ per hour (PriceSettings), or, for an API
generator, tokens x $ per token. Throughputs default to measurements on the reference machine (2 cores, no GPU);
`ragft compare` measurements (cost per 1k queries, latency) replace the estimates when a report is given.
Pure Python: no model is loaded here. docs/advise.md lists every constant with its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ragft.config import ADAPTER_KIND, RETRIEVAL_STRATEGIES, STRATEGIES, PriceSettings  # the vocabularies live in config.py

RETRIEVES = RETRIEVAL_STRATEGIES  # strategies with retrieved chunks in the prompt and an index
TRAINS = frozenset(ADAPTER_KIND)  # strategies with a LoRA adapter

Hardware = Literal["cpu", "gpu"]
Serving = Literal["self-hosted", "api"]

DAYS_PER_MONTH = 30.0  # a 30-day month keeps hand arithmetic simple (720 h)
HOURS_PER_MONTH = DAYS_PER_MONTH * 24

# How often the corpus changes -> updates per month. "rarely" = once a quarter.
UPDATES_PER_MONTH: dict[str, float] = {"daily": 30.0, "weekly": 30.0 / 7.0, "monthly": 1.0, "rarely": 1.0 / 3.0}

# The hybrid (RAFT) adapter learns a skill (read the given chunks, copy the answer span, cite it), not the facts,
# which stay in the index (Zhang et al. 2024, "RAFT"). So it is refreshed at most quarterly, not on every update.
HYBRID_RETRAINS_PER_MONTH = 1.0 / 3.0

# ---------------------------------------------------------------------------- measured throughputs (2 cores)
# Embedder: all-MiniLM-L6-v2 ~120 sentences/s of ~40 words on 2 cores (DESIGN.md "Models", measured 2026-11-25).
# 40 words x 1.3 word-pieces/word (ChunkingSettings) = 52 tokens -> 6,240 tokens/s.
EMBED_SENTENCES_PER_S = 120.0
EMBED_WORDS_PER_SENTENCE = 40.0
TOKENS_PER_WORD = 1.3
CPU_EMBED_TOKENS_PER_S = EMBED_SENTENCES_PER_S * EMBED_WORDS_PER_SENTENCE * TOKENS_PER_WORD
# Generator, measured with benchmarks/advise_throughput.py (docs/benchmarks.md "advise", 2026-12-02, idle, 2 threads):
# float32, the dtype of a CPU without bfloat16 units (weights.resolve_placement), so the figures hold for any
# 2-core CPU; one with AVX512-BF16/AMX runs bfloat16, ~2x faster prefill (921 tok/s) and 18 tok/s decoding.
# Decoding: greedy, one row, 16.7 tokens/s (was 10, measured 2026-11-25 under shared load).
CPU_DECODE_TOKENS_PER_S = 17.0
# Prompt processing: a 230-token prompt (the rag prompt of the bundled generator's sentence-level context) in
# 0.50 s = 459 tokens/s; a 1,070-token prompt (5 whole chunks) 424 tokens/s (was 350, 2026-11-25 under load).
CPU_PREFILL_TOKENS_PER_S = 460.0
# LoRA training (r=8, q/k/v/o) on SmolLM2: TRL SFTTrainer 105 tokens/s, a plain loop ~145 (notes/stack.md,
# 2026-11-25). The cost model uses the slower TRL figure, which is what `ragft finetune` runs.
CPU_TRAIN_TOKENS_PER_S = 105.0
# Retrieval (BM25 + dense + fusion) per query; small next to generation (benchmarks/retrieval.py).
CPU_RETRIEVAL_MS = 50.0

# GPU figures are ASSUMPTIONS (no GPU on the reference machine): a single A10G-class GPU taken as 20x the 2-core
# CPU for batched work (embedding, prefill, training) and 5x for token-by-token decoding of a 135M model, which
# is latency-bound. Replace them with your own measurements (`ragft compare` on the GPU, then --from-report).
GPU_SPEEDUP_BATCHED = 20.0
GPU_SPEEDUP_DECODE = 5.0

# ---------------------------------------------------------------------------- sizes
PROMPT_OVERHEAD_TOKENS = 40  # system prompt + chat template around the question
QUESTION_TOKENS = 30  # a typical user question
QA_EXAMPLE_TOKENS = 69  # mean tokens of one QA training example (notes/stack.md measurement set: 64 x ~69)
EXAMPLES_PER_DOC = 2  # QA pairs synthesised per document when no training-set size is given
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2
BYTES_PER_TOKEN = 4  # ~4 characters of UTF-8 text per token
# Index bytes per chunk: float32 vector + the text + a full-text (FTS5) index of about the same size as the text.
ADAPTER_MB = 3.7  # LoRA r=8 q/k/v/o adapter for SmolLM2 in PEFT format (notes/stack.md)


@dataclass(frozen=True)
class Throughput:
    """Work rates of one machine, and where the numbers come from (shown next to every cost line)."""

    embed_tokens_per_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    train_tokens_per_s: float
    retrieval_ms: float
    source: str


CPU = Throughput(
    embed_tokens_per_s=CPU_EMBED_TOKENS_PER_S,
    prefill_tokens_per_s=CPU_PREFILL_TOKENS_PER_S,
    decode_tokens_per_s=CPU_DECODE_TOKENS_PER_S,
    train_tokens_per_s=CPU_TRAIN_TOKENS_PER_S,
    retrieval_ms=CPU_RETRIEVAL_MS,
    source="measured, 2 CPU cores (docs/benchmarks.md, notes/stack.md)",
)
GPU = Throughput(
    embed_tokens_per_s=CPU_EMBED_TOKENS_PER_S * GPU_SPEEDUP_BATCHED,
    prefill_tokens_per_s=CPU_PREFILL_TOKENS_PER_S * GPU_SPEEDUP_BATCHED,
    decode_tokens_per_s=CPU_DECODE_TOKENS_PER_S * GPU_SPEEDUP_DECODE,
    train_tokens_per_s=CPU_TRAIN_TOKENS_PER_S * GPU_SPEEDUP_BATCHED,
    retrieval_ms=CPU_RETRIEVAL_MS,
    source=f"ASSUMED: CPU measurement x{GPU_SPEEDUP_BATCHED:g} (batched) / x{GPU_SPEEDUP_DECODE:g} (decode); no GPU measured",
)
THROUGHPUT: dict[str, Throughput] = {"cpu": CPU, "gpu": GPU}


@dataclass(frozen=True)
class Workload:
    """Everything the cost model needs, already resolved from the advise inputs and the workspace settings."""

    docs: int
    queries_per_day: float
    updates_per_month: float
    change_fraction: float = 0.1
    tokens_per_doc: int = 1000
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    k: int = 5
    max_context_tokens: int = 1200
    sentence_tokens: int | None = None  # the bundled generator's sentence-level context budget, when it is used
    answer_tokens: int = 64
    training_examples: int | None = None
    epochs: float = 3.0
    raft_distractors: int = 3
    hardware: Hardware = "cpu"
    serving: Serving = "self-hosted"
    horizon_months: float = 12.0

    @property
    def chunks(self) -> int:
        """Chunks in the index: each document is cut into windows of `chunk_tokens` advancing by size - overlap."""
        if self.docs == 0:
            return 0
        stride = self.chunk_tokens - self.chunk_overlap
        per_doc = max(1, -(-max(0, self.tokens_per_doc - self.chunk_overlap) // stride))  # ceil division
        return self.docs * per_doc

    @property
    def context_tokens(self) -> int:
        """Retrieved text in a rag/hybrid prompt: k chunks, capped by the answer context budget; with the bundled
        generator's sentence-level context (`[answer] context = "sentences"`, the default), at most
        `sentence_tokens` of their most relevant sentences (whole chunks were priced before: a 1,070-token prompt
        for the 230 tokens the bundled generator is sent)."""
        chunks = min(self.k * self.chunk_tokens, self.max_context_tokens)
        return chunks if self.sentence_tokens is None else min(chunks, self.sentence_tokens)

    @property
    def examples(self) -> int:
        return self.training_examples if self.training_examples is not None else self.docs * EXAMPLES_PER_DOC

    def prompt_tokens(self, strategy: str) -> int:
        base = PROMPT_OVERHEAD_TOKENS + QUESTION_TOKENS
        return base + (self.context_tokens if strategy in RETRIEVES else 0)

    def example_tokens(self, strategy: str) -> int:
        """Tokens per training example: a QA pair; a RAFT example also carries the oracle + distractor chunks."""
        if strategy == "hybrid":
            return QA_EXAMPLE_TOKENS + min((1 + self.raft_distractors) * self.chunk_tokens, self.max_context_tokens)
        return QA_EXAMPLE_TOKENS

    def retrains_per_month(self, strategy: str) -> float:
        if strategy == "ft":
            return self.updates_per_month  # the facts live in the weights: every update means a new run
        if strategy == "hybrid":
            return min(self.updates_per_month, HYBRID_RETRAINS_PER_MONTH)
        return 0.0


@dataclass(frozen=True)
class CostLine:
    """One priced item: `usd` = the formula evaluated on `inputs`."""

    item: str
    kind: Literal["one_off", "monthly"]
    usd: float
    formula: str
    inputs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "kind": self.kind, "usd": round(self.usd, 6), "formula": self.formula, "inputs": self.inputs}


@dataclass
class StrategyCost:
    """All cost lines of one strategy, plus the per-query figures the decision rules and break-even use."""

    strategy: str
    lines: list[CostLine]
    per_query_usd: float
    latency_ms: float | None
    train_hours_per_run: float | None
    horizon_months: float
    measured: list[str] = field(default_factory=list)  # which figures came from a `ragft compare` report

    @property
    def one_off_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.kind == "one_off")

    @property
    def monthly_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.kind == "monthly")

    @property
    def amortised_monthly_usd(self) -> float:
        return self.monthly_usd + self.one_off_usd / self.horizon_months

    @property
    def first_month_usd(self) -> float:
        return self.one_off_usd + self.monthly_usd

    @property
    def inference_monthly_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.item == "inference")

    @property
    def fixed_monthly_usd(self) -> float:
        """Amortised monthly cost that does not grow with traffic (everything but inference)."""
        return self.amortised_monthly_usd - self.inference_monthly_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "one_off_usd": round(self.one_off_usd, 6),
            "monthly_usd": round(self.monthly_usd, 6),
            "amortised_monthly_usd": round(self.amortised_monthly_usd, 6),
            "first_month_usd": round(self.first_month_usd, 6),
            "per_query_usd": round(self.per_query_usd, 8),
            "cost_per_1k_queries_usd": round(self.per_query_usd * 1000, 6),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "train_hours_per_run": None if self.train_hours_per_run is None else round(self.train_hours_per_run, 4),
            "measured": list(self.measured),
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass(frozen=True)
class MeasuredCost:
    """Figures measured by `ragft compare` that replace the model's estimates for one strategy."""

    cost_per_1k: float | None = None
    latency_ms_p95: float | None = None


def hour_price(hardware: str, prices: PriceSettings) -> float:
    return prices.gpu_hour_usd if hardware == "gpu" else prices.cpu_hour_usd


def _embed_line(w: Workload, tp: Throughput, usd_h: float) -> CostLine:
    tokens = w.chunks * w.chunk_tokens
    hours = tokens / tp.embed_tokens_per_s / 3600
    return CostLine(
        "embed corpus", "one_off", hours * usd_h,
        "chunks x chunk_tokens / embed_tokens_per_s / 3600 x usd_per_hour",
        {"chunks": w.chunks, "chunk_tokens": w.chunk_tokens, "embed_tokens_per_s": tp.embed_tokens_per_s,
         "hours": round(hours, 6), "usd_per_hour": usd_h},
    )


def _reindex_line(w: Workload, embed: CostLine) -> CostLine:
    return CostLine(
        "re-index changed documents", "monthly", w.updates_per_month * w.change_fraction * embed.usd,
        "updates_per_month x change_fraction x embed_corpus_usd",
        {"updates_per_month": round(w.updates_per_month, 4), "change_fraction": w.change_fraction,
         "embed_corpus_usd": round(embed.usd, 6)},
    )


def _train_lines(strategy: str, w: Workload, tp: Throughput, usd_h: float) -> tuple[list[CostLine], float]:
    tokens = w.examples * w.example_tokens(strategy) * w.epochs
    hours = tokens / tp.train_tokens_per_s / 3600
    run_usd = hours * usd_h
    first = CostLine(
        "train adapter" if strategy == "ft" else "train RAFT adapter", "one_off", run_usd,
        "examples x example_tokens x epochs / train_tokens_per_s / 3600 x usd_per_hour",
        {"examples": w.examples, "example_tokens": w.example_tokens(strategy), "epochs": w.epochs,
         "train_tokens_per_s": tp.train_tokens_per_s, "hours": round(hours, 6), "usd_per_hour": usd_h},
    )
    retrains = w.retrains_per_month(strategy)
    again = CostLine(
        "re-train on updates", "monthly", retrains * run_usd,
        "retrains_per_month x training_run_usd",
        {"retrains_per_month": round(retrains, 4), "training_run_usd": round(run_usd, 6),
         "why": "facts live in the weights" if strategy == "ft" else "skill refresh, at most quarterly"},
    )
    return [first, again], hours


def _inference(strategy: str, w: Workload, tp: Throughput, prices: PriceSettings,
               measured: MeasuredCost | None) -> tuple[CostLine, float, float | None, list[str]]:
    """Per-query cost and latency: measured when the report has them, else estimated from tokens."""
    prompt = w.prompt_tokens(strategy)
    retrieval_s = tp.retrieval_ms / 1000 if strategy in RETRIEVES else 0.0
    latency_ms = (retrieval_s + prompt / tp.prefill_tokens_per_s + w.answer_tokens / tp.decode_tokens_per_s) * 1000
    used: list[str] = []
    if measured is not None and measured.cost_per_1k is not None:
        per_query = measured.cost_per_1k / 1000
        formula = "cost_per_1k (measured by ragft compare) / 1000 x queries_per_day x days"
        inputs: dict[str, Any] = {"cost_per_1k": measured.cost_per_1k}
        used.append("cost_per_1k")
    elif w.serving == "api":
        usd_h = prices.cpu_hour_usd  # retrieval runs on your own CPU machine even with an API generator
        per_query = prompt * prices.input_token_usd + w.answer_tokens * prices.output_token_usd + retrieval_s / 3600 * usd_h
        formula = ("(prompt_tokens x input_token_usd + answer_tokens x output_token_usd + retrieval_s / 3600 x "
                   "cpu_usd_per_hour) x queries_per_day x days")
        inputs = {"prompt_tokens": prompt, "input_token_usd": prices.input_token_usd, "answer_tokens": w.answer_tokens,
                  "output_token_usd": prices.output_token_usd, "retrieval_s": retrieval_s, "cpu_usd_per_hour": usd_h}
        latency_ms = None  # unknown for someone else's server unless measured
    else:
        usd_h = hour_price(w.hardware, prices)
        seconds = retrieval_s + prompt / tp.prefill_tokens_per_s + w.answer_tokens / tp.decode_tokens_per_s
        per_query = seconds / 3600 * usd_h
        formula = ("(retrieval_s + prompt_tokens / prefill_tokens_per_s + answer_tokens / decode_tokens_per_s) "
                   "/ 3600 x usd_per_hour x queries_per_day x days")
        inputs = {"retrieval_s": retrieval_s, "prompt_tokens": prompt, "prefill_tokens_per_s": tp.prefill_tokens_per_s,
                  "answer_tokens": w.answer_tokens, "decode_tokens_per_s": tp.decode_tokens_per_s,
                  "seconds_per_query": round(seconds, 4), "usd_per_hour": usd_h}
    if measured is not None and measured.latency_ms_p95 is not None:
        latency_ms = measured.latency_ms_p95
        used.append("latency_ms_p95")
    inputs.update({"per_query_usd": round(per_query, 8), "queries_per_day": w.queries_per_day, "days": DAYS_PER_MONTH})
    line = CostLine("inference", "monthly", per_query * w.queries_per_day * DAYS_PER_MONTH, formula, inputs)
    return line, per_query, latency_ms, used


def _storage_line(strategy: str, w: Workload, prices: PriceSettings) -> CostLine | None:
    index_gb = w.chunks * (EMBEDDING_DIM * 4 + 2 * w.chunk_tokens * BYTES_PER_TOKEN) / 1e9 if strategy in RETRIEVES else 0.0
    adapter_gb = ADAPTER_MB / 1000 if strategy in TRAINS else 0.0
    if index_gb == 0 and adapter_gb == 0:
        return None
    gb = index_gb + adapter_gb
    return CostLine(
        "storage", "monthly", gb * prices.storage_gb_month_usd,
        "(chunks x (dim x 4 + 2 x chunk_tokens x bytes_per_token) + adapter_mb x 1e6) / 1e9 x usd_per_gb_month",
        {"chunks": w.chunks if strategy in RETRIEVES else 0, "dim": EMBEDDING_DIM, "chunk_tokens": w.chunk_tokens,
         "bytes_per_token": BYTES_PER_TOKEN, "adapter_mb": ADAPTER_MB if strategy in TRAINS else 0,
         "gb": round(gb, 6), "usd_per_gb_month": prices.storage_gb_month_usd},
    )


def estimate_costs(
    workload: Workload,
    prices: PriceSettings,
    throughput: Throughput | None = None,
    measured: Mapping[str, MeasuredCost] | None = None,
) -> dict[str, StrategyCost]:
    """Cost lines of every strategy for `workload` at `prices`.

    Args:
        throughput: work rates; default: the measured/assumed figures for `workload.hardware`.
        measured: per-strategy figures from `ragft compare` that replace the estimated inference cost/latency.
    """
    tp = throughput or THROUGHPUT[workload.hardware]
    usd_h = hour_price(workload.hardware, prices)
    measured = measured or {}
    out: dict[str, StrategyCost] = {}
    for strategy in STRATEGIES:
        lines: list[CostLine] = []
        train_hours: float | None = None
        if strategy in RETRIEVES:
            embed = _embed_line(workload, tp, usd_h)
            lines += [embed, _reindex_line(workload, embed)]
        if strategy in TRAINS:
            train, train_hours = _train_lines(strategy, workload, tp, usd_h)
            lines += train
        infer, per_query, latency, used = _inference(strategy, workload, tp, prices, measured.get(strategy))
        lines.append(infer)
        storage = _storage_line(strategy, workload, prices)
        if storage is not None:
            lines.append(storage)
        out[strategy] = StrategyCost(strategy, lines, per_query, latency, train_hours, workload.horizon_months, used)
    return out


def break_even_queries_per_day(a: StrategyCost, b: StrategyCost) -> float | None:
    """Queries/day at which `a` (more fixed cost, cheaper per query) costs the same as `b` per month.

    Solves fixed_a + q x days x per_query_a = fixed_b + q x days x per_query_b for q: above it `a` is cheaper.
    0.0 when `a` is cheaper at any traffic; None when `a` is not cheaper per query (more traffic never helps it).
    """
    slope_gap = (b.per_query_usd - a.per_query_usd) * DAYS_PER_MONTH
    fixed_gap = a.fixed_monthly_usd - b.fixed_monthly_usd
    if slope_gap <= 0:
        return None
    return max(0.0, fixed_gap / slope_gap)
