"""Fine-tuning throughput and memory: ragft's trainer vs a plain transformers Trainer + peft script (and TRL's
SFTTrainer), same model, data and settings, each in its own subprocess so peak RSS is clean.

    .venv/bin/python benchmarks/finetune.py [--qa ../shared/data/rag-mini-wikipedia/qa.jsonl] [--n 64]
        [--epochs 1] [--batch-size 8] [--trl] [--out docs/benchmarks.md]

Model: bundled SmolLM2-135M-Instruct (float cache). Data: the first N non-yes/no questions of the CMU QA set
(rag-mini-wikipedia), closed-book chat prompt -> short answer; loss on answer tokens only in every variant.
LoRA r=8, alpha=16, dropout 0.05 on q/k/v/o, AdamW lr 2e-4, fp32, no gradient checkpointing, seed 0.
tokens/s = non-padding input tokens of all optimiser steps / wall time of `trainer.train()` (model load excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_QA = ROOT.parent / "shared" / "data" / "rag-mini-wikipedia" / "qa.jsonl"
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])


def load_examples(qa: Path, n: int):
    from ragft.finetune.data import QAPair, qa_to_example

    out = []
    for line in qa.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        ans = str(r.get("answer") or "").strip()
        if ans and ans.lower().rstrip(".") not in {"yes", "no"} and len(ans.split()) <= 12:
            out.append(qa_to_example(QAPair(r["question"], ans)))
        if len(out) >= n:
            break
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- workers (one per subprocess)
def worker_ragft(args) -> dict:
    from ragft.finetune.train import LoraArgs, TrainArgs, train_lora
    from ragft.models.weights import load_causal_lm

    examples = load_examples(Path(args.qa), args.n)
    model, tok = load_causal_lm("smollm2-135m")
    with tempfile.TemporaryDirectory() as tmp:
        res = train_lora(model, tok, examples, [], Path(tmp) / "run", Path(tmp) / "adapter",
                         TrainArgs(learning_rate=2e-4, epochs=args.epochs, batch_size=args.batch_size, max_length=256,
                                   seed=0, save_steps=10_000),
                         LoraArgs(r=8, alpha=16, dropout=0.05))
    return {"steps": res.steps, "tokens": res.tokens, "seconds": res.seconds, "final_loss": res.train_loss[-1]}


def _tokenise_plain(tok, examples):
    """The usual recipe: chat template for the prompt, prompt tokens masked with -100."""
    rows = []
    for ex in examples:
        prompt = [dict(m) for m in ex.prompt]
        p = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(prompt + [{"role": "assistant", "content": ex.completion}], tokenize=False).rstrip()
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        ids = tok(full, add_special_tokens=False)["input_ids"]
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(p_ids) + ids[len(p_ids):]})
    return rows


def timed_training(trainer) -> dict:  # type: ignore[no-untyped-def]
    """Run a Hugging Face trainer, timing `train()` alone; the figures the plain and TRL workers report."""
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"steps": trainer.state.global_step, "tokens": int(trainer.state.num_input_tokens_seen), "seconds": seconds,
            "final_loss": losses[-1]}


def worker_plain(args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from ragft.models.weights import float_folder

    examples = load_examples(Path(args.qa), args.n)
    folder = str(float_folder("smollm2-135m"))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **LORA))
    rows = _tokenise_plain(tok, examples)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
                                  learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to=[], bf16=False,
                                  seed=0, remove_unused_columns=False, disable_tqdm=True,
                                  include_num_input_tokens_seen="non_padding")
        trainer = Trainer(model=model, args=targs, train_dataset=rows,
                          data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100))
        return timed_training(trainer)


def worker_trl(args) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ragft.models.weights import float_folder

    examples = load_examples(Path(args.qa), args.n)
    folder = str(float_folder("smollm2-135m"))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ds = Dataset.from_list([{"prompt": [dict(m) for m in ex.prompt],
                             "completion": [{"role": "assistant", "content": ex.completion}]} for ex in examples])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SFTConfig(output_dir=tmp, per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
                        learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to=[], bf16=False,
                        gradient_checkpointing=False, completion_only_loss=True, max_length=256, seed=0,
                        disable_tqdm=True, include_num_input_tokens_seen="non_padding")
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                             peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
        return timed_training(trainer)


WORKERS = {"ragft": worker_ragft, "plain": worker_plain, "trl": worker_trl}


def run_worker(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--qa", str(args.qa), "--n", str(args.n),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["tokens_per_s"] = res["tokens"] / res["seconds"]
    res["s_per_step"] = res["seconds"] / res["steps"]
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qa", type=Path, default=DEFAULT_QA)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--trl", action="store_true", help="Also run TRL's SFTTrainer.")
    p.add_argument("--worker", choices=sorted(WORKERS))
    p.add_argument("--out", type=Path, default=None, help="Print the markdown section (docs/benchmarks.md).")
    args = p.parse_args()
    if args.worker:
        res = WORKERS[args.worker](args)
        res["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(res))
        return
    if not args.qa.is_file():
        raise SystemExit(f"QA file {args.qa} not found; pass --qa PATH")
    order = ["ragft", "plain"] + (["trl"] if args.trl else [])
    results = {}
    for name in order:
        results[name] = run_worker(name, args)
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    base = results["plain"]
    lines = ["| trainer | steps | tokens | s/step | tokens/s | vs plain | peak RSS MB | vs plain | final loss |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['steps']} | {r['tokens']} | {r['s_per_step']:.2f} | {r['tokens_per_s']:.1f} | "
                     f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x | {r['peak_rss_mb']:.0f} | "
                     f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x | {r['final_loss']:.3f} |")
    print("\n".join(lines))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
