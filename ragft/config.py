"""Workspace settings: one pydantic model per concern, all defaults in this one place.

`ragft.toml` in the workspace folder holds the settings; it is written with every default on first use so
users can see and edit every knob. Unknown keys are errors (a typo must not silently fall back to a default).
Importable without torch.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragft.errors import ConfigError
from ragft.fsutil import atomic_write
from ragft.vocab import (  # noqa: F401  (re-exported: the vocabularies are part of the settings API)
    ADAPTER_KIND,
    ANSWER_PII_POLICIES,
    LORA_OVERRIDE_KEYS,
    PII_POLICIES,
    RETRIEVAL_MODES,
    RETRIEVAL_STRATEGIES,
    STRATEGIES,
    TRAIN_OVERRIDE_KEYS,
    AdapterKind,
    AnswerPiiPolicy,
    PiiPolicy,
    RetrievalMode,
    Strategy,
    pii_rank,
)

CONFIG_FILE = "ragft.toml"
_DEVICE = re.compile(r"^(cpu|mps|(cuda|npu|xpu)(:\d+)?)$")  # torch device strings [embedder] devices accepts
_GENERATOR_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")  # [generator] device
GENERATOR_DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
GeneratorDtype = Literal["auto", "float32", "bfloat16", "float16"]
BulkDtype = Literal["auto", "float32", "bfloat16"]  # [embedder] bulk_dtype (models/precision.py)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ChunkingSettings(_Section):
    max_tokens: int = Field(200, ge=16, le=4096, description="Target chunk size in word-piece tokens (estimated); a chunk that would not fit the embedder's window is split further at ingest, so no text is truncated.")
    overlap_tokens: int = Field(40, ge=0, description="Tokens repeated between consecutive chunks of one section.")
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused with a clear error.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "ChunkingSettings":
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be below max_tokens ({self.max_tokens})")
        return self


class EmbedderSettings(_Section):
    model: str = Field("all-MiniLM-L6-v2", description="Bundled embedder name, or a local sentence-transformers folder.")
    batch_size: int = Field(16, ge=1, description="Texts per embedding batch. Small batches pad less; on CPU 16 embeds 1.28x faster than 64 on rag-mini-wikipedia (docs/benchmarks.md ## Peers); raise it on GPUs.")
    backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx: ONNX Runtime (exported once from the same weights into the model cache; search never imports torch); torch: sentence-transformers. Vectors agree (cosine >= 0.999), so switching needs no reembed (docs/benchmarks.md ## Ingest).",
    )
    threads: int = Field(0, ge=0, le=256, description="ONNX Runtime threads per embed call; 0 = one per physical core.")
    devices: list[str] = Field(
        default_factory=list,
        description='Bulk embedding (ingest, reembed) in one worker process per device, e.g. ["cuda:0", "cuda:1"] or ["cpu", "cpu"]; empty = one in-process model. CPU workers split the cores between them (docs/benchmarks.md ## Ingest).',
    )
    bulk_dtype: BulkDtype = Field(
        "auto",
        description="Precision of bulk embedding (ingest, reembed) in calls of 256+ chunks: bfloat16 runs the model through torch's bfloat16 autocast (vectors within cosine 0.9999 of float32; SciFact nDCG@10 hybrid the same, dense within 0.001; ingest 1.8x faster on an AMX CPU); auto = bfloat16 on a CPU with native bfloat16 units (AMX-BF16, AVX512-BF16) when no devices are set, else float32. Queries are always float32 (docs/benchmarks.md ## Ingest).",
    )

    @model_validator(mode="after")
    def _known_devices(self) -> "EmbedderSettings":
        bad = [d for d in self.devices if not _DEVICE.match(d)]
        if bad:
            raise ValueError(f"unknown device(s) {bad}: use cpu, cuda, cuda:N, mps, npu:N or xpu:N")
        if self.devices and self.bulk_dtype == "bfloat16":
            raise ValueError('bulk_dtype = "bfloat16" runs in-process; the devices workers run float32: '
                             'set bulk_dtype = "auto" or "float32", or devices = []')
        return self


class RetrievalSettings(_Section):
    mode: RetrievalMode = Field("hybrid", description="Default search mode.")
    k: int = Field(5, ge=1, le=100, description="Chunks returned / given to the model.")
    candidates: int = Field(100, ge=1, le=2000, description="Per-mode candidate depth before fusion.")
    fusion: Literal["rrf", "convex"] = Field("convex", description="Convex mix of min-max normalised scores, or reciprocal-rank fusion (SciFact nDCG@10: convex 0.731, rrf 0.718; docs/benchmarks.md).")
    rrf_k: int = Field(60, ge=1, description="RRF constant (Cormack et al. 2009 use 60).")
    bm25_weight: float = Field(0.5, ge=0, description="Weight of the BM25 list in fusion.")
    dense_weight: float = Field(0.5, ge=0, description="Weight of the dense list in fusion.")
    rerank: bool = Field(False, description="Rerank fused candidates with the configured reranker.")
    reranker: str = Field("", description="Reranker: a local cross-encoder folder (sentence-transformers), or empty.")


class GeneratorSettings(_Section):
    kind: Literal["bundled", "openai"] = Field("bundled", description="Bundled offline model or an OpenAI-compatible server.")
    model: str = Field("smollm2-135m", description="Bundled name (smollm2-135m, gemma3-270m), a local HF folder/GGUF, or the remote model id.")
    base_url: str = Field("", description="OpenAI-compatible base URL, e.g. http://localhost:11434/v1 (kind = openai).")
    api_key_env: str = Field("", description="Environment variable holding the API key (never the key itself).")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout for remote generators.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries with exponential backoff for remote generators.")
    max_new_tokens: int = Field(64, ge=1, le=4096, description="Answer length cap.")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy (deterministic).")
    context_window: int = Field(2048, ge=256, description="Prompt + answer token budget.")
    device: str = Field("auto", description="Where a local model runs: auto (the first CUDA GPU if there is one, else CPU), cpu, cuda, cuda:N or mps. LoRA training follows it for GPU vs CPU (mps trains on CPU; the GPU index is accelerate's, see docs/scale-out.md). kind = openai ignores it.")
    dtype: GeneratorDtype = Field("auto", description="Weights of a local model for inference: auto (bfloat16 on a CUDA GPU that supports it, else float16 on GPUs; on CPU bfloat16 when it has bfloat16 units (AMX-BF16, AVX512-BF16), else float32), float32, bfloat16 or float16. CPU fine-tuning is float32 either way.")

    @model_validator(mode="after")
    def _known_device(self) -> "GeneratorSettings":
        if not _GENERATOR_DEVICE.match(self.device):
            raise ValueError(f"unknown generator device {self.device!r}: use one of {', '.join(GENERATOR_DEVICES)}")
        return self


class AnswerSettings(_Section):
    abstain_threshold: float = Field(0.4, ge=0, le=1, description="Minimum relevance of the best chunk (0..1) to answer at all; relevance = share of the question's content words found in the chunk (calibrated on rag-mini-wikipedia, docs/benchmarks.md ## Answers).")
    support_threshold: float = Field(0.5, ge=0, le=1, description="Minimum share of answer content words found in cited text.")
    max_context_tokens: int = Field(1200, ge=64, description="Token budget for retrieved context in the prompt.")
    prompt_format: str = Field("completion", description="Prompt layout of rag/hybrid: completion | oneshot | instruct | sandwich (see ragft/prompting.py; default measured best).")
    quarantine_flagged: bool = Field(False, description="Keep chunks flagged as instruction-like at ingest out of prompts until `ragft quarantine approve DOC_ID` (the server uses [server] quarantine_flagged, on by default).")
    extractive: bool = Field(True, description="Copy-constrained decoding for rag/hybrid: the answer may only copy spans of the retrieved text (bundled generator; remote APIs ignore it). Measured in docs/benchmarks.md ## Answers.")
    context: Literal["sentences", "chunks"] = Field("sentences", description="What the bundled generator reads: the most relevant sentences of the retrieved chunks within sentence_tokens (cited as their chunk), or whole chunks (the pre-0.x behaviour). Remote generators always get whole chunks. Measured in docs/benchmarks.md ## Answers.")
    sentence_tokens: int = Field(160, ge=16, le=4096, description="Token budget of the sentence-level context (context = sentences).")
    fallback: Literal["sentence", "abstain"] = Field("sentence", description="When the generated answer is a fragment or unsupported: answer with the best supporting sentence (if it holds at least half of the question's words; when that sentence only restates the question behind 'He'/'It'/'This', the name or the earlier sentence the pronoun stands for), or abstain. A fragment is never returned.")
    check_copies: bool = Field(True, description="Copy-constrained answers (bundled generator) must be of the kind the question asks for (a year for 'when', a number for 'how many') and come from a sentence nearly as relevant as the best one; otherwise the fallback applies. false = the pre-0.x behaviour. Measured in docs/benchmarks.md ## Answers.")
    table_cells: bool = Field(True, description="Answer a live SQL cell the question names (row + column) directly, without the model choosing the value (ragft/sources/cells.py).")


class StoreSettings(_Section):
    backend: Literal["sqlite", "postgres"] = Field("sqlite", description="Embedded SQLite (default) or PostgreSQL + pgvector.")
    dsn: str = Field("", description="PostgreSQL DSN without the password (backend = postgres).")
    password_env: str = Field("", description="Environment variable holding the PostgreSQL password.")
    pool_size: int = Field(4, ge=1, description="PostgreSQL connections per process (psycopg pool).")
    ef_search: int = Field(100, ge=1, le=1000, description="pgvector HNSW hnsw.ef_search (raised to k when k is larger); higher = better recall, slower.")


class TrainSettings(_Section):
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="Modules LoRA adapts.")
    learning_rate: float = Field(2e-4, gt=0, description="AdamW learning rate.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training set.")
    batch_size: int = Field(8, ge=1, description="Examples per device step.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(256, ge=32, description="Max tokens per example (prompt + answer).")
    seed: int = Field(0, description="Random seed for data order and initialisation.")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of training rows held out for validation loss.")
    early_stopping_patience: int = Field(2, ge=0, description="Epochs without val-loss improvement before stopping (0 = off).")
    save_steps: int = Field(10, ge=1, description="Checkpoint every N optimiser steps.")
    synth_questions: int = Field(64, ge=1, description="QA pairs to synthesise with --from-docs.")
    raft_distractors: int = Field(3, ge=0, description="Distractor chunks per RAFT example.")
    raft_oracle_share: float = Field(0.8, ge=0, le=1, description="Share of RAFT examples that contain the oracle chunk.")
    raft_chunk_words: int = Field(60, ge=8, description="Words kept of each RAFT context chunk (a window around the answer in the oracle).")
    raft_max_length: int = Field(768, ge=64, description="Max tokens per RAFT example (prompt with sources + answer).")
    heldout_fraction: float = Field(0.2, ge=0, lt=1, description="Share of --from-docs QA pairs held out of training (adapters/<name>/heldout.jsonl).")


class PriceSettings(_Section):
    """Defaults: cloud list prices seen 2026-11 (AWS on-demand c7i.xlarge ~$0.18/h, g5.xlarge A10G ~$1.01/h;
    hosted small-model API ~$0.15 / 1M input tokens, $0.60 / 1M output). Replace with your own."""

    cpu_hour_usd: float = Field(0.18, ge=0, description="$ per hour of the CPU machine that serves/trains.")
    gpu_hour_usd: float = Field(1.01, ge=0, description="$ per hour of one GPU machine.")
    input_token_usd: float = Field(0.15e-6, ge=0, description="$ per input token for an API generator.")
    output_token_usd: float = Field(0.60e-6, ge=0, description="$ per output token for an API generator.")
    storage_gb_month_usd: float = Field(0.10, ge=0, description="$ per GB-month of index storage.")


class PiiSettings(_Section):
    policy: PiiPolicy = Field("allow", description="What ingest does with detected PII.")
    answer_policy: AnswerPiiPolicy = Field("allow", description="What happens to PII in generated answers.")
    threshold: float = Field(0.35, ge=0, le=1, description="Minimum detector score (phone numbers score 0.40).")
    group_policies: dict[str, PiiPolicy] = Field(default_factory=dict, description="Per-group override of policy.")
    entities: list[str] = Field(default_factory=list, description="PII types to detect; empty = the default set (ragft.governance.pii.DEFAULT_ENTITIES).")
    ner_model: str = Field("", description="Installed spaCy model with NER (e.g. en_core_web_sm) to also detect PERSON names; empty = patterns only.")


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8000, ge=1, le=65535, description="Port.")
    max_request_bytes: int = Field(20_000_000, ge=1024, description="Largest accepted request body.")
    rate_limit_per_minute: int = Field(120, ge=1, description="Requests per minute per API key.")
    max_failed_logins_per_minute: int = Field(10, ge=1, description="Failed API-key checks per client address per minute before every request from it gets 429 (each failure is audited).")
    quarantine_flagged: bool = Field(True, description="Keep chunks flagged as instruction-like at ingest out of answer prompts until `ragft documents approve DOC_ID` (prompt-injection defence; see docs/security.md).")
    max_top_k: int = Field(20, ge=1, description="Largest k a client may ask for.")
    max_queue: int = Field(64, ge=1, description="Model requests waiting before 503.")
    max_tokens: int = Field(512, ge=1, le=4096, description="Largest max_tokens a client may ask for (400 above it).")
    workers: int = Field(1, ge=1, le=16, description="Model workers; each runs up to 8 concurrent requests as one batched generation (bundled generator). CPU-bound: 1 on a laptop.")
    report_dir: str = Field("", description="Compare report folder served at /v1/report; empty = the last `ragft compare --report` of this workspace.")


class CompareSettings(_Section):
    strategies: list[Strategy] = Field(
        default_factory=lambda: list(STRATEGIES), description="Strategies `ragft compare` runs by default."
    )
    heldout_questions: int = Field(40, ge=1, description="Questions synthesised from the documents when no --qa file is given.")
    faithfulness: Literal["overlap", "llm"] = Field("overlap", description="Offline word-overlap checker, or an LLM judge (judge_* below).")
    support_threshold: float = Field(0.5, ge=0, le=1, description="Share of a claim's content words found in the context to count as supported.")
    judge_model: str = Field("", description="Model id of the OpenAI-compatible judge (faithfulness = llm).")
    judge_base_url: str = Field("", description="Base URL of the judge server, e.g. http://localhost:11434/v1.")
    judge_api_key_env: str = Field("", description="Environment variable holding the judge's API key.")


class Settings(_Section):
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    prices: PriceSettings = Field(default_factory=PriceSettings)
    pii: PiiSettings = Field(default_factory=PiiSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    compare: CompareSettings = Field(default_factory=CompareSettings)


def load_settings(folder: Path) -> Settings:
    """Read `folder/ragft.toml`, writing it with all defaults first if it does not exist."""
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        settings = Settings()
        save_settings(folder, settings)
        return settings
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the file or delete it to get the defaults back.") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


def save_settings(folder: Path, settings: Settings) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written ragft.toml."""
    path = Path(folder) / CONFIG_FILE
    atomic_write(path, tomli_w.dumps(settings.model_dump(mode="json")))


def default_workspace() -> Path:
    """`$RAGFT_WORKSPACE`, else `./ragft-workspace` (DESIGN.md)."""
    return Path(os.environ.get("RAGFT_WORKSPACE") or "ragft-workspace")


def cache_dir() -> Path:
    """Where converted model weights are cached: `$RAGFT_CACHE`, else `~/.cache/ragft`."""
    return Path(os.environ.get("RAGFT_CACHE") or Path.home() / ".cache" / "ragft")
