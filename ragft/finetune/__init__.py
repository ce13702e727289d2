"""Fine-tuning: datasets (user QA, QA synthesised from documents, RAFT examples), LoRA training, adapter registry.

Light to import (no torch): the typed records live here; `train.py` imports torch/transformers/peft lazily.

Data flow:  QA rows (data.py: --data FILE)  or  chunks -> synthesised QA (synth.py: --from-docs)
            -> TrainExample (chat prompt + answer completion; raft.py adds oracle/distractor context)
            -> train.py (LoRA, peft + transformers Trainer) -> adapters/<name>/ + registry.py record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Message = dict[str, str]


@dataclass(frozen=True)
class TrainExample:
    """One supervised example: the chat `prompt` messages (system + user) and the assistant `completion`.

    The loss is computed on the completion tokens only. `doc_ids` are the documents this example's text came
    from (lineage, for erasure); `origin` says where the row came from (`file.jsonl:12`, `chunk doc:3`).
    """

    prompt: tuple[Message, ...]
    completion: str
    doc_ids: tuple[str, ...] = ()
    origin: str = ""

    def to_record(self) -> dict[str, Any]:
        """Canonical JSON-able form: what is hashed into `dataset_sha256` and written to train.jsonl."""
        return {"prompt": [dict(m) for m in self.prompt], "completion": self.completion, "doc_ids": list(self.doc_ids)}


@dataclass
class TrainReport:
    """Result of `Workspace.finetune`: the JSON of `ragft finetune` (DESIGN.md contract + extra fields)."""

    adapter: str
    path: str
    steps: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    tokens_per_s: float = 0.0
    lineage: dict[str, Any] = field(default_factory=dict)
    kind: str = "ft"
    examples: int = 0
    val_examples: int = 0
    seconds: float = 0.0
    resumed_from_step: int = 0
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)
    world_size: int = 1
    """Processes that trained together (`accelerate launch --num_processes N`); `steps` are per process and
    `tokens_per_s` counts the tokens of all of them."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["Message", "TrainExample", "TrainReport"]
