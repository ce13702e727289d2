"""LoRA training with peft + the transformers `Trainer` (no hand-written loop), checkpoints and resume.

What it does: tokenises chat examples exactly as the generator will see them at answer time (the tokenizer's
chat template with the generation prompt, or ragft's completion prompt for template-less base models), masks
the prompt tokens (loss on the answer tokens only), trains a LoRA adapter, evaluates the validation loss each
epoch with early stopping, checkpoints every `save_steps` optimiser steps *atomically* (written to a staging
folder and renamed into place, so a kill mid-save never leaves a half checkpoint that resume would pick), and
saves the final adapter in standard PEFT format (adapter_model.safetensors + adapter_config.json).

Why not TRL's SFTTrainer: it was measured here at 5.1 s/step vs 3.8 s/step for a plain loop (notes/stack.md).
From its source (trl 1.16 sft_trainer.py), every training step also computes per-token entropy and top-1
accuracy over the full 49k-vocab logits for its logged metrics, on top of the loss. The plain `Trainer` with a
dynamic-padding collator and length-grouped batches does only the forward/backward. The measured comparison
(ragft vs plain Trainer + peft, optionally TRL) is in docs/benchmarks.md (## Fine-tuning).

Run it:
    python -m ragft.finetune.train -w WORKSPACE --name my-adapter --data qa.jsonl [--epochs 2] [--lora-r 16]
Scale out (unchanged code; accelerate starts the processes, the Trainer wraps the model in DDP and gives each
process its own shard of every epoch, so the optimiser steps per process drop by the number of processes):
    accelerate launch -m ragft.finetune.train -w WORKSPACE --name a --data qa.jsonl                # 1 GPU (bf16 if supported)
    accelerate launch --multi_gpu --num_processes 4 -m ragft.finetune.train -w WORKSPACE --name a --data qa.jsonl
    accelerate launch --multi_gpu --num_processes 2 --mixed_precision no --dynamo_backend no \
        -m ragft.finetune.train -w WORKSPACE --name a --data qa.jsonl                              # 2 CPU processes (gloo)
`--batch-size` is per process: N processes with batch B take optimiser steps of N*B rows. Only the main process
(rank 0) builds the dataset, writes run state, checkpoints, the adapter, the registry record and the audit entry;
the others wait at a barrier and read the run state it wrote. `--resume` continues the last run of that name
from its last checkpoint and ends at the same total step count as an uninterrupted run (with the same number of
processes: the step count depends on it). The JSON report carries `world_size`, and `tokens_per_s` is the global
rate (all processes' non-padding tokens, gathered by the Trainer, over rank 0's wall time).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.config import TrainSettings
from ragft.finetune import TrainExample
from ragft.models.weights import quiet_peft

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label value the causal-LM loss skips (the prompt tokens)
Progress = Callable[[int, int, "float | None", float], None]  # (step, total_steps, last_loss, tokens_per_s)


# The dataclass defaults below are the `[train]` defaults of config.TrainSettings, read from it, so there is one
# source of truth for what "default" means (the CLI and pipeline always pass settings through `from_settings`).
_DEFAULTS: dict[str, Any] = TrainSettings().model_dump()


@dataclass(frozen=True)
class LoraArgs:
    """LoRA hyperparameters (Hu et al. 2021): delta W = (alpha / r) * B @ A on each target module."""

    r: int = _DEFAULTS["lora_r"]
    alpha: int = _DEFAULTS["lora_alpha"]
    dropout: float = _DEFAULTS["lora_dropout"]
    target_modules: tuple[str, ...] = tuple(_DEFAULTS["target_modules"])


@dataclass(frozen=True)
class TrainArgs:
    """Optimisation settings. `max_length` bounds prompt + answer tokens; longer examples are reported."""

    learning_rate: float = _DEFAULTS["learning_rate"]
    epochs: float = _DEFAULTS["epochs"]
    batch_size: int = _DEFAULTS["batch_size"]
    grad_accum: int = _DEFAULTS["grad_accum"]
    max_length: int = _DEFAULTS["max_length"]
    seed: int = _DEFAULTS["seed"]
    early_stopping_patience: int = _DEFAULTS["early_stopping_patience"]
    save_steps: int = _DEFAULTS["save_steps"]
    group_by_length: bool = True
    eval_steps: int = 0
    """Evaluate the validation loss every N optimiser steps instead of once per epoch (0 = per epoch); the
    hyperparameter search (search.py) uses it so its pruner sees the loss more often than once per epoch."""

    @classmethod
    def from_settings(cls, s: TrainSettings, **overrides: Any) -> "TrainArgs":
        base = dict(learning_rate=s.learning_rate, epochs=s.epochs, batch_size=s.batch_size, grad_accum=s.grad_accum,
                    max_length=s.max_length, seed=s.seed, early_stopping_patience=s.early_stopping_patience,
                    save_steps=s.save_steps)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def lora_from_settings(s: TrainSettings, **overrides: Any) -> LoraArgs:
    base = dict(r=s.lora_r, alpha=s.lora_alpha, dropout=s.lora_dropout, target_modules=tuple(s.target_modules))
    base.update({k: (tuple(v) if k == "target_modules" else v) for k, v in overrides.items() if v is not None})
    return LoraArgs(**base)


@dataclass
class TrainResult:
    steps: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    tokens: int = 0
    resumed_from_step: int = 0
    stopped_early: bool = False
    dropped_too_long: int = 0
    is_main_process: bool = True
    world_size: int = 1  # processes that trained together (DDP); tokens/tokens_per_s count all of them


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in an `accelerate launch` / torchrun job, from the environment those launchers set
    (RANK, WORLD_SIZE); rank 0 of 1 when run plainly. Lets the pipeline keep every write on the main process and
    make the other ranks wait until the run state they read exists."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> "ProcessGroup":
        return cls(rank=int(os.environ.get("RANK", "0")), world_size=int(os.environ.get("WORLD_SIZE", "1")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Block until every process gets here (no-op for one process). Joins the same process group the
        Trainer uses later (gloo on CPU, NCCL on GPUs); accelerate keeps it when TrainingArguments re-creates
        its state."""
        if self.world_size <= 1:
            return
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


# --------------------------------------------------------------------------- tokenisation
def tokenize_example(tokenizer: Any, ex: TrainExample, max_length: int) -> dict[str, list[int]] | None:
    """input_ids and labels (prompt masked with IGNORE_INDEX), or None if longer than `max_length`.

    The prompt is tokenised exactly as `TransformersGenerator.prompt_ids` does at answer time, so the adapter
    learns to continue the very prompt it will be served with.
    """
    prompt = [dict(m) for m in ex.prompt]
    if getattr(tokenizer, "chat_template", None):
        prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        full_text = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": ex.completion}], tokenize=False)
        if full_text.startswith(prompt_text):
            completion_text = full_text[len(prompt_text):].rstrip()
        else:  # a template that rewrites earlier turns: fall back to answer + end-of-sequence
            completion_text = ex.completion + (tokenizer.eos_token or "")
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    else:
        from ragft.models.bundled import completion_prompt

        prompt_ids = tokenizer(completion_prompt(prompt), add_special_tokens=True)["input_ids"]
        completion_ids = tokenizer(" " + ex.completion, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            completion_ids = completion_ids + [tokenizer.eos_token_id]
    if len(prompt_ids) + len(completion_ids) > max_length:
        return None
    return {"input_ids": list(prompt_ids) + list(completion_ids),
            "labels": [IGNORE_INDEX] * len(prompt_ids) + list(completion_ids)}


class _Collator:
    """Pads a batch to its longest row (not to max_length): padding is pure waste on CPU."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def steps_per_run(n_examples: int, args: TrainArgs, world_size: int = 1) -> int:
    """Optimiser steps of a full (not early-stopped) run, as the Trainer counts them."""
    per_epoch = max(1, math.ceil(math.ceil(n_examples / (args.batch_size * world_size)) / args.grad_accum))
    return math.ceil(per_epoch * args.epochs)


# --------------------------------------------------------------------------- trainer pieces
def _trainer_classes():
    """Build the Trainer subclass and callbacks on first use (importing transformers costs seconds)."""
    from transformers import Trainer, TrainerCallback

    class AtomicCheckpointTrainer(Trainer):
        """Saves each checkpoint into `<output_dir>/.staging/` and renames it into place when complete."""

        _staging: str | None = None

        def _get_output_dir(self, trial):  # type: ignore[no-untyped-def]
            return self._staging or super()._get_output_dir(trial)

        def _save_checkpoint(self, model, trial):  # type: ignore[no-untyped-def]
            # Under DDP every rank enters here: rank 0 writes the weights, optimiser and trainer state, and each
            # rank writes its own rng_state_<rank>.pth into the same folder (Trainer._save_rng_state). Only rank
            # 0 (should_save) empties, renames and rotates; the barriers keep the other ranks from writing into
            # staging before it was emptied or after it was renamed (which would leave a stray .staging folder
            # and a checkpoint without their RNG state). One process: the barriers are no-ops.
            root = self.args.output_dir
            staging = os.path.join(root, ".staging")
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
                os.makedirs(staging, exist_ok=True)
            self.accelerator.wait_for_everyone()
            self._staging = staging
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self._staging = None
            self.accelerator.wait_for_everyone()
            if self.args.should_save:
                name = f"checkpoint-{self.state.global_step}"
                final = os.path.join(root, name)
                if os.path.exists(final):
                    shutil.rmtree(final)
                os.replace(os.path.join(staging, name), final)  # atomic: same filesystem
                _fsync_dir(root)
                shutil.rmtree(staging, ignore_errors=True)
                _rotate(root, keep=2)

    class EarlyStopping(TrainerCallback):
        """Stop after `patience` evaluations without a lower validation loss (0 = never)."""

        def __init__(self, patience: int) -> None:
            self.patience = patience
            self.best = math.inf
            self.bad = 0

        def on_evaluate(self, args, state, control, metrics=None, **kw):  # type: ignore[no-untyped-def]
            loss = (metrics or {}).get("eval_loss")
            if loss is None or self.patience <= 0:
                return
            if loss < self.best - 1e-4:
                self.best, self.bad = loss, 0
            else:
                self.bad += 1
                if self.bad >= self.patience:
                    control.should_training_stop = True

    class ProgressReporter(TrainerCallback):
        def __init__(self, progress: Progress | None, stop: threading.Event | None = None) -> None:
            self.progress, self.stop = progress, stop
            self.t0 = 0.0
            self.tokens0 = 0
            self.last_loss: float | None = None
            self.stopped_early = False
            self.seconds = 0.0

        def on_train_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.t0 = time.perf_counter()
            self.tokens0 = state.num_input_tokens_seen

        def tokens_per_s(self, state) -> float:  # type: ignore[no-untyped-def]
            dt = time.perf_counter() - self.t0
            return (state.num_input_tokens_seen - self.tokens0) / dt if dt > 0 else 0.0

        def on_log(self, args, state, control, logs=None, **kw):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            if self.stop is not None and self.stop.is_set():
                # the caller waiting for this training was interrupted (models/compute.py): stop as a Ctrl-C
                # would have, with the last checkpoint kept for --resume
                raise KeyboardInterrupt
            if self.progress is not None and state.is_world_process_zero:
                self.progress(state.global_step, state.max_steps, self.last_loss, self.tokens_per_s(state))

        def on_train_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.seconds = time.perf_counter() - self.t0
            self.stopped_early = state.global_step < state.max_steps

    return AtomicCheckpointTrainer, EarlyStopping, ProgressReporter


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rotate(root: str, keep: int) -> None:
    ckpts = sorted((p for p in Path(root).glob("checkpoint-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
    for old in ckpts[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (staging folders never count), or None."""
    root = run_dir / "checkpoints"
    ckpts = [p for p in root.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[1])) if ckpts else None


# --------------------------------------------------------------------------- training
def train_lora(
    model: Any,
    tokenizer: Any,
    train: Sequence[TrainExample],
    val: Sequence[TrainExample],
    run_dir: Path,
    adapter_dir: Path,
    args: TrainArgs,
    lora: LoraArgs,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    callbacks: Sequence[Any] = (),
    placement: Any = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `model` and save it (PEFT format) to `adapter_dir` atomically.

    `run_dir/checkpoints/` holds the resumable checkpoints. `model` is the float base model (not GGUF-quantised).
    `callbacks` are extra transformers `TrainerCallback`s (the search's pruning callback, search.py).
    `placement`: the resolved `[generator] device`/`dtype` (`weights.Placement`). It decides GPU vs CPU and the
    mixed precision (bfloat16 -> bf16, float16 -> fp16, float32 -> none); the master weights stay float32 (LoRA
    updates in half precision underflow). Which GPU a process uses is accelerate's choice (its local rank), so a
    single-process run on `cuda:N` needs `CUDA_VISIBLE_DEVICES=N` (docs/scale-out.md). None = a GPU when torch
    sees one (bf16 where supported), else CPU. `stop`: once set, training ends at the next step with
    KeyboardInterrupt (set when the caller waiting for this training on the compute thread is interrupted).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    Trainer, EarlyStopping, ProgressReporter = _trainer_classes()
    train_rows = [r for r in (tokenize_example(tokenizer, ex, args.max_length) for ex in train) if r is not None]
    val_rows = [r for r in (tokenize_example(tokenizer, ex, args.max_length) for ex in val) if r is not None]
    dropped = len(train) + len(val) - len(train_rows) - len(val_rows)
    if not train_rows:
        from ragft.errors import DataError

        raise DataError(f"all {len(train)} training examples are longer than max_length={args.max_length} tokens; raise --max-length")

    set_seed(args.seed)  # LoRA's A matrices are initialised randomly
    with quiet_peft():
        peft_model = get_peft_model(model, LoraConfig(
            task_type="CAUSAL_LM", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
        ))
    on_gpu = placement.device.startswith("cuda") if placement is not None else torch.cuda.is_available()
    precision = placement.dtype if placement is not None and on_gpu else None
    targs = _training_args(run_dir, args, has_val=bool(val_rows), on_gpu=on_gpu, precision=precision)
    reporter = ProgressReporter(progress, stop)
    trainer = Trainer(
        model=peft_model,
        args=targs,
        train_dataset=train_rows,
        eval_dataset=val_rows or None,
        data_collator=_Collator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id),
        callbacks=[EarlyStopping(args.early_stopping_patience), reporter, *callbacks],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints log dicts to stdout, which must stay clean for --json
    ckpt = last_checkpoint(run_dir) if resume else None
    resumed_from = int(ckpt.name.split("-")[1]) if ckpt else 0
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    history = trainer.state.log_history
    result = TrainResult(
        steps=trainer.state.global_step,
        train_loss=[round(float(h["loss"]), 5) for h in history if "loss" in h],
        val_loss=[round(float(h["eval_loss"]), 5) for h in history if "eval_loss" in h],
        tokens=int(trainer.state.num_input_tokens_seen),
        seconds=round(reporter.seconds, 2),
        tokens_per_s=round(reporter.tokens_per_s(trainer.state) if reporter.seconds else 0.0, 1),
        resumed_from_step=resumed_from,
        stopped_early=reporter.stopped_early,
        dropped_too_long=dropped,
        is_main_process=trainer.is_world_process_zero(),
        world_size=int(trainer.args.world_size),
    )
    if result.tokens_per_s == 0.0 and reporter.seconds > 0:
        result.tokens_per_s = round((trainer.state.num_input_tokens_seen - reporter.tokens0) / reporter.seconds, 1)
    if result.is_main_process:
        save_adapter(trainer.model, adapter_dir)
    return result


def _training_args(run_dir: Path, args: TrainArgs, has_val: bool, on_gpu: bool,  # type: ignore[no-untyped-def]
                   precision: str | None = None):
    """Trainer settings: CPU-safe (no bf16, no gradient checkpointing), bf16 on GPUs that support it (or the
    `precision` asked for: bfloat16, float16, float32); one log entry per step (the train_loss list), eval each
    epoch, checkpoints every `save_steps` (always safetensors)."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        lr_scheduler_type="linear",
        logging_steps=1,
        eval_strategy=("steps" if args.eval_steps else "epoch") if has_val else "no",
        eval_steps=args.eval_steps or None,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=None,  # rotation happens after the atomic rename (AtomicCheckpointTrainer)
        seed=args.seed,
        data_seed=args.seed,
        bf16=bool(on_gpu and (precision == "bfloat16" if precision else torch.cuda.is_bf16_supported())),
        fp16=bool(on_gpu and precision == "float16"),
        # Without use_cpu on a GPU-less machine, `accelerate launch` processes each think they are alone (world
        # size 1) and all write the same adapter; with it, they join one gloo DDP group.
        use_cpu=not on_gpu,
        ddp_find_unused_parameters=False,  # every LoRA weight is used in each forward: skip DDP's extra graph walk
        activation_checkpointing=False,  # (was gradient_checkpointing) recompute costs time on CPU; memory is fine
        train_sampling_strategy="group_by_length" if args.group_by_length else "random",
        dataloader_num_workers=0,  # tokenised lists in memory: workers only add process start-up
        dataloader_pin_memory=on_gpu,
        include_num_input_tokens_seen="non_padding",
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
    )


def save_adapter(peft_model: Any, adapter_dir: Path) -> None:
    """Save adapter weights only (PEFT format) into a temp folder, then swap it into `adapter_dir`."""
    adapter_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = adapter_dir.parent / f".{adapter_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(str(tmp), safe_serialization=True)
    old = adapter_dir.parent / f".{adapter_dir.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if adapter_dir.exists():
        os.replace(adapter_dir, old)
    os.replace(tmp, adapter_dir)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- entry point (STYLE.md §8)
# `python -m ragft.finetune.train` (what `accelerate launch` runs) is parsed and run by ragft/finetune/launch.py,
# which builds a Workspace: an application-layer module, so this training code never imports the workspace.
if __name__ == "__main__":
    from ragft.finetune.launch import exit_launched, run

    exit_launched(run())


__all__ = ["LoraArgs", "ProcessGroup", "TrainArgs", "TrainResult", "train_lora", "tokenize_example", "save_adapter"]
