"""The vocabularies every layer shares (strategies, adapter kinds, search modes, PII policies), defined once.

Kept free of pydantic and every other heavy import: the CLI builds its `--help` from these, and `ragft --help`
should not pay for the settings models (ragft/config.py re-exports every name here).
"""

from __future__ import annotations

from typing import Literal, get_args

Strategy = Literal["base", "rag", "ft", "hybrid"]
"""The four knowledge strategies (DESIGN.md): closed-book base, retrieval, fine-tuned, retrieval + RAFT adapter."""
STRATEGIES: tuple[str, ...] = get_args(Strategy)

RETRIEVAL_STRATEGIES: frozenset[str] = frozenset({"rag", "hybrid"})
"""The strategies that put retrieved chunks in the prompt (and need an index)."""

AdapterKind = Literal["ft", "raft"]
"""LoRA adapter kinds: closed-book fine-tuning, or retrieval-aware (RAFT) for hybrid."""
ADAPTER_KIND: dict[str, str] = {"ft": "ft", "hybrid": "raft"}
"""The strategies that need an adapter, and the adapter kind each serves (the others use the base model alone)."""

RetrievalMode = Literal["hybrid", "bm25", "dense"]
"""Search modes: BM25 and dense fused, or one of them alone."""
RETRIEVAL_MODES: tuple[str, ...] = get_args(RetrievalMode)

PiiPolicy = Literal["allow", "mask", "redact", "reject"]
"""What ingest does with detected PII, from the most lenient to the strictest (the order is the rank)."""
PII_POLICIES: tuple[str, ...] = get_args(PiiPolicy)
AnswerPiiPolicy = Literal["allow", "mask", "redact"]
"""What happens to PII in generated answers (rejecting an answer is abstaining, which the answer path decides)."""
ANSWER_PII_POLICIES: tuple[str, ...] = get_args(AnswerPiiPolicy)

TRAIN_OVERRIDE_KEYS: tuple[str, ...] = (
    "lora_r", "lora_alpha", "lora_dropout", "target_modules", "learning_rate", "batch_size", "grad_accum",
    "max_length", "seed", "save_steps",
)
"""`[train]` settings a single `ragft finetune` run may override (CLI flags, `Workspace.finetune(overrides=)`)."""
LORA_OVERRIDE_KEYS: dict[str, str] = {"lora_r": "r", "lora_alpha": "alpha", "lora_dropout": "dropout",
                                      "target_modules": "target_modules"}
"""The override keys that configure LoRA, mapped to their `LoraArgs` field names; the rest are `TrainArgs`."""


def pii_rank(policy: str) -> int:
    """How strict a PII policy is (allow 0 ... reject 3): the strictest of several applicable policies wins."""
    return PII_POLICIES.index(policy)
